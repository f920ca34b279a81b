package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/internal/testenv"
)

// resolve --format writes each dialect, and reads each dialect back:
// the output of one run is the selector of the next.
func TestResolveFormats(t *testing.T) {
	root := smallHost(t)
	var all strings.Builder
	for _, f := range []string{"qemu", "qmp", "libvirt", "xen", "xen-legacy", "seed", "proxmox"} {
		code, out, errs := hostdev(t, "resolve", "-n", "--root", root, "--format", f, "serial=A7022OO1", "00:1f.3")
		if code != 0 {
			t.Fatalf("--format %s: exit %d: %s", f, code, errs)
		}
		all.WriteString("## " + f + "\n" + out)
		// What one run prints, the next reads: one file of it with -f.
		p := writeFile(t, "out."+f, out)
		code, back, errs := hostdev(t, "resolve", "-n", "--root", root, "-f", p)
		if code != 0 || strings.Count(back, "\n") != 2 || !strings.Contains(back, "1-2.1") || !strings.Contains(back, "0000:00:1f.3") {
			t.Errorf("-f of the %s output: exit %d\n%s%s", f, code, back, errs)
		}
	}
	testenv.Golden(t, filepath.Join("testdata", "resolve-formats.txt"), all.String(), *update)

	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--format", "vmware", "host:3.1"}, 2, `unknown format "vmware"; want one of qemu, qmp, libvirt, xen, xen-legacy, seed, proxmox, incus, cloud-hypervisor, devnode, text, json, cel or claim`},
		{[]string{"usb-host,vendorid=0403,productid=0x6001"}, 2, "QEMU reads 0403 as octal, 259; write 403 for decimal or 0x0403 for hex"},
		{[]string{"usb-host,vendorid=0x0403,productid=0x6001"}, 4, "2 devices match 0403:6001; add serial=A7022OO1 or serial=A7022OO2\nhint: QEMU's usb-host cannot select by serial; to pick by port, use hostbus=1,hostport=2.1 or hostbus=1,hostport=2.2"},
		{[]string{"--", "-device usb-host,hostbus=1,hostport=2.2"}, 0, ""},
		{[]string{"-device usb-host,hostbus=1,hostport=2.2", "--format", "qemu", "-usbdevice host:0627:0001"}, 0, ""},
		{[]string{"usb-host,hostbus=1,hostport=2"}, 3, "is a hub; QEMU's usb-host never takes a hub"},
		{[]string{"-f", "/nonexistent/vm.xml"}, 1, "no such file"},
	} {
		args := append([]string{"resolve", "-n", "--root", root}, tc.args...)
		code, _, errs := hostdev(t, args...)
		if code != tc.code || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", tc.args, code, errs, tc.code, tc.stderr)
		}
	}
}

const domainXML = `<domain type='kvm'>
  <!-- keep me -->
  <name>vm</name>
  <devices>
    <hostdev mode='subsystem' type='usb'>
      <source>
        <vendor id='0x0403'/>
        <product id='0x6001'/>
        <address bus='3' device='126'/>
      </source>
    </hostdev>
  </devices>
</domain>
`

// fill -i replaces the file atomically, keeps its mode, and follows a
// link to its target; a failure leaves the file as it was.
func TestFillInPlace(t *testing.T) {
	root := smallHost(t)
	doc := strings.Replace(domainXML, "<vendor id='0x0403'/>\n        <product id='0x6001'/>\n        <address bus='3' device='126'/>",
		"<vendor id='0x0627'/>\n        <product id='0x0001'/>\n        <address bus='3' device='126'/>", 1)
	p := writeFile(t, "vm.xml", doc)
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(p), "link.xml")
	if err := os.Symlink("vm.xml", link); err != nil {
		t.Fatal(err)
	}
	code, out, errs := hostdev(t, "fill", "-n", "--root", root, "-i", link)
	if code != 0 || out != "" || !strings.Contains(errs, "0627:0001 moved from 003.126 to 001.005") {
		t.Fatalf("fill -i: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	got, _ := os.ReadFile(p)
	want := strings.Replace(doc, "<address bus='3' device='126'/>", "<address bus='1' device='5'/>", 1)
	if string(got) != want {
		t.Errorf("filled file:\n%s\nwant\n%s", got, want)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".hostdev-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Two identical adapters: ambiguous, exit 4, the file untouched.
	amb := writeFile(t, "amb.xml", strings.Replace(domainXML, "<address bus='3' device='126'/>\n", "", 1))
	before, _ := os.ReadFile(amb)
	code, out, errs = hostdev(t, "fill", "-n", "--root", root, "-i", amb)
	after, _ := os.ReadFile(amb)
	if code != 4 || out != "" || !strings.Contains(errs, "amb.xml:5: 2 devices match 0403:6001; add serial=A7022OO1 or serial=A7022OO2") || string(before) != string(after) {
		t.Errorf("ambiguous fill: exit %d\nstdout %q\nstderr %q\nchanged: %v", code, out, errs, string(before) != string(after))
	}

	// A broken document is exit 2 with the line, before any scan.
	bad := writeFile(t, "bad.xml", "<domain>\n<devices>\n<hostdev mode='subsystem' type='usb'>\n</devices>\n</domain>\n")
	code, _, errs = hostdev(t, "fill", "--root", "/nonexistent", bad)
	if code != 2 || !strings.Contains(errs, "bad.xml: line 4: libvirt: broken XML") {
		t.Errorf("broken XML: exit %d, stderr %q", code, errs)
	}
}

// The issue's own scenario, through fill: a domain filled on the day of
// usbid-laptop-1 names the FTDI adapter A7022OOP at 003.126; on the day
// of usbid-laptop-3 the hub has moved, and fill follows it. The serial
// is what keeps the four identical adapters apart; the address is only
// remembered.
func TestFillCorpusMoved(t *testing.T) {
	laptop3 := testenv.CorpusArchive(t, "usbid-laptop-3")
	xl := writeFile(t, "vm.cfg", "usbdevice = [ 'host:3.126' ] # where A7022OOP was on day 1\n")
	code, out, errs := hostdev(t, "fill", "-n", "--root", laptop3, xl)
	if code != 3 || !strings.Contains(errs, "no device matches bus=usb,busnum=3,devnum=126") {
		t.Errorf("a stale exact address must not resolve: exit %d %q %q", code, out, errs)
	}
	seed := writeFile(t, "seed.xml", "<host bus='usb'>\n  <source vendor='0403' product='6001'/>\n  <target dev='003.126'/>\n</host>\n")
	code, out, errs = hostdev(t, "fill", "-n", "--root", laptop3, seed)
	// Without the serial the remembered address is gone and four adapters
	// fit: ambiguous, with the serials to add.
	if code != 4 || !strings.Contains(errs, "serial=A7022OOP") {
		t.Errorf("seed fill: exit %d %q %q", code, out, errs)
	}
	code, out, errs = hostdev(t, "resolve", "-n", "--root", laptop3, "--format", "seed",
		"host:0403:6001,serial=A7022OOP,busnum=3,devnum=126")
	if code != 0 || !strings.Contains(out, "<target dev='003.022'/>") || !strings.Contains(errs, "moved from 003.126 to 003.022") {
		t.Errorf("resolve --format seed: exit %d %q %q", code, out, errs)
	}
}
