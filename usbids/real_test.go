package usbids

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
)

// realPaths are where Debian's usb.ids package and hwdata put the file.
// The search order a program uses belongs to the discover package; this
// list only finds a real file to test against.
var realPaths = []string{
	"/usr/share/misc/usb.ids",
	"/usr/share/hwdata/usb.ids",
	"/var/lib/usbutils/usb.ids",
}

// realFile returns the path of the host's usb.ids. Without one testenv
// skips the test, or fails it under HOSTDEV_REQUIRE_ALL=1 (as CI sets),
// so that CI cannot pass by skipping.
func realFile(tb testing.TB) string {
	tb.Helper()
	for _, p := range realPaths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	testenv.Skip(tb, "no usb.ids in %v; install it with: apt-get install usb.ids", realPaths)
	return ""
}

func TestRealFile(t *testing.T) {
	path := realFile(t)
	db, err := Load(path)
	if err != nil {
		t.Errorf("Load(%q): %v", path, err)
	}
	for _, tc := range []struct {
		name   string
		lookup func(*DB) (string, bool)
		want   result
	}{
		{"Linux Foundation", func(db *DB) (string, bool) { return db.Vendor(0x1d6b) }, result{"Linux Foundation", true}},
		{"2.0 root hub", func(db *DB) (string, bool) { return db.Product(0x1d6b, 0x0002) }, result{"2.0 root hub", true}},
		{"FTDI vendor", func(db *DB) (string, bool) { return db.Vendor(0x0403) }, result{"Future Technology Devices International, Ltd", true}},
		{"FT232", func(db *DB) (string, bool) { return db.Product(0x0403, 0x6001) }, result{"FT232 Serial (UART) IC", true}},
		{"STMicroelectronics", func(db *DB) (string, bool) { return db.Vendor(0x0483) }, result{"STMicroelectronics", true}},
		{"first vendor", func(db *DB) (string, bool) { return db.Vendor(0x0001) }, result{"Fry's Electronics", true}},
		{"UTF-8 name", func(db *DB) (string, bool) { return db.Product(0x045e, 0x000e) }, result{"SideWinder\u00ae Freestyle Pro", true}},
		{"class Hub", func(db *DB) (string, bool) { return db.Class(0x09) }, result{"Hub", true}},
		{"class HID", func(db *DB) (string, bool) { return db.Class(0x03) }, result{"Human Interface Device", true}},
		{"subclass", func(db *DB) (string, bool) { return db.Subclass(0x03, 0x01) }, result{"Boot Interface Subclass", true}},
		{"protocol", func(db *DB) (string, bool) { return db.Protocol(0x03, 0x01, 0x01) }, result{"Keyboard", true}},
		{"last protocol", func(db *DB) (string, bool) { return db.Protocol(0xff, 0xff, 0xff) }, result{"Vendor Specific Protocol", true}},
		// The L section after the classes has "\t01  Saudi Arabia"
		// under "L 0001  Arabic": not a subclass of class ff.
		{"L line as subclass", func(db *DB) (string, bool) { return db.Subclass(0xff, 0x01) }, result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got result
			got.Name, got.OK = tc.lookup(db)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lookup in %s (-want +got):\n%s", path, diff)
			}
		})
	}
	if db.Version() == "" {
		t.Errorf("Version() of %s is empty; its header has a \"# Version:\" line", path)
	}
}

// TestRealFileMatchesReference checks every entry of the host's file
// against a slow, independent reading by regular expressions that trusts
// the file to be well formed, so that nothing is lost and nothing leaks.
func TestRealFileMatchesReference(t *testing.T) {
	path := realFile(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Errorf("Parse(%s): %v", path, err)
	}
	want := referenceDump(t, data)
	got := dump(db)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(%s) entries (-reference +got):\n%s", path, diff)
	}
	t.Logf("%s: %d entries", path, len(got))
}

var (
	refVendor   = regexp.MustCompile(`^([0-9a-f]{4})  [ \t]*(.*)$`)
	refProduct  = regexp.MustCompile(`^\t([0-9a-f]{4})  [ \t]*(.*)$`)
	refClass    = regexp.MustCompile(`^C ([0-9a-f]{2})  [ \t]*(.*)$`)
	refSubclass = regexp.MustCompile(`^\t([0-9a-f]{2})  [ \t]*(.*)$`)
	refProtocol = regexp.MustCompile(`^\t\t([0-9a-f]{2})  [ \t]*(.*)$`)
	refTrim     = regexp.MustCompile(`[ \t\r]+$`)
)

func referenceDump(t *testing.T, data []byte) map[string]string {
	m := map[string]string{}
	add := func(key, name string) {
		if old, dup := m[key]; dup {
			t.Errorf("reference: %s named twice, %q and %q", key, old, name)
			return
		}
		m[key] = name
	}
	section, vendor, class, sub := "", "", "", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := refTrim.ReplaceAllString(sc.Text(), "")
		if line == "" || line[0] == '#' {
			continue
		}
		if f := refVendor.FindStringSubmatch(line); f != nil {
			section, vendor = "vendor", f[1]
			add("vendor "+vendor, f[2])
			continue
		}
		if f := refClass.FindStringSubmatch(line); f != nil {
			section, class = "class", f[1]
			add("class "+class, f[2])
			continue
		}
		if line[0] != '\t' {
			section = "other"
			continue
		}
		switch section {
		case "vendor":
			if f := refProduct.FindStringSubmatch(line); f != nil {
				add("product "+vendor+":"+f[1], f[2])
			}
		case "class":
			if f := refSubclass.FindStringSubmatch(line); f != nil {
				sub = f[1]
				add("subclass "+class+"/"+sub, f[2])
			} else if f := refProtocol.FindStringSubmatch(line); f != nil {
				add("protocol "+class+"/"+sub+"/"+f[1], f[2])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchmarkParse parses the host's usb.ids from memory, so that it times
// the parser rather than the disk.
func BenchmarkParse(b *testing.B) {
	path := realFile(b)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadGzip adds opening and gunzipping to BenchmarkParse.
func BenchmarkLoadGzip(b *testing.B) {
	data, err := os.ReadFile(realFile(b))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "usb.ids.gz")
	writeGzip(b, path, data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup looks up a vendor and a product, as naming one device
// does.
func BenchmarkLookup(b *testing.B) {
	db, err := Load(realFile(b))
	if err != nil {
		b.Fatal(err)
	}
	ids := [][2]uint16{{0x1d6b, 0x0002}, {0x0403, 0x6001}, {0x0483, 0x3748}, {0xffee, 0x0100}, {0x1234, 0x5678}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := ids[i%len(ids)]
		db.Vendor(id[0])
		db.Product(id[0], id[1])
		i++
	}
}
