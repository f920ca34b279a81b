package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/sysfstest"
)

// hostileSerial rings the bell and turns the terminal red.
const hostileSerial = "K\x1b[31mX\x07"

// checkClean fails when msg holds a byte or rune a terminal would act on:
// C0 (but for newline), DEL, C1, or a format character such as a bidi
// override.
func checkClean(t *testing.T, what, msg string) {
	t.Helper()
	for i, r := range msg {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			t.Errorf("%s holds %U at byte %d: %q", what, r, i, msg)
			return
		}
	}
}

// hostileTwins plugs two sticks alike but for their port and their
// hostile serials: one the other's, with the colour changed.
func hostileTwins(t *testing.T) *sysfstest.Host {
	t.Helper()
	tr := pluggable(t)
	tr.Plug(stick("1", hostileSerial))
	tr.Plug(stick("2", strings.Replace(hostileSerial, "31", "32\u202e", 1)))
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestResolveHostileSerial(t *testing.T) {
	tr := hostileTwins(t)
	for _, sel := range []string{"host:0483:2016", "-device usb-host,vendorid=0x0483,productid=0x2016"} {
		code, out, errs := hostdev(t, "resolve", "--root", tr.Root(), sel)
		if code != exitAmbiguous {
			t.Errorf("%s: exit %d, want %d; stdout %q, stderr %q", sel, code, exitAmbiguous, out, errs)
		}
		checkClean(t, "stderr", errs)
		if !strings.Contains(errs, "port=1 or port=2") {
			t.Errorf("%s: stderr advises no port=: %q", sel, errs)
		}
	}
	// A selector for one that is not there names the hostile one nearby.
	code, _, errs := hostdev(t, "resolve", "--root", tr.Root(), "serial=K3")
	if code != exitNoMatch {
		t.Errorf("serial=K3: exit %d, stderr %q", code, errs)
	}
	checkClean(t, "stderr", errs)
	// A hostile selector is echoed quoted, whether it parses or not.
	for _, sel := range []string{"serial=" + hostileSerial + "Y", "serial=\x1b[2J,bogus\x07=1", "name=\u009b2J"} {
		_, _, errs := hostdev(t, "resolve", "--root", tr.Root(), sel)
		if errs == "" {
			t.Errorf("%q: no error", sel)
		}
		checkClean(t, "stderr", errs)
	}
}

func TestFollowHostileSerial(t *testing.T) {
	tr := pluggable(t)
	f := start(t, "follow", "-n", "--root", tr.Root(), "host:0483:2016")
	f.waitReady(t)
	tr.Plug(stick("1", hostileSerial))
	f.waitFor(t, 2) // the attach
	tr.Plug(stick("2", strings.Replace(hostileSerial, "31", "32\u202e", 1)))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.err.String(), "2 devices match") {
		if time.Now().After(deadline) {
			t.Fatalf("no ambiguity advice in 10s; stderr %q", f.err.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(f.err.String(), "add port=1 or port=2") {
		t.Errorf("stderr advises no port=: %q", f.err.String())
	}
	checkClean(t, "stdout", f.out.String())
	checkClean(t, "stderr", f.err.String())
}

// TestErrorLinesQuoted: what reaches stderr as an error is quoted line by
// line even when the error is not ours: cobra echoes an unknown flag raw.
func TestErrorLinesQuoted(t *testing.T) {
	code, _, errs := hostdev(t, "list", "--bogus\x1b[31m\u202e")
	if code != exitUsage {
		t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, errs)
	}
	checkClean(t, "stderr", errs)
	if !strings.Contains(errs, `unknown flag: --bogus\x1b[31m\u202e`) {
		t.Errorf("stderr does not name the flag quoted: %q", errs)
	}
}

// TestHostileTreeWrites: a forged tree whose devpath and bus entry names
// carry QEMU properties, a second QMP command and a second line gets
// warnings, and every --format still writes one reference to the one
// real device, which reads back as exactly that.
func TestHostileTreeWrites(t *testing.T) {
	tr := pluggable(t)
	tr.Plug(stick("1", `S"},{"execute":"quit"}`))
	dev, err := filepath.EvalSymlinks(filepath.Join(tr.Root(), "sys/bus/usb/devices/1-1"))
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(tr.Root(), dev)
	tr.WriteFile(rel+"/devpath", "1,hostdevice=/dev/sda\n")
	for _, n := range []string{`1-1"},{"execute":"quit`, "1-1,hostdevice=x", "1-1\n-device usb-host"} {
		tr.Symlink("sys/bus/usb/devices/"+n, "/"+filepath.ToSlash(rel))
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range hypervisor.Formats() {
		if f == hypervisor.FormatCloudHypervisor {
			continue // PCI only
		}
		code, out, errs := hostdev(t, "resolve", "--root", tr.Root(), "--format", string(f), "host:0483:2016")
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", f, code, errs)
		}
		if strings.Count(errs, "warning: ") != 4 || !strings.Contains(errs, "devpath") {
			t.Errorf("%s: stderr %q, want a warning for devpath and for each forged entry", f, errs)
		}
		checkClean(t, "stderr", errs)
		refs, _, err := hypervisor.Refs([]byte(out))
		if err != nil || len(refs) != 1 {
			t.Fatalf("%s: %q reads back as %d references (%v), want 1", f, out, len(refs), err)
		}
		if f == hypervisor.FormatIncus {
			// Incus names a device by its serial: shell-quoted, it
			// reads back as that serial and nothing more.
			code, back, errs := hostdev(t, "resolve", "-n", "--root", tr.Root(), "-f", writeFile(t, "vm.sh", out))
			if code != 0 || strings.Count(back, "\n") != 1 || !strings.HasPrefix(back, "usb 001.") || strings.Contains(out, "hostdevice") {
				t.Errorf("%s: %q reads back as %q (exit %d, %q), want the one device", f, out, back, code, errs)
			}
			continue
		}
		if strings.Contains(out, "hostdevice") || strings.Contains(out, "quit") {
			t.Errorf("%s: forged text in the output: %q", f, out)
		}
	}
}
