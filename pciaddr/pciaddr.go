// Package pciaddr parses and prints PCI addresses: DDDD:BB:SS.F, with
// domains wider than 16 bits accepted (10000:00:00.0), as the kernel names
// functions under /sys/bus/pci/devices.
package pciaddr

import (
	"fmt"
	"strconv"
	"strings"
)

// Address is a PCI function's location.
type Address struct {
	Domain   uint32
	Bus      uint8
	Slot     uint8 // 5 bits
	Function uint8 // 3 bits
}

// String gives the kernel's form: at least four domain digits.
func (a Address) String() string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", a.Domain, a.Bus, a.Slot, a.Function)
}

// Short gives BB:SS.F, the form lspci and the seed use for domain 0.
func (a Address) Short() string {
	return fmt.Sprintf("%02x:%02x.%x", a.Bus, a.Slot, a.Function)
}

// Compare orders addresses by domain, bus, slot, then function.
func (a Address) Compare(b Address) int {
	switch {
	case a.Domain != b.Domain:
		return cmp(a.Domain, b.Domain)
	case a.Bus != b.Bus:
		return cmp(a.Bus, b.Bus)
	case a.Slot != b.Slot:
		return cmp(a.Slot, b.Slot)
	}
	return cmp(a.Function, b.Function)
}

func cmp[T uint8 | uint32](a, b T) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// Parse reads DDDD:BB:SS.F or BB:SS.F (domain 0). Every field is hex. The
// domain may have up to 8 digits, bus and slot exactly 2 (1 is accepted),
// the function 1.
func Parse(s string) (Address, error) {
	var a Address
	parts := strings.Split(s, ":")
	var dom, bus, rest string
	switch len(parts) {
	case 2:
		bus, rest = parts[0], parts[1]
	case 3:
		dom, bus, rest = parts[0], parts[1], parts[2]
	default:
		return a, fmt.Errorf("PCI address %q is not [DDDD:]BB:SS.F", s)
	}
	slot, fn, ok := strings.Cut(rest, ".")
	if !ok {
		return a, fmt.Errorf("PCI address %q has no function (.F)", s)
	}
	if dom != "" {
		v, err := parseHex(dom, 8, 32)
		if err != nil {
			return a, fmt.Errorf("PCI address %q: domain %w", s, err)
		}
		a.Domain = uint32(v)
	}
	v, err := parseHex(bus, 2, 8)
	if err != nil {
		return a, fmt.Errorf("PCI address %q: bus %w", s, err)
	}
	a.Bus = uint8(v)
	v, err = parseHex(slot, 2, 5)
	if err != nil {
		return a, fmt.Errorf("PCI address %q: slot %w", s, err)
	}
	a.Slot = uint8(v)
	v, err = parseHex(fn, 1, 3)
	if err != nil {
		return a, fmt.Errorf("PCI address %q: function %w", s, err)
	}
	a.Function = uint8(v)
	return a, nil
}

func parseHex(s string, maxDigits, bits int) (uint64, error) {
	if s == "" || len(s) > maxDigits {
		return 0, fmt.Errorf("%q is not 1 to %d hex digits", s, maxDigits)
	}
	v, err := strconv.ParseUint(s, 16, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a hex number below %#x", s, uint64(1)<<bits)
	}
	return v, nil
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Address {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}
