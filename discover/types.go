package discover

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Class is a USB device or interface class code (bDeviceClass,
// bInterfaceClass). It prints, and marshals, as two hex digits.
type Class uint8

// ClassHub is the class of hubs, root hubs included.
const ClassHub Class = 0x09

func (c Class) String() string { return fmt.Sprintf("%02x", uint8(c)) }

// MarshalText writes the two-digit form.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads two hex digits.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 8)
	if err != nil {
		return fmt.Errorf("%q is not 2 hex digits", b)
	}
	*c = Class(v)
	return nil
}

// PCIClass is a PCI function's 24-bit class code: base class, subclass
// and programming interface. It prints, and marshals, as six hex digits.
type PCIClass uint32

// Base is the base class: 0x06 for a bridge, 0x0c for a serial bus
// controller.
func (c PCIClass) Base() uint8 { return uint8(c >> 16) }

// Sub is the subclass within the base class.
func (c PCIClass) Sub() uint8 { return uint8(c >> 8) }

// ProgIF is the programming interface: 0x30 for an xHCI controller.
func (c PCIClass) ProgIF() uint8 { return uint8(c) }

func (c PCIClass) String() string { return fmt.Sprintf("%06x", uint32(c)&0xffffff) }

// MarshalText writes the six-digit form.
func (c PCIClass) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads six hex digits.
func (c *PCIClass) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 24)
	if err != nil {
		return fmt.Errorf("%q is not 6 hex digits", b)
	}
	*c = PCIClass(v)
	return nil
}

// BCD is a binary-coded decimal release number, a device's bcdDevice.
// It prints as a version, "2.00", and marshals as the four hex digits
// sysfs shows, "0200".
type BCD uint16

func (b BCD) String() string { return fmt.Sprintf("%x.%02x", uint16(b)>>8, uint16(b)&0xff) }

// MarshalText writes the four-digit form.
func (b BCD) MarshalText() ([]byte, error) { return []byte(ID(b).String()), nil }

// UnmarshalText reads four hex digits, with or without 0x.
func (b *BCD) UnmarshalText(t []byte) error {
	v, err := parseHexText(t, 16)
	if err != nil {
		return fmt.Errorf("bcd %q is not 4 hex digits", t)
	}
	*b = BCD(v)
	return nil
}

// Speed is a USB device's speed as sysfs prints it, in Mbit/s: "1.5",
// "12", "480", "5000", "10000", "20000". Other values the kernel may
// print ("unknown") are kept as they are.
type Speed string

// The speeds sysfs prints.
const (
	SpeedLow         Speed = "1.5"   // USB 1.0 low speed
	SpeedFull        Speed = "12"    // USB 1.1 full speed
	SpeedHigh        Speed = "480"   // USB 2.0 high speed
	SpeedSuper       Speed = "5000"  // USB 3.0 SuperSpeed
	SpeedSuperPlus   Speed = "10000" // USB 3.1 SuperSpeed+
	SpeedSuperPlusX2 Speed = "20000" // USB 3.2 SuperSpeed+ on two lanes
)

var speedNames = map[Speed]string{
	SpeedLow: "low", SpeedFull: "full", SpeedHigh: "high",
	SpeedSuper: "super", SpeedSuperPlus: "super+", SpeedSuperPlusX2: "super+ x2",
}

func (s Speed) String() string { return string(s) }

// Mbps is the speed in Mbit/s; ok is false for a value that is not a
// number ("", "unknown").
func (s Speed) Mbps() (mbps float64, ok bool) {
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// Name is the speed's USB name, "high" for 480; "" for a speed that has
// none.
func (s Speed) Name() string { return speedNames[s] }

// PortPath is a USB device's place on its bus, its sysfs devpath: "0" for
// a root hub, else the hub port numbers from the root down joined by dots,
// "3.1". It is what QEMU's hostport= takes.
type PortPath string

// maxTiers bounds a port path: USB allows 7 tiers counting the root hub,
// so at most 6 hub ports lead to a device (the kernel's MAX_TOPO_LEVEL).
const maxTiers = 7

// ParsePortPath checks s against the kernel's grammar: "0", or 1 to 6
// decimal hub port numbers 1 to 255, without leading zeros, joined by dots.
func ParsePortPath(s string) (PortPath, error) {
	if s == "0" {
		return PortPath(s), nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > maxTiers-1 {
		return "", fmt.Errorf("port path %q: more than %d tiers", s, maxTiers)
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 255 || p[0] == '0' || p[0] == '+' {
			return "", fmt.Errorf("port path %q: %q is not a hub port number 1 to 255", s, p)
		}
	}
	return PortPath(s), nil
}

func (p PortPath) String() string { return string(p) }

// IsRoot reports whether p is a root hub's, "0".
func (p PortPath) IsRoot() bool { return p == "0" }

// Compare orders port paths component by component, numerically, so
// "0" < "1" < "1.2" < "1.10" < "2". Parts that are not numbers compare as
// text.
func (p PortPath) Compare(q PortPath) int {
	a, b := string(p), string(q)
	for a != "" || b != "" {
		if a == "" {
			return -1
		}
		if b == "" {
			return 1
		}
		var pa, pb string
		pa, a, _ = strings.Cut(a, ".")
		pb, b, _ = strings.Cut(b, ".")
		na, ea := strconv.Atoi(pa)
		nb, eb := strconv.Atoi(pb)
		switch {
		case ea == nil && eb == nil && na != nb:
			return cmp.Compare(na, nb)
		case (ea != nil || eb != nil) && pa != pb:
			return strings.Compare(pa, pb)
		}
	}
	return 0
}
