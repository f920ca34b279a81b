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
	start, end int
	line       int
}

// findElems walks doc and returns its <hostdev> and <host bus=...>
// elements. Anything malformed is an error with the line.
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
			case t.Name.Local == "host" && hasAttr(t, "bus"):
				d = DialectSeed
			default:
				depth++
				continue
			}
			if err := dec.Skip(); err != nil {
				return nil, xmlError(doc, err)
			}
			out = append(out, xmlElem{dialect: d, start: off, end: int(dec.InputOffset()), line: lineAt(doc, off)})
		case xml.EndElement:
			depth--
		}
	}
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

// xmlRefs reads every <hostdev> and <host> in an XML document.
func xmlRefs(doc []byte) ([]Ref, error) {
	elems, err := findElems(doc)
	if err != nil {
		return nil, err
	}
	var refs []Ref
	for _, e := range elems {
		r, ok, err := xmlRef(doc, e)
		if err != nil {
			return nil, err
		}
		if ok {
			refs = append(refs, r)
		}
	}
	return refs, nil
}

func xmlRef(doc []byte, e xmlElem) (Ref, bool, error) {
	raw := string(doc[e.start:e.end])
	if e.dialect == DialectSeed {
		r, err := seedRef(raw, e.line)
		return r, err == nil, err
	}
	return libvirtRef(raw, e.line)
}

// libvirtRef reads one <hostdev>. ok is false for a hostdev that is not
// a host USB device, PCI function or mediated device (SCSI, capabilities).
func libvirtRef(raw string, line int) (Ref, bool, error) {
	// The numbers of <address> as written: libvirt reads them as C does
	// (strtoul base 0), libvirtxml in base 10 (USB) or Go's base 0 (PCI,
	// which also takes 0b and 0o). Ours are checked with libvirt's rule.
	var nums struct {
		Type   string `xml:"type,attr"`
		Source struct {
			Address *struct {
				Domain   *string `xml:"domain,attr"`
				Bus      *string `xml:"bus,attr"`
				Slot     *string `xml:"slot,attr"`
				Function *string `xml:"function,attr"`
				Device   *string `xml:"device,attr"`
			} `xml:"address"`
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
		return Ref{}, false, errorf(DialectLibvirt, line, "", "<hostdev> has more than one <source>")
	}
	if len(count.Source) == 1 {
		if c := count.Source[0]; len(c.Vendor) > 1 || len(c.Product) > 1 || len(c.Address) > 1 {
			return Ref{}, false, errorf(DialectLibvirt, line, "", "<hostdev>: <source> repeats <vendor>, <product> or <address>; give one of each")
		}
	}
	addr := map[string]uint{}
	if a := nums.Source.Address; a != nil && (nums.Type == "usb" || nums.Type == "pci") {
		limits := map[string]uint64{"bus": 255, "device": usbnum.MaxDevnum}
		if nums.Type == "pci" {
			limits = map[string]uint64{"domain": 0xffffffff, "bus": 0xff, "slot": 0x1f, "function": 7}
		}
		for name, v := range map[string]*string{"domain": a.Domain, "bus": a.Bus, "slot": a.Slot, "function": a.Function, "device": a.Device} {
			max, ok := limits[name]
			if !ok || v == nil {
				continue
			}
			n, err := cUint("libvirt", *v, max)
			if err != nil {
				return Ref{}, false, errorf(DialectLibvirt, line, "", "<hostdev type='%s'>: <address %s='%s'>: %v", quote.Text(nums.Type), name, quote.Text(*v), err)
			}
			addr[name] = uint(n)
		}
	}
	var h libvirtxml.DomainHostdev
	if err := h.Unmarshal(raw); err != nil {
		if nums.Type == "usb" && len(addr) > 0 {
			return Ref{}, false, wrapf(err, DialectLibvirt, line, "", "<hostdev type='usb'>: write <address bus device> in decimal, as libvirt does (%v)", err)
		}
		return Ref{}, false, wrapf(err, DialectLibvirt, line, "", "<hostdev>: %v", err)
	}
	fail := func(format string, args ...any) (Ref, bool, error) {
		return Ref{}, false, errorf(DialectLibvirt, line, "", "<hostdev type='%s'>: %s", hostdevType(&h), fmt.Sprintf(format, args...))
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
		terms = append(terms,
			match.Term{Key: match.KeyBus, Values: []string{"pci"}},
			match.Term{Key: match.KeyAddress, Values: []string{fmt.Sprintf("%04x:%02x:%02x.%x", addr["domain"], addr["bus"], addr["slot"], addr["function"])}})
	case h.SubsysMDev != nil:
		var msg string
		if terms, msg = libvirtMdevTerms(h.SubsysMDev); msg != "" {
			return fail("%s", msg)
		}
	default:
		return Ref{}, false, nil
	}
	sel, err := match.New(terms...)
	if err != nil {
		e := selectorError(DialectLibvirt, line, "", err)
		e.Msg = "<hostdev>: " + e.Msg
		return Ref{}, false, e
	}
	r.Selector = sel
	return r, true, nil
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
