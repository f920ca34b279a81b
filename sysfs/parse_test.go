package sysfs

import (
	"errors"
	"testing"
)

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
