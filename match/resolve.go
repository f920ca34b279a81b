package match

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/spell"
)

// Resolve returns the one device s means among devs. It fails with a
// *NoMatchError or an *AmbiguousError. A selector that remembers an
// address (see ResolveMoved) follows the device when it has moved; call
// ResolveMoved to hear about the move.
func Resolve(s Selector, devs []discover.Device) (discover.Device, error) {
	d, _, err := ResolveMoved(s, devs)
	return d, err
}

// ResolveAll returns every device s matches, in the order of devs, or a
// *NoMatchError when there is none.
func ResolveAll(s Selector, devs []discover.Device) ([]discover.Device, error) {
	var out []discover.Device
	for _, d := range devs {
		if s.Match(d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, &NoMatchError{Selector: s, Nearest: nearest(s, devs)}
	}
	return out, nil
}

// Moved says that a device named by vendor:product with a remembered
// bus and device number is now at another address. Resolution still
// succeeds: Moved is news for the caller to log or to write back into the
// config, not an error.
type Moved struct {
	Vendor, Product  discover.ID
	FromBus, FromDev int
	ToBus, ToDev     int
}

// String gives "0483:2016 moved from 003.001 to 003.007".
func (m *Moved) String() string {
	return fmt.Sprintf("%s:%s moved from %03d.%03d to %03d.%03d",
		m.Vendor, m.Product, m.FromBus, m.FromDev, m.ToBus, m.ToDev)
}

// ResolveMoved is Resolve that also reports a move. When s has exact
// vendor=, product=, busnum= and devnum= terms (libvirt's auto-filled
// <address>, or a config that wrote both down), the device at that
// bus and device number is used if it still has that vendor:product and
// fits the other terms. Otherwise the device is searched for without
// busnum and devnum, and a single match comes back with a non-nil *Moved.
// For any other selector, Moved is always nil.
func ResolveMoved(s Selector, devs []discover.Device) (discover.Device, *Moved, error) {
	vs, okV := s.exact(KeyVendor)
	ps, okP := s.exact(KeyProduct)
	bs, okB := s.exact(KeyBusnum)
	ds, okD := s.exact(KeyDevnum)
	if !(okV && okP && okB && okD) {
		d, err := resolveOne(s, s, devs)
		return d, nil, err
	}
	for _, d := range devs {
		if s.Match(d) {
			return d, nil, nil // still where it was
		}
	}
	search := s.without(KeyBusnum, KeyDevnum)
	if ns, ok := search.with(Term{KeyBus, []string{"usb"}}); ok {
		search = ns // busnum and devnum said USB; keep saying it
	}
	d, err := resolveOne(search, search, devs)
	stale := fmt.Sprintf("%03s.%03s", bs, ds)
	var (
		no  *NoMatchError
		amb *AmbiguousError
	)
	switch {
	case errors.As(err, &no):
		no.Stale = stale
	case errors.As(err, &amb):
		amb.Stale = stale
	}
	if err != nil || d.USB == nil {
		return d, nil, err
	}
	v, _ := strconv.ParseUint(vs, 16, 16)
	p, _ := strconv.ParseUint(ps, 16, 16)
	b, _ := strconv.Atoi(bs)
	n, _ := strconv.Atoi(ds)
	return d, &Moved{
		Vendor: discover.ID(v), Product: discover.ID(p),
		FromBus: b, FromDev: n, ToBus: d.USB.Busnum, ToDev: d.USB.Devnum,
	}, nil
}

// resolveOne resolves search, naming orig in its errors.
func resolveOne(orig, search Selector, devs []discover.Device) (discover.Device, error) {
	all, err := ResolveAll(search, devs)
	if err != nil {
		return discover.Device{}, &NoMatchError{Selector: orig, Nearest: nearest(search, devs)}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return discover.Device{}, &AmbiguousError{Selector: orig, Candidates: candidates(search, all, devs)}
}

// NoMatchError says that no device fits Selector. Nearest lists the
// devices that miss by one term (or only by being a hub), each with the
// reason it missed.
type NoMatchError struct {
	Selector Selector
	Nearest  []Near
	// Stale is the remembered BBB.DDD where the device no longer is, when
	// the search came from ResolveMoved; Selector is then the search.
	Stale string
}

// Near is a device that almost matched, and why it did not.
type Near struct {
	Device discover.Device
	Reason string // "serial is \"A7022OOQ\"", "is a hub: add class=09 or port=..."
}

func (e *NoMatchError) Error() string {
	var b strings.Builder
	if e.Stale != "" {
		fmt.Fprintf(&b, "%s is no longer at %s, and ", describe(e.Selector), e.Stale)
	}
	fmt.Fprintf(&b, "no device matches %s", describe(e.Selector))
	for i, n := range e.Nearest {
		if i == 0 {
			b.WriteString("; nearest: ")
		} else {
			b.WriteString(", ")
		}
		if m := n.Device.Mdev; m != nil {
			fmt.Fprintf(&b, "%s (mdev %s) %s", quote.Text(n.Device.Name), quote.Text(m.Type.ID), n.Reason)
			continue
		}
		fmt.Fprintf(&b, "%s (%s:%s) %s", quote.Text(n.Device.Name), n.Device.VendorID, n.Device.ProductID, n.Reason)
	}
	return b.String()
}

// maxNearest bounds NoMatchError.Nearest so that a vague selector on a big
// host does not print the whole host.
const maxNearest = 8

// nearest lists the devices that fail exactly one term, or that only the
// hub rule kept out, nearest first: a device with the selector's vendor
// and product on the other bus (host:10de:2684 copied from lspci -nn),
// then one the hub rule alone kept out, then those whose one wrong value
// is fewest edits from the wanted one (a serial one character off before
// a serial far off, and both before a device with no serial at all); a
// hub that also fails a term comes last. Ties keep the order of devs.
func nearest(s Selector, devs []discover.Device) []Near {
	type near struct {
		Near
		score int
	}
	var out []near
	for _, d := range devs {
		var failed []Term
		for _, t := range s.Terms {
			if !t.holds(d) {
				failed = append(failed, t)
			}
		}
		var (
			reason string
			score  int
		)
		switch {
		case len(failed) == 0 && isHub(d):
			what := "a hub"
			if d.USB.IsRootHub() {
				what = "a root hub"
			}
			reason = fmt.Sprintf("is %s: hubs match only with class=09, an exact port= or busnum= and devnum=", what)
			score = 1
		case len(failed) == 1 && failed[0].Key == KeyBus:
			if reason = otherBus(s, d, devs); reason == "" {
				continue
			}
		case len(failed) == 1 && !foreign(failed[0].Key, d):
			reason = actual(failed[0].Key, d)
			score = 2 + distance(failed[0], d)
			if isHub(d) && !s.asksForHub() {
				score += farOff // off by the hub rule too
			}
		default:
			continue
		}
		out = append(out, near{Near{Device: d, Reason: reason}, score})
	}
	slices.SortStableFunc(out, func(a, b near) int { return a.score - b.score })
	var ns []Near
	for i, n := range out {
		if i == maxNearest {
			break
		}
		ns = append(ns, n.Near)
	}
	return ns
}

// farOff is the distance of a device that lacks the property a term
// tests: farther than any edit distance of a real value.
const farOff = 1 << 20

// distance is how far d's value for t's key is from the nearest of t's
// values, in edits; farOff when d has no such value.
func distance(t Term, d discover.Device) int {
	have, ok := value(t.Key, d)
	if !ok {
		return farOff
	}
	best := farOff
	for _, v := range t.Values {
		best = min(best, spell.Distance(strings.ReplaceAll(v, Wildcard, ""), have))
	}
	return best
}

// value is d's value for k as a selector writes it, for distance; false
// when d has none or k has no single value (driver, interface classes).
func value(k Key, d discover.Device) (string, bool) {
	u, p := d.USB, d.PCI
	switch k {
	case KeyVendor:
		return d.VendorID.String(), true
	case KeyProduct:
		return d.ProductID.String(), true
	case KeyClass:
		return class24(d)
	case KeySerial:
		if u != nil && u.Serial != nil {
			return *u.Serial, true
		}
	case KeyName:
		if u != nil && u.Product != nil {
			return *u.Product, true
		}
		if d.ProductName != "" {
			return d.ProductName, true
		}
	case KeyPort:
		if u != nil {
			return strconv.Itoa(u.Busnum) + "-" + string(u.Port), true
		}
	case KeyBusnum:
		if u != nil {
			return strconv.Itoa(u.Busnum), true
		}
	case KeyDevnum:
		if u != nil {
			return strconv.Itoa(u.Devnum), true
		}
	case KeyAddress:
		if p != nil && p.Address != nil {
			return p.Address.String(), true
		}
	case KeyIOMMUGroup:
		if p != nil && p.IOMMUGroup != nil {
			return strconv.Itoa(*p.IOMMUGroup), true
		}
	}
	return "", false
}

// otherBus is the reason for d, which has the exact vendor and product s
// asks for but is on the other bus than s says: a PCI function's IDs in
// USB's host:VVVV:PPPP, or a USB device's with bus=pci. It gives the
// selector that takes d. "" when s does not name both IDs exactly.
func otherBus(s Selector, d discover.Device, devs []discover.Device) string {
	v, okV := s.exact(KeyVendor)
	p, okP := s.exact(KeyProduct)
	if !okV || !okP {
		return ""
	}
	// The IDs alone pick d when no other device has them.
	byIDs := Selector{Terms: []Term{{KeyVendor, []string{v}}, {KeyProduct, []string{p}}}}
	n := 0
	for _, o := range devs {
		if byIDs.Match(o) {
			n++
		}
	}
	switch {
	case d.PCI != nil && d.PCI.Address != nil:
		pick := d.PCI.Address.String()
		if a := *d.PCI.Address; a.Domain == 0 {
			pick = strings.TrimPrefix(pick, "0000:")
		}
		if n == 1 {
			pick += " or " + byIDs.String()
		}
		return fmt.Sprintf("is a PCI function, not a USB device: select it with %s", pick)
	case d.USB != nil:
		pick := fmt.Sprintf("host:%s:%s", v, p)
		if n > 1 {
			pick = fmt.Sprintf("port=%d-%s", d.USB.Busnum, quote.Text(string(d.USB.Port)))
		}
		return fmt.Sprintf("is a USB device, not a PCI function: select it with %s", pick)
	}
	return ""
}

// foreign reports whether k is a key d's kind never has, so that missing
// it makes d no near miss: a uuid= for anything but a mediated device
// instance, a PCI or USB property for an instance.
func foreign(k Key, d discover.Device) bool {
	if d.Mdev == nil {
		return k == KeyUUID
	}
	switch k {
	case KeyVendor, KeyProduct, KeyClass, KeySerial, KeyPort, KeyBusnum, KeyDevnum, KeyInterfaceClass, KeyAddress:
		return true
	}
	return false
}

// actual describes d's value for k, for a Near reason.
func actual(k Key, d discover.Device) string {
	u, p, m := d.USB, d.PCI, d.Mdev
	none := fmt.Sprintf("has no %s", k)
	switch k {
	case KeyVendor:
		return "vendor is " + d.VendorID.String()
	case KeyProduct:
		return "product is " + d.ProductID.String()
	case KeyClass:
		c, _ := class24(d)
		return "class is " + c
	case KeyDriver:
		var ds []string
		if p != nil && p.Driver != "" {
			ds = append(ds, p.Driver)
		}
		if m != nil && m.Driver != "" {
			ds = append(ds, m.Driver)
		}
		if u != nil {
			for _, in := range u.Interfaces {
				if in.Driver != "" && !slices.Contains(ds, in.Driver) {
					ds = append(ds, in.Driver)
				}
			}
		}
		if len(ds) == 0 {
			return "has no driver bound"
		}
		for i, v := range ds {
			ds[i] = quote.Value(v)
		}
		return "driver is " + strings.Join(ds, ", ")
	case KeyName:
		if u != nil && u.Product != nil {
			return fmt.Sprintf("name is %q", *u.Product)
		}
		if d.ProductName != "" {
			return fmt.Sprintf("name is %q", d.ProductName)
		}
		return "has no name"
	case KeySerial:
		if u != nil && u.Serial != nil {
			return fmt.Sprintf("serial is %q", *u.Serial)
		}
		return none
	case KeyPort:
		if u != nil {
			return fmt.Sprintf("port is %d-%s", u.Busnum, quote.Text(string(u.Port)))
		}
	case KeyBusnum, KeyDevnum:
		if u != nil {
			return fmt.Sprintf("is at %03d.%03d", u.Busnum, u.Devnum)
		}
	case KeyInterfaceClass:
		if u != nil {
			var cs []string
			for _, in := range u.Interfaces {
				cs = append(cs, in.Class.String())
			}
			return "interface classes are " + strings.Join(slices.Compact(cs), ", ")
		}
	case KeyAddress:
		if p != nil && p.Address != nil {
			return "address is " + p.Address.String()
		}
	case KeyIOMMUGroup:
		if p != nil && p.IOMMUGroup != nil {
			return "iommu-group is " + strconv.Itoa(*p.IOMMUGroup)
		}
		if m != nil && m.IOMMUGroup != nil {
			return "iommu-group is " + strconv.Itoa(*m.IOMMUGroup)
		}
	case KeyMdevType:
		if m != nil {
			return "mdev-type is " + quote.Value(m.Type.ID)
		}
		if p != nil && len(p.MdevTypes) > 0 {
			ids := make([]string, len(p.MdevTypes))
			for i, t := range p.MdevTypes {
				ids[i] = quote.Value(t.ID)
			}
			return "offers mdev-type " + strings.Join(ids, ", ")
		}
		return "offers no mdev-type"
	case KeyUUID:
		if m != nil {
			return "uuid is " + m.UUID
		}
	}
	return none
}

// AmbiguousError says that several devices fit Selector. Each candidate
// carries the term that, added to the selector, picks it alone.
type AmbiguousError struct {
	Selector   Selector
	Candidates []Candidate
	// Stale is as for NoMatchError: the remembered BBB.DDD that is gone.
	Stale string
}

// Candidate is one of several matches and the shortest extra term that
// selects it alone: serial= when its serial is unique among the matches
// and printable (internal/quote), else port=, qualified with the bus
// ("3-2.1") when the bare path also occurs on another bus. For PCI,
// address=.
type Candidate struct {
	Device discover.Device
	Pick   Term
}

func (e *AmbiguousError) Error() string {
	stale := ""
	if e.Stale != "" {
		stale = fmt.Sprintf("%s is no longer at %s, and ", describe(e.Selector), e.Stale)
	}
	// A caller may build one with no candidates; there is then nothing to
	// count or to advise.
	if len(e.Candidates) == 0 {
		return fmt.Sprintf("%sseveral devices match %s", stale, describe(e.Selector))
	}
	picks := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		picks[i] = c.Pick.safe()
	}
	list := picks[0]
	if n := len(picks); n > 1 {
		list = strings.Join(picks[:n-1], ", ") + " or " + picks[n-1]
	}
	return fmt.Sprintf("%s%d devices match %s; add %s", stale, len(e.Candidates), describe(e.Selector), list)
}

// candidates gives each match its pick, sorted by pick.
func candidates(s Selector, matches, devs []discover.Device) []Candidate {
	out := make([]Candidate, 0, len(matches))
	for _, d := range matches {
		out = append(out, Candidate{Device: d, Pick: pick(s, d, devs)})
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		return strings.Compare(a.Pick.String(), b.Pick.String())
	})
	return out
}

// pick returns the first of serial=, port=PATH, port=BUS-PATH and
// address= that, added to s, matches d alone among devs.
func pick(s Selector, d discover.Device, devs []discover.Device) Term {
	var tries []Term
	if u := d.USB; u != nil {
		// A serial that holds selector syntax, or that cannot be typed
		// (an escape, a newline: see internal/quote), is no advice.
		if u.Serial != nil && *u.Serial != "" && !strings.ContainsAny(*u.Serial, "*|,") && quote.Printable(*u.Serial) {
			tries = append(tries, Term{KeySerial, []string{*u.Serial}})
		}
		tries = append(tries,
			Term{KeyPort, []string{string(u.Port)}},
			Term{KeyPort, []string{strconv.Itoa(u.Busnum) + "-" + string(u.Port)}})
	}
	if p := d.PCI; p != nil && p.Address != nil {
		tries = append(tries, Term{KeyAddress, []string{p.Address.String()}})
	}
	if m := d.Mdev; m != nil && discover.IsMdevUUID(m.UUID) {
		tries = append(tries, Term{KeyUUID, []string{m.UUID}})
	}
	for _, t := range tries {
		ns, ok := s.with(t)
		if !ok {
			continue
		}
		n := 0
		for _, o := range devs {
			if ns.Match(o) {
				n++
			}
		}
		if n == 1 && ns.Match(d) {
			return t
		}
	}
	// Nothing picks it alone (two devices alike in every way we test);
	// the last try is still the most specific thing to say.
	if len(tries) > 0 {
		return tries[len(tries)-1]
	}
	return Term{KeyName, []string{d.Name}}
}

// describe names a selector in messages: "0403:6001" for a plain
// vendor:product, else the canonical form.
func describe(s Selector) string {
	if len(s.Terms) == 0 {
		return "the empty selector"
	}
	v, okV := s.exact(KeyVendor)
	p, okP := s.exact(KeyProduct)
	b, okB := s.exact(KeyBus)
	rest := s.without(KeyVendor, KeyProduct, KeyBus)
	_, hasBus := s.term(KeyBus)
	if okV && okP && len(rest.Terms) == 0 && (!hasBus || okB && b == "usb") {
		return v + ":" + p
	}
	return s.safe()
}
