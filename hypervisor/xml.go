package hypervisor

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/usbnum"
	"github.com/hostdev/hostdev/match"
)

// xmlElem is one device element in an XML document: a libvirt <hostdev>
// or a seed <host>, and its byte span.
type xmlElem struct {
	dialect    Dialect
	name       string // hostdev, interface or host
	start, end int
	line       int
}

// findElems walks doc and returns its <hostdev>, <interface
// type='hostdev'> and <host bus=...> elements. Anything malformed is an
// error with the line.
func findElems(doc []byte) ([]xmlElem, error) {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var (
		out   []xmlElem
		depth int
	)
	for {
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			if depth != 0 {
				return nil, errorf(DialectLibvirt, lineAt(doc, off), "", "the document ends inside an element")
			}
			return out, nil
		}
		if err != nil {
			return nil, xmlError(doc, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var d Dialect
			switch {
			case t.Name.Local == "hostdev":
				d = DialectLibvirt
			case t.Name.Local == "interface" && attrIs(t, "type", "hostdev"):
				d = DialectLibvirt
			case t.Name.Local == "host" && hasAttr(t, "bus"):
				d = DialectSeed
			default:
				depth++
				continue
			}
			if err := dec.Skip(); err != nil {
				return nil, xmlError(doc, err)
			}
			out = append(out, xmlElem{dialect: d, name: t.Name.Local, start: off, end: int(dec.InputOffset()), line: lineAt(doc, off)})
		case xml.EndElement:
			depth--
		}
	}
}

func attrIs(t xml.StartElement, name, value string) bool {
	v, ok := attr(t, name)
	return ok && v == value
}

func hasAttr(t xml.StartElement, name string) bool {
	_, ok := attr(t, name)
	return ok
}

func attr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

func lineAt(doc []byte, off int) int {
	if off > len(doc) {
		off = len(doc)
	}
	return bytes.Count(doc[:off], []byte("\n")) + 1
}

// xmlError rewords encoding/xml's errors, which carry the line.
func xmlError(doc []byte, err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return wrapf(err, DialectLibvirt, se.Line, "", "broken XML: %s", se.Msg)
	}
	return wrapf(err, DialectLibvirt, 0, "", "broken XML: %v", err)
}

// xmlRefs reads every <hostdev>, <interface type='hostdev'> and <host>
// in an XML document. skipped are the elements that name a host device
// hostdev does not resolve (see libvirtRef); the others are still read.
func xmlRefs(doc []byte) (refs []Ref, skipped []*Error, err error) {
	elems, err := findElems(doc)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range elems {
		r, skip, err := xmlRefSkip(doc, e)
		switch {
		case err != nil:
			return nil, nil, err
		case skip != nil:
			skipped = append(skipped, skip)
		default:
			refs = append(refs, r)
		}
	}
	return refs, skipped, nil
}

// xmlRef is xmlRefSkip for a caller that passes over what it cannot
// resolve: ok is false for an element xmlRefSkip skips.
func xmlRef(doc []byte, e xmlElem) (Ref, bool, error) {
	r, skip, err := xmlRefSkip(doc, e)
	return r, skip == nil && err == nil, err
}

// xmlRefSkip reads one element: a Ref, or skip (wrapping
// errors.ErrUnsupported) for an element that names a host device hostdev
// does not resolve, or an error for one that cannot be read.
func xmlRefSkip(doc []byte, e xmlElem) (Ref, *Error, error) {
	raw := string(doc[e.start:e.end])
	switch {
	case e.dialect == DialectSeed:
		r, err := seedRef(raw, e.line)
		return r, nil, err
	case e.name == "interface":
		return interfaceRef(raw, e.line)
	}
	return libvirtRef(raw, e.line)
}

// xmlAddress is a <source><address> as written: libvirt reads its numbers
// as C does (strtoul base 0), libvirtxml in base 10 (USB) or Go's base 0
// (PCI, which also takes 0b and 0o). Ours are checked with libvirt's rule.
type xmlAddress struct {
	Type     *string `xml:"type,attr"`
	Domain   *string `xml:"domain,attr"`
	Bus      *string `xml:"bus,attr"`
	Slot     *string `xml:"slot,attr"`
	Function *string `xml:"function,attr"`
	Device   *string `xml:"device,attr"`
}

// numbers checks the address's numbers for a "usb" or "pci" source, in
// the order of the schema, and names every bad one: a loop over a map here
// once named a different attribute from run to run. elem starts the
// message ("<hostdev type='usb'>").
func (a *xmlAddress) numbers(kind, elem string, line int) (map[string]uint, error) {
	type field struct {
		name string
		v    *string
		max  uint64
	}
	fields := []field{{"bus", a.Bus, 255}, {"device", a.Device, usbnum.MaxDevnum}}
	if kind == "pci" {
		fields = []field{{"domain", a.Domain, 0xffffffff}, {"bus", a.Bus, 0xff}, {"slot", a.Slot, 0x1f}, {"function", a.Function, 7}}
	}
	addr := map[string]uint{}
	var bad []string
	for _, f := range fields {
		if f.v == nil {
			continue
		}
		n, err := cUint("libvirt", *f.v, f.max)
		if err != nil {
			bad = append(bad, fmt.Sprintf("<address %s='%s'>: %v", f.name, quote.Text(*f.v), err))
			continue
		}
		addr[f.name] = uint(n)
	}
	if len(bad) > 0 {
		return nil, errorf(DialectLibvirt, line, "", "%s: %s", elem, strings.Join(bad, "; "))
	}
	return addr, nil
}

// pciTerms are the terms of a libvirt PCI source address.
func pciTerms(addr map[string]uint) []match.Term {
	return []match.Term{
		{Key: match.KeyBus, Values: []string{"pci"}},
		{Key: match.KeyAddress, Values: []string{fmt.Sprintf("%04x:%02x:%02x.%x", addr["domain"], addr["bus"], addr["slot"], addr["function"])}},
	}
}

// libvirtRef reads one <hostdev>. skip is set for a hostdev that names
// something other than a host USB device, PCI function or mediated device:
// a SCSI disk or vhost-scsi target, or mode='capabilities' (a block or
// character device or a network interface, for containers).
func libvirtRef(raw string, line int) (Ref, *Error, error) {
	var nums struct {
		Type   string `xml:"type,attr"`
		Source struct {
			Address *xmlAddress `xml:"address"`
		} `xml:"source"`
	}
	xml.Unmarshal([]byte(raw), &nums)
	// libvirtxml keeps the last of repeated elements, fill edits the first:
	// refuse repeats rather than let the two disagree.
	var count struct {
		Source []struct {
			Vendor  []struct{} `xml:"vendor"`
			Product []struct{} `xml:"product"`
			Address []struct{} `xml:"address"`
		} `xml:"source"`
	}
	xml.Unmarshal([]byte(raw), &count)
	if len(count.Source) > 1 {
		return Ref{}, nil, errorf(DialectLibvirt, line, "", "<hostdev> has more than one <source>")
	}
	if len(count.Source) == 1 {
		if c := count.Source[0]; len(c.Vendor) > 1 || len(c.Product) > 1 || len(c.Address) > 1 {
			return Ref{}, nil, errorf(DialectLibvirt, line, "", "<hostdev>: <source> repeats <vendor>, <product> or <address>; give one of each")
		}
	}
	addr := map[string]uint{}
	if a := nums.Source.Address; a != nil && (nums.Type == "usb" || nums.Type == "pci") {
		var err error
		if addr, err = a.numbers(nums.Type, fmt.Sprintf("<hostdev type='%s'>", nums.Type), line); err != nil {
			return Ref{}, nil, err
		}
	}
	var h libvirtxml.DomainHostdev
	if err := h.Unmarshal(raw); err != nil {
		if nums.Type == "usb" && len(addr) > 0 {
			return Ref{}, nil, wrapf(err, DialectLibvirt, line, "", "<hostdev type='usb'>: write <address bus device> in decimal, as libvirt does (%v)", err)
		}
		return Ref{}, nil, wrapf(err, DialectLibvirt, line, "", "<hostdev>: %v", err)
	}
	fail := func(format string, args ...any) (Ref, *Error, error) {
		return Ref{}, nil, errorf(DialectLibvirt, line, "", "<hostdev type='%s'>: %s", hostdevType(&h), fmt.Sprintf(format, args...))
	}
	r := Ref{Dialect: DialectLibvirt, Text: raw, Line: line, hostdev: &h}
	var terms []match.Term
	switch {
	case h.SubsysUSB != nil:
		src := h.SubsysUSB.Source
		if src == nil {
			return fail("has no <source>")
		}
		terms = append(terms, match.Term{Key: match.KeyBus, Values: []string{"usb"}})
		if (src.Vendor == nil) != (src.Product == nil) {
			return fail("has <vendor> without <product> or the other way round; libvirt needs both")
		}
		if src.Vendor != nil {
			v, err := libvirtID(src.Vendor.ID)
			if err != nil {
				return fail("<vendor id='%s'>: %v", quote.Text(src.Vendor.ID), err)
			}
			p, err := libvirtID(src.Product.ID)
			if err != nil {
				return fail("<product id='%s'>: %v", quote.Text(src.Product.ID), err)
			}
			terms = append(terms,
				match.Term{Key: match.KeyVendor, Values: []string{fmt.Sprintf("%04x", v)}},
				match.Term{Key: match.KeyProduct, Values: []string{fmt.Sprintf("%04x", p)}})
		}
		if a := src.Address; a != nil {
			if a.Bus == nil || a.Device == nil {
				return fail("<address> needs both bus= and device=")
			}
			terms = append(terms,
				match.Term{Key: match.KeyBusnum, Values: []string{strconv.FormatUint(uint64(addr["bus"]), 10)}},
				match.Term{Key: match.KeyDevnum, Values: []string{strconv.FormatUint(uint64(addr["device"]), 10)}})
		}
		if len(terms) == 1 {
			return fail("names no device; give <vendor id=.../> and <product id=.../>, or <address bus=... device=.../>")
		}
		r.Optional = src.StartUpPolicy == "optional"
	case h.SubsysPCI != nil:
		src := h.SubsysPCI.Source
		if src == nil || src.Address == nil {
			return fail("has no <source><address .../></source>")
		}
		a := src.Address
		if a.Domain == nil || a.Bus == nil || a.Slot == nil || a.Function == nil {
			return fail("<address> needs domain=, bus=, slot= and function=")
		}
		terms = pciTerms(addr)
	case h.SubsysMDev != nil:
		var msg string
		if terms, msg = libvirtMdevTerms(h.SubsysMDev); msg != "" {
			return fail("%s", msg)
		}
	default:
		return Ref{}, unsupportedHostdev(&h, line), nil
	}
	sel, err := match.New(terms...)
	if err != nil {
		e := selectorError(DialectLibvirt, line, "", err)
		e.Msg = "<hostdev>: " + e.Msg
		return Ref{}, nil, e
	}
	r.Selector = sel
	return r, nil, nil
}

// unsupportedHostdev is the skip for a <hostdev> that libvirtxml reads
// but that names no host USB device, PCI function or mediated device.
func unsupportedHostdev(h *libvirtxml.DomainHostdev, line int) *Error {
	var elem, what string
	switch {
	case h.SubsysSCSI != nil:
		elem, what = "<hostdev mode='subsystem' type='scsi'>", "a host SCSI device"
	case h.SubsysSCSIHost != nil:
		elem, what = "<hostdev mode='subsystem' type='scsi_host'>", "a vhost-scsi target"
	case h.CapsStorage != nil:
		elem, what = "<hostdev mode='capabilities' type='storage'>", "a host block device (for containers)"
	case h.CapsMisc != nil:
		elem, what = "<hostdev mode='capabilities' type='misc'>", "a host character device (for containers)"
	case h.CapsNet != nil:
		elem, what = "<hostdev mode='capabilities' type='net'>", "a host network interface (for containers)"
	default:
		elem, what = "<hostdev>", "no host USB device or PCI function"
	}
	return unsupportedf(DialectLibvirt, line, "", "%s names %s, not a USB device, PCI function or mediated device: hostdev neither resolves nor checks it", elem, what)
}

// interfaceRef reads one <interface type='hostdev'>: a PCI function given
// to the guest as its network card, most often an SR-IOV VF, named by
// <source><address type='pci' domain bus slot function/></source>, with
// managed= as on a <hostdev>. libvirt's schema also takes a USB <address>
// there; hostdev reads none (skip), and says to name a USB device in a
// <hostdev type='usb'>.
func interfaceRef(raw string, line int) (Ref, *Error, error) {
	const elem = "<interface type='hostdev'>"
	var x struct {
		Managed string `xml:"managed,attr"`
		Source  []struct {
			Address []xmlAddress `xml:"address"`
			Vendor  []struct{}   `xml:"vendor"`
		} `xml:"source"`
	}
	if err := xml.Unmarshal([]byte(raw), &x); err != nil {
		return Ref{}, nil, wrapf(err, DialectLibvirt, line, "", "%s: %v", elem, err)
	}
	fail := func(format string, args ...any) (Ref, *Error, error) {
		return Ref{}, nil, errorf(DialectLibvirt, line, "", "%s: %s", elem, fmt.Sprintf(format, args...))
	}
	switch {
	case len(x.Source) > 1:
		return fail("has more than one <source>")
	case len(x.Source) == 0 || len(x.Source[0].Address) == 0 && len(x.Source[0].Vendor) == 0:
		return fail("has no <source><address type='pci' domain=... bus=... slot=... function=.../></source>")
	case len(x.Source[0].Address) > 1:
		return fail("<source> repeats <address>; give one")
	}
	src := x.Source[0]
	typ := ""
	if len(src.Address) == 1 && src.Address[0].Type != nil {
		typ = *src.Address[0].Type
	}
	switch {
	case typ == "usb" || typ == "" && len(src.Vendor) > 0:
		return Ref{}, unsupportedf(DialectLibvirt, line, "", "%s with a USB <source>: hostdev reads only a PCI function here; "+
			"name a USB device in a <hostdev mode='subsystem' type='usb'>", elem), nil
	case typ == "":
		return fail("<source><address> needs type='pci', as libvirt does")
	case typ != "pci":
		return fail("<source><address type='%s'>: the host device's address is type='pci'", quote.Text(typ))
	}
	a := src.Address[0]
	if a.Domain == nil || a.Bus == nil || a.Slot == nil || a.Function == nil {
		return fail("<address> needs domain=, bus=, slot= and function=")
	}
	addr, err := a.numbers("pci", elem, line)
	if err != nil {
		return Ref{}, nil, err
	}
	sel, err := match.New(pciTerms(addr)...)
	if err != nil {
		e := selectorError(DialectLibvirt, line, "", err)
		e.Msg = elem + ": " + e.Msg
		return Ref{}, nil, e
	}
	// The same device as a <hostdev>: what managed= means, what Write
	// writes for it.
	pa := &libvirtxml.DomainAddressPCI{}
	for _, f := range []struct {
		dst  **uint
		name string
	}{{&pa.Domain, "domain"}, {&pa.Bus, "bus"}, {&pa.Slot, "slot"}, {&pa.Function, "function"}} {
		*f.dst = new(addr[f.name])
	}
	h := &libvirtxml.DomainHostdev{Managed: x.Managed, SubsysPCI: &libvirtxml.DomainHostdevSubsysPCI{
		Source: &libvirtxml.DomainHostdevSubsysPCISource{Address: pa}}}
	return Ref{Dialect: DialectLibvirt, Text: raw, Line: line, Selector: sel, hostdev: h, iface: true}, nil, nil
}

func hostdevType(h *libvirtxml.DomainHostdev) string {
	switch {
	case h.SubsysUSB != nil:
		return "usb"
	case h.SubsysPCI != nil:
		return "pci"
	case h.SubsysMDev != nil:
		return "mdev"
	}
	return "?"
}

// libvirtID reads a <vendor id> or <product id> as libvirt does, as a C
// number: 0x for hex, else decimal. A leading zero would make libvirt read
// octal, so it is refused with the fix.
func libvirtID(s string) (uint16, error) {
	var (
		n   uint64
		err error
	)
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		n, err = strconv.ParseUint(s[2:], 16, 16)
	case len(s) > 1 && s[0] == '0' && strings.Trim(s, "0123456789abcdefABCDEF") == "":
		return 0, fmt.Errorf("libvirt reads a leading zero as octal; write 0x%s for hex", s)
	default:
		n, err = strconv.ParseUint(s, 10, 16)
	}
	if err != nil || s == "" || strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("not a 16-bit number; write it as 0x and 4 hex digits, as in 0x0483")
	}
	if n == 0 {
		return 0, fmt.Errorf("0 is not an ID")
	}
	return uint16(n), nil
}

// seedXML is the 2007 proposal's element.
type seedXML struct {
	Bus    string `xml:"bus,attr"`
	Source *struct {
		Device  string `xml:"device,attr"`
		Dev     string `xml:"dev,attr"`
		Vendor  string `xml:"vendor,attr"`
		Product string `xml:"product,attr"`
	} `xml:"source"`
	Target *struct {
		Dev string `xml:"dev,attr"`
	} `xml:"target"`
}

// seedRef reads <host bus='usb'><source device='003.001'/></host>,
// <source vendor='0483' product='2016'/> (with a <target dev> remembered
// from last time), or <host bus='pci'><source dev='00:1f.3'/></host>.
func seedRef(raw string, line int) (Ref, error) {
	var h seedXML
	if err := xml.Unmarshal([]byte(raw), &h); err != nil {
		return Ref{}, wrapf(err, DialectSeed, line, "", "%v", err)
	}
	var count struct {
		Source []struct{} `xml:"source"`
		Target []struct{} `xml:"target"`
	}
	xml.Unmarshal([]byte(raw), &count)
	if len(count.Source) > 1 || len(count.Target) > 1 {
		return Ref{}, errorf(DialectSeed, line, "", "<host bus='%s'> has more than one <source> or <target>; give one of each", quote.Text(h.Bus))
	}
	fail := func(format string, args ...any) (Ref, error) {
		return Ref{}, errorf(DialectSeed, line, "", "<host bus='%s'>: %s", quote.Text(h.Bus), fmt.Sprintf(format, args...))
	}
	if h.Source == nil {
		return fail("has no <source>")
	}
	s := h.Source
	if s.Device != "" && s.Dev != "" {
		return fail("<source> has both device= and dev=; give one")
	}
	dev := s.Device + s.Dev
	var terms []match.Term
	busdev := func(v, what string) error {
		b, d, ok := strings.Cut(v, ".")
		if !ok || strings.Contains(d, ".") {
			return fmt.Errorf("%s %q is not BUS.DEVICE, as in 003.001", what, v)
		}
		terms = append(terms,
			match.Term{Key: match.KeyBusnum, Values: []string{b}},
			match.Term{Key: match.KeyDevnum, Values: []string{d}})
		return nil
	}
	switch h.Bus {
	case "usb":
		terms = append(terms, match.Term{Key: match.KeyBus, Values: []string{"usb"}})
		if (s.Vendor == "") != (s.Product == "") {
			return fail("<source> has vendor= without product= or the other way round")
		}
		if dev != "" && s.Vendor != "" {
			// Which would win when they disagree? Neither: ask.
			return fail("<source> gives both a device number and vendor= and product=; give device= for this instance, or vendor= and product= (with <target dev> remembering where it was)")
		}
		if s.Vendor != "" {
			terms = append(terms,
				match.Term{Key: match.KeyVendor, Values: []string{s.Vendor}},
				match.Term{Key: match.KeyProduct, Values: []string{s.Product}})
		}
		switch {
		case dev != "":
			if err := busdev(dev, "device"); err != nil {
				return fail("%v", err)
			}
		case s.Vendor == "":
			return fail("<source> names no device; give device='BUS.DEV' or vendor= and product=")
		case h.Target != nil && h.Target.Dev != "":
			// A target filled in last time: where the device was.
			if err := busdev(h.Target.Dev, "<target dev>"); err != nil {
				return fail("%v", err)
			}
		}
	case "pci":
		if dev == "" {
			return fail("<source> needs dev='BB:SS.F'")
		}
		terms = append(terms,
			match.Term{Key: match.KeyBus, Values: []string{"pci"}},
			match.Term{Key: match.KeyAddress, Values: []string{dev}})
	default:
		return fail("bus is not usb or pci")
	}
	sel, err := match.New(terms...)
	if err != nil {
		e := selectorError(DialectSeed, line, "", err)
		e.Msg = fmt.Sprintf("<host bus='%s'>: %s", quote.Text(h.Bus), e.Msg)
		return Ref{}, e
	}
	return Ref{Dialect: DialectSeed, Text: raw, Line: line, Selector: sel}, nil
}

// span is a child element's byte range and the blank text before it.
type span struct {
	start, end int
	indent     string
}

// elemLayout describes the direct children of one element inside raw.
type elemLayout struct {
	children map[string]span // the first child element of each name
	lastEnd  int             // end of the last child element, or of the start tag
	indent   string          // the blank text before the last child
	close    int             // start of the end tag; -1 when self-closing
}

// layout finds the element at path (from raw's root element, whose name is
// path[0]) and describes its children.
func layout(raw string, path ...string) (elemLayout, bool) {
	dec := xml.NewDecoder(strings.NewReader(raw))
	var (
		stack []string
		l     = elemLayout{children: map[string]span{}, close: -1}
		ws    string
		in    bool
	)
	for {
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return l, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			if !in && equalPath(stack, path) {
				in = true
				l.lastEnd = int(dec.InputOffset())
			} else if in && len(stack) == len(path)+1 {
				if err := dec.Skip(); err != nil {
					return l, false
				}
				stack = stack[:len(stack)-1]
				end := int(dec.InputOffset())
				if _, seen := l.children[t.Name.Local]; !seen {
					l.children[t.Name.Local] = span{off, end, ws}
				}
				l.lastEnd, l.indent = end, ws
			}
			ws = ""
		case xml.CharData:
			// From raw: the decoder turns \r\n into \n.
			ws = raw[off:dec.InputOffset()]
		case xml.EndElement:
			if in && len(stack) == len(path) {
				l.close = off
				if len(l.children) == 0 && off == l.lastEnd && strings.HasSuffix(raw[:off], "/>") {
					l.close = -1 // <source/>: no end tag to insert before
				}
				return l, true
			}
			stack = stack[:len(stack)-1]
			ws = ""
		default:
			ws = ""
		}
	}
}

func equalPath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// after gives the text to insert after the last child so that a new child
// sits on its own line, indented like its siblings.
func (l elemLayout) after(elem string) string {
	if i := strings.LastIndexByte(l.indent, '\n'); i >= 0 {
		nl := "\n"
		if i > 0 && l.indent[i-1] == '\r' {
			nl = "\r\n" // keep a CRLF file CRLF
		}
		return nl + l.indent[i+1:] + elem
	}
	return l.indent + elem
}

// quoteLike rewrites encoding/xml's double-quoted attributes with single
// quotes when the surrounding element uses them, as libvirt does. Only
// for values without quotes of either kind (our numbers).
func quoteLike(raw, elem string) string {
	if strings.Contains(raw, "='") && !strings.Contains(elem, "'") {
		return strings.ReplaceAll(elem, `"`, `'`)
	}
	return elem
}

// selfClose turns <a x="1"></a> into <a x="1"/>.
func selfClose(s, name string) string {
	return strings.Replace(s, "></"+name+">", "/>", 1)
}
