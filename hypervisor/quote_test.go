package hypervisor

import (
	"strings"
	"testing"
	"unicode"

	"github.com/hostdev/hostdev/discover"
)

// checkClean fails when msg holds a byte or rune a terminal would act on:
// C0 (but for newline), DEL, C1, or a format character such as a bidi
// override.
func checkClean(t *testing.T, msg string) {
	t.Helper()
	for i, r := range msg {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			t.Errorf("message holds %U at byte %d: %q", r, i, msg)
			return
		}
	}
}

// TestAmbiguousHostile: two devices alike but for hostile serials, names
// and ports; every dialect's advice is clean, and none advises a serial.
func TestAmbiguousHostile(t *testing.T) {
	dev := func(n int, port, serial string) discover.Device {
		return discover.Device{Bus: discover.BusUSB, Name: "evil\x1b]0;x\x07", VendorID: 0x1050, ProductID: 0x0407,
			USB: &discover.USB{Busnum: 1, Devnum: n, Port: discover.PortPath(port), Serial: &serial}}
	}
	devs := []discover.Device{dev(5, "1\x1b[0m", "K\x1b[31mX\x07"), dev(6, "2", "K\x1b[31mX\x07\n")}
	for _, sel := range []string{
		"host:1050:0407",
		"-device usb-host,vendorid=0x1050,productid=0x0407",
		"<hostdev mode='subsystem' type='usb'><source><vendor id='0x1050'/><product id='0x0407'/></source></hostdev>",
		"usbdevice=['host:1050:0407']",
	} {
		rs, err := ParseSelector(sel)
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		_, _, err = rs[0].Resolve(devs)
		if err == nil {
			t.Fatalf("%s: no error", sel)
		}
		msg := err.Error()
		checkClean(t, msg)
		if strings.Contains(msg, "serial=") {
			t.Errorf("%s: advises a serial: %s", sel, msg)
		}
		if !strings.Contains(msg, "port=") && !strings.Contains(msg, "hostport=") && !strings.Contains(msg, "host:1.") && !strings.Contains(msg, "<address bus=") {
			t.Errorf("%s: advises no port or address: %s", sel, msg)
		}
	}
}

// TestHostileConfigEcho: values read from a config and echoed in an error
// are quoted.
func TestHostileConfigEcho(t *testing.T) {
	for _, doc := range []string{
		"<host bus='&#x9b;2J&#x202e;'><source vendor='0x1050' product='0x0407'/></host>",
		"<hostdev mode='subsystem' type='usb'><source><vendor id='0&#x9b;2J&#x202e;'/><product id='0x0407'/></source></hostdev>",
		`{"execute":"device_add","arguments":{"driver":"usb-host","x2J":[1]}}`,
		`{"execute":"device_‮add"}`,
		"-device usb-host,vendorid=0x1050,productid=0x0407,hostbus=1\u009b",
	} {
		_, err := ParseSelector(doc)
		if err == nil {
			t.Fatalf("%s: no error", doc)
		}
		checkClean(t, err.Error())
	}
}
