package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/sysfstest"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

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
	tree := sysfstest.New(root)
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

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
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
			golden(t, tc.golden, out)
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
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ok", []string{"list", "-n", "--root", root}, 0, ""},
		{"missing root", []string{"list", "--root", filepath.Join(root, "nope")}, 1, "no such file or directory"},
		{"root is a file", []string{"list", "--root", filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/vendor")}, 1, "not a directory"},
		{"bad bus", []string{"list", "--bus", "scsi", "--root", root}, 2, `--bus "scsi": want usb or pci`},
		{"unknown flag", []string{"list", "--frobnicate"}, 2, "unknown flag"},
		{"extra argument", []string{"list", "usb"}, 2, "unknown command"},
		{"unknown command", []string{"lsit"}, 2, "unknown command"},
		{"snapshot without -o", []string{"snapshot", "--root", root}, 2, "needs -o"},
		{"broken archive", []string{"list", "--root", writeFile(t, "bad.tar.gz", "not gzip")}, 1, "bad.tar.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := hostdev(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.stderr)
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

// snapshotRoundTrip captures root and checks that the capture lists the
// same devices as the tree itself, and holds less than the tree does.
func snapshotRoundTrip(t *testing.T, root string) {
	t.Helper()
	arc := filepath.Join(t.TempDir(), "snap.tar.gz")
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
}

func TestSnapshot(t *testing.T) {
	snapshotRoundTrip(t, smallHost(t))
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
			snapshotRoundTrip(t, dir)
		})
	}
}
