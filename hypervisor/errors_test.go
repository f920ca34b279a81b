package hypervisor

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// TestErrorsAs: every failure a caller would branch on is found by
// errors.As (or errors.Is), through every public entry point, after the
// caller has wrapped it; and an *Error says where.
func TestErrorsAs(t *testing.T) {
	devs := both(t)
	parse := func(s string) func() error {
		return func() error { _, err := ParseSelector(s); return err }
	}
	refs := func(doc string) func() error {
		return func() error { _, _, err := Refs([]byte(doc)); return err }
	}
	fill := func(doc string) func() error {
		return func() error { _, _, _, err := Fill([]byte(doc), devs); return err }
	}
	resolve := func(s string) func() error {
		return func() error {
			rs, err := ParseSelector(s)
			if err != nil {
				return fmt.Errorf("ParseSelector: %v", err) // not the error under test
			}
			_, _, err = rs[0].Resolve(devs)
			return err
		}
	}
	far := discover.Device{Bus: discover.BusPCI, Name: "10000:00:00.0",
		PCI: &discover.PCI{Address: new(pciaddr.MustParse("10000:00:00.0"))}}
	const qemuDoc = "qemu-system-x86_64 \\\n  -m 1G \\\n  -device usb-host,vendorid=0483\n"
	const xlDoc = "name = 'vm'\nusbdev = [ 'type=hostdev,hostbus=1' ]\n"
	const xmlDoc = "<domain>\n<devices>\n<hostdev mode='subsystem' type='usb'><source><vendor id='0483'/><product id='0x2016'/></source></hostdev>\n</devices>\n</domain>\n"
	for _, tt := range []struct {
		name   string
		err    func() error
		target any   // for errors.As
		is     error // for errors.Is, when not nil
		line   int   // the *Error's Line, when target is one
	}{
		{"ParseSelector: bad selector", parse("host:zz"), new(*match.ParseError), nil, 0},
		{"ParseSelector: bad QEMU number", parse("usb-host,vendorid=0483,productid=0x2016"), new(*Error), nil, 0},
		{"ParseSelector: -usbdevice holds a bad selector", parse("-usbdevice host:1.zz"), new(*match.ParseError), nil, 0},
		{"ParseSelector: -usbdevice, the dialect's error", parse("-usbdevice host:1.zz"), new(*Error), nil, 0},
		{"ParseSelector: xl usbdevice holds a bad selector", parse("usbdevice=['host:1.zz']"), new(*match.ParseError), nil, 0},
		{"ParseSelector: emulated QEMU device", parse("-device e1000,netdev=n0"), new(*Error), errors.ErrUnsupported, 0},
		{"ParseSelector: emulated -usbdevice", parse("-usbdevice tablet"), new(*Error), errors.ErrUnsupported, 0},
		{"ParseSelector: xl usbdev of another type", parse("usbdev=['type=pv,hostbus=1,hostaddr=2']"), new(*Error), errors.ErrUnsupported, 1},
		{"ParseSelector: a SCSI hostdev", parse("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>"), new(*Error), errors.ErrUnsupported, 1},
		{"Refs: a config naming no host device", refs("name = 'vm'\nusbdevice = [ 'tablet' ]\n"), new(*Error), errors.ErrUnsupported, 0},
		{"ParseSelector: broken XML", parse("<hostdev mode='subsystem' type='usb'><source>"), new(*Error), nil, 1},
		{"ParseSelector: broken XML, encoding/xml's error", parse("<hostdev><source></hostdev>"), new(*xml.SyntaxError), nil, 0},
		{"ParseQEMU: bad JSON, encoding/json's error", func() error { _, err := ParseQEMU(`{"driver":"usb-host",}`); return err }, new(*json.SyntaxError), nil, 0},
		{"ParseQEMU: names nothing", func() error { _, err := ParseQEMU("usb-host"); return err }, new(*Error), nil, 0},
		{"ParseQEMU: emulated", func() error { _, err := ParseQEMU("usb-kbd"); return err }, new(*Error), errors.ErrUnsupported, 0},
		{"Refs: QEMU options, line of the bad one", refs(qemuDoc), new(*Error), nil, 3},
		{"Refs: xl, line of the bad entry", refs(xlDoc), new(*Error), nil, 2},
		{"Refs: libvirt, line of the bad hostdev", refs(xmlDoc), new(*Error), nil, 3},
		{"Refs: empty", refs(" \n"), new(*Error), nil, 0},
		{"Fill: QEMU options, line of the bad one", fill("-m 1G \\\n -device usb-host,vendorid=0x0483,productid=0x2016 \\\n -device usb-host,hostbsu=1\n"), new(*Error), nil, 3},
		{"Fill: QEMU options naming no host device", fill("-m 1G -device usb-kbd\n"), new(*Error), errors.ErrUnsupported, 0},
		{"Fill: libvirt, line of the bad hostdev", fill(xmlDoc), new(*Error), nil, 3},
		{"Resolve: no match", resolve("usb-host,vendorid=0x1234,productid=0x5678"), new(*match.NoMatchError), nil, 0},
		{"Resolve: ambiguous, match's", resolve("usb-host,vendorid=0x1050,productid=0x0407"), new(*match.AmbiguousError), nil, 0},
		{"Resolve: ambiguous, the dialect's", resolve("usb-host,vendorid=0x1050,productid=0x0407"), new(*AmbiguousError), nil, 0},
		{"Write: xl cannot name a 32-bit domain", func() error {
			return Write(new(discardWriter), FormatXen, []Resolved{{Device: far}})
		}, nil, errors.ErrUnsupported, 0},
		{"Write: no address", func() error {
			return Write(new(discardWriter), FormatQEMU, []Resolved{{Device: discover.Device{Bus: discover.BusUSB, Name: "1-1", USB: &discover.USB{}}}})
		}, nil, errors.ErrUnsupported, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil {
				t.Fatal("no error")
			}
			wrapped := fmt.Errorf("guest.cfg: %w", err)
			if tt.target != nil && !errors.As(wrapped, tt.target) {
				t.Errorf("errors.As(%T) is false for %T: %v", tt.target, err, err)
			}
			if tt.is != nil && !errors.Is(wrapped, tt.is) {
				t.Errorf("errors.Is(%v) is false for %T: %v", tt.is, err, err)
			}
			if p, ok := tt.target.(**Error); ok && *p != nil && (*p).Line != tt.line {
				t.Errorf("Line = %d, want %d: %v", (*p).Line, tt.line, err)
			}
		})
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// Formats gives the caller its own slice: changing it changes nothing here.
func TestFormatsIsACopy(t *testing.T) {
	fs := Formats()
	for i := range fs {
		fs[i] = "vmware"
	}
	if f, err := ParseFormat("qemu"); err != nil || f != FormatQEMU || Formats()[0] != FormatQEMU {
		t.Errorf("changing what Formats returned changed the package's formats: %v, %v", f, err)
	}
}

// TestErrorsDeterministic: the same bad input gives the same message on
// every run, naming every bad attribute (an address's numbers were once
// checked in a map's order, so one run named bus= and the next device=).
func TestErrorsDeterministic(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<hostdev mode='subsystem' type='usb'><source><address bus='1024' device='768'/></source></hostdev>`,
			"line 1: libvirt: <hostdev type='usb'>: <address bus='1024'>: out of range 0 to 255 (0xff); <address device='768'>: out of range 0 to 127 (0x7f)"},
		{`<hostdev mode='subsystem' type='pci'><source><address domain='0x100000000' bus='0x100' slot='0x20' function='8'/></source></hostdev>`,
			"line 1: libvirt: <hostdev type='pci'>: <address domain='0x100000000'>: out of range 0 to 4294967295 (0xffffffff); " +
				"<address bus='0x100'>: out of range 0 to 255 (0xff); <address slot='0x20'>: out of range 0 to 31 (0x1f); " +
				"<address function='8'>: out of range 0 to 7 (0x7)"},
		{`{"driver":"usb-host","zz":[1],"aa":{"b":1},"hostbus":1,"hostaddr":2}`,
			`QEMU "{\"driver\":\"usb-host\",\"zz\":[1],\"aa\":{\"b\":1},\"hostbus\":1,\"hostaddr\":2}": property aa is {"b":1}, not a string or number`},
	} {
		for i := range 50 {
			_, err := ParseSelector(tc.in)
			if err == nil {
				t.Fatalf("ParseSelector(%q) succeeded", tc.in)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Fatalf("ParseSelector(%q), run %d (-want +got):\n%s", tc.in, i, diff)
			}
		}
	}
}
