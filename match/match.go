package match

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
)

// Match reports whether every term holds for d. A term whose key does not
// apply to d's bus (serial= on a PCI function) does not hold.
// The empty selector matches nothing.
//
// Hubs, root hubs included, match only when the selector asks for a hub
// explicitly: a class= value starting with 09, a port= without
// wildcards, or busnum= and devnum= both without wildcards. QEMU never
// passes a hub through either, and a vendor-only rule would otherwise
// catch every 1d6b root hub.
func (s Selector) Match(d discover.Device) bool {
	if len(s.Terms) == 0 {
		return false
	}
	for _, t := range s.Terms {
		if !t.holds(d) {
			return false
		}
	}
	return !isHub(d) || s.asksForHub()
}

func isHub(d discover.Device) bool {
	return d.USB != nil && (d.USB.IsHub() || d.USB.IsRootHub())
}

func (s Selector) asksForHub() bool {
	if t, ok := s.term(KeyClass); ok {
		for _, v := range t.Values {
			if strings.HasPrefix(v, "09") {
				return true
			}
		}
	}
	if _, ok := s.exact(KeyPort); ok {
		return true
	}
	_, b := s.exact(KeyBusnum)
	_, d := s.exact(KeyDevnum)
	return b && d
}

// holds reports whether any of t's values fits d.
func (t Term) holds(d discover.Device) bool {
	for _, v := range t.Values {
		if valueHolds(t.Key, v, d) {
			return true
		}
	}
	return false
}

func valueHolds(k Key, v string, d discover.Device) bool {
	u, p, m := d.USB, d.PCI, d.Mdev
	switch k {
	case KeyBus:
		return glob(v, string(d.Bus))
	case KeyVendor:
		return glob(v, d.VendorID.String())
	case KeyProduct:
		return glob(v, d.ProductID.String())
	case KeyClass:
		c, ok := class24(d)
		return ok && (v == Wildcard || strings.HasPrefix(c, v))
	case KeyDriver:
		if p != nil {
			return p.Driver != "" && glob(v, p.Driver)
		}
		if m != nil {
			return m.Driver != "" && glob(v, m.Driver)
		}
		if u != nil {
			for _, in := range u.Interfaces {
				if in.Driver != "" && glob(v, in.Driver) {
					return true
				}
			}
		}
		return false
	case KeyName:
		lv := strings.ToLower(v)
		if u != nil && u.Product != nil && glob(lv, strings.ToLower(*u.Product)) {
			return true
		}
		return d.ProductName != "" && glob(lv, strings.ToLower(d.ProductName))
	case KeySerial:
		return u != nil && u.Serial != nil && glob(v, *u.Serial)
	case KeyPort:
		if u == nil {
			return false
		}
		if strings.Contains(v, "-") {
			return glob(v, strconv.Itoa(u.Busnum)+"-"+string(u.Port))
		}
		return glob(v, string(u.Port))
	case KeyBusnum:
		return u != nil && glob(v, strconv.Itoa(u.Busnum))
	case KeyDevnum:
		return u != nil && glob(v, strconv.Itoa(u.Devnum))
	case KeyInterfaceClass:
		if u == nil {
			return false
		}
		for _, in := range u.Interfaces {
			if glob(v, in.Class.String()) {
				return true
			}
		}
		return false
	case KeyAddress:
		if p == nil || p.Address == nil {
			return false
		}
		if v == Wildcard {
			return true
		}
		a, msg := parseAddress(v)
		if msg != "" {
			return false
		}
		f := func(want int64, got uint64) bool { return want < 0 || uint64(want) == got }
		return f(a.domain, uint64(p.Address.Domain)) && f(a.bus, uint64(p.Address.Bus)) &&
			f(a.slot, uint64(p.Address.Slot)) && f(a.fn, uint64(p.Address.Function))
	case KeyIOMMUGroup:
		if m != nil {
			return m.IOMMUGroup != nil && glob(v, strconv.Itoa(*m.IOMMUGroup))
		}
		return p != nil && p.IOMMUGroup != nil && glob(v, strconv.Itoa(*p.IOMMUGroup))
	case KeyMdevType:
		if m != nil {
			return m.Type.ID != "" && glob(v, m.Type.ID)
		}
		if p != nil {
			for _, t := range p.MdevTypes {
				if glob(v, t.ID) {
					return true
				}
			}
		}
		return false
	case KeyUUID:
		return m != nil && glob(v, m.UUID)
	}
	return false
}

// class24 is the device's class as six hex digits: the PCI class, or a
// USB device's class, subclass and protocol.
func class24(d discover.Device) (string, bool) {
	switch {
	case d.PCI != nil:
		return d.PCI.Class.String(), true
	case d.USB != nil:
		return fmt.Sprintf("%s%02x%02x", d.USB.Class, d.USB.Subclass, d.USB.Protocol), true
	}
	return "", false
}

// glob matches s against pattern, where only * is special and matches
// any run of characters, dots and slashes included.
func glob(pattern, s string) bool {
	if !strings.Contains(pattern, Wildcard) {
		return pattern == s
	}
	parts := strings.Split(pattern, Wildcard)
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
