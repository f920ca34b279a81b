package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/snapshot"
	"github.com/hostdev/hostdev/sysfstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// runMainVar makes the test binary run main() instead of the tests, so a
// test can run the real command as a process and send it signals.
const runMainVar = "HOSTDEV_DISCOVER_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainVar) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// hostdev runs the command in-process and returns its exit status and
// output.
func hostdev(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// smallHost builds a host with a USB 2 bus holding a hub, two identical
// serial adapters and a keyboard, and a few PCI functions.
func smallHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	g := 3
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Revision: 0x10, Driver: "xhci_hcd", IOMMUGroup: &g})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300, Revision: 0x10, Driver: "snd_hda_intel", IOMMUGroup: &g})
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.Hub(1, "2"))
	for _, port := range []string{"2.1", "2.2"} {
		tree.AddUSB(sysfstest.USBDevice{
			Bus: 1, Port: port, IDVendor: 0x0403, IDProduct: 0x6001, BCDDevice: 0x0600, Speed: "12",
			Manufacturer: new("FTDI"), Product: new("FT232R USB UART"), Serial: new("A7022OO" + port[2:]),
			Interfaces: []sysfstest.USBInterface{{Class: 0xff, SubClass: 0xff, Protocol: 0xff, Driver: "ftdi_sio"}},
		})
	}
	tree.AddUSB(sysfstest.USBDevice{
		Bus: 1, Port: "3", IDVendor: 0x0627, IDProduct: 0x0001, Speed: "480",
		Manufacturer: new("QEMU"), Product: new("QEMU USB Tablet"), Serial: new("28754-0000:00:04.0-1"),
		Interfaces: []sysfstest.USBInterface{{Class: 0x03, Driver: "usbhid"}},
	})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestListGolden(t *testing.T) {
	root := smallHost(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"list.txt", []string{"list", "-n", "--root", root}},
		{"list.json", []string{"list", "-n", "--json", "--root", root}},
		{"list-usb.txt", []string{"list", "-n", "--bus", "usb", "--root", root}},
		{"list-pci.txt", []string{"list", "--numeric", "--bus=pci", "--root", root}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, out, errs := hostdev(t, tc.args...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			testenv.Golden(t, filepath.Join("testdata", tc.golden), out, *update)
		})
	}
}

func TestListWarnings(t *testing.T) {
	root := smallHost(t)
	p := filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.1/idVendor")
	if err := os.WriteFile(p, []byte("zz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := hostdev(t, "list", "-n", "--json", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d, want 0: a broken device is a warning", code)
	}
	want := `warning: 1-2.1: /sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.1/idVendor: invalid value: "zz" is not 4 hex digits`
	if !strings.Contains(errs, want) {
		t.Errorf("stderr %q, want %q", errs, want)
	}
	var res struct {
		Devices  []map[string]any `json:"devices"`
		Warnings []map[string]any `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 7 {
		t.Errorf("%d devices, want all 7", len(res.Devices))
	}
	wantW := []map[string]any{{
		"device":  "1-2.1",
		"path":    "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.1/idVendor",
		"message": `invalid value: "zz" is not 4 hex digits`,
	}}
	if diff := cmp.Diff(wantW, res.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestExitCodes(t *testing.T) {
	root := smallHost(t)
	cut := writeFile(t, "cut", "\x1f\x8b\x08") // gzip magic, then nothing
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a part of stderr
		stdout string // a part of stdout
	}{
		{name: "ok", args: []string{"list", "-n", "--root", root}, code: 0, stdout: "usb 001.001 usb1"},
		{name: "missing root", args: []string{"list", "--root", filepath.Join(root, "nope")}, code: 1, stderr: "no such file or directory"},
		{name: "root is a file", args: []string{"list", "--root", filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/vendor")}, code: 1, stderr: "not a directory"},
		{name: "root is not gzip", args: []string{"list", "--root", writeFile(t, "notes.txt", "not gzip")}, code: 1, stderr: "notes.txt: not a directory or a .tar.gz snapshot"},
		{name: "broken archive", args: []string{"list", "--root", writeFile(t, "bad.tar.gz", "not gzip")}, code: 1, stderr: "bad.tar.gz: not a directory or a .tar.gz snapshot"},
		{name: "truncated archive", args: []string{"list", "--root", cut}, code: 1, stderr: "--root " + cut + ": "},
		{name: "empty root", args: []string{"list", "--root", ""}, code: 2, stderr: `--root "": want a directory`},
		{name: "empty root for snapshot", args: []string{"snapshot", "-o", filepath.Join(t.TempDir(), "s.tar.gz"), "--root="}, code: 2, stderr: `--root "": want a directory`},
		{name: "bad bus", args: []string{"list", "--bus", "scsi", "--root", root}, code: 2, stderr: `--bus "scsi": want usb, pci or mdev`},
		{name: "empty bus", args: []string{"list", "--bus=", "--root", root}, code: 2, stderr: `--bus "": want usb, pci or mdev`},
		{name: "empty bus, separate", args: []string{"list", "--bus", "", "--root", root}, code: 2, stderr: `--bus "": want usb, pci or mdev`},
		{name: "unknown flag", args: []string{"list", "--frobnicate"}, code: 2, stderr: "unknown flag"},
		{name: "unknown root flag", args: []string{"--frobnicate"}, code: 2, stderr: "unknown flag"},
		{name: "bad selector", args: []string{"list", "usb"}, code: 2, stderr: `selector "usb": "usb" is not key=value`},
		{name: "no command", args: nil, code: 2, stderr: "missing command"},
		{name: "unknown command", args: []string{"lsit"}, code: 2, stderr: `unknown command "lsit" for "hostdev-discover"; did you mean list or wait?`},
		{name: "unknown command, no suggestion", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "snapshot without -o", args: []string{"snapshot", "--root", root}, code: 2, stderr: "needs -o"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "Available Commands:"},
		{name: "help list", args: []string{"help", "list"}, code: 0, stdout: "List every USB device"},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: "Available Commands:"},
		{name: "list --help", args: []string{"list", "--help"}, code: 0, stdout: "List every USB device"},
		{name: "help unknown topic", args: []string{"help", "nosuch"}, code: 2, stderr: `unknown help topic "nosuch"`},
		{name: "help extra argument", args: []string{"help", "list", "usb"}, code: 2, stderr: `unknown help topic "list usb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := hostdev(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.stderr) || !strings.Contains(out, tc.stdout) {
				t.Errorf("exit %d, stderr %q, stdout %q; want %d, %q and %q", code, errs, out, tc.code, tc.stderr, tc.stdout)
			}
			if code == 0 && errs != "" {
				t.Errorf("exit 0 with stderr %q", errs)
			}
		})
	}
}

// TestListUntrustedText checks that strings from devices, trees and name
// databases cannot add lines or reach the terminal raw.
func TestListUntrustedText(t *testing.T) {
	for _, tc := range []struct {
		name string
		usb  sysfstest.USBDevice    // at port 1 of bus 1, when pci is nil
		pci  *sysfstest.PCIFunction // instead of usb
		want string                 // the device's line
	}{
		{
			name: "plain",
			usb:  sysfstest.USBDevice{Manufacturer: new("ACME"), Product: new(`Überkabel™ "Pro" C:\dev`), Serial: new("A-1:2.3")},
			want: `usb 001.002 1-1 1234:5678 ACME Überkabel™ "Pro" C:\dev serial=A-1:2.3`,
		},
		{
			name: "newline in product",
			usb:  sysfstest.USBDevice{Raw: map[string]string{"product": "Evil\nusb 001.099 1-9 dead:beef Fake\n"}},
			want: `usb 001.002 1-1 1234:5678 "Evil\nusb 001.099 1-9 dead:beef Fake"`,
		},
		{
			name: "escape sequence in manufacturer",
			usb:  sysfstest.USBDevice{Manufacturer: new("\x1b[2J\x1b[HACME"), Product: new("Widget")},
			want: `usb 001.002 1-1 1234:5678 "\x1b[2J\x1b[HACME" Widget`,
		},
		{
			name: "C1 control in product",
			usb:  sysfstest.USBDevice{Product: new("a\u009b31mb")},
			want: `usb 001.002 1-1 1234:5678 "a\u009b31mb"`,
		},
		{
			name: "bidi override in product",
			usb:  sysfstest.USBDevice{Product: new("abc\u202edef")},
			want: `usb 001.002 1-1 1234:5678 "abc\u202edef"`,
		},
		{
			name: "invalid UTF-8 in product",
			usb:  sysfstest.USBDevice{Raw: map[string]string{"product": "Caf\xe9\n"}},
			want: `usb 001.002 1-1 1234:5678 "Caf\xe9"`,
		},
		{
			name: "DEL in product",
			usb:  sysfstest.USBDevice{Product: new("a\x7fb")},
			want: `usb 001.002 1-1 1234:5678 "a\x7fb"`,
		},
		{
			name: "product that starts with a quote",
			usb:  sysfstest.USBDevice{Product: new(`"Evil\n"`)},
			want: `usb 001.002 1-1 1234:5678 "\"Evil\\n\""`,
		},
		{
			name: "newline in serial",
			usb:  sysfstest.USBDevice{Product: new("Widget"), Raw: map[string]string{"serial": "1\nusb 001.099\n"}},
			want: `usb 001.002 1-1 1234:5678 Widget serial="1\nusb 001.099"`,
		},
		{
			name: "space in serial",
			usb:  sysfstest.USBDevice{Product: new("Widget"), Serial: new("AB 12")},
			want: `usb 001.002 1-1 1234:5678 Widget serial="AB 12"`,
		},
		{
			name: "space in USB driver",
			usb: sysfstest.USBDevice{Product: new("Widget"), Interfaces: []sysfstest.USBInterface{
				{Number: 0, Driver: "HDA Intel"}, {Number: 1, Driver: "usbhid"},
			}},
			want: `usb 001.002 1-1 1234:5678 Widget drivers="HDA Intel",usbhid`,
		},
		{
			name: "space in PCI driver",
			pci:  &sysfstest.PCIFunction{Address: "0000:00:1b.0", Vendor: 0x8086, Device: 0x293e, Class: 0x040300, Driver: "HDA Intel"},
			want: `pci 0000:00:1b.0 8086:293e 040300 driver="HDA Intel"`,
		},
		{
			name: "escape sequence in PCI driver",
			pci:  &sysfstest.PCIFunction{Address: "0000:00:1b.0", Vendor: 0x8086, Device: 0x293e, Class: 0x040300, Driver: "snd\x1b]0;pwned\x07"},
			want: `pci 0000:00:1b.0 8086:293e 040300 driver="snd\x1b]0;pwned\a"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tree := sysfstest.NewHostAt(root)
			bus := "pci"
			if tc.pci != nil {
				tree.AddPCI(*tc.pci)
			} else {
				bus = "usb"
				tree.AddUSB(sysfstest.RootHub(1, "480"))
				d := tc.usb
				d.Bus, d.Port, d.IDVendor, d.IDProduct = 1, "1", 0x1234, 0x5678
				tree.AddUSB(d)
			}
			if err := tree.Err(); err != nil {
				t.Fatal(err)
			}
			code, out, errs := hostdev(t, "list", "-n", "--bus", bus, "--root", root)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if bus == "usb" {
				lines = lines[1:] // the root hub
			}
			if diff := cmp.Diff([]string{tc.want}, lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshotRoundTrip captures root into a file called name and checks that
// the capture lists the same devices as the tree itself.
func snapshotRoundTrip(t *testing.T, root, name string) {
	t.Helper()
	arc := filepath.Join(t.TempDir(), name)
	if code, _, errs := hostdev(t, "snapshot", "-o", arc, "--root", root); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errs)
	}
	_, want, wantErr := hostdev(t, "list", "-n", "--json", "--root", root)
	code, got, gotErr := hostdev(t, "list", "-n", "--json", "--root", arc)
	if code != 0 {
		t.Fatalf("list --root %s: exit %d: %s", arc, code, gotErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("list of the snapshot (-tree +snapshot):\n%s", diff)
	}
	if diff := cmp.Diff(wantErr, gotErr); diff != "" {
		t.Errorf("warnings from the snapshot (-tree +snapshot):\n%s", diff)
	}
	// Only what a scan reads goes in: never the tree's files beyond it.
	inArchive, inTree := archiveEntries(t, arc), treeEntries(t, root)
	if len(inArchive) >= len(inTree) {
		t.Errorf("snapshot holds %d entries, the whole tree %d: it should hold only what a scan reads", len(inArchive), len(inTree))
	}
	for p := range inArchive {
		if !inTree[p] {
			t.Errorf("snapshot holds %s, which the tree does not", p)
		}
	}
}

func archiveEntries(t *testing.T, arc string) map[string]bool {
	t.Helper()
	f, err := os.Open(arc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimSuffix(h.Name, "/")] = true
	}
}

func treeEntries(t *testing.T, root string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, p); rel != "." {
			got[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSnapshot(t *testing.T) {
	root := smallHost(t)
	for _, tc := range []struct{ name, file string }{
		{"tar.gz", "snap.tar.gz"},
		{"tgz", "snap.tgz"},
		// An archive is known by its content, not its name.
		{"no suffix", "snap"},
		{"other suffix", "snap.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) { snapshotRoundTrip(t, root, tc.file) })
	}
}

// TestSnapshotFile checks the file snapshot writes: only its owner may read
// it, and a failure names the file the user gave, never the temporary one,
// and leaves nothing behind.
func TestSnapshotFile(t *testing.T) {
	root := smallHost(t)
	t.Run("mode 0600", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "snap.tar.gz")
		if code, _, errs := hostdev(t, "snapshot", "-o", out, "--root", root); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("mode %v, want -rw------- (the archive holds serial numbers)", got)
		}
	})
	for _, tc := range []struct {
		name string
		out  func(dir string) string // the -o path, given a fresh folder
		want string                  // stderr, after the -o path
	}{
		{
			name: "missing folder",
			out:  func(dir string) string { return filepath.Join(dir, "nonexistent", "x.tar.gz") },
			want: ": no such file or directory",
		},
		{
			name: "output is a folder",
			out: func(dir string) string {
				p := filepath.Join(dir, "full")
				if err := os.MkdirAll(filepath.Join(p, "inside"), 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: ": ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := tc.out(dir)
			code, _, errs := hostdev(t, "snapshot", "-o", out, "--root", root)
			if code != 1 || !strings.Contains(errs, out+tc.want) || strings.Contains(errs, ".hostdev-snapshot") {
				t.Errorf("exit %d, stderr %q; want 1 and an error about %q, not the temporary file", code, errs, out)
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".hostdev-snapshot-*"))
			if len(left) > 0 {
				t.Errorf("temporary files left behind: %q", left)
			}
		})
	}
}

// TestInterruptRemovesUnpackedSnapshot runs the command as a process, sends
// it SIGINT while it lists an unpacked snapshot, and checks that it still
// removes the snapshot's folder, rather than dying with it in place.
func TestInterruptRemovesUnpackedSnapshot(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on windows")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Enough functions that the JSON overflows a pipe many times over:
	// the command cannot finish, nor clean up, until the test reads on.
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	for i := range 1024 {
		tree.AddPCI(sysfstest.PCIFunction{Address: fmt.Sprintf("0000:%02x:%02x.%d", 1+i/256, i%256/8, i%8), Vendor: 0x8086, Device: 0x1520, Class: 0x020000})
	}
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	arc := filepath.Join(t.TempDir(), "snap.tar.gz")
	if code, _, errs := hostdev(t, "snapshot", "-o", arc, "--root", root); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errs)
	}

	tmp := t.TempDir() // where the child unpacks the snapshot
	cmd := exec.Command(exe, "list", "-n", "--json", "--root", arc)
	cmd.Env = append(os.Environ(), runMainVar+"=1", "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout := bufio.NewReader(pipe)
	// The first byte means the snapshot is unpacked and the scan is done.
	if _, err := stdout.ReadByte(); err != nil {
		cmd.Wait()
		t.Fatalf("no output: %v; stderr %s", err, stderr.String())
	}
	if unpacked, _ := os.ReadDir(tmp); len(unpacked) == 0 {
		t.Fatalf("nothing unpacked in TMPDIR %s while listing", tmp)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(stdout)
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) && !exit.Exited() {
		t.Fatalf("%v: SIGINT killed the command; stderr %s", err, stderr.String())
	}
	// Interrupted, it stops printing and says so, with the status of a
	// failure: the list it printed is not the whole list.
	if code := cmd.ProcessState.ExitCode(); code != 1 || stderr.String() != "hostdev-discover: interrupted\n" {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), "hostdev-discover: interrupted\n")
	}
	if json.Valid(append([]byte("{"), rest...)) {
		t.Errorf("the whole list was printed (%d bytes): the command did not stop at the signal", 1+len(rest))
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("unpacked snapshot left in %s: %v", tmp, left)
	}
}

// TestListInterruptedUnpack interrupts list before it unpacks a snapshot: it
// says so, unpacks nothing and leaves nothing behind.
func TestListInterruptedUnpack(t *testing.T) {
	arc := filepath.Join(t.TempDir(), "snap.tar.gz")
	if code, _, errs := hostdev(t, "snapshot", "-o", arc, "--root", smallHost(t)); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errs)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errs bytes.Buffer
	code := run(ctx, []string{"list", "--root", arc}, &out, &errs)
	if code != 1 || errs.String() != "hostdev-discover: interrupted\n" || out.Len() > 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and %q", code, out.String(), errs.String(), "hostdev-discover: interrupted\n")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// TestSnapshotCorpora captures every real tree and reads it back.
func TestSnapshotCorpora(t *testing.T) {
	shared := testenv.Shared(t)
	archives, _ := filepath.Glob(filepath.Join(shared, "corpora", "*.tar.gz"))
	if len(archives) == 0 {
		testenv.Skip(t, "no archives in %s/corpora", shared)
	}
	for _, a := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(a), ".tar.gz"), func(t *testing.T) {
			dir, cleanup, err := snapshot.Unpack(a)
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			snapshotRoundTrip(t, dir, "snap.tar.gz")
		})
	}
}

// resolve and list SELECTOR on the capture with four identical FTDI
// adapters: the exit status says what happened, and the errors say what
// to write.
func TestResolve(t *testing.T) {
	laptop1 := testenv.CorpusArchive(t, "usbid-laptop-1")
	laptop3 := testenv.CorpusArchive(t, "usbid-laptop-3")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a line or fragment stdout must hold
		stderr string
	}{
		{"one by serial", []string{"resolve", "-n", "--root", laptop1, "serial=A7022OOP"}, 0,
			"usb 003.126 3-2.3 0403:6001 FTDI FT232R USB UART serial=A7022OOP drivers=ftdi_sio", ""},
		{"ambiguous", []string{"resolve", "-n", "--root", laptop1, "host:0403:6001"}, 4,
			"", "4 devices match 0403:6001; add serial=A7022OOO, serial=A7022OOP, serial=A7022OOQ or serial=A7022OOR"},
		{"ambiguous as JSON", []string{"resolve", "-n", "--json", "--root", laptop1, "host:0403:6001"}, 4,
			`"error": "ambiguous"`, "4 devices match 0403:6001"},
		{"root hubs are not targets", []string{"resolve", "-n", "--root", laptop1, "host:1d6b:0002"}, 3,
			"", "usb1 (1d6b:0002) is a root hub"},
		{"no match as JSON", []string{"resolve", "-n", "--json", "--root", laptop1, "host:dead:beef"}, 3,
			`"error": "no-match"`, "no device matches dead:beef"},
		{"bad selector", []string{"resolve", "--root", laptop1, "vendor=04g3"}, 2,
			"", `vendor "04g3" is not 4 hex digits`},
		{"no selector", []string{"resolve", "--root", laptop1}, 2, "", "resolve needs a SELECTOR or -f FILE"},
		{"moved", []string{"resolve", "-n", "--json", "--root", laptop3, "vendor=0403,product=6001,busnum=3,devnum=126,serial=A7022OOP"}, 0,
			`"moved": "0403:6001 moved from 003.126 to 003.022"`, "note: 0403:6001 moved from 003.126 to 003.022"},
		{"all", []string{"resolve", "-n", "--all", "--root", laptop1, "host:0403:6001"}, 0,
			"usb 003.127 3-2.4 0403:6001", ""},
		{"list filtered", []string{"list", "-n", "--root", laptop1, "vendor=0403", "serial=F4B7E2E89E88"}, 0,
			"usb 001.005 1-1.4 0a5c:21e6", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := hostdev(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant %d, stdout with %q, stderr with %q", code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	// list with selectors keeps exactly the matching devices.
	_, out, _ := hostdev(t, "list", "-n", "--root", laptop1, "vendor=0403", "serial=F4B7E2E89E88")
	if n := strings.Count(out, "\n"); n != 5 {
		t.Errorf("list with two selectors printed %d lines, want the 4 FTDI and the Broadcom:\n%s", n, out)
	}
}
