package uevent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, that what it accepts is
// consistent, and that AppendMessage writes it back in a form Parse reads
// as the same event. More seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, m := range [][]byte{usbDeviceAdd, usbInterfaceAdd, usbDeviceBind, pciBindVFIO, pciUnbind, pciRemove} {
		f.Add(m)
	}
	captures, _ := filepath.Glob(filepath.Join("testdata", "capture", "*.bin"))
	for _, file := range captures {
		m, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, m []byte) {
		ev, err := Parse(m)
		if err != nil {
			var se *SyntaxError
			switch {
			case errors.Is(err, ErrNotKernel):
			case errors.As(err, &se):
				if se.Offset < 0 || se.Offset > len(m) {
					t.Fatalf("Parse(%q): offset %d outside the message: %v", m, se.Offset, err)
				}
			default:
				t.Fatalf("Parse(%q): %v is neither ErrNotKernel nor a *SyntaxError", m, err)
			}
			return
		}
		checkEvent(t, m, ev)

		out, err := ev.AppendMessage(nil)
		if err != nil {
			t.Fatalf("AppendMessage of Parse(%q): %v", m, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(AppendMessage(Parse(%q))) = Parse(%q): %v", m, out, err)
		}
		if diff := cmp.Diff(ev, back); diff != "" {
			t.Fatalf("round trip of %q through %q (-want +got):\n%s", m, out, diff)
		}
		again, err := back.AppendMessage(nil)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("AppendMessage is not stable: %q, then %q (%v)", out, again, err)
		}
	})
}

func checkEvent(t *testing.T, m []byte, ev Event) {
	t.Helper()
	if ev.Action == "" || ev.Devpath == "" {
		t.Fatalf("Parse(%q): empty Action or Devpath: %+v", m, ev)
	}
	for key, field := range map[string]string{
		"ACTION":    ev.Action,
		"DEVPATH":   ev.Devpath,
		"SUBSYSTEM": ev.Subsystem,
		"DEVTYPE":   ev.Devtype,
		"DRIVER":    ev.Driver,
	} {
		v, ok := ev.Env[key]
		if (key == "ACTION" || key == "DEVPATH") && !ok {
			t.Fatalf("Parse(%q): Env has no %s", m, key)
		}
		if v != field {
			t.Fatalf("Parse(%q): Env %s=%q, but the field is %q", m, key, v, field)
		}
	}
	if v, ok := ev.Env["SEQNUM"]; ok {
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n != ev.Seqnum {
			t.Fatalf("Parse(%q): Env SEQNUM=%q, but Seqnum is %d", m, v, ev.Seqnum)
		}
	} else if ev.Seqnum != 0 {
		t.Fatalf("Parse(%q): Seqnum %d without SEQNUM=", m, ev.Seqnum)
	}
}
