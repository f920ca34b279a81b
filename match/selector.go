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
	"github.com/hostdev/hostdev/internal/usbnum"
)

// Key names one property a selector term tests.
type Key string

// The keys a selector may use, in canonical order: String writes terms in
// this order.
const (
	KeyBus            Key = "bus"
	KeyVendor         Key = "vendor"
	KeyProduct        Key = "product"
	KeyClass          Key = "class"
	KeyDriver         Key = "driver"
	KeyName           Key = "name"
	KeySerial         Key = "serial"
	KeyPort           Key = "port"
	KeyBusnum         Key = "busnum"
	KeyDevnum         Key = "devnum"
	KeyInterfaceClass Key = "interface-class"
	KeyAddress        Key = "address"
	KeyIOMMUGroup     Key = "iommu-group"
	// KeyMdevType is a mediated device type's ID, "i915-GVTg_V5_4": an
	// instance of that type, or a parent (a PCI function) that offers it.
	// bus=pci,address=A,mdev-type=T is "the parent at A, offering T",
	// what Proxmox's hostpci mdev= and Incus's gputype=mdev mean;
	// bus=mdev,mdev-type=T is an instance of T.
	KeyMdevType Key = "mdev-type"
	// KeyUUID is a mediated device instance's UUID, 8-4-4-4-12 hex,
	// canonical in lower case: what libvirt's <address uuid> and QEMU's
	// sysfsdev=/sys/bus/mdev/devices/UUID name.
	KeyUUID Key = "uuid"
)

// allKeys is every valid key in canonical order.
var allKeys = keyArray[:]

// keyArray is allKeys as an array, whose length a parser's array of
// offsets takes.
var keyArray = [...]Key{
	KeyBus, KeyVendor, KeyProduct, KeyClass, KeyDriver, KeyName, KeySerial,
	KeyPort, KeyBusnum, KeyDevnum, KeyInterfaceClass, KeyAddress, KeyIOMMUGroup,
	KeyMdevType, KeyUUID,
}

// Keys lists every valid key in canonical order. The slice is the
// caller's own.
func Keys() []Key { return slices.Clone(allKeys) }

// IsValid reports whether k is one of Keys.
func (k Key) IsValid() bool { return slices.Contains(allKeys, k) }

// Wildcard in a value matches any run of characters; a value that is only
// Wildcard matches any device that has the property at all.
const Wildcard = "*"

// Term is one condition: the device's Key property matches one of Values.
// Values are canonical (hex in lower case, zero-padded where the width is
// fixed, decimals without leading zeros), sorted and without duplicates.
type Term struct {
	Key    Key
	Values []string
}

// String gives key=value|value, the canonical form, which Parse reads
// back to the same term. Its values are as they are, bytes and all: a
// message for a person shows a term through safe instead.
func (t Term) String() string { return string(t.Key) + "=" + strings.Join(t.Values, "|") }

// safe is String for a message: a value that is not printable (an escape,
// a newline, a bidi override from a device's serial) is written as a Go
// string literal, by the rule of internal/quote, so that it cannot act on
// the terminal that shows the message. No advice offers such a value.
func (t Term) safe() string {
	var b strings.Builder
	b.WriteString(string(t.Key) + "=")
	for i, v := range t.Values {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(quote.Safe(v))
	}
	return b.String()
}

// Selector is a conjunction: a device matches when every term holds. Its
// terms are in canonical key order, one per key.
type Selector struct {
	Terms []Term
}

// String gives the canonical key=value form, which Parse reads back to an
// equal selector.
func (s Selector) String() string {
	parts := make([]string, len(s.Terms))
	for i, t := range s.Terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, ",")
}

// safe is String for a message, each term through Term.safe.
func (s Selector) safe() string {
	parts := make([]string, len(s.Terms))
	for i, t := range s.Terms {
		parts[i] = t.safe()
	}
	return strings.Join(parts, ",")
}

// term returns the term for k, if the selector has one.
func (s Selector) term(k Key) (Term, bool) {
	for _, t := range s.Terms {
		if t.Key == k {
			return t, true
		}
	}
	return Term{}, false
}

// exact returns the single, wildcard-free value of the term for k.
func (s Selector) exact(k Key) (string, bool) {
	t, ok := s.term(k)
	if !ok || len(t.Values) != 1 || strings.Contains(t.Values[0], Wildcard) {
		return "", false
	}
	return t.Values[0], true
}

// with returns s plus t; false when s already has a term with t's key.
func (s Selector) with(t Term) (Selector, bool) {
	if _, ok := s.term(t.Key); ok {
		return s, false
	}
	terms := append(slices.Clone(s.Terms), t)
	sortTerms(terms)
	return Selector{Terms: terms}, true
}

// without returns s minus the terms with the given keys.
func (s Selector) without(keys ...Key) Selector {
	var terms []Term
	for _, t := range s.Terms {
		if !slices.Contains(keys, t.Key) {
			terms = append(terms, t)
		}
	}
	return Selector{Terms: terms}
}

func sortTerms(terms []Term) {
	slices.SortStableFunc(terms, func(a, b Term) int {
		return slices.Index(allKeys, a.Key) - slices.Index(allKeys, b.Key)
	})
}

// ParseError is a selector that cannot be read. Offset is the byte offset
// in Input of the part that is wrong.
type ParseError struct {
	Input  string
	Offset int
	Msg    string
}

func (e *ParseError) Error() string { return fmt.Sprintf("selector %q: %s", e.Input, e.Msg) }

// Caret gives two lines: the input, and a ^ under the byte at Offset. It
// is empty when the input is too long or holds bytes a terminal would not
// show one column each.
func (e *ParseError) Caret() string {
	if len(e.Input) > 120 || e.Offset < 0 || e.Offset > len(e.Input) {
		return ""
	}
	for _, c := range []byte(e.Input) {
		if c < ' ' || c > '~' {
			return ""
		}
	}
	return e.Input + "\n" + strings.Repeat(" ", e.Offset) + "^"
}

// Parse reads a selector. The forms are:
//
//	host:BUS.DEV            USB bus and device number, decimal (host:008.002)
//	host:VVVV:PPPP          USB vendor and product, hex
//	DDDD:BB:SS.F, BB:SS.F   a PCI address, hex; any field may be * (00:1f.*)
//	pci:ADDRESS             the same, spelled out
//	key=value,...           terms that must all hold; a value may hold *
//	                        wildcards, and value|value gives alternatives
//
// The short forms may also stand as one element of a key=value list:
// host:0403:6001,serial=A7022OOP.
func Parse(s string) (Selector, error) {
	p := parser{input: s}
	sel, err := p.parse()
	if err != nil {
		return Selector{}, err
	}
	return sel, nil
}

// New builds a selector from terms, checking and canonicalising every value
// the way Parse does, so that New(Parse(s).Terms...) equals Parse(s). It is
// for code that reads another dialect (a QEMU option, a libvirt element) and
// has already taken the values apart. A bad value gives a *ParseError whose
// Input is the terms written out as key=value.
func New(terms ...Term) (Selector, error) {
	// A config of many devices calls New once for each: nothing is
	// allocated for the error's input unless there is an error.
	p := parser{terms: make([]Term, 0, len(terms))}
	fail := func(err error) (Selector, error) {
		parts := make([]string, len(terms))
		for i, t := range terms {
			parts[i] = t.String()
		}
		if pe := (*ParseError)(nil); errors.As(err, &pe) {
			pe.Input = strings.Join(parts, ",")
		}
		return Selector{}, err
	}
	off := 0
	for _, t := range terms {
		if !t.Key.IsValid() {
			return fail(p.fail(off, "unknown key %q; known keys are %s", t.Key, keyList()))
		}
		if len(t.Values) == 0 {
			return fail(p.fail(off, "%s has no value", t.Key))
		}
		values := make([]string, len(t.Values))
		for j, v := range t.Values {
			c, msg := canonical(t.Key, v)
			if msg != "" {
				return fail(p.fail(off+len(t.Key)+1, "%s", msg))
			}
			values[j] = c
		}
		if err := p.add(t.Key, off, values...); err != nil {
			return fail(err)
		}
		off += len(t.Key) + len(t.Values) // key=, and a | between values
		for _, v := range t.Values {
			off += len(v)
		}
		off++ // the comma
	}
	if len(p.terms) == 0 {
		return Selector{}, p.fail(0, "empty selector")
	}
	sortTerms(p.terms)
	return Selector{Terms: p.terms}, nil
}

type parser struct {
	input string
	terms []Term
	// where[i] is 1 + the offset of the part that set allKeys[i], 0 when
	// none has: an array, not a map, since a config of many devices
	// parses a selector for each.
	where [len(keyArray)]int
}

func (p *parser) fail(off int, format string, args ...any) error {
	return &ParseError{Input: p.input, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() (Selector, error) {
	if p.input == "" {
		return Selector{}, p.fail(0, "empty selector")
	}
	// host:VVVV:PPPP is three terms; most selectors fit these.
	p.terms = make([]Term, 0, 4)
	off := 0
	for part := range strings.SplitSeq(p.input, ",") {
		if err := p.part(part, off); err != nil {
			return Selector{}, err
		}
		off += len(part) + 1
	}
	sortTerms(p.terms)
	return Selector{Terms: p.terms}, nil
}

func (p *parser) add(k Key, off int, values ...string) error {
	slices.Sort(values)
	values = slices.Compact(values)
	ki := slices.Index(allKeys, k)
	if prev := p.where[ki] - 1; prev >= 0 {
		if t, _ := (Selector{Terms: p.terms}).term(k); slices.Equal(t.Values, values) {
			return nil // host:0403:6001,bus=usb says bus=usb twice, harmlessly
		}
		return p.fail(off, "%s is given twice (at byte %d and %d); use %s=A|B for alternatives", k, prev, off, k)
	}
	p.where[ki] = off + 1
	p.terms = append(p.terms, Term{Key: k, Values: values})
	return nil
}

func (p *parser) part(part string, off int) error {
	if part == "" {
		return p.fail(off, "empty element at byte %d (stray comma?)", off)
	}
	key, raw, ok := strings.Cut(part, "=")
	if !ok {
		return p.short(part, off)
	}
	k := Key(key)
	if !k.IsValid() {
		if near := nearestKey(key); near != "" {
			return p.fail(off, "unknown key %q; did you mean %s?", key, near)
		}
		return p.fail(off, "unknown key %q; known keys are %s", key, keyList())
	}
	voff := off + len(key) + 1
	if raw == "" {
		return p.fail(voff, "%s has an empty value", k)
	}
	var values []string
	for alt := range strings.SplitSeq(raw, "|") {
		if alt == "" {
			return p.fail(voff, "%s %q has an empty alternative", k, raw)
		}
		v, err := canonical(k, alt)
		if err != "" {
			return p.fail(voff, "%s", err)
		}
		values = append(values, v)
		voff += len(alt) + 1
	}
	return p.add(k, off, values...)
}

func keyList() string {
	s := make([]string, len(allKeys))
	for i, k := range allKeys {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// short reads host:..., pci:... and bare PCI addresses.
func (p *parser) short(part string, off int) error {
	if rest, ok := strings.CutPrefix(part, "host:"); ok {
		roff := off + len("host:")
		switch {
		case strings.Count(rest, ":") == 1 && !strings.Contains(rest, "."):
			v, pr, _ := strings.Cut(rest, ":")
			vv, err := canonical(KeyVendor, v)
			if err != "" {
				return p.fail(roff, "%s in %q", err, part)
			}
			pv, err := canonical(KeyProduct, pr)
			if err != "" {
				return p.fail(roff+len(v)+1, "%s in %q", err, part)
			}
			return p.addAll(off, Term{KeyBus, []string{"usb"}}, Term{KeyVendor, []string{vv}}, Term{KeyProduct, []string{pv}})
		case strings.Count(rest, ".") == 1 && !strings.Contains(rest, ":"):
			b, d, _ := strings.Cut(rest, ".")
			bv, err := canonical(KeyBusnum, b)
			if err != "" {
				return p.fail(roff, "%s in %q", err, part)
			}
			dv, err := canonical(KeyDevnum, d)
			if err != "" {
				return p.fail(roff+len(b)+1, "%s in %q", err, part)
			}
			return p.addAll(off, Term{KeyBus, []string{"usb"}}, Term{KeyBusnum, []string{bv}}, Term{KeyDevnum, []string{dv}})
		}
		return p.fail(roff, "%q is neither host:BUS.DEV (decimal) nor host:VVVV:PPPP (hex)", part)
	}
	addr, pfx := strings.CutPrefix(part, "pci:")
	if !pfx && !strings.Contains(part, ":") {
		return p.fail(off, "%q is not key=value, host:BUS.DEV, host:VVVV:PPPP or a PCI address", part)
	}
	aoff := off
	if pfx {
		aoff += len("pci:")
	}
	v, err := canonical(KeyAddress, addr)
	if err != "" {
		return p.fail(aoff, "%s", err)
	}
	return p.addAll(off, Term{KeyBus, []string{"pci"}}, Term{KeyAddress, []string{v}})
}

func (p *parser) addAll(off int, terms ...Term) error {
	for _, t := range terms {
		if err := p.add(t.Key, off, t.Values...); err != nil {
			return err
		}
	}
	return nil
}

// canonical checks one value of key k and gives its canonical spelling,
// or a message saying what is wrong with it.
func canonical(k Key, v string) (string, string) {
	if v == Wildcard {
		return v, ""
	}
	switch k {
	case KeyBus:
		if v == "usb" || v == "pci" || v == "mdev" {
			return v, ""
		}
		return "", fmt.Sprintf("bus %q is not usb, pci or mdev", v)
	case KeyVendor, KeyProduct:
		h := strings.ToLower(v)
		if len(h) > 2 && h[:2] == "0x" {
			h = h[2:]
		}
		if strings.Contains(h, Wildcard) {
			if len(h) <= 4 && isHex(strings.ReplaceAll(h, Wildcard, "")) {
				return h, ""
			}
		} else if len(h) >= 1 && len(h) <= 4 && isHex(h) {
			return strings.Repeat("0", 4-len(h)) + h, ""
		}
		return "", fmt.Sprintf("%s %q is not 4 hex digits", k, v)
	case KeyClass:
		h := strings.ToLower(v)
		if (len(h) == 2 || len(h) == 4 || len(h) == 6) && isHex(h) {
			return h, ""
		}
		return "", fmt.Sprintf("class %q is not 2, 4 or 6 hex digits (class, subclass, interface)", v)
	case KeyInterfaceClass:
		h := strings.ToLower(v)
		if len(h) >= 1 && len(h) <= 2 && isHex(h) {
			return strings.Repeat("0", 2-len(h)) + h, ""
		}
		return "", fmt.Sprintf("interface-class %q is not 2 hex digits", v)
	case KeyDriver, KeyName, KeySerial:
		return v, ""
	case KeyBusnum:
		return decimal(k, v, 1, 65535)
	case KeyDevnum:
		return decimal(k, v, usbnum.MinDevnum, usbnum.MaxDevnum)
	case KeyIOMMUGroup:
		return decimal(k, v, 0, 1<<31-1)
	case KeyPort:
		return canonicalPort(v)
	case KeyAddress:
		return canonicalAddress(v)
	case KeyMdevType:
		if discover.IsMdevTypeID(strings.ReplaceAll(v, Wildcard, "x")) {
			return v, ""
		}
		return "", fmt.Sprintf("mdev-type %q is not a mediated device type such as i915-GVTg_V5_4 or nvidia-63 "+
			"(letters, digits, '-', '_' and '.'; the directory names of mdev_supported_types)", v)
	case KeyUUID:
		return canonicalUUID(v)
	}
	return "", fmt.Sprintf("unknown key %q", k)
}

// canonicalUUID reads a UUID, 32 hex digits in either case with or
// without the dashes, and writes it as the kernel names an instance:
// 8-4-4-4-12, lower case. A value with wildcards is kept as it is, in
// lower case.
func canonicalUUID(v string) (string, string) {
	h := strings.ToLower(v)
	if strings.Contains(h, Wildcard) {
		if isHex(strings.NewReplacer(Wildcard, "", "-", "").Replace(h)) {
			return h, ""
		}
	} else if digits := strings.ReplaceAll(h, "-", ""); len(digits) == 32 && isHex(digits) &&
		(len(h) == 32 || len(h) == 36 && h[8] == '-' && h[13] == '-' && h[18] == '-' && h[23] == '-') {
		return digits[:8] + "-" + digits[8:12] + "-" + digits[12:16] + "-" + digits[16:20] + "-" + digits[20:], ""
	}
	return "", fmt.Sprintf("uuid %q is not a UUID (want 8-4-4-4-12 hex digits, as in 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001)", v)
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decimal reads base-10 digits only: leading zeros are fine, never octal,
// and 0x is refused rather than guessed at.
func decimal(k Key, v string, lo, hi int) (string, string) {
	if !isDigits(v) {
		return "", fmt.Sprintf("%s %q is not a decimal number", k, v)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || int(n) < lo || int(n) > hi {
		return "", fmt.Sprintf("%s %q is out of range %d to %d (use * for any)", k, v, lo, hi)
	}
	return strconv.Itoa(int(n)), ""
}

// canonicalPort reads [BUS-]PORT.PORT...; each field decimal or *.
func canonicalPort(v string) (string, string) {
	bus, path, hasBus := strings.Cut(v, "-")
	if !hasBus {
		bus, path = "", v
	}
	var b strings.Builder
	if hasBus {
		switch {
		case bus == Wildcard:
			b.WriteString(bus)
		case bus == "":
			return "", fmt.Sprintf("port %q has no bus before the '-'", v)
		default:
			n, msg := decimal(KeyBusnum, bus, 1, 65535)
			if msg != "" {
				return "", fmt.Sprintf("port %q: %s", v, msg)
			}
			b.WriteString(n)
		}
		b.WriteByte('-')
	}
	if path == "" {
		return "", fmt.Sprintf("port %q has no port path after the bus (want BUS-PORT[.PORT...], as in 1-2.1)", v)
	}
	for i, f := range strings.Split(path, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		if f == Wildcard {
			b.WriteString(f)
			continue
		}
		if !isDigits(f) {
			return "", fmt.Sprintf("port %q: %q is not a decimal port number (want BUS-PORT[.PORT...], as in 1-2.1)", v, f)
		}
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return "", fmt.Sprintf("port %q: port number %q is out of range 0 to 255", v, f)
		}
		b.WriteString(strconv.Itoa(int(n)))
	}
	return b.String(), ""
}

// addrPattern is a PCI address whose fields may be wildcards (-1).
type addrPattern struct{ domain, bus, slot, fn int64 }

// parseAddress reads [DDDD:]BB:SS.F with any field possibly *.
func parseAddress(v string) (addrPattern, string) {
	const want = "want [DDDD:]BB:SS.F, as in 0000:00:1f.3 or 00:1f.*"
	var a addrPattern
	parts := strings.Split(v, ":")
	var dom string
	switch len(parts) {
	case 2:
		dom = "0"
	case 3:
		dom, parts = parts[0], parts[1:]
	default:
		return a, fmt.Sprintf("address %q is not a PCI address (%s)", v, want)
	}
	slot, fn, ok := strings.Cut(parts[1], ".")
	if !ok {
		return a, fmt.Sprintf("address %q has no function (%s)", v, want)
	}
	field := func(name, s string, digits, bits int) (int64, string) {
		if s == Wildcard {
			return -1, ""
		}
		h := strings.ToLower(s)
		if h == "" || len(h) > digits || !isHex(h) {
			return 0, fmt.Sprintf("address %q: %s %q is not 1 to %d hex digits", v, name, s, digits)
		}
		n, _ := strconv.ParseUint(h, 16, 64)
		if n >= 1<<bits {
			return 0, fmt.Sprintf("address %q: %s %q is above %#x", v, name, s, uint64(1)<<bits-1)
		}
		return int64(n), ""
	}
	var msg string
	if a.domain, msg = field("domain", dom, 8, 32); msg != "" {
		return a, msg
	}
	if a.bus, msg = field("bus", parts[0], 2, 8); msg != "" {
		return a, msg
	}
	if a.slot, msg = field("slot", slot, 2, 5); msg != "" {
		return a, msg
	}
	if a.fn, msg = field("function", fn, 1, 3); msg != "" {
		return a, msg
	}
	return a, ""
}

func (a addrPattern) String() string {
	f := func(n int64, width int) string {
		if n < 0 {
			return Wildcard
		}
		return fmt.Sprintf("%0*x", width, n)
	}
	return f(a.domain, 4) + ":" + f(a.bus, 2) + ":" + f(a.slot, 2) + "." + f(a.fn, 1)
}

func canonicalAddress(v string) (string, string) {
	a, msg := parseAddress(v)
	if msg != "" {
		return "", msg
	}
	return a.String(), ""
}

// Exact returns the value of s's term for k when that term has a single
// value without wildcards: the address a config pinned, for example.
func (s Selector) Exact(k Key) (string, bool) { return s.exact(k) }

// nearestKey gives the key within two edits of k, for a typo's hint.
func nearestKey(k string) Key {
	names := make([]string, len(allKeys))
	for i, c := range allKeys {
		names[i] = string(c)
	}
	return Key(spell.Suggest(strings.ToLower(k), names))
}
