package sysfs

import (
	"errors"
	"testing"
)

func TestParsePCIModalias(t *testing.T) {
	got, err := ParsePCIModalias("pci:v00008086d0000A348sv000017AAsd00003136bc04sc03i00")
	if err != nil {
		t.Fatal(err)
	}
	want := PCIModalias{Vendor: 0x8086, Device: 0xa348, SubsystemVendor: 0x17aa, SubsystemDevice: 0x3136, Class: 0x040300}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
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
			if _, err := ParsePCIModalias(bad.in); !errors.Is(err, ErrInvalid) {
				t.Errorf("ParsePCIModalias(%q) = %v, want ErrInvalid", bad.in, err)
			}
		})
	}
}

func TestParseNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		bits int
		want uint64
		ok   bool
	}{
		{"plain", "0483", 16, 0x0483, true},
		{"0x", "0x8086", 16, 0x8086, true},
		{"upper", "A348", 16, 0xa348, true},
		{"class", "0x0c0330", 24, 0x0c0330, true},
		{"byte", "09", 8, 9, true},
		{"too wide", "12345", 16, 0, false},
		{"not hex", "zz", 16, 0, false},
		{"empty", "", 16, 0, false},
		{"only 0x", "0x", 16, 0, false},
		{"sign", "-1", 16, 0, false},
	} {
		t.Run("hex/"+tc.name, func(t *testing.T) {
			got, err := parseHex(tc.in, tc.bits)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseHex(%q, %d) = %#x, %v; want %#x ok=%v", tc.in, tc.bits, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"8", 8, true}, {"008", 8, true}, {"010", 10, true}, {"-1", -1, true},
		{"0x10", 0, false}, {"", 0, false}, {"1.5", 0, false},
	} {
		t.Run("dec/"+tc.in, func(t *testing.T) {
			got, err := parseDec(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseDec(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestComparePorts(t *testing.T) {
	order := []string{"0", "1", "1.2", "1.2.1", "1.10", "2", "10"}
	for i := range order {
		for j := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := ComparePorts(order[i], order[j]); got != want {
				t.Errorf("ComparePorts(%q, %q) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		isDev   bool
		devpath string
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
			if got := IsUSBDeviceName(tc.name); got != tc.isDev {
				t.Errorf("IsUSBDeviceName(%q) = %v", tc.name, got)
			}
			if tc.isDev {
				if got := DevpathFromName(tc.name); got != tc.devpath {
					t.Errorf("DevpathFromName(%q) = %q, want %q", tc.name, got, tc.devpath)
				}
			}
		})
	}
}

func TestJoinLink(t *testing.T) {
	for _, tc := range []struct{ dir, target, want string }{
		{"sys/bus/usb/devices", "../../../devices/pci0000:00/usb1", "sys/devices/pci0000:00/usb1"},
		{"sys/bus/usb/devices", "/sys/devices/pci0000:00/usb1", "sys/devices/pci0000:00/usb1"},
		{"sys/bus/usb/devices", "../../../../../../../etc", "etc"},
		{"sys/bus/pci/devices", "../../../devices/pci0000:00/0000:00:01.0/", "sys/devices/pci0000:00/0000:00:01.0"},
	} {
		if got := joinLink(tc.dir, tc.target); got != tc.want {
			t.Errorf("joinLink(%q, %q) = %q, want %q", tc.dir, tc.target, got, tc.want)
		}
	}
}
