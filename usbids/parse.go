package usbids

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// maxHint caps how much Parse preallocates on the word of a size it was
// told, so a bogus Stat or Len cannot make it reserve gigabytes up front.
const maxHint = 64 << 20

// readerWithHint is a source and a guess at how much it holds.
type readerWithHint struct {
	r    io.Reader
	hint int
}

// Parse reads a whole usb.ids file from r and returns its names.
//
// Parse always returns a usable, non-nil DB. The error says what was wrong
// with the input, if anything:
//
//   - A *SyntaxError, which wraps ErrMalformed, when some lines were
//     malformed (a bad or missing hex ID, no name, a product line before
//     any vendor, ...) or named an ID already named. Those lines were
//     skipped and everything else was read, so callers may log it as a
//     warning. It describes the first such line, with its number, and
//     counts the rest.
//   - Any other error when reading r failed part way. The DB then holds
//     the names from the complete lines read before the failure. (Or when
//     r holds over 1 GiB, which no usb.ids does; the DB is then empty.)
//
// Parse never panics on bad input, and lines may be of any length.
func Parse(r io.Reader) (*DB, error) {
	return parse(readerWithHint{r, sizeHint(r)}, "")
}

// sizeHint guesses how many bytes r holds, from the readers that say so
// (bytes.Reader, strings.Reader, bytes.Buffer, *os.File), or returns 0.
func sizeHint(r io.Reader) int {
	switch v := r.(type) {
	case interface{ Len() int }:
		return min(max(v.Len(), 0), maxHint)
	case interface{ Stat() (fs.FileInfo, error) }:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			return int(min(max(st.Size(), 0), maxHint))
		}
	}
	return 0
}

// maxInput bounds what Parse reads, so that names and line numbers fit in
// the uint32s that keep the tables small. usb.ids is under 1 MiB.
const maxInput = 1 << 30

// parse reads everything first and then walks it in place: lines are
// subslices, so no line is ever copied and no line is too long, which a
// bufio.Scanner (64 KiB by default) could not promise. Names are copied
// once, at the end, into one string that the DB keeps.
func parse(src readerWithHint, file string) (*DB, error) {
	name := file
	if name == "" {
		name = "usb.ids"
	}
	var buf bytes.Buffer
	// MinRead spare bytes let the final, empty read happen without the
	// buffer growing (and copying) when the hint is exact.
	buf.Grow(src.hint + bytes.MinRead)
	_, readErr := buf.ReadFrom(io.LimitReader(src.r, maxInput+1))
	if buf.Len() > maxInput {
		return &DB{}, fmt.Errorf("read %s: over %d bytes, which is no usb.ids", name, maxInput)
	}
	data := buf.Bytes()
	if readErr != nil {
		// A line cut short by the failure could yield a wrong name
		// ("Linux Foun"), so keep only whole lines.
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}

	p := newParser(data)
	p.run()
	db := p.finish()

	if readErr != nil {
		return db, fmt.Errorf("read %s: %w (kept the names from the %d lines before the failure)",
			name, readErr, bytes.Count(data, []byte{'\n'}))
	}
	if p.first != nil {
		p.first.File = file
		p.first.More = p.problems - 1
		return db, p.first
	}
	return db, nil
}

// state is which part of the file the parser is in.
type state uint8

const (
	beforeAll state = iota // no vendor or class line yet
	inVendor               // indented lines are products (and interfaces)
	inClass                // indented lines are subclasses and protocols
	skipping               // in another section, or under a bad line
)

// subState tracks the subclass that protocol lines belong to.
type subState uint8

const (
	noSub     subState = iota // none yet under this class
	goodSub                   // parser.sub is the current subclass
	brokenSub                 // the subclass line was malformed
)

type parser struct {
	data []byte // the whole input
	cur  []byte // the line being parsed, trimmed, in data
	at   int    // where cur starts in data

	vendors, products, classes, subclasses, protocols builder

	state  state
	vendor uint32 // current vendor, in inVendor
	class  uint32 // current class, in inClass
	sub    uint32 // class<<8 | subclass, when subState is goodSub
	subSt  subState

	version string

	first    *SyntaxError // earliest problem line
	problems int          // problem lines in all
}

func newParser(data []byte) *parser {
	p := &parser{
		data:       data,
		vendors:    builder{describe: func(k uint32) string { return fmt.Sprintf("vendor %04x", k) }},
		products:   builder{describe: func(k uint32) string { return fmt.Sprintf("product %04x:%04x", k>>16, k&0xffff) }},
		classes:    builder{describe: func(k uint32) string { return fmt.Sprintf("class %02x", k) }},
		subclasses: builder{describe: func(k uint32) string { return fmt.Sprintf("class %02x subclass %02x", k>>8, k&0xff) }},
		protocols: builder{describe: func(k uint32) string {
			return fmt.Sprintf("class %02x subclass %02x protocol %02x", k>>16, k>>8&0xff, k&0xff)
		}},
	}
	// Nearly every line of usb.ids is a product: with room for one per
	// line, the biggest table never grows. The count is a fast scan.
	p.products.ents = make([]entry, 0, bytes.Count(data, []byte{'\n'})+1)
	return p
}

// bom is the UTF-8 byte order mark some editors put at the start.
var bom = []byte("\xef\xbb\xbf")

func (p *parser) run() {
	at := 0
	if bytes.HasPrefix(p.data, bom) {
		at = len(bom)
	}
	for n := 1; at < len(p.data); n++ {
		line := p.data[at:]
		next := len(p.data)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], at+i+1
		}
		p.cur, p.at = trimRight(line), at
		p.line(n, p.cur)
		at = next
	}
}

// line handles line number n, with trailing blanks and CR already cut.
func (p *parser) line(n int, s []byte) {
	if len(s) == 0 {
		return
	}
	depth := 0
	for depth < len(s) && s[depth] == '\t' {
		depth++
	}
	body := s[depth:] // not empty: trailing tabs were trimmed
	switch {
	case body[0] == '#':
		// Comments are for people, except that the header's version is
		// worth telling a user whose names look out of date.
		const tag = "# Version:"
		if depth == 0 && p.version == "" && bytes.HasPrefix(s, []byte(tag)) {
			p.version = string(trimLeft(s[len(tag):]))
		}
		return
	case body[0] == ' ':
		// Not a state change: one space-indented product must not cut
		// its vendor's other products loose.
		if p.state != skipping {
			p.fail(n, "line %s is indented with spaces; entries are indented with tabs", quote(s))
		}
		return
	case depth == 0:
		p.topLevel(n, s)
		return
	}

	switch p.state {
	case skipping:
		// Lines under another section (HUT's "\t001  Pointer"), or under
		// a line we could not read.
	case beforeAll:
		what := "indented"
		switch depth {
		case 1:
			what = "product"
		case 2:
			what = "interface"
		}
		p.fail(n, "%s line %s comes before any vendor line", what, quote(s))
	case inVendor:
		switch depth {
		case 1:
			id, name, ok := p.entry(n, body, 4, "product")
			if ok {
				p.products.add(p, p.vendor<<16|id, n, name)
			}
		case 2:
			// An interface of the product above: no lookup needs it
			// (and the 2025 file has none).
		default:
			p.fail(n, "line %s is indented %d tabs deep; products use 1 and interfaces 2", quote(s), depth)
		}
	case inClass:
		switch depth {
		case 1:
			id, name, ok := p.entry(n, body, 2, "subclass")
			if !ok {
				p.subSt = brokenSub // its protocols must not join the subclass before
				return
			}
			p.sub = p.class<<8 | id
			p.subSt = goodSub
			p.subclasses.add(p, p.sub, n, name)
		case 2:
			switch p.subSt {
			case noSub:
				p.fail(n, "protocol line %s has no subclass line above it", quote(s))
			case brokenSub:
				// Already reported with the subclass line.
			case goodSub:
				id, name, ok := p.entry(n, body, 2, "protocol")
				if ok {
					p.protocols.add(p, p.sub<<8|id, n, name)
				}
			}
		default:
			p.fail(n, "line %s is indented %d tabs deep; subclasses use 1 and protocols 2", quote(s), depth)
		}
	}
}

// topLevel handles an unindented line: a vendor, a class, or the header of
// some other section.
func (p *parser) topLevel(n int, s []byte) {
	if len(s) >= 4 && isHex(s[0]) && isHex(s[1]) && isHex(s[2]) && isHex(s[3]) &&
		(len(s) == 4 || isBlank(s[4])) {
		id, name, ok := p.entry(n, s, 4, "vendor")
		if !ok {
			p.state = skipping // so its products are not filed under the vendor before
			return
		}
		p.vendors.add(p, id, n, name)
		p.vendor = id
		p.state = inVendor
		return
	}

	tok := s
	if i := bytes.IndexAny(s, " \t"); i >= 0 {
		tok = s[:i]
	}
	switch {
	case string(tok) == "C":
		p.classLine(n, s)
	case knownSections[string(tok)]:
		// None of its lines are ours.
		p.state = skipping
	case allLetters(tok):
		// Most likely a section added to the file after this parser
		// was written, but perhaps a vendor typed with a letter for a
		// digit: either way its lines are not ours, but say so.
		p.fail(n, "line %s starts an unknown section %q; skipping it", quote(s), tok)
		p.state = skipping
	case '0' <= tok[0] && tok[0] <= '9':
		// "123  Foo", "12345  Foo", "12g4  Foo", "0x12  Foo".
		p.fail(n, "vendor line %s does not start with a 4-digit hex ID", quote(s))
		p.state = skipping
	default:
		p.fail(n, "line %s is not a vendor, class or section line", quote(s))
		p.state = skipping
	}
}

// knownSections are the sections of usb.ids after the vendors and classes:
// audio class terminal types (AT), HID descriptor types (HID), HID report
// items (R), physical descriptor bias (BIAS) and items (PHY), HID usage
// tables (HUT), languages (L), HID country codes (HCC) and video class
// terminal types (VT).
var knownSections = map[string]bool{
	"AT": true, "HID": true, "R": true, "BIAS": true, "PHY": true,
	"HUT": true, "L": true, "HCC": true, "VT": true,
}

// classLine handles "C 03  Human Interface Device".
func (p *parser) classLine(n int, s []byte) {
	p.state = skipping // unless the line is good: see topLevel
	rest := trimLeft(s[1:])
	if len(rest) == len(s)-1 {
		p.fail(n, "class line %s has no class ID", quote(s))
		return
	}
	id, name, why := splitEntry(rest, 2)
	if why != "" {
		p.fail(n, "class line %s %s", quote(s), fmt.Sprintf(why, 2))
		return
	}
	p.classes.add(p, id, n, name)
	p.class = id
	p.state = inClass
	p.subSt = noSub
}

// entry splits the ID and name of line n, p.cur, whose body after its
// tabs should be a what ("product") ID of digits hex digits and a name,
// and reports the line if it is not.
func (p *parser) entry(n int, body []byte, digits int, what string) (uint32, []byte, bool) {
	id, name, why := splitEntry(body, digits)
	if why != "" {
		p.fail(n, "%s line %s %s", what, quote(p.cur), fmt.Sprintf(why, digits))
		return 0, nil, false
	}
	return id, name, true
}

// splitEntry reads "<digits hex digits><blanks><name>". Any run of spaces
// or tabs separates ID and name: the file means two spaces, but has had
// three ("\t10ad   Cinergy H5 Rev. 2"), and the name should not start with
// a space for it. On failure it returns a reason, a format for digits.
func splitEntry(s []byte, digits int) (id uint32, name []byte, why string) {
	if len(s) < digits {
		return 0, nil, "does not start with a %d-digit hex ID"
	}
	for _, c := range s[:digits] {
		v, ok := unhex(c)
		if !ok {
			return 0, nil, "does not start with a %d-digit hex ID"
		}
		id = id<<4 | uint32(v)
	}
	if len(s) > digits && !isBlank(s[digits]) {
		// "12345  Foo", or "0x12  Foo": not an ID of this width.
		return 0, nil, "does not start with a %d-digit hex ID"
	}
	name = trimLeft(s[digits:])
	if len(name) == 0 {
		return 0, nil, "has no name after its %d-digit ID"
	}
	return id, name, ""
}

// fail records a problem with line n. Lines come in order, but duplicates
// of unsorted input are found only at the end, hence the comparison.
func (p *parser) fail(n int, format string, args ...any) {
	p.problems++
	if p.first != nil && p.first.Line <= n {
		return
	}
	p.first = &SyntaxError{Line: n, Msg: fmt.Sprintf(format, args...)}
}

// quote shows a line in a message, cut short if it is long.
func quote(s []byte) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// builder collects one table's entries in file order.
type builder struct {
	ents     []entry
	unsorted bool
	describe func(key uint32) string // "product 1d6b:0002", for messages
}

// entry is one ID and where its name is in the input. It holds no
// pointers, so the garbage collector need not scan tens of thousands of
// them while they are built.
type entry struct {
	key  uint32
	line uint32
	off  uint32 // name is data[off:off+n]
	n    uint32
}

// add files the name of key, from line n, which is a suffix of p.cur.
func (b *builder) add(p *parser, key uint32, n int, name []byte) {
	e := entry{key, uint32(n), uint32(p.at + len(p.cur) - len(name)), uint32(len(name))}
	if i := len(b.ents); i > 0 {
		prev := &b.ents[i-1]
		switch {
		case key == prev.key:
			p.dup(b, e, prev)
			return
		case key < prev.key:
			b.unsorted = true
		}
	}
	b.ents = append(b.ents, e)
}

func (p *parser) name(e entry) []byte { return p.data[e.off : e.off+e.n] }

// dup reports a second name for an ID. The first is kept, so that a stray
// line further down cannot rename a well-known device.
func (p *parser) dup(b *builder, e entry, first *entry) {
	p.fail(int(e.line), "%s is named again, as %q; keeping %q from line %d",
		b.describe(e.key), p.name(e), p.name(*first), first.line)
}

// sort puts the entries in key order if the file did not have them so,
// dropping the later of any duplicates.
func (b *builder) sort(p *parser) {
	if !b.unsorted {
		return
	}
	// Stable, so that the first of equal keys is the one from the
	// earliest line.
	slices.SortStableFunc(b.ents, func(x, y entry) int { return cmp.Compare(x.key, y.key) })
	kept := b.ents[:1]
	for _, e := range b.ents[1:] {
		if last := &kept[len(kept)-1]; e.key == last.key {
			p.dup(b, e, last)
			continue
		}
		kept = append(kept, e)
	}
	b.ents = kept
}

// finish builds the DB. All names go into one string, so the DB keeps
// neither the input (comments, other sections, IDs) nor one allocation per
// name, and its tables hold no pointers for the garbage collector to chase.
func (p *parser) finish() *DB {
	builders := []*builder{&p.vendors, &p.products, &p.classes, &p.subclasses, &p.protocols}
	size := 0
	for _, b := range builders {
		b.sort(p)
		for _, e := range b.ents {
			size += int(e.n)
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, b := range builders {
		for _, e := range b.ents {
			sb.Write(p.name(e))
		}
	}
	all := sb.String()

	db := &DB{version: p.version}
	tables := []*table{&db.vendors, &db.products, &db.classes, &db.subclasses, &db.protocols}
	start := 0
	for i, b := range builders {
		t := tables[i]
		t.keys = make([]uint32, len(b.ents))
		t.ends = make([]uint32, len(b.ents))
		end := 0
		for j, e := range b.ents {
			t.keys[j] = e.key
			end += int(e.n)
			t.ends[j] = uint32(end)
		}
		t.names = all[start : start+end]
		start += end
	}
	return db
}

func trimRight(s []byte) []byte {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func trimLeft(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

// isSpace is ASCII whitespace only: a name's bytes outside ASCII are kept
// as they are, whatever encoding they are in.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func allLetters(s []byte) bool {
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return len(s) > 0
}
