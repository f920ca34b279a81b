package usbids

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that no input panics Parse, that the DB it returns is
// consistent and safe to query, and that line endings and read sizes do
// not change the result.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fragment))
	f.Add([]byte("1234  Vendor\n\t0001  Product\n\t\t01  Interface\n"))
	f.Add([]byte("C 03  HID\n\t01  Boot\n\t\t01  Keyboard\nHUT 01  Desktop\n\t001  Pointer\n"))
	f.Add([]byte("\t0001  Orphan\n12g4  Bad\n\t0002  Orphan\nC zz  Bad\n\t\t01  Orphan\n"))
	f.Add([]byte("5678  B\n\t0002  B2\n\t0001  B1\n1234  A\n5678  B again\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := Parse(bytes.NewReader(data))
		if db == nil {
			t.Fatal("Parse returned a nil DB")
		}
		if err != nil {
			// Reading a bytes.Reader cannot fail, so only the
			// malformed-lines warning is possible.
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v, want a *SyntaxError", err)
			}
			lines := bytes.Count(data, []byte{'\n'}) + 1
			if se.Line < 1 || se.Line > lines || se.More < 0 {
				t.Fatalf("SyntaxError %+v is outside the input's %d lines", se, lines)
			}
			_ = err.Error()
		}
		checkDB(t, db)

		// Arbitrary lookups, with IDs taken from the input.
		for i := 0; i+4 <= len(data) && i < 64; i += 4 {
			v, p := uint16(data[i])<<8|uint16(data[i+1]), uint16(data[i+2])<<8|uint16(data[i+3])
			db.Vendor(v)
			db.Product(v, p)
			db.Class(data[i])
			db.Subclass(data[i], data[i+1])
			db.Protocol(data[i], data[i+1], data[i+2])
		}

		// CRLF endings and one-byte reads must change nothing, down to
		// the error's text. (Compared cheaply: the fuzzer runs this body
		// thousands of times to minimize each new input.)
		crlf, crlfErr := Parse(bytes.NewReader(bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))))
		bytewise, bytewiseErr := Parse(iotest.OneByteReader(bytes.NewReader(data)))
		for _, tc := range []struct {
			name string
			db   *DB
			err  error
		}{{"CRLF", crlf, crlfErr}, {"byte reads", bytewise, bytewiseErr}} {
			if !sameDB(db, tc.db) {
				t.Fatalf("%s: entries differ (-LF +%s):\n%s", tc.name, tc.name, cmp.Diff(dump(db), dump(tc.db)))
			}
			if errString(err) != errString(tc.err) {
				t.Fatalf("%s: error %q, want %q", tc.name, errString(tc.err), errString(err))
			}
		}
	})
}

func sameDB(a, b *DB) bool {
	same := func(x, y *table) bool {
		return slices.Equal(x.keys, y.keys) && slices.Equal(x.ends, y.ends) && x.names == y.names
	}
	return same(&a.vendors, &b.vendors) && same(&a.products, &b.products) &&
		same(&a.classes, &b.classes) && same(&a.subclasses, &b.subclasses) &&
		same(&a.protocols, &b.protocols) && a.version == b.version
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkDB checks what every DB must hold to, and that each entry is found
// again through the public lookups.
func checkDB(t *testing.T, db *DB) {
	t.Helper()
	tables := []struct {
		name string
		t    *table
		max  uint32
		get  func(k uint32) (string, bool)
	}{
		{"vendors", &db.vendors, 0xffff, func(k uint32) (string, bool) { return db.Vendor(uint16(k)) }},
		{"products", &db.products, 0xffffffff, func(k uint32) (string, bool) { return db.Product(uint16(k>>16), uint16(k)) }},
		{"classes", &db.classes, 0xff, func(k uint32) (string, bool) { return db.Class(uint8(k)) }},
		{"subclasses", &db.subclasses, 0xffff, func(k uint32) (string, bool) { return db.Subclass(uint8(k>>8), uint8(k)) }},
		{"protocols", &db.protocols, 0xffffff, func(k uint32) (string, bool) {
			return db.Protocol(uint8(k>>16), uint8(k>>8), uint8(k))
		}},
	}
	for _, tb := range tables {
		if len(tb.t.keys) != len(tb.t.ends) {
			t.Fatalf("%s: %d keys but %d names", tb.name, len(tb.t.keys), len(tb.t.ends))
		}
		for i, k := range tb.t.keys {
			name := tb.t.name(i)
			if i > 0 && k <= tb.t.keys[i-1] {
				t.Fatalf("%s: key %#x after %#x: not strictly increasing", tb.name, k, tb.t.keys[i-1])
			}
			if k > tb.max {
				t.Fatalf("%s: key %#x is over %#x", tb.name, k, tb.max)
			}
			if name == "" || strings.Contains(name, "\n") ||
				isSpace(name[0]) || isSpace(name[len(name)-1]) {
				t.Fatalf("%s: key %#x has name %q: empty, multi-line or untrimmed", tb.name, k, name)
			}
			if got, ok := tb.get(k); !ok || got != name {
				t.Fatalf("%s: lookup of key %#x = %q, %v; want %q, true", tb.name, k, got, ok, name)
			}
		}
	}
}
