// Package usbids reads usb.ids, the USB name database that lsusb uses, and
// looks up vendor, product and class names in it.
//
// Load a file, then look names up:
//
//	db, err := usbids.Load("/usr/share/misc/usb.ids") // or a .gz file
//	if err != nil && !errors.Is(err, usbids.ErrMalformed) {
//		return err // missing, or unreadable
//	}
//	if err != nil {
//		log.Print(err) // only a warning: db has every good line
//	}
//	vendor, _ := db.Vendor(0x1d6b)           // "Linux Foundation"
//	product, _ := db.Product(0x1d6b, 0x0002) // "2.0 root hub"
//	class, _ := db.Class(0x09)               // "Hub"
//
// Parsing the whole 730 KB file takes a few milliseconds, and the DB keeps
// under 1 MB, so a program can load it once at start.
//
// Every lookup is safe on a nil *DB and reports false there, so code that
// runs without a database needs no special case.
//
// The parser reads the vendor list (vendors and their products; interface
// lines are skipped) and the class list (classes, subclasses, protocols).
// The other sections of the file (AT, HID, R, BIAS, PHY, HUT, L, HCC, VT)
// are skipped whole, so their indented lines never become products; so
// are sections it does not know, with a warning.
// Names are kept byte for byte, as the file may mix latin-1 with UTF-8;
// only the blanks around them and CRs are cut.
package usbids

import (
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// DB holds the names from one usb.ids file. It is read-only after Parse
// or Load, so it is safe for concurrent use.
type DB struct {
	vendors    table // key: vendor
	products   table // key: vendor<<16 | product
	classes    table // key: class
	subclasses table // key: class<<8 | subclass
	protocols  table // key: class<<16 | subclass<<8 | protocol
	version    string
}

// table maps IDs to names. usb.ids is kept sorted, so building it is an
// append, and a binary search over ~20k uint32 keys costs about what a map
// lookup does, at a fraction of a map's memory. Names are packed into one
// string and found by their end offsets, so the table holds no pointers
// for the garbage collector to scan but the one string.
type table struct {
	keys  []uint32 // ascending
	ends  []uint32 // the name of keys[i] is names[ends[i-1]:ends[i]]
	names string
}

func (t *table) lookup(key uint32) (string, bool) {
	i, ok := slices.BinarySearch(t.keys, key)
	if !ok {
		return "", false
	}
	return t.name(i), true
}

func (t *table) name(i int) string {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.names[start:t.ends[i]]
}

// Vendor returns the name of a USB vendor ID, e.g. "Linux Foundation" for
// 0x1d6b.
func (db *DB) Vendor(vendor uint16) (string, bool) {
	if db == nil {
		return "", false
	}
	return db.vendors.lookup(uint32(vendor))
}

// Product returns the name of a vendor's product ID, e.g. "2.0 root hub"
// for 0x1d6b, 0x0002.
func (db *DB) Product(vendor, product uint16) (string, bool) {
	if db == nil {
		return "", false
	}
	return db.products.lookup(uint32(vendor)<<16 | uint32(product))
}

// Class returns the name of a USB device or interface class, e.g.
// "Human Interface Device" for 0x03.
func (db *DB) Class(class uint8) (string, bool) {
	if db == nil {
		return "", false
	}
	return db.classes.lookup(uint32(class))
}

// Subclass returns the name of a subclass within a class, e.g.
// "Boot Interface Subclass" for 0x03, 0x01.
func (db *DB) Subclass(class, subclass uint8) (string, bool) {
	if db == nil {
		return "", false
	}
	return db.subclasses.lookup(uint32(class)<<8 | uint32(subclass))
}

// Protocol returns the name of a protocol within a class and subclass,
// e.g. "Keyboard" for 0x03, 0x01, 0x01.
func (db *DB) Protocol(class, subclass, protocol uint8) (string, bool) {
	if db == nil {
		return "", false
	}
	return db.protocols.lookup(uint32(class)<<16 | uint32(subclass)<<8 | uint32(protocol))
}

// Version returns the file's own version, from its "# Version: 2025.07.26"
// header comment, or "" when it has none.
func (db *DB) Version() string {
	if db == nil {
		return ""
	}
	return db.version
}

// ErrMalformed is wrapped by every error that only reports malformed or
// duplicate lines. The DB returned with such an error holds every other
// line, so callers may treat it as a warning.
var ErrMalformed = errors.New("malformed usb.ids")

// SyntaxError describes the first problem line of a usb.ids file: one that
// could not be parsed, or one that names an ID a second time. That line was
// skipped (with a vendor or class line, so were the lines indented under
// it, rather than be filed under the entry before). It wraps ErrMalformed.
type SyntaxError struct {
	File string // the path given to Load; "" from Parse
	Line int    // 1-based
	Msg  string // what is wrong, quoting the line
	More int    // how many further problem lines there were
}

func (e *SyntaxError) Error() string {
	file := e.File
	if file == "" {
		file = "usb.ids"
	}
	s := fmt.Sprintf("%s line %d: %s", file, e.Line, e.Msg)
	switch {
	case e.More == 1:
		s += " (and 1 more problem line)"
	case e.More > 1:
		s += fmt.Sprintf(" (and %d more problem lines)", e.More)
	}
	return s
}

func (e *SyntaxError) Unwrap() error { return ErrMalformed }

// Load parses the usb.ids file at path, gunzipping it first when the name
// ends in ".gz" (some distributions ship usb.ids.gz).
//
// Errors are as for Parse, with path in place of "usb.ids". When the file
// cannot be opened, or a .gz file has no gzip header, Load returns a nil DB
// (on which every lookup is a safe miss) and the error.
func Load(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError already names op and path
	}
	defer f.Close()

	hint := 0
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		hint = int(min(st.Size(), maxHint))
	}
	src := readerWithHint{f, hint}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		defer zr.Close()
		// usb.ids compresses about 2.9:1; a close guess saves the copies
		// that growing the buffer from nothing would make.
		src = readerWithHint{zr, min(hint*3, maxHint)}
	}
	return parse(src, path)
}
