package match

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func terms(kv ...string) Selector {
	var s Selector
	for i := 0; i < len(kv); i += 2 {
		s.Terms = append(s.Terms, Term{Key: Key(kv[i]), Values: splitAlt(kv[i+1])})
	}
	return s
}

func splitAlt(v string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == '|' {
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return out
}

var validTests = []struct {
	name, in string
	want     Selector
	str      string // canonical form
}{
	{"host bus.dev", "host:3.1", terms("bus", "usb", "busnum", "3", "devnum", "1"), "bus=usb,busnum=3,devnum=1"},
	{"host bus.dev leading zeros not octal", "host:008.002", terms("bus", "usb", "busnum", "8", "devnum", "2"), "bus=usb,busnum=8,devnum=2"},
	{"host vendor:product", "host:0483:2016", terms("bus", "usb", "vendor", "0483", "product", "2016"), "bus=usb,vendor=0483,product=2016"},
	{"host vendor:product upper, short", "host:483:ABCD", terms("bus", "usb", "vendor", "0483", "product", "abcd"), "bus=usb,vendor=0483,product=abcd"},
	{"pci full", "0000:00:1f.3", terms("bus", "pci", "address", "0000:00:1f.3"), "bus=pci,address=0000:00:1f.3"},
	{"pci short", "00:1F.3", terms("bus", "pci", "address", "0000:00:1f.3"), "bus=pci,address=0000:00:1f.3"},
	{"pci prefix", "pci:01:00.0", terms("bus", "pci", "address", "0000:01:00.0"), "bus=pci,address=0000:01:00.0"},
	{"pci prefix full", "pci:10000:01:00.0", terms("bus", "pci", "address", "10000:01:00.0"), "bus=pci,address=10000:01:00.0"},
	{"lspci function wildcard", "00:1f.*", terms("bus", "pci", "address", "0000:00:1f.*"), "bus=pci,address=0000:00:1f.*"},
	{"lspci bus wildcard", "*:00.0", terms("bus", "pci", "address", "0000:*:00.0"), "bus=pci,address=0000:*:00.0"},
	{"bus alternatives", "bus=usb|pci", terms("bus", "pci|usb"), "bus=pci|usb"},
	{"vendor product", "vendor=0483,product=2016", terms("vendor", "0483", "product", "2016"), "vendor=0483,product=2016"},
	{"keys sorted", "product=2016,vendor=0483", terms("vendor", "0483", "product", "2016"), "vendor=0483,product=2016"},
	{"vendor 0x", "vendor=0x0483", terms("vendor", "0483"), "vendor=0483"},
	{"vendor alternatives sorted", "vendor=067b|0403|0403", terms("vendor", "0403|067b"), "vendor=0403|067b"},
	{"vendor wildcard", "vendor=04*", terms("vendor", "04*"), "vendor=04*"},
	{"product any", "product=*", terms("product", "*"), "product=*"},
	{"class 2", "class=03", terms("class", "03"), "class=03"},
	{"class 4", "class=0C03", terms("class", "0c03"), "class=0c03"},
	{"class 6", "class=0c0330", terms("class", "0c0330"), "class=0c0330"},
	{"driver", "driver=usbhid", terms("driver", "usbhid"), "driver=usbhid"},
	{"driver glob", "driver=vfio*", terms("driver", "vfio*"), "driver=vfio*"},
	{"name glob with spaces", "name=*USB UART*", terms("name", "*USB UART*"), "name=*USB UART*"},
	{"name with equals", "name=a=b", terms("name", "a=b"), "name=a=b"},
	{"serial", "serial=A7022OOP", terms("serial", "A7022OOP"), "serial=A7022OOP"},
	{"port with bus", "port=1-2.1", terms("port", "1-2.1"), "port=1-2.1"},
	{"port any bus", "port=2.1", terms("port", "2.1"), "port=2.1"},
	{"port leading zeros", "port=01-02.01", terms("port", "1-2.1"), "port=1-2.1"},
	{"port wildcards", "port=*-2.*", terms("port", "*-2.*"), "port=*-2.*"},
	{"busnum devnum", "busnum=003,devnum=1", terms("busnum", "3", "devnum", "1"), "busnum=3,devnum=1"},
	{"interface-class", "interface-class=3", terms("interface-class", "03"), "interface-class=03"},
	{"address", "address=0000:00:1f.3", terms("address", "0000:00:1f.3"), "address=0000:00:1f.3"},
	{"address short", "address=1f:00.*", terms("address", "0000:1f:00.*"), "address=0000:1f:00.*"},
	{"iommu-group", "iommu-group=05", terms("iommu-group", "5"), "iommu-group=5"},
	{"iommu-group zero", "iommu-group=0", terms("iommu-group", "0"), "iommu-group=0"},
	{"short form in a list", "host:0403:6001,serial=A7022OOP", terms("bus", "usb", "vendor", "0403", "product", "6001", "serial", "A7022OOP"), "bus=usb,vendor=0403,product=6001,serial=A7022OOP"},
	{"same bus twice is fine", "host:0403:6001,bus=usb", terms("bus", "usb", "vendor", "0403", "product", "6001"), "bus=usb,vendor=0403,product=6001"},
	{"remembered address", "vendor=0403,product=6001,busnum=3,devnum=126", terms("vendor", "0403", "product", "6001", "busnum", "3", "devnum", "126"), "vendor=0403,product=6001,busnum=3,devnum=126"},
}

func TestParseValid(t *testing.T) {
	for _, tt := range validTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

// TestRoundTrip checks Parse(s.String()) == s over every valid form.
func TestRoundTrip(t *testing.T) {
	for _, tt := range validTests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("Parse(%q) of String(): %v", sel.String(), err)
			}
			if diff := cmp.Diff(sel, again); diff != "" {
				t.Errorf("round trip of %q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		want     ParseError
	}{
		{"empty", "", ParseError{"", 0, "empty selector"}},
		{"host three parts", "host:1.2.3", ParseError{"host:1.2.3", 5, `"host:1.2.3" is neither host:BUS.DEV (decimal) nor host:VVVV:PPPP (hex)`}},
		{"host nothing", "host:", ParseError{"host:", 5, `"host:" is neither host:BUS.DEV (decimal) nor host:VVVV:PPPP (hex)`}},
		{"host hex bus", "host:0x3.1", ParseError{"host:0x3.1", 5, `busnum "0x3" is not a decimal number in "host:0x3.1"`}},
		{"host devnum zero", "host:3.0", ParseError{"host:3.0", 7, `devnum "0" is out of range 1 to 127 (use * for any) in "host:3.0"`}},
		{"host bad product", "host:0483:20g6", ParseError{"host:0483:20g6", 10, `product "20g6" is not 4 hex digits in "host:0483:20g6"`}},
		{"vendor bad hex", "vendor=04g3", ParseError{"vendor=04g3", 7, `vendor "04g3" is not 4 hex digits`}},
		{"vendor too long", "vendor=12345", ParseError{"vendor=12345", 7, `vendor "12345" is not 4 hex digits`}},
		{"vendor wildcard too long", "vendor=0403*", ParseError{"vendor=0403*", 7, `vendor "0403*" is not 4 hex digits`}},
		{"second alternative bad", "vendor=0403|xyz", ParseError{"vendor=0403|xyz", 12, `vendor "xyz" is not 4 hex digits`}},
		{"empty alternative", "vendor=0403|", ParseError{"vendor=0403|", 12, `vendor "0403|" has an empty alternative`}},
		{"port trailing dash", "port=1-", ParseError{"port=1-", 5, `port "1-" has no port path after the bus (want BUS-PORT[.PORT...], as in 1-2.1)`}},
		{"port leading dash", "port=-2", ParseError{"port=-2", 5, `port "-2" has no bus before the '-'`}},
		{"port empty field", "port=1-2..1", ParseError{"port=1-2..1", 5, `port "1-2..1": "" is not a decimal port number (want BUS-PORT[.PORT...], as in 1-2.1)`}},
		{"port hex", "port=1-0x2", ParseError{"port=1-0x2", 5, `port "1-0x2": "0x2" is not a decimal port number (want BUS-PORT[.PORT...], as in 1-2.1)`}},
		{"unknown key", "colour=red", ParseError{"colour=red", 0, `unknown key "colour"; known keys are bus, vendor, product, class, driver, name, serial, port, busnum, devnum, interface-class, address, iommu-group, mdev-type, uuid`}},
		{"misspelt key", "vendr=0403", ParseError{"vendr=0403", 0, `unknown key "vendr"; did you mean vendor?`}},
		{"misspelt key later", "vendor=0403,prodct=6001", ParseError{"vendor=0403,prodct=6001", 12, `unknown key "prodct"; did you mean product?`}},
		{"empty value", "serial=", ParseError{"serial=", 7, `serial has an empty value`}},
		{"busnum hex", "busnum=0x3", ParseError{"busnum=0x3", 7, `busnum "0x3" is not a decimal number`}},
		{"busnum negative", "busnum=-1", ParseError{"busnum=-1", 7, `busnum "-1" is not a decimal number`}},
		{"busnum zero", "busnum=0", ParseError{"busnum=0", 7, `busnum "0" is out of range 1 to 65535 (use * for any)`}},
		{"devnum too big", "devnum=128", ParseError{"devnum=128", 7, `devnum "128" is out of range 1 to 127 (use * for any)`}},
		{"host devnum too big", "host:1.128", ParseError{"host:1.128", 7, `devnum "128" is out of range 1 to 127 (use * for any) in "host:1.128"`}},
		{"class odd", "class=3", ParseError{"class=3", 6, `class "3" is not 2, 4 or 6 hex digits (class, subclass, interface)`}},
		{"class 8", "class=0c033000", ParseError{"class=0c033000", 6, `class "0c033000" is not 2, 4 or 6 hex digits (class, subclass, interface)`}},
		{"bus unknown", "bus=pcie", ParseError{"bus=pcie", 4, `bus "pcie" is not usb, pci or mdev`}},
		{"duplicate key", "vendor=0403,vendor=067b", ParseError{"vendor=0403,vendor=067b", 12, `vendor is given twice (at byte 0 and 12); use vendor=A|B for alternatives`}},
		{"stray comma", "vendor=0403,", ParseError{"vendor=0403,", 12, `empty element at byte 12 (stray comma?)`}},
		{"bare word", "usbhid", ParseError{"usbhid", 0, `"usbhid" is not key=value, host:BUS.DEV, host:VVVV:PPPP or a PCI address`}},
		{"pci no function", "00:1f", ParseError{"00:1f", 0, `address "00:1f" has no function (want [DDDD:]BB:SS.F, as in 0000:00:1f.3 or 00:1f.*)`}},
		{"pci slot too big", "00:20.0", ParseError{"00:20.0", 0, `address "00:20.0": slot "20" is above 0x1f`}},
		{"pci function too big", "pci:00:1f.8", ParseError{"pci:00:1f.8", 4, `address "00:1f.8": function "8" is above 0x7`}},
		{"pci partial wildcard", "00:1*.0", ParseError{"00:1*.0", 0, `address "00:1*.0": slot "1*" is not 1 to 2 hex digits`}},
		{"pci too many parts", "0:0:00:1f.3", ParseError{"0:0:00:1f.3", 0, `address "0:0:00:1f.3" is not a PCI address (want [DDDD:]BB:SS.F, as in 0000:00:1f.3 or 00:1f.*)`}},
		{"address bad", "address=00:1g.3", ParseError{"address=00:1g.3", 8, `address "00:1g.3": slot "1g" is not 1 to 2 hex digits`}},
		{"iommu-group word", "iommu-group=five", ParseError{"iommu-group=five", 12, `iommu-group "five" is not a decimal number`}},
		{"interface-class long", "interface-class=030", ParseError{"interface-class=030", 16, `interface-class "030" is not 2 hex digits`}},
		{"pci and host conflict", "host:3.1,00:1f.3", ParseError{"host:3.1,00:1f.3", 9, `bus is given twice (at byte 0 and 9); use bus=A|B for alternatives`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, %v; want a *ParseError", tt.in, sel, err)
			}
			if diff := cmp.Diff(tt.want, *pe); diff != "" {
				t.Errorf("Parse(%q) error (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	_, err := Parse("vendor=04g3")
	want := `selector "vendor=04g3": vendor "04g3" is not 4 hex digits`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %s", err, want)
	}
	// The caret stands under the part that is wrong.
	_, err = Parse("host:0403:60g1")
	if got := err.(*ParseError).Caret(); got != "host:0403:60g1\n          ^" {
		t.Errorf("Caret:\n%s", got)
	}
	if got := (&ParseError{Input: "a\tb", Offset: 1}).Caret(); got != "" {
		t.Errorf("Caret of a control character: %q, want none", got)
	}
}

// New builds from terms what Parse builds from text, and checks values
// the same way.
func TestNew(t *testing.T) {
	got, err := New(Term{KeyProduct, []string{"0x6001"}}, Term{KeyBus, []string{"usb"}}, Term{KeyVendor, []string{"0403"}}, Term{KeyBusnum, []string{"003"}})
	want, _ := Parse("host:0403:6001,busnum=3")
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("New = %v, %v; want %v", got, err, want)
	}
	for _, terms := range [][]Term{
		nil,
		{{KeyVendor, nil}},
		{{"colour", []string{"red"}}},
		{{KeyVendor, []string{"04g3"}}},
		{{KeyVendor, []string{"0403"}}, {KeyVendor, []string{"067b"}}},
	} {
		if _, err := New(terms...); err == nil {
			t.Errorf("New(%v) succeeded", terms)
		} else if _, ok := err.(*ParseError); !ok {
			t.Errorf("New(%v): %T, want *ParseError", terms, err)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever parses
// survives String and Parse again unchanged.
func FuzzParse(f *testing.F) {
	for _, tt := range validTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Input != s || pe.Offset < 0 || pe.Offset > len(s) {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		str := sel.String()
		again, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(String() = %q): %v", s, str, err)
		}
		if diff := cmp.Diff(sel, again); diff != "" {
			t.Fatalf("round trip of %q via %q (-want +got):\n%s", s, str, diff)
		}
		if again.String() != str {
			t.Fatalf("String not stable: %q then %q", str, again.String())
		}
	})
}
