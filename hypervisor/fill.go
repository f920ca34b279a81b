package hypervisor

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"libvirt.org/go/libvirtxml"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
)

// Filled is what Fill did with one reference.
type Filled struct {
	Ref     Ref
	Devices []discover.Device // what it resolved to; one unless Ref.All
	Moved   *match.Moved      // a remembered address was stale
	// Err is a *match.NoMatchError or an *AmbiguousError (which wraps a
	// *match.AmbiguousError), as Ref.Resolve gives them. A missing
	// device that the config marks optional is not an error: Devices is
	// empty and Skipped is true.
	Err     error
	Skipped bool
	// Changed says the reference's text was rewritten; Note says how.
	Changed bool
	Note    string
}

// Fill resolves every device doc names against devs and returns doc with
// each one's current address written in, in doc's own dialect:
//
//   - libvirt: a USB <hostdev> with <vendor> and <product> gets
//     <address bus device> in its <source>, added or replaced;
//   - seed: a USB <host> gets <target dev='BBB.DDD'/>;
//   - xl: usbdevice='host:VVVV:PPPP' becomes host:B.D, and host:008.002
//     loses its leading zeros (the xl manual asks for host:8.2).
//   - QEMU options (a script, a saved command line, HMP device_add) and
//     QMP: a usb-host with vendorid and productid gets hostbus and
//     hostport (see fillQEMU), added or brought up to date, inside the
//     quotes it is written in.
//
// References that are exact already (a PCI address, an xl usbdev, a
// libvirt address without vendor and product, a cloud-hypervisor or crosvm
// path, a device node) are checked and left as they are, and so is every
// Incus device (see fillOther). Every other byte of doc is kept: comments, spacing, order.
//
// The error is for a document Fill cannot read; a device that does not
// resolve is reported in its Filled, and the output then keeps that
// reference as it was. Callers should not save output while any Filled
// has an Err.
func Fill(doc []byte, devs []discover.Device) ([]byte, []Filled, Dialect, error) {
	d, err := sniff(doc)
	if err != nil {
		return nil, nil, "", err
	}
	var (
		filled []Filled
		edits  []edit
	)
	switch d {
	case DialectLibvirt, DialectSeed:
		filled, edits, err = fillXML(doc, devs)
	case DialectXL:
		filled, edits, err = fillXL(doc, devs)
	case DialectProxmox:
		out, filled, err := FillProxmox(doc, devs, nil)
		return out, filled, d, err
	case DialectQEMU:
		filled, edits, err = fillQEMU(doc, devs)
	default:
		filled, err = fillOther(d, doc, devs)
	}
	if err != nil {
		return nil, nil, d, err
	}
	if len(filled) == 0 {
		return nil, nil, d, &Error{Dialect: d, Msg: "names no host USB or PCI device (" + nothingHint[d] + ")", Err: errors.ErrUnsupported}
	}
	return apply(doc, edits), filled, d, nil
}

// edit replaces doc[start:end] with text.
type edit struct {
	start, end int
	text       string
}

func apply(doc []byte, edits []edit) []byte {
	// Stable: two edits at one place (a value, then what follows it) keep
	// their order.
	slices.SortStableFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	at := 0
	for _, e := range edits {
		out.Write(doc[at:e.start])
		out.WriteString(e.text)
		at = e.end
	}
	out.Write(doc[at:])
	return out.Bytes()
}

// resolveRef resolves r into a Filled; an optional reference that matches
// nothing is skipped.
func resolveRef(r Ref, devs []discover.Device) Filled {
	f := Filled{Ref: r}
	f.Devices, f.Moved, f.Err = r.Resolve(devs)
	if f.Err != nil && r.Optional {
		if no := (*match.NoMatchError)(nil); errors.As(f.Err, &no) {
			f.Err, f.Skipped = nil, true
			f.Note = "not plugged in; startupPolicy='optional' allows that"
		}
	}
	return f
}

func fillXML(doc []byte, devs []discover.Device) ([]Filled, []edit, error) {
	elems, err := findElems(doc)
	if err != nil {
		return nil, nil, err
	}
	var (
		filled []Filled
		edits  []edit
	)
	for _, e := range elems {
		r, ok, err := xmlRef(doc, e)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		f := resolveRef(r, devs)
		if f.Err == nil && len(f.Devices) == 1 && f.Devices[0].Bus == discover.BusUSB {
			raw := string(doc[e.start:e.end])
			var ed *edit
			if e.dialect == DialectLibvirt {
				ed = libvirtEdit(raw, r, f.Devices[0])
			} else {
				ed = seedEdit(raw, f.Devices[0])
			}
			if ed != nil {
				ed.start += e.start
				ed.end += e.start
				edits = append(edits, *ed)
				f.Changed = true
			}
		}
		filled = append(filled, f)
	}
	return filled, edits, nil
}

// libvirtEdit writes the device's bus and device number into a USB
// hostdev that names vendor and product; nil when it already says so or
// when the hostdev names the device by address alone.
func libvirtEdit(raw string, r Ref, d discover.Device) *edit {
	src := r.hostdev.SubsysUSB.Source
	if src.Vendor == nil {
		return nil
	}
	bus, dev := uint(d.USB.Busnum), uint(d.USB.Devnum)
	if a := src.Address; a != nil && a.Bus != nil && a.Device != nil && *a.Bus == bus && *a.Device == dev {
		return nil
	}
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	if err := enc.EncodeElement(&libvirtxml.DomainAddressUSB{Bus: &bus, Device: &dev},
		xml.StartElement{Name: xml.Name{Local: "address"}}); err != nil {
		return nil
	}
	enc.Flush()
	elem := quoteLike(raw, selfClose(b.String(), "address"))
	l, ok := layout(raw, "hostdev", "source")
	if !ok {
		return nil
	}
	if sp, ok := l.children["address"]; ok {
		return &edit{start: sp.start, end: sp.end, text: elem}
	}
	return &edit{start: l.lastEnd, end: l.lastEnd, text: l.after(elem)}
}

// seedEdit writes <target dev='BBB.DDD'/> into a USB <host>.
func seedEdit(raw string, d discover.Device) *edit {
	l, ok := layout(raw, "host")
	if !ok {
		return nil
	}
	elem := quoteLike(raw, fmt.Sprintf(`<target dev="%s"/>`, seedDev(d)))
	if sp, ok := l.children["target"]; ok {
		if raw[sp.start:sp.end] == elem {
			return nil
		}
		var t struct {
			Dev string `xml:"dev,attr"`
		}
		if xml.Unmarshal([]byte(raw[sp.start:sp.end]), &t) == nil && sameBusDev(t.Dev, d) {
			return nil
		}
		return &edit{start: sp.start, end: sp.end, text: elem}
	}
	src := l.children["source"]
	return &edit{src.end, src.end, elemLayout{indent: src.indent}.after(elem)}
}

// sameBusDev says whether "003.001" (any zero padding) is d's address.
func sameBusDev(s string, d discover.Device) bool {
	b, dv, ok := bytes.Cut([]byte(s), []byte("."))
	if !ok {
		return false
	}
	bn, e1 := strconv.Atoi(string(b))
	dn, e2 := strconv.Atoi(string(dv))
	return e1 == nil && e2 == nil && bn == d.USB.Busnum && dn == d.USB.Devnum
}

func fillXL(doc []byte, devs []discover.Device) ([]Filled, []edit, error) {
	settings, err := parseXL(string(doc))
	if err != nil {
		return nil, nil, err
	}
	var (
		filled []Filled
		edits  []edit
	)
	for _, s := range effective(settings) {
		for _, str := range s.strings {
			r, ok, err := xlRef(s.key, str)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			f := resolveRef(r, devs)
			if f.Err == nil && s.key == "usbdevice" {
				d := f.Devices[0]
				want := fmt.Sprintf("host:%d.%d", d.USB.Busnum, d.USB.Devnum)
				if str.value != want {
					edits = append(edits, edit{str.start, str.end, want})
					f.Changed = true
					if _, isVP := r.Selector.Exact(match.KeyVendor); isVP {
						f.Note = fmt.Sprintf("%s is now %s", str.value, want)
					} else {
						f.Note = fmt.Sprintf("wrote %s as %s, without leading zeros, as the xl manual asks", str.value, want)
					}
				}
			}
			filled = append(filled, f)
		}
	}
	return filled, edits, nil
}
