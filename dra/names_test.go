package dra

import (
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hostdev/hostdev/dra/draattr"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

// TestHostileSerials plugs devices whose serials are what a malicious or
// broken device can say, and checks that every one is published under a
// valid name of its own, with valid attributes, and named by serial only
// when that serial identifies it.
func TestHostileSerials(t *testing.T) {
	long := strings.Repeat("0123456789ABCDEFGHIJ", 10) // 200 characters
	cases := []struct {
		port   string
		serial *string
		by     NameSource
		name   string // "" when only its validity is checked
	}{
		{"1", new(`"quoted"`), BySerial, "usb-1234-5678-sn-quoted"},
		{"2", new("K\x00\x1b[31m\nx\xff"), BySerial, "usb-1234-5678-sn-k-31m-x"},
		{"3", new("Ünïcödé-序列号"), BySerial, "usb-1234-5678-sn-n-c-d"},
		{"4", new(long), BySerial, ""},
		{"5", new(long[:100] + "X" + long[101:]), BySerial, ""},
		{"6", new("TWIN"), ByPort, "usb-1234-5678-port-1-6"},
		{"7", new("TWIN"), ByPort, "usb-1234-5678-port-1-7"},
		{"8.1", new("case"), ByPort, "usb-1234-5678-port-1-8-1"},
		{"8.2", new("CASE"), ByPort, "usb-1234-5678-port-1-8-2"},
		{"9", new("!!!"), ByPort, "usb-1234-5678-port-1-9"},
		{"10", new(""), ByPort, "usb-1234-5678-port-1-10"},
		{"11", nil, ByPort, "usb-1234-5678-port-1-11"},
		{"12", new("port-1-2"), BySerial, "usb-1234-5678-sn-port-1-2"},
		{"13", new("a\u202eb"), BySerial, "usb-1234-5678-sn-a-b"},
	}
	h := sysfstest.NewHost(t)
	rh := sysfstest.RootHub(1, "480")
	rh.MaxChild = 15
	h.Plug(rh)
	h.Plug(sysfstest.Hub(1, "8"))
	for _, c := range cases {
		h.Plug(sysfstest.USBDevice{Bus: 1, Port: c.port, IDVendor: 0x1234, IDProduct: 0x5678, Serial: c.serial,
			Product: c.serial, Manufacturer: new(long + "\x1b")})
	}
	inv := inventory(t, h.Root())
	for _, w := range inv.Warnings {
		t.Errorf("warning: %v", w)
	}
	names := map[string]string{}
	for _, c := range cases {
		d, ok := bySource(inv, "1-"+c.port)
		if !ok {
			t.Errorf("1-%s: not published", c.port)
			continue
		}
		n := d.API.Name
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("1-%s: name %q: %v", c.port, n, errs)
		}
		if other, dup := names[n]; dup {
			t.Errorf("1-%s and %s share the name %q", c.port, other, n)
		}
		names[n] = "1-" + c.port
		if d.NamedBy != c.by || (c.name != "" && n != c.name) {
			t.Errorf("1-%s: named %q by %s, want %q by %s", c.port, n, d.NamedBy, c.name, c.by)
		}
		if err := validateDevice(d.API); err != nil {
			t.Errorf("1-%s: %v", c.port, err)
		}
		for an, a := range d.API.Attributes {
			if s := a.StringValue; s != nil && (!utf8.ValidString(*s) || len(*s) > MaxStringLength) {
				t.Errorf("1-%s: attribute %s = %q", c.port, an, *s)
			}
		}
		if c.serial != nil {
			if got, want := *d.API.Attributes[AttrSerial].StringValue, draattr.Value(*c.serial); got != want {
				t.Errorf("1-%s: serial %q, want %q", c.port, got, want)
			}
		}
	}
	// The two 200-character serials differ only past what a name holds.
	a, _ := bySource(inv, "1-4")
	b, _ := bySource(inv, "1-5")
	if len(a.API.Name) != MaxNameLength || a.API.Name[:40] != b.API.Name[:40] {
		t.Errorf("long serials: %q and %q, want 63 characters with a common start", a.API.Name, b.API.Name)
	}
	for _, s := range inv.Slices("node-1", 1) {
		if err := validateSlice(s); err != nil {
			t.Error(err)
		}
	}
}

// TestNameAcrossReplug: a device unplugged and plugged in again gets a new
// devnum and keeps its name, named by serial anywhere, by port in the same
// port.
func TestNameAcrossReplug(t *testing.T) {
	h := sysfstest.NewHost(t)
	h.Plug(sysfstest.RootHub(1, "480"))
	withSerial := sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0483, IDProduct: 0x2016, Serial: new("K1")}
	without := sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x046d, IDProduct: 0xc077}
	k1 := h.Plug(withSerial)
	mouse := h.Plug(without)
	before := inventory(t, h.Root())

	h.Unplug(k1.Name())
	h.Unplug(mouse.Name())
	withSerial.Port = "3" // the stick moves to another port
	k1 = h.Plug(withSerial)
	mouse = h.Plug(without)
	after := inventory(t, h.Root())

	for _, tc := range []struct{ name, before, after string }{
		{"usb-0483-2016-sn-k1", "1-1", "1-3"},
		{"usb-046d-c077-port-1-2", "1-2", "1-2"},
	} {
		b, ok1 := byName(before, tc.name)
		a, ok2 := byName(after, tc.name)
		if !ok1 || !ok2 || b.Source.Name != tc.before || a.Source.Name != tc.after {
			t.Errorf("%s: %v %q before, %v %q after; want %s and %s", tc.name, ok1, b.Source.Name, ok2, a.Source.Name, tc.before, tc.after)
			continue
		}
		if a.Source.USB.Devnum == b.Source.USB.Devnum {
			t.Errorf("%s: devnum %d both times; the replug should have changed it", tc.name, a.Source.USB.Devnum)
		}
	}
}

// TestNameCollisionLastResort: whatever the names' rule produces, two
// devices never share a name.
func TestNameCollisionLastResort(t *testing.T) {
	rep := assess(t, workstation(t).Root())
	// A captured tree could list one device twice, under names that map
	// to the same label; the scanner's own names never do.
	for i, v := range rep.Devices {
		if v.Device.Name == "0000:05:10.0" {
			twin := v
			twin.Device = v.Device.Clone()
			twin.Device.Name = "0000:05:10.0 "
			rep.Devices = append(rep.Devices[:i+1], append([]readiness.Verdict{twin}, rep.Devices[i+1:]...)...)
			break
		}
	}
	inv := Build(rep)
	seen := map[string]bool{}
	var twins []string
	for _, d := range inv.Devices {
		if seen[d.API.Name] {
			t.Errorf("name %q twice", d.API.Name)
		}
		seen[d.API.Name] = true
		if strings.HasPrefix(d.Source.Name, "0000:05:10.0") {
			twins = append(twins, d.API.Name)
		}
	}
	if len(twins) != 2 || !strings.HasPrefix(twins[0], "pci-0000-05-10-0-") || !strings.HasPrefix(twins[1], "pci-0000-05-10-0-") {
		t.Errorf("the twins are named %q, want two pci-0000-05-10-0-HASH", twins)
	}
}

func TestLabelAndFit(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A7022OOQ", "a7022ooq"},
		{"--a..b--", "a-b"},
		{"\xff\xfe", ""},
		{"0000:00:1f.3", "0000-00-1f-3"},
	} {
		if got := label(tc.in); got != tc.want {
			t.Errorf("label(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := fit("usb-", "abc", "ABC"); got != "usb-abc" {
		t.Errorf("fit short = %q", got)
	}
	long := strings.Repeat("a", 100)
	got := fit("usb-", long, long)
	if len(got) != MaxNameLength || !strings.HasSuffix(got, "-"+hash8(long)) {
		t.Errorf("fit long = %q (%d)", got, len(got))
	}
	// A cut that ends in '-' does not leave "--".
	got = fit("p-", strings.Repeat("ab-", 30), "x")
	if strings.Contains(got, "--") || len(got) > MaxNameLength {
		t.Errorf("fit at a dash = %q", got)
	}
}

// FuzzDeviceName: whatever bytes a serial or a sysfs name holds, the name
// made of it is a DNS label, and the string value is valid UTF-8 of at
// most 64 bytes that tells it apart from any other value.
func FuzzDeviceName(f *testing.F) {
	for _, s := range []string{"A7022OOQ", `"quoted"`, "K\x00\x1b[31m\nx\xff", "Ünïcödé-序列号",
		strings.Repeat("0123456789ABCDEFGHIJ", 10), "!!!", "", "a\u202eb", "3-2.1", strings.Repeat("-a", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, prefix := range []string{"usb-0403-6001-sn-", "usb-0403-6001-port-", "pci-"} {
			lbl := label(s)
			if lbl == "" && prefix == "usb-0403-6001-sn-" {
				continue // named by port instead
			}
			n := fit(prefix, lbl, s)
			if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
				t.Fatalf("fit(%q, label(%q)) = %q: %v", prefix, s, n, errs)
			}
		}
		v := draattr.Value(s)
		if len(v) > MaxStringLength || !utf8.ValidString(v) {
			t.Fatalf("Value(%q) = %q: %d bytes", s, v, len(v))
		}
		if len(quote.Text(s)) <= MaxStringLength && v != quote.Text(s) {
			t.Fatalf("Value(%q) = %q, shortened although %q fits", s, v, quote.Text(s))
		}
	})
}
