package match

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/snapshot"
)

func usbDev(name string, bus, dev int, port string, v, p discover.ID, class uint8, serial string, ifs ...discover.Interface) discover.Device {
	return discover.Device{
		Bus: discover.BusUSB, Name: name, VendorID: v, ProductID: p,
		USB: &discover.USB{Busnum: bus, Devnum: dev, Port: discover.PortPath(port), Class: discover.Class(class),
			Serial: optional(serial), Interfaces: ifs},
	}
}

func pciDev(addr string, v, p discover.ID, class uint32, driver string, group int) discover.Device {
	return discover.Device{
		Bus: discover.BusPCI, Name: addr, VendorID: v, ProductID: p,
		PCI: &discover.PCI{Address: new(pciaddr.MustParse(addr)), Class: discover.PCIClass(class),
			Driver: driver, IOMMUGroup: new(group)},
	}
}

// optional is nil for "": a device without that string.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fakeHost is a small host: two root hubs, a hub, a keyboard on it, two
// identical serial-less adapters on different buses at the same port
// path, and a few PCI functions.
func fakeHost() []discover.Device {
	kbd := usbDev("1-1.2", 1, 5, "1.2", 0x046d, 0xc31c, 0, "", discover.Interface{Class: 3, Driver: "usbhid"}, discover.Interface{Class: 3})
	kbd.ProductName = "Keyboard K120"
	kbd.USB.Product = new("USB Keyboard")
	return []discover.Device{
		usbDev("usb1", 1, 1, "0", 0x1d6b, 0x0002, 9, "0000:00:14.0", discover.Interface{Class: 9, Driver: "hub"}),
		usbDev("1-1", 1, 2, "1", 0x0409, 0x005a, 9, "", discover.Interface{Class: 9, Driver: "hub"}),
		kbd,
		usbDev("1-3", 1, 7, "3", 0x067b, 0x2303, 0, "", discover.Interface{Class: 0xff, Driver: "pl2303"}),
		usbDev("usb2", 2, 1, "0", 0x1d6b, 0x0002, 9, "0000:00:1d.0", discover.Interface{Class: 9, Driver: "hub"}),
		usbDev("2-3", 2, 4, "3", 0x067b, 0x2303, 0, "", discover.Interface{Class: 0xff, Driver: "pl2303"}),
		pciDev("0000:00:1f.0", 0x8086, 0xa082, 0x060100, "", 10),
		pciDev("0000:00:1f.3", 0x8086, 0xa0c8, 0x040380, "snd_hda_intel", 11),
		pciDev("0000:00:1f.4", 0x8086, 0xa0a3, 0x0c0500, "i801_smbus", 11),
		pciDev("0000:01:00.0", 0x10de, 0x1eb8, 0x030200, "vfio-pci", 12),
		pciDev("0001:01:00.0", 0x10de, 0x1eb8, 0x030200, "nvidia", 13),
	}
}

func names(ds []discover.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func TestMatch(t *testing.T) {
	devs := fakeHost()
	tests := []struct {
		name, sel string
		want      []string // nil: no match
	}{
		{"root hub vendor never", "host:1d6b:0002", nil},
		{"vendor-only excludes hubs", "vendor=0409", nil},
		{"class 09 asks for hubs", "class=09", []string{"usb1", "1-1", "usb2"}},
		{"class 09 with vendor", "vendor=1d6b,class=09", []string{"usb1", "usb2"}},
		{"exact port picks hub", "port=1-1", []string{"1-1"}},
		{"exact root hub port", "port=2-0", []string{"usb2"}},
		{"wildcard port does not pick hubs", "port=1-*", []string{"1-1.2", "1-3"}},
		{"busnum devnum picks root hub", "host:1.1", []string{"usb1"}},
		{"busnum alone does not pick hubs", "busnum=1", []string{"1-1.2", "1-3"}},
		{"port any bus", "port=3", []string{"1-3", "2-3"}},
		{"port on bus", "port=2-3", []string{"2-3"}},
		{"port leading zero", "port=01-01.02", []string{"1-1.2"}},
		{"driver on interface", "driver=usbhid", []string{"1-1.2"}},
		{"driver on pci", "driver=vfio-pci", []string{"0000:01:00.0"}},
		{"driver glob", "driver=snd_*", []string{"0000:00:1f.3"}},
		{"driver hub still excluded", "driver=hub", nil},
		{"interface-class", "interface-class=03", []string{"1-1.2"}},
		{"name product string", "name=*keyboard*", []string{"1-1.2"}},
		{"name database", "name=Keyboard K1*", []string{"1-1.2"}},
		{"name no match", "name=mouse", nil},
		{"pci function wildcard", "00:1f.*", []string{"0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4"}},
		{"pci bus wildcard domain 0 only", "*:00.0", []string{"0000:01:00.0"}},
		{"pci domain wildcard", "address=*:01:00.0", []string{"0000:01:00.0", "0001:01:00.0"}},
		{"pci exact", "pci:0000:00:1f.3", []string{"0000:00:1f.3"}},
		{"class prefix 2", "class=0c", []string{"0000:00:1f.4"}},
		{"class prefix 4", "class=0403", []string{"0000:00:1f.3"}},
		{"class 6", "class=030200", []string{"0000:01:00.0", "0001:01:00.0"}},
		{"class 6 differs", "class=030000", nil},
		{"usb class", "bus=usb,class=00", []string{"1-1.2", "1-3", "2-3"}},
		{"iommu group", "iommu-group=11", []string{"0000:00:1f.3", "0000:00:1f.4"}},
		{"vendor alternatives", "vendor=067b|10de", []string{"1-3", "2-3", "0000:01:00.0", "0001:01:00.0"}},
		{"vendor wildcard", "vendor=10*", []string{"0000:01:00.0", "0001:01:00.0"}},
		{"bus only", "bus=pci,vendor=8086", []string{"0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4"}},
		{"usb key on pci", "serial=*", nil},
		{"serial wildcard hub excluded", "serial=0000:*", nil},
		{"serial root hub with class", "serial=0000:00:1d.0,class=09", []string{"usb2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range devs {
				if sel.Match(d) {
					got = append(got, d.Name)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s matches (-want +got):\n%s", tt.sel, diff)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"a*", "a", true}, {"*a", "a", true}, {"a*a", "a", false},
		{"a*a", "aa", true}, {"*b*", "abc", true}, {"a*c*e", "abcde", true}, {"a*c*e", "abcd", false},
		{"2.*", "2.6.1", true}, {"x", "x", true}, {"x", "y", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pat, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

func TestResolveFake(t *testing.T) {
	devs := fakeHost()
	tests := []struct {
		name, sel string
		want      string // device name, or the error text
		moved     string
	}{
		{"one", "driver=usbhid", "1-1.2", ""},
		{"same port on two buses", "host:067b:2303", "2 devices match 067b:2303; add port=1-3 or port=2-3", ""},
		{"pci ambiguous", "vendor=10de", "2 devices match vendor=10de; add address=0000:01:00.0 or address=0001:01:00.0", ""},
		{"no match nearest product", "host:067b:2304", "no device matches 067b:2304; nearest: 1-3 (067b:2303) product is 2303, 2-3 (067b:2303) product is 2303", ""},
		{"root hub", "host:1d6b:0002", "no device matches 1d6b:0002; nearest: usb1 (1d6b:0002) is a root hub: hubs match only with class=09, an exact port= or busnum= and devnum=, usb2 (1d6b:0002) is a root hub: hubs match only with class=09, an exact port= or busnum= and devnum=", ""},
		{"remembered, still there", "vendor=067b,product=2303,busnum=2,devnum=4", "2-3", ""},
		{"remembered, moved", "vendor=046d,product=c31c,busnum=1,devnum=3", "1-1.2", "046d:c31c moved from 001.003 to 001.005"},
		{"remembered, other device there", "vendor=046d,product=c31c,busnum=1,devnum=7", "1-1.2", "046d:c31c moved from 001.007 to 001.005"},
		{"remembered, moved and ambiguous", "vendor=067b,product=2303,busnum=3,devnum=9", "067b:2303 is no longer at 003.009, and 2 devices match 067b:2303; add port=1-3 or port=2-3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			d, moved, err := ResolveMoved(sel, devs)
			got := d.Name
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("ResolveMoved(%s) = %s\nwant %s", tt.sel, got, tt.want)
			}
			gotMoved := ""
			if moved != nil {
				gotMoved = moved.String()
			}
			if gotMoved != tt.moved {
				t.Errorf("moved = %q, want %q", gotMoved, tt.moved)
			}
			// Resolve agrees, without the news.
			d2, err2 := Resolve(sel, devs)
			if (err == nil) != (err2 == nil) || d2.Name != d.Name {
				t.Errorf("Resolve = %s, %v; ResolveMoved = %s, %v", d2.Name, err2, d.Name, err)
			}
		})
	}
}

func TestResolveAll(t *testing.T) {
	devs := fakeHost()
	got, err := ResolveAll(terms("vendor", "067b"), devs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1-3", "2-3"}, names(got)); diff != "" {
		t.Errorf("ResolveAll (-want +got):\n%s", diff)
	}
	_, err = ResolveAll(terms("vendor", "ffff"), devs)
	var nm *NoMatchError
	if !errors.As(err, &nm) {
		t.Errorf("ResolveAll(vendor=ffff) error = %v, want *NoMatchError", err)
	}
}

func scanCorpus(t *testing.T, name string) []discover.Device {
	t.Helper()
	dir, cleanup, err := snapshot.Unpack(testenv.CorpusArchive(t, name))
	if err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	t.Cleanup(cleanup)
	res, err := discover.Scan(context.Background(), discover.Options{Root: dir, Numeric: true})
	if err != nil {
		t.Fatalf("scan %s: %v", name, err)
	}
	return res.Devices
}

func mustParse(t *testing.T, s string) Selector {
	t.Helper()
	sel, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestResolveLaptop1(t *testing.T) {
	devs := scanCorpus(t, "usbid-laptop-1")

	_, err := Resolve(mustParse(t, "host:0403:6001"), devs)
	var amb *AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("host:0403:6001: got %v, want *AmbiguousError", err)
	}
	type cand struct{ Name, Pick string }
	var got []cand
	for _, c := range amb.Candidates {
		got = append(got, cand{c.Device.Name, c.Pick.String()})
	}
	want := []cand{
		{"3-2.4", "serial=A7022OOO"},
		{"3-2.3", "serial=A7022OOP"},
		{"3-2.1", "serial=A7022OOQ"},
		{"3-2.2", "serial=A7022OOR"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	const msg = "4 devices match 0403:6001; add serial=A7022OOO, serial=A7022OOP, serial=A7022OOQ or serial=A7022OOR"
	if err.Error() != msg {
		t.Errorf("error = %q\nwant %q", err, msg)
	}

	d, err := Resolve(mustParse(t, "serial=A7022OOP"), devs)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Name; got != "3-2.3" {
		t.Errorf("serial=A7022OOP resolved to %s, want 3-2.3", got)
	}
	if d.USB.Busnum != 3 || d.USB.Devnum != 126 {
		t.Errorf("serial=A7022OOP at %d.%d, want 3.126", d.USB.Busnum, d.USB.Devnum)
	}
	// The address it has here resolves in place, with no move.
	d, moved, err := ResolveMoved(mustParse(t, "vendor=0403,product=6001,busnum=3,devnum=126"), devs)
	if err != nil || moved != nil || d.Name != "3-2.3" {
		t.Errorf("remembered address in place: %s, %v, %v", d.Name, moved, err)
	}
}

func TestResolveLaptop3Moved(t *testing.T) {
	devs := scanCorpus(t, "usbid-laptop-3")

	d, err := Resolve(mustParse(t, "serial=A7022OOP"), devs)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "3-2.6.3" {
		t.Errorf("serial=A7022OOP resolved to %s, want 3-2.6.3", d.Name)
	}

	// Snapshot 1's address, with the serial to say which of the four.
	sel := mustParse(t, "vendor=0403,product=6001,busnum=3,devnum=126,serial=A7022OOP")
	d, moved, err := ResolveMoved(sel, devs)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "3-2.6.3" {
		t.Errorf("resolved to %s, want 3-2.6.3", d.Name)
	}
	want := &Moved{Vendor: 0x0403, Product: 0x6001, FromBus: 3, FromDev: 126, ToBus: 3, ToDev: 22}
	if diff := cmp.Diff(want, moved); diff != "" {
		t.Errorf("moved (-want +got):\n%s", diff)
	}
	if got, wantS := moved.String(), "0403:6001 moved from 003.126 to 003.022"; got != wantS {
		t.Errorf("moved = %q, want %q", got, wantS)
	}

	// Without the serial, the address alone cannot say which one: ambiguous.
	_, _, err = ResolveMoved(mustParse(t, "vendor=0403,product=6001,busnum=3,devnum=126"), devs)
	var amb *AmbiguousError
	if !errors.As(err, &amb) || len(amb.Candidates) != 4 {
		t.Errorf("without serial: %v, want *AmbiguousError with 4 candidates", err)
	}

	// The serial on its old port: the nearest device is the same serial elsewhere.
	_, err = Resolve(mustParse(t, "serial=A7022OOP,port=3-2.3"), devs)
	const msg = `no device matches serial=A7022OOP,port=3-2.3; nearest: 3-2.6.3 (0403:6001) port is 3-2.6.3`
	if err == nil || err.Error() != msg {
		t.Errorf("error = %v\nwant %s", err, msg)
	}
}

func TestResolveRootHubCorpora(t *testing.T) {
	for _, name := range []string{"usbid-laptop-1", "usbid-laptop-3"} {
		t.Run(name, func(t *testing.T) {
			devs := scanCorpus(t, name)
			// usb1..3 are 1d6b:0002 root hubs; usb4 is 1d6b:0003, off by the product.
			d, err := Resolve(mustParse(t, "host:1d6b:0002"), devs)
			var nm *NoMatchError
			if !errors.As(err, &nm) {
				t.Fatalf("host:1d6b:0002 = %s, %v; want *NoMatchError", d.Name, err)
			}
			if diff := cmp.Diff([]string{"usb1", "usb2", "usb3", "usb4"}, nearNames(nm.Nearest)); diff != "" {
				t.Errorf("nearest (-want +got):\n%s", diff)
			}
		})
	}
}

func nearNames(ns []Near) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Device.Name)
	}
	return out
}
