package sysfstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTxtarRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		archive string
	}{
		{"empty", ""},
		{"file", "-- a/b --\nhello\n"},
		{"empty file", "-- a/empty --\n"},
		{"empty dir", "-- a/empty/ --\n"},
		{"colons", "-- sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0/bInterfaceClass --\n09\n"},
		{"symlink with colons", "-- sys/bus/usb/devices/1-1:1.0 -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0 --\n"},
		{"dangling and looping links", "-- sys/bus/usb/devices/1-2 -> ../../../devices/gone --\n-- sys/bus/usb/devices/1-4 -> 1-4 --\n"},
		{"utf-8", "-- manufacturer --\nÜberträger™ GmbH\n"},
		{"leading space", "-- bNumInterfaces --\n 1\n-- version --\n 2.00\n"},
		{"no final newline", "-- idVendor (hex) --\n31 32\n"},
		{"binary", "-- config (hex) --\n86 80 6d a3 00 00 00 00 10 30 03 0c 00 00 00 00\n00\n"},
		{"marker-like line", "-- f (hex) --\n2d 2d 20 78 20 2d 2d 0a\n"},
		{"sorted", "-- a-b --\n-- a/b --\n-- a/c -> b --\n-- b/ --\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := writeTxtar(dir, []byte(tt.archive)); err != nil {
				t.Fatal(err)
			}
			got, err := dump(dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.archive, string(got)); diff != "" {
				t.Errorf("dump(writeTxtar(archive)) (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTxtarWrites checks what lands on disk, not just the round trip.
func TestTxtarWrites(t *testing.T) {
	dir := t.TempDir()
	archive := `comment: ignored
-- sys/bus/usb/devices/1-1 -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-1 --
-- sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/idVendor --
1050
-- sys/devices/pci0000:00/0000:00:14.0/config (hex) --
86 80
 6d a3
-- sys/kernel/iommu_groups/3/devices/ --
`
	if err := writeTxtar(dir, []byte(archive)); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(dir, "sys/bus/usb/devices/1-1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "../../../devices/pci0000:00/0000:00:14.0/usb1/1-1"; target != want {
		t.Errorf("link target = %q, want %q", target, want)
	}
	// Through the link, as a reader would.
	got, err := os.ReadFile(filepath.Join(dir, "sys/bus/usb/devices/1-1/idVendor"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "1050\n" {
		t.Errorf("idVendor = %q, want %q", got, "1050\n")
	}
	got, err = os.ReadFile(filepath.Join(dir, "sys/devices/pci0000:00/0000:00:14.0/config"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0x86, 0x80, 0x6d, 0xa3}, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sys/kernel/iommu_groups/3/devices"))
	if err != nil || len(entries) != 0 {
		t.Errorf("empty directory: %v entries, err %v", len(entries), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "comment: ignored")); err == nil {
		t.Errorf("the comment was written as a file")
	}
}

func TestWriteTxtarErrors(t *testing.T) {
	tests := []struct {
		name    string
		archive string
		want    string // part of the error
	}{
		{"escape", "-- ../x --\n", "not a clean relative path"},
		{"absolute", "-- /etc/x --\n", "not a clean relative path"},
		{"unclean", "-- a//b --\n", "not a clean relative path"},
		{"link escape", "-- ../l -> x --\n", "not a clean relative path"},
		{"link with content", "-- l -> x --\ndata\n", "must have no content"},
		{"dir with content", "-- d/ --\ndata\n", "must have no content"},
		{"bad hex", "-- f (hex) --\nzz\n", "invalid byte"},
		{"duplicate", "-- f --\n-- f --\n", "duplicate"},
		{"beneath a link", "-- l -> /tmp --\n-- l/x --\n", "beneath the symlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			err := writeTxtar(dir, []byte(tt.archive))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("writeTxtar = %v, want an error containing %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("something was written next to the root: %v", entries)
			}
		})
	}
}

func TestDumpErrors(t *testing.T) {
	tests := []struct {
		name string
		make func(dir string) error
	}{
		{"arrow in a name", func(dir string) error { return os.WriteFile(filepath.Join(dir, "a -> b"), nil, 0o644) }},
		{"hex marker in a name", func(dir string) error { return os.WriteFile(filepath.Join(dir, "a (hex)"), nil, 0o644) }},
		{"newline in a name", func(dir string) error { return os.WriteFile(filepath.Join(dir, "a\nb"), nil, 0o644) }},
		{"trailing space", func(dir string) error { return os.WriteFile(filepath.Join(dir, "a "), nil, 0o644) }},
		{"link target with newline", func(dir string) error { return os.Symlink("a\nb", filepath.Join(dir, "l")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.make(dir); err != nil {
				t.Skip(err)
			}
			if out, err := dump(dir); err == nil {
				t.Errorf("dump succeeded:\n%s", out)
			}
		})
	}
}

// TestDumpTree freezes a built tree and unpacks it again: nothing may be
// lost, and the symlinks must not have been followed.
func TestDumpTree(t *testing.T) {
	dir := t.TempDir()
	tr := NewHostAt(dir)
	tr.AddUSB(RootHub(1, "480"))
	tr.Plug(USBDevice{Bus: 1, Port: "2", IDVendor: 0x1050, IDProduct: 0x0407, Serial: new(""),
		Interfaces: []USBInterface{{Class: 0x03, Driver: "usbhid"}}})
	tr.AddPCI(PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Config: true})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	first, err := dump(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n-- sys/bus/usb/devices/1-2 -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-2 --\n",
		"\n-- sys/devices/pci0000:00/0000:00:01.0/config (hex) --\n86 80 01 19 ",
		"\n-- sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/serial --\n\n",
		"\n-- dev/bus/usb/001/002 --\n",
	} {
		if !strings.Contains("\n"+string(first), want) {
			t.Errorf("Dump lacks %q", want)
		}
	}
	// The subsystem links make cycles; following them would never end or
	// would repeat the device under sys/bus.
	if strings.Contains(string(first), "sys/bus/usb/devices/1-2/") {
		t.Errorf("Dump followed a symlink")
	}
	again := t.TempDir()
	if err := writeTxtar(again, first); err != nil {
		t.Fatal(err)
	}
	second, err := dump(again)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(first), string(second)); diff != "" {
		t.Errorf("dump(writeTxtar(dump(tree))) differs (-want +got):\n%s", diff)
	}
}

func TestUnpack(t *testing.T) {
	root := Unpack(t, filepath.Join(fixtureDir, "usb-basic.txtar"))
	got, err := os.ReadFile(filepath.Join(root, "sys/bus/usb/devices/1-1.1.2.3/serial"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "A10K3QKF\n" {
		t.Errorf("serial = %q", got)
	}
}
