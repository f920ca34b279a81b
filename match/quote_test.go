package match

import (
	"strings"
	"testing"
	"unicode"

	"github.com/hostdev/hostdev/discover"
)

// hostile is a serial that rings the bell and turns the terminal red.
const hostile = "K\x1b[31mX\x07"

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

// twins are two devices alike but for their port and serial, both
// hostile, as are their names.
func twins() []discover.Device {
	a := usbDev("evil\x1b]0;pwned\x07", 1, 5, "1", 0x1050, 0x0407, 0, hostile, discover.Interface{Class: 3, Driver: "usb\x1b[2Jhid"})
	b := usbDev("evil\u202e", 1, 6, "2", 0x1050, 0x0407, 0, hostile+"\n", discover.Interface{Class: 3, Driver: "usbhid"})
	return []discover.Device{a, b}
}

func TestAmbiguousHostileSerial(t *testing.T) {
	_, err := Resolve(mustParse(t, "host:1050:0407"), twins())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	checkClean(t, msg)
	if want := "add port=1 or port=2"; !strings.Contains(msg, want) {
		t.Errorf("error %q does not say %q", msg, want)
	}
}

func TestNoMatchHostileNear(t *testing.T) {
	for _, sel := range []string{"serial=K3", "host:1050:0407,driver=xhci", "host:1050:0407,port=9"} {
		devs := twins()
		devs[0].USB.Port = "1\x1b[0m"
		_, err := Resolve(mustParse(t, sel), devs[:1])
		if err == nil {
			t.Fatalf("%s: no error", sel)
		}
		checkClean(t, err.Error())
	}
}

func TestSelectorHostileEcho(t *testing.T) {
	for _, in := range []string{"serial=" + hostile, "name=a\u202eb,serial=x\x9b2J", "serial=\x00"} {
		s := mustParse(t, in)
		// String is the canonical form, which Parse reads back: its bytes
		// stay as they are. Messages show the selector quoted.
		if back := mustParse(t, s.String()); back.String() != s.String() {
			t.Errorf("%q: String %q reads back as %q", in, s.String(), back.String())
		}
		checkClean(t, s.safe())
		_, err := Resolve(s, fakeHost())
		if err == nil {
			t.Fatalf("%q: no error", in)
		}
		checkClean(t, err.Error())
	}
	// A parse error quotes its input; Caret gives nothing for such input.
	_, err := Parse("serial=x,\x1b[31m=1")
	if err == nil {
		t.Fatal("no parse error")
	}
	checkClean(t, err.Error())
	if pe := err.(*ParseError); pe.Caret() != "" {
		t.Errorf("Caret() = %q, want empty", pe.Caret())
	}
}
