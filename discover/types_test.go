package discover

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/sysfs"
)

func TestParsePCIModalias(t *testing.T) {
	got, err := parsePCIModalias("pci:v00008086d0000A348sv000017AAsd00003136bc04sc03i00")
	if err != nil {
		t.Fatal(err)
	}
	want := pciModalias{vendor: 0x8086, device: 0xa348, subVendor: 0x17aa, subDevice: 0x3136, class: 0x040300}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	d := Device{VendorID: 0x8086, ProductID: 0xa348, PCI: &PCI{SubsystemVendorID: 0x17aa, SubsystemProductID: 0x3136, Class: 0x040300}}
	if m := modaliasOf(&d); m != "pci:v00008086d0000A348sv000017AAsd00003136bc04sc03i00" {
		t.Errorf("modaliasOf = %q, want the kernel's", m)
	}
	for _, bad := range []struct{ name, in string }{
		{"empty", ""},
		{"short", "pci:v00008086d0000A348"},
		{"not hex", "pci:v0000ZZ86d0000A348sv000017AAsd00003136bc04sc03i00"},
		{"vendor over 16 bits", "pci:v00018086d0000A348sv000017AAsd00003136bc04sc03i00"},
		{"wrong prefix", "usb:v00008086d0000A348sv000017AAsd00003136bc04sc03i00"},
		{"trailing", "pci:v00008086d0000A348sv000017AAsd00003136bc04sc03i00x"},
		{"missing i", "pci:v00008086d0000A348sv000017AAsd00003136bc04sc03"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := parsePCIModalias(bad.in); !errors.Is(err, sysfs.ErrInvalid) {
				t.Errorf("parsePCIModalias(%q) = %v, want ErrInvalid", bad.in, err)
			}
		})
	}
}

func TestPortPathCompare(t *testing.T) {
	order := []PortPath{"0", "1", "1.2", "1.2.1", "1.10", "2", "10"}
	for i := range order {
		for j := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := order[i].Compare(order[j]); got != want {
				t.Errorf("%q.Compare(%q) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

func TestParsePortPath(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0", true},
		{"1", true},
		{"3.1", true},
		{"255", true},
		{"1.2.3.4.5.6", true},    // six hubs' ports: the seventh tier
		{"1.2.3.4.5.6.7", false}, // an eighth tier
		{"256", false},
		{"0.1", false},
		{"1.0", false},
		{"01", false},
		{"", false},
		{"1.", false},
		{".1", false},
		{"1..2", false},
		{"+1", false},
		{"-1", false},
		{"1-2", false},
		{"a", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePortPath(tc.in)
			if (err == nil) != tc.ok || (tc.ok && string(p) != tc.in) {
				t.Errorf("ParsePortPath(%q) = %q, %v; want ok=%v", tc.in, p, err, tc.ok)
			}
		})
	}
	if !PortPath("0").IsRoot() || PortPath("1").IsRoot() {
		t.Error("IsRoot wrong")
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		isDev bool
		port  string
	}{
		{"usb1", true, "0"},
		{"usb12", true, "0"},
		{"1-3", true, "3"},
		{"3-2.6.1", true, "2.6.1"},
		{"1-3.1:1.0", false, ""},
		{"1-0:1.0", false, ""},
		{"usb", false, ""},
		{"1-", false, ""},
		{"1-a", false, ""},
		{"x-1", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isUSBDeviceName(tc.name); got != tc.isDev {
				t.Errorf("isUSBDeviceName(%q) = %v", tc.name, got)
			}
			if tc.isDev {
				if got := portFromName(tc.name); got != tc.port {
					t.Errorf("portFromName(%q) = %q, want %q", tc.name, got, tc.port)
				}
			}
		})
	}
}

// The typed values print as people read them and marshal as sysfs
// prints them.
func TestTypedValues(t *testing.T) {
	got := []string{
		Class(9).String(), ClassHub.String(), Class(0xff).String(),
		PCIClass(0x0c0330).String(), PCIClass(0x030000).String(),
		BCD(0x0200).String(), BCD(0x0110).String(), BCD(0x1234).String(),
		SpeedHigh.String(), SpeedHigh.Name(), SpeedSuperPlusX2.Name(), Speed("unknown").Name(),
		PortPath("3.1").String(),
	}
	want := []string{
		"09", "09", "ff",
		"0c0330", "030000",
		"2.00", "1.10", "12.34",
		"480", "high", "super+ x2", "",
		"3.1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
	c := PCIClass(0x0c0330)
	if c.Base() != 0x0c || c.Sub() != 0x03 || c.ProgIF() != 0x30 {
		t.Errorf("PCIClass %s: base %02x sub %02x progif %02x", c, c.Base(), c.Sub(), c.ProgIF())
	}
	for s, want := range map[Speed]float64{SpeedLow: 1.5, SpeedFull: 12, SpeedSuper: 5000, "": 0, "unknown": 0} {
		if got, ok := s.Mbps(); got != want || ok != (want != 0) {
			t.Errorf("Speed(%q).Mbps() = %v, %v; want %v", s, got, ok, want)
		}
	}
	b, err := json.Marshal(struct {
		C  Class
		P  PCIClass
		B  BCD
		S  Speed
		PP PortPath
	}{9, 0x0c0330, 0x0200, SpeedHigh, "3.1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"C":"09","P":"0c0330","B":"0200","S":"480","PP":"3.1"}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}

// A clone shares nothing with its original: changing every pointer and
// slice of one leaves the other as it was.
func TestClone(t *testing.T) {
	usb := Device{Bus: BusUSB, Name: "1-1", USB: &USB{Port: "1", Serial: new("A"), Product: new("P"), Manufacturer: new("M"),
		Interfaces: []Interface{{Name: "1-1:1.0", Class: 3}}}}
	pci := Device{Bus: BusPCI, Name: "0000:00:00.0", PCI: &PCI{Address: new(pciaddr.MustParse("0000:00:00.0")),
		Revision: new(uint8(1)), IOMMUGroup: new(0), NUMANode: new(0), ResetMethod: new("flr"), HeaderType: new(uint8(0)),
		VirtFns: []string{"0000:00:00.1"}}}
	for _, d := range []Device{usb, pci, {Bus: BusUSB, Name: "bare", USB: &USB{}}, {Name: "neither"}} {
		before, err := json.Marshal(d) // every field, pointees included
		if err != nil {
			t.Fatal(err)
		}
		c := d.Clone()
		if diff := cmp.Diff(d, c); diff != "" {
			t.Fatalf("clone differs (-want +got):\n%s", diff)
		}
		if u := c.USB; u != nil {
			u.Port = "9"
			for _, p := range []*string{u.Serial, u.Product, u.Manufacturer} {
				if p != nil {
					*p = "changed"
				}
			}
			for i := range u.Interfaces {
				u.Interfaces[i].Driver = "changed"
			}
		}
		if p := c.PCI; p != nil {
			p.Address.Bus, *p.Revision, *p.IOMMUGroup, *p.NUMANode = 9, 9, 9, 9
			*p.ResetMethod, *p.HeaderType, p.VirtFns[0] = "changed", 9, "changed"
		}
		after, _ := json.Marshal(d)
		if diff := cmp.Diff(string(before), string(after)); diff != "" {
			t.Errorf("changing a clone changed the original (-want +got):\n%s", diff)
		}
	}
}
