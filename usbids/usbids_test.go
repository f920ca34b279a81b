package usbids

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// fragment is a small usb.ids with one of everything the parser meets:
// the real file's kinds of line, CRLF endings, non-UTF-8 names, and each
// kind of malformed line. Line numbers are in the comments; the tests
// below refer to them.
const fragment = "" +
	"#\n" + // 1
	"#\tList of USB ID's (a test fragment)\n" +
	"# Version: 2025.01.02\n" +
	"\n" +
	"\t0bad  Product before any vendor\n" + // 5: malformed
	"0001  Fry's Electronics\n" +
	"\t7778  Counterfeit flash drive [Kingston]\n" +
	"\t7778  Counterfeit again\n" + // 8: duplicate
	"1d6b  Linux Foundation\r\n" +
	"\t0001  1.1 root hub\r\n" + // 10
	"\t0002  2.0 root hub\r\n" +
	"\t\t00  Full speed hub interface\r\n" + // interfaces are skipped
	"\t0003  3.0 root hub \t \r\n" + // trailing blanks
	"\tzz12  Foo\n" + // 14: malformed
	"\t0004\n" + // 15: malformed
	"\t004  Short ID\n" + // 16: malformed
	"    0005  Indented with spaces\n" + // 17: malformed
	"\t0104  Multifunction Composite Gadget\n" +
	"\t\t\t01  Too deep\n" + // 19: malformed
	"\t0001  Second 1.1 root hub\n" + // 20: duplicate, out of order
	"# a comment between products\n" +
	"\t\t# an indented comment\n" +
	"091e  Garmin International\n" +
	"\t2353  N\u00fcvi 205T\n" + // UTF-8
	"f00d  Caf\xe9 Latin-1 GmbH\n" + // 25: latin-1
	"\t0001  Cr\xe8me Br\xfbl\xe9e\n" +
	"12g4  Broken Vendor\n" + // 27: malformed
	"\t9999  Orphan of the broken vendor\n" + // not f00d's
	"FACE  Upper-case Hex Inc.\n" +
	"\tBEEF  Upper-case product\n" + // 30
	"\n" +
	"HID 21  HID\n" +
	"\t0002  Not a product of face\n" +
	"\n" +
	"C 00  (Defined at Interface level)\n" + // 35
	"C 03  Human Interface Device\r\n" +
	"\t00  No Subclass\r\n" +
	"\t\t00  None\r\n" +
	"\t01  Boot Interface Subclass\n" +
	"\t\t01  Keyboard\n" + // 40
	"\t\t02  Mouse\n" +
	"C 09  Hub\n" +
	"\t00  Unused\n" +
	"\t\t00  Full speed (or root) hub\n" +
	"\t\t03  Hi-speed hub with multiple TTs\n" + // 45
	"C zz  Bad class\n" + // 46: malformed
	"\t01  Orphan subclass of the bad class\n" + // not 09's
	"C 0a  CDC Data\n" +
	"\t\t30  Protocol without a subclass\n" + // 49: malformed
	"\tx1  Bad subclass\n" + // 50: malformed
	"\t\t01  Orphan protocol of the bad subclass\n" + // not 0a/00's
	"\t00  Unused\n" +
	"C ff  Vendor Specific Class\n" +
	"\tff  Vendor Specific Subclass\n" +
	"\t\tff  Vendor Specific Protocol\n" + // 55
	"\n" +
	"AT 0100  USB Undefined\n" +
	"HUT 01  Generic Desktop Controls\n" +
	"\t001  Pointer\n" +
	"\t0002  Four digits, still not a product\n" + // 60
	"\t\t01  Nor an interface\n" +
	"L 0001  Arabic\n" +
	"\t01  Saudi Arabia\n" + // not a subclass of ff
	"\t\tff  Nor a protocol\n" +
	"BIAS 1  Right Hand\n" + // 65
	"PHY 01  Hand\n" +
	"HCC 00  Not supported\n" +
	"VT 0100  USB Vendor Specific\n" +
	"\t0001  Not a product\n" +
	"\n" + // 70
	"ffee  FNK Tech\n" + // a vendor line ends the skipping
	"\t0100  Card Reader Controller" // 72, with no final newline

// fragmentWant is everything fragment names, in dump's form.
var fragmentWant = map[string]string{
	"vendor 0001":       "Fry's Electronics",
	"product 0001:7778": "Counterfeit flash drive [Kingston]",
	"vendor 1d6b":       "Linux Foundation",
	"product 1d6b:0001": "1.1 root hub",
	"product 1d6b:0002": "2.0 root hub",
	"product 1d6b:0003": "3.0 root hub",
	"product 1d6b:0104": "Multifunction Composite Gadget",
	"vendor 091e":       "Garmin International",
	"product 091e:2353": "N\u00fcvi 205T",
	"vendor f00d":       "Caf\xe9 Latin-1 GmbH",
	"product f00d:0001": "Cr\xe8me Br\xfbl\xe9e",
	"vendor face":       "Upper-case Hex Inc.",
	"product face:beef": "Upper-case product",
	"vendor ffee":       "FNK Tech",
	"product ffee:0100": "Card Reader Controller",

	"class 00":          "(Defined at Interface level)",
	"class 03":          "Human Interface Device",
	"subclass 03/00":    "No Subclass",
	"protocol 03/00/00": "None",
	"subclass 03/01":    "Boot Interface Subclass",
	"protocol 03/01/01": "Keyboard",
	"protocol 03/01/02": "Mouse",
	"class 09":          "Hub",
	"subclass 09/00":    "Unused",
	"protocol 09/00/00": "Full speed (or root) hub",
	"protocol 09/00/03": "Hi-speed hub with multiple TTs",
	"class 0a":          "CDC Data",
	"subclass 0a/00":    "Unused",
	"class ff":          "Vendor Specific Class",
	"subclass ff/ff":    "Vendor Specific Subclass",
	"protocol ff/ff/ff": "Vendor Specific Protocol",
}

// dump lists everything in db, keyed the way fragmentWant is, so that a
// test can compare a whole database and see any entry that leaked in.
func dump(db *DB) map[string]string {
	m := map[string]string{}
	add := func(t *table, key func(uint32) string) {
		for i, k := range t.keys {
			m[key(k)] = t.name(i)
		}
	}
	add(&db.vendors, func(k uint32) string { return fmt.Sprintf("vendor %04x", k) })
	add(&db.products, func(k uint32) string { return fmt.Sprintf("product %04x:%04x", k>>16, k&0xffff) })
	add(&db.classes, func(k uint32) string { return fmt.Sprintf("class %02x", k) })
	add(&db.subclasses, func(k uint32) string { return fmt.Sprintf("subclass %02x/%02x", k>>8, k&0xff) })
	add(&db.protocols, func(k uint32) string {
		return fmt.Sprintf("protocol %02x/%02x/%02x", k>>16, k>>8&0xff, k&0xff)
	})
	return m
}

func TestParseFragment(t *testing.T) {
	db, err := Parse(strings.NewReader(fragment))
	if db == nil {
		t.Fatal("Parse returned a nil DB")
	}
	if diff := cmp.Diff(fragmentWant, dump(db)); diff != "" {
		t.Errorf("Parse(fragment) entries (-want +got):\n%s", diff)
	}
	if got, want := db.Version(), "2025.01.02"; got != want {
		t.Errorf("Version() = %q, want %q", got, want)
	}

	// Lines 5, 8, 14, 15, 16, 17, 19, 20, 27, 46, 49 and 50.
	want := &SyntaxError{
		Line: 5,
		Msg:  `product line "\t0bad  Product before any vendor" comes before any vendor line`,
		More: 11,
	}
	var got *SyntaxError
	if !errors.As(err, &got) {
		t.Fatalf("Parse(fragment) error = %v, want a *SyntaxError", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(fragment) error (-want +got):\n%s", diff)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
	}
	wantMsg := `usb.ids line 5: product line "\t0bad  Product before any vendor" comes before any vendor line (and 11 more problem lines)`
	if diff := cmp.Diff(wantMsg, err.Error()); diff != "" {
		t.Errorf("Parse(fragment) error text (-want +got):\n%s", diff)
	}
}

// result is what a lookup returns, as one comparable value.
type result struct {
	Name string
	OK   bool
}

func TestLookups(t *testing.T) {
	db, _ := Parse(strings.NewReader(fragment))
	for _, tc := range []struct {
		name   string
		lookup func(*DB) (string, bool)
		want   result
	}{
		{"vendor", func(db *DB) (string, bool) { return db.Vendor(0x1d6b) }, result{"Linux Foundation", true}},
		{"first vendor", func(db *DB) (string, bool) { return db.Vendor(0x0001) }, result{"Fry's Electronics", true}},
		{"last vendor", func(db *DB) (string, bool) { return db.Vendor(0xffee) }, result{"FNK Tech", true}},
		{"unknown vendor", func(db *DB) (string, bool) { return db.Vendor(0x1234) }, result{}},
		{"upper-case hex vendor", func(db *DB) (string, bool) { return db.Vendor(0xface) }, result{"Upper-case Hex Inc.", true}},
		{"product", func(db *DB) (string, bool) { return db.Product(0x1d6b, 0x0002) }, result{"2.0 root hub", true}},
		{"product with trailing blanks", func(db *DB) (string, bool) { return db.Product(0x1d6b, 0x0003) }, result{"3.0 root hub", true}},
		{"first of a duplicate", func(db *DB) (string, bool) { return db.Product(0x1d6b, 0x0001) }, result{"1.1 root hub", true}},
		{"product after bad lines", func(db *DB) (string, bool) { return db.Product(0x1d6b, 0x0104) }, result{"Multifunction Composite Gadget", true}},
		{"UTF-8 product", func(db *DB) (string, bool) { return db.Product(0x091e, 0x2353) }, result{"N\u00fcvi 205T", true}},
		{"latin-1 product", func(db *DB) (string, bool) { return db.Product(0xf00d, 0x0001) }, result{"Cr\xe8me Br\xfbl\xe9e", true}},
		{"product of another vendor", func(db *DB) (string, bool) { return db.Product(0x0001, 0x0002) }, result{}},
		{"product under a bad vendor", func(db *DB) (string, bool) { return db.Product(0xf00d, 0x9999) }, result{}},
		{"HID line under last vendor", func(db *DB) (string, bool) { return db.Product(0xface, 0x0002) }, result{}},
		{"product after sections", func(db *DB) (string, bool) { return db.Product(0xffee, 0x0100) }, result{"Card Reader Controller", true}},
		{"VT line under a later vendor", func(db *DB) (string, bool) { return db.Product(0xffee, 0x0001) }, result{}},
		{"class", func(db *DB) (string, bool) { return db.Class(0x03) }, result{"Human Interface Device", true}},
		{"class 00", func(db *DB) (string, bool) { return db.Class(0x00) }, result{"(Defined at Interface level)", true}},
		{"unknown class", func(db *DB) (string, bool) { return db.Class(0x04) }, result{}},
		{"subclass", func(db *DB) (string, bool) { return db.Subclass(0x03, 0x01) }, result{"Boot Interface Subclass", true}},
		{"class without subclasses", func(db *DB) (string, bool) { return db.Subclass(0x00, 0x00) }, result{}},
		{"subclass under a bad class", func(db *DB) (string, bool) { return db.Subclass(0x09, 0x01) }, result{}},
		{"L line after the classes", func(db *DB) (string, bool) { return db.Subclass(0xff, 0x01) }, result{}},
		{"protocol", func(db *DB) (string, bool) { return db.Protocol(0x03, 0x01, 0x02) }, result{"Mouse", true}},
		{"protocol 00/00", func(db *DB) (string, bool) { return db.Protocol(0x03, 0x00, 0x00) }, result{"None", true}},
		{"protocol of another subclass", func(db *DB) (string, bool) { return db.Protocol(0x03, 0x00, 0x01) }, result{}},
		{"protocol under a bad subclass", func(db *DB) (string, bool) { return db.Protocol(0x0a, 0x00, 0x01) }, result{}},
		{"L line as protocol", func(db *DB) (string, bool) { return db.Protocol(0xff, 0xff, 0x01) }, result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got result
			got.Name, got.OK = tc.lookup(db)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lookup (-want +got):\n%s", diff)
			}
			var none result
			none.Name, none.OK = tc.lookup(nil)
			if diff := cmp.Diff(result{}, none); diff != "" {
				t.Errorf("lookup on a nil DB (-want +got):\n%s", diff)
			}
		})
	}
	if got := (*DB)(nil).Version(); got != "" {
		t.Errorf("nil DB Version() = %q, want \"\"", got)
	}
}

// TestMalformed feeds one problem at a time and checks both the report and
// that the lines around it still count.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    map[string]string
		wantErr *SyntaxError // nil: no error
	}{
		{
			name: "clean",
			in:   "1234  Vendor\n\t0001  Product\n",
			want: map[string]string{"vendor 1234": "Vendor", "product 1234:0001": "Product"},
		},
		{
			name: "lsusb-style blanks between ID and name",
			in:   "1234 Vendor\n\t0001\tProduct\n",
			want: map[string]string{"vendor 1234": "Vendor", "product 1234:0001": "Product"},
		},
		{
			name:    "product before any vendor",
			in:      "# header\n\t0001  Orphan\n1234  Vendor\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\t0001  Orphan" comes before any vendor line`},
		},
		{
			name:    "interface before any vendor",
			in:      "\t\t01  Orphan\n",
			want:    map[string]string{},
			wantErr: &SyntaxError{Line: 1, Msg: `interface line "\t\t01  Orphan" comes before any vendor line`},
		},
		{
			name:    "product with bad hex",
			in:      "1234  Vendor\n\tzz12  Foo\n\t0002  Bar\n",
			want:    map[string]string{"vendor 1234": "Vendor", "product 1234:0002": "Bar"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\tzz12  Foo" does not start with a 4-digit hex ID`},
		},
		{
			name:    "product ID too short",
			in:      "1234  Vendor\n\t001  Foo\n\t0002  Bar\n",
			want:    map[string]string{"vendor 1234": "Vendor", "product 1234:0002": "Bar"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\t001  Foo" does not start with a 4-digit hex ID`},
		},
		{
			name:    "product ID too long",
			in:      "1234  Vendor\n\t00011  Foo\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\t00011  Foo" does not start with a 4-digit hex ID`},
		},
		{
			name:    "product line cut short",
			in:      "1234  Vendor\n\t00\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\t00" does not start with a 4-digit hex ID`},
		},
		{
			name:    "product without a name",
			in:      "1234  Vendor\n\t0001  \r\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\t0001" has no name after its 4-digit ID`},
		},
		{
			name:    "product indented with spaces",
			in:      "1234  Vendor\n    0001  Foo\n\t0002  Bar\n",
			want:    map[string]string{"vendor 1234": "Vendor", "product 1234:0002": "Bar"},
			wantErr: &SyntaxError{Line: 2, Msg: `line "    0001  Foo" is indented with spaces; entries are indented with tabs`},
		},
		{
			name:    "three tabs",
			in:      "1234  Vendor\n\t\t\t01  Foo\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `line "\t\t\t01  Foo" is indented 3 tabs deep; products use 1 and interfaces 2`},
		},
		{
			name: "vendor with bad hex",
			in:   "1234  Vendor\n\t0001  Product\n12g4  Bad\n\t0002  Orphan\n5678  Next\n\t0003  Kept\n",
			want: map[string]string{
				"vendor 1234": "Vendor", "product 1234:0001": "Product",
				"vendor 5678": "Next", "product 5678:0003": "Kept",
			},
			wantErr: &SyntaxError{Line: 3, Msg: `vendor line "12g4  Bad" does not start with a 4-digit hex ID`},
		},
		{
			name:    "vendor ID too short",
			in:      "1234  Vendor\n123  Bad\n\t0002  Orphan\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `vendor line "123  Bad" does not start with a 4-digit hex ID`},
		},
		{
			name:    "vendor ID too long",
			in:      "12345  Bad\n\t0002  Orphan\n",
			want:    map[string]string{},
			wantErr: &SyntaxError{Line: 1, Msg: `vendor line "12345  Bad" does not start with a 4-digit hex ID`},
		},
		{
			name:    "vendor without a name",
			in:      "1234  Vendor\nabcd\n\t0002  Orphan\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `vendor line "abcd" has no name after its 4-digit ID`},
		},
		{
			name:    "not a vendor, class or section",
			in:      "1234  Vendor\n-  dash\n\t0002  Orphan\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `line "-  dash" is not a vendor, class or section line`},
		},
		{
			name:    "duplicate vendor",
			in:      "1234  First\n\t0001  Kept\n1234  Second\n\t0002  Kept too\n",
			want:    map[string]string{"vendor 1234": "First", "product 1234:0001": "Kept", "product 1234:0002": "Kept too"},
			wantErr: &SyntaxError{Line: 3, Msg: `vendor 1234 is named again, as "Second"; keeping "First" from line 1`},
		},
		{
			name:    "duplicate out of order",
			in:      "1234  V\n\t0002  First\n\t0001  Other\n\t0002  Second\n",
			want:    map[string]string{"vendor 1234": "V", "product 1234:0001": "Other", "product 1234:0002": "First"},
			wantErr: &SyntaxError{Line: 4, Msg: `product 1234:0002 is named again, as "Second"; keeping "First" from line 2`},
		},
		{
			name: "unsorted but unique",
			in:   "5678  B\n\t0002  B2\n\t0001  B1\n1234  A\n\t0001  A1\n",
			want: map[string]string{
				"vendor 1234": "A", "product 1234:0001": "A1",
				"vendor 5678": "B", "product 5678:0001": "B1", "product 5678:0002": "B2",
			},
		},
		{
			name:    "class with bad hex",
			in:      "C 09  Hub\n\t00  Unused\nC zz  Bad\n\t01  Orphan\n\t\t02  Orphan\n",
			want:    map[string]string{"class 09": "Hub", "subclass 09/00": "Unused"},
			wantErr: &SyntaxError{Line: 3, Msg: `class line "C zz  Bad" does not start with a 2-digit hex ID`},
		},
		{
			name:    "class without an ID",
			in:      "C\n\t01  Orphan\n",
			want:    map[string]string{},
			wantErr: &SyntaxError{Line: 1, Msg: `class line "C" has no class ID`},
		},
		{
			name:    "class without a name",
			in:      "C 01\n\t01  Orphan\n",
			want:    map[string]string{},
			wantErr: &SyntaxError{Line: 1, Msg: `class line "C 01" has no name after its 2-digit ID`},
		},
		{
			name:    "subclass with bad hex",
			in:      "C 09  Hub\n\t0x  Bad\n\t\t01  Orphan\n\t01  Good\n\t\t02  Kept\n",
			want:    map[string]string{"class 09": "Hub", "subclass 09/01": "Good", "protocol 09/01/02": "Kept"},
			wantErr: &SyntaxError{Line: 2, Msg: `subclass line "\t0x  Bad" does not start with a 2-digit hex ID`},
		},
		{
			name:    "protocol without a subclass",
			in:      "C 09  Hub\n\t\t01  Orphan\n",
			want:    map[string]string{"class 09": "Hub"},
			wantErr: &SyntaxError{Line: 2, Msg: `protocol line "\t\t01  Orphan" has no subclass line above it`},
		},
		{
			name:    "protocol with bad hex",
			in:      "C 09  Hub\n\t00  Unused\n\t\t1  Bad\n\t\t02  Kept\n",
			want:    map[string]string{"class 09": "Hub", "subclass 09/00": "Unused", "protocol 09/00/02": "Kept"},
			wantErr: &SyntaxError{Line: 3, Msg: `protocol line "\t\t1  Bad" does not start with a 2-digit hex ID`},
		},
		{
			name:    "long line is quoted short",
			in:      "1234  Vendor\n\tzz" + strings.Repeat("x", 200) + "\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `product line "\tzz` + strings.Repeat("x", 77) + `"... does not start with a 4-digit hex ID`},
		},
		{
			name:    "unknown section",
			in:      "1234  Vendor\nNEW 01  Something\n\t0001  Not a product\n5678  Next\n",
			want:    map[string]string{"vendor 1234": "Vendor", "vendor 5678": "Next"},
			wantErr: &SyntaxError{Line: 2, Msg: `line "NEW 01  Something" starts an unknown section "NEW"; skipping it`},
		},
		{
			name:    "vendor with a letter for a digit",
			in:      "1234  Vendor\nabcx  Typo\n\t0001  Not a product of 1234\n",
			want:    map[string]string{"vendor 1234": "Vendor"},
			wantErr: &SyntaxError{Line: 2, Msg: `line "abcx  Typo" starts an unknown section "abcx"; skipping it`},
		},
		{
			name: "byte order mark",
			in:   "\xef\xbb\xbf1234  Vendor\n",
			want: map[string]string{"vendor 1234": "Vendor"},
		},
		{
			name: "empty",
			in:   "",
			want: map[string]string{},
		},
		{
			name: "blank lines of whitespace",
			in:   "1234  Vendor\n\t\n \r\n\t0001  Product\n",
			want: map[string]string{"vendor 1234": "Vendor", "product 1234:0001": "Product"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Parse(strings.NewReader(tc.in))
			if db == nil {
				t.Fatal("Parse returned a nil DB")
			}
			if diff := cmp.Diff(tc.want, dump(db)); diff != "" {
				t.Errorf("Parse(%q) entries (-want +got):\n%s", tc.in, diff)
			}
			var got *SyntaxError
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("Parse(%q) error = %v, want a *SyntaxError", tc.in, err)
			}
			if diff := cmp.Diff(tc.wantErr, got); diff != "" {
				t.Errorf("Parse(%q) error (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestLineEndings checks that CRLF, LF and a missing final newline give
// the same database.
func TestLineEndings(t *testing.T) {
	lf := strings.ReplaceAll(fragment, "\r\n", "\n")
	for _, tc := range []struct{ name, in string }{
		{"LF", lf},
		{"CRLF", strings.ReplaceAll(lf, "\n", "\r\n")},
		{"final newline", lf + "\n"},
		{"final CRLF", lf + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Parse(strings.NewReader(tc.in))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse error = %v, want one wrapping ErrMalformed", err)
			}
			if diff := cmp.Diff(fragmentWant, dump(db)); diff != "" {
				t.Errorf("Parse entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLongLines is the bufio.Scanner trap: lines past 64 KiB, and past
// any buffer Parse might have used, must parse like short ones.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("n", 1<<20)
	in := "# " + strings.Repeat("c", 3<<20) + "\n" +
		"1234  Vendor\n" +
		"\t0001  " + long + "\n" +
		"\t0002  Short\n" +
		"HUT 01  Section\n" +
		"\t" + strings.Repeat("x", 100<<10) + "\n" +
		"5678  " + long
	db, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Errorf("Parse: %v", err)
	}
	want := map[string]string{
		"vendor 1234":       "Vendor",
		"product 1234:0001": long,
		"product 1234:0002": "Short",
		"vendor 5678":       long,
	}
	if diff := cmp.Diff(want, dump(db)); diff != "" {
		t.Errorf("Parse entries (-want +got):\n%s", diff)
	}
}

// TestReaders reads the fragment in awkward pieces; every way must give
// the same result.
func TestReaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(fragment))},
		{"half reads", iotest.HalfReader(strings.NewReader(fragment))},
		{"data with EOF", iotest.DataErrReader(strings.NewReader(fragment))},
		{"bytes.Buffer", bytes.NewBufferString(fragment)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Parse(tc.r)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse error = %v, want one wrapping ErrMalformed", err)
			}
			if diff := cmp.Diff(fragmentWant, dump(db)); diff != "" {
				t.Errorf("Parse entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadError checks that a read failing part way keeps the whole lines
// before it, drops the line it cut, and is not mistaken for a warning.
func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	in := "1234  Vendor\n\t0001  Product\n\t0002  Cut off her"
	db, err := Parse(io.MultiReader(strings.NewReader(in), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Errorf("Parse error = %v, want one wrapping %v", err, boom)
	}
	if errors.Is(err, ErrMalformed) {
		t.Errorf("Parse error = %v wraps ErrMalformed; a read failure is no warning", err)
	}
	want := map[string]string{"vendor 1234": "Vendor", "product 1234:0001": "Product"}
	if diff := cmp.Diff(want, dump(db)); diff != "" {
		t.Errorf("Parse entries (-want +got):\n%s", diff)
	}
}

// writeGzip writes data, gzipped, to path.
func writeGzip(t testing.TB, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "usb.ids")
	if err := os.WriteFile(plain, []byte(fragment), 0o644); err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "usb.ids.gz")
	writeGzip(t, gz, []byte(fragment))

	for _, path := range []string{plain, gz} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			db, err := Load(path)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Load(%q) error = %v, want a *SyntaxError", path, err)
			}
			// The error names the file it is about.
			if want := path + " line 5: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Load(%q) error = %q, want it to start with %q", path, err, want)
			}
			if diff := cmp.Diff(fragmentWant, dump(db)); diff != "" {
				t.Errorf("Load(%q) entries (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()

	t.Run("missing", func(t *testing.T) {
		db, err := Load(filepath.Join(dir, "nope.ids"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load error = %v, want one wrapping fs.ErrNotExist", err)
		}
		if db != nil {
			t.Errorf("Load returned a DB for a missing file")
		}
	})

	t.Run("not gzip", func(t *testing.T) {
		path := filepath.Join(dir, "plain.ids.gz")
		if err := os.WriteFile(path, []byte(fragment), 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := Load(path)
		if !errors.Is(err, gzip.ErrHeader) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load error = %v, want gzip.ErrHeader naming %s", err, path)
		}
		if _, ok := db.Vendor(0x1d6b); ok {
			t.Errorf("Load of a non-gzip .gz file found vendor 1d6b")
		}
	})

	t.Run("truncated gzip", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(strings.Repeat("1234  Vendor\n\t0001  Product\n", 10000)))
		zw.Close()
		path := filepath.Join(dir, "cut.ids.gz")
		if err := os.WriteFile(path, buf.Bytes()[:buf.Len()/2], 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := Load(path)
		if err == nil || errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load error = %v, want a read error naming %s", err, path)
		}
		// What came before the cut is still there.
		if got, _ := db.Product(0x1234, 0x0001); got != "Product" {
			t.Errorf("Product(1234, 0001) = %q after a cut read, want %q", got, "Product")
		}
	})
}
