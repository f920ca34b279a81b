package sysfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/sysfstest"
)

// threeDevices builds a bus with a root hub and three identical FTDI
// adapters on ports 1, 2 and 3.
func threeDevices(t *testing.T) (root string, tree *sysfstest.Tree) {
	t.Helper()
	root = t.TempDir()
	tree = sysfstest.New(root)
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	for i, serial := range []string{"A", "B", "C"} {
		tree.AddUSB(sysfstest.USBDevice{
			Bus: 1, Port: string(rune('1' + i)), IDVendor: 0x0403, IDProduct: 0x6001,
			Speed: "12", Serial: new(serial),
			Interfaces: []sysfstest.USBInterface{{Class: 0xff, SubClass: 0xff, Protocol: 0xff, Driver: "ftdi_sio"}},
		})
	}
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	return root, tree
}

func openFS(t *testing.T, root string) *FS {
	t.Helper()
	f, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func usbNames(devs []USBDevice) []string {
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	return names
}

func TestUSBDevice(t *testing.T) {
	root, _ := threeDevices(t)
	devs, warns, err := openFS(t, root).USBDevices()
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if len(devs) != 4 {
		t.Fatalf("got %v, want usb1 and three devices", usbNames(devs))
	}
	got := devs[2] // sorted by name: 1-1, 1-2, 1-3, usb1
	want := USBDevice{
		Name: "1-3", Path: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3",
		Busnum: 1, Devnum: got.Devnum, Devpath: "3",
		IDVendor: 0x0403, IDProduct: 0x6001, Speed: "12", Serial: "C",
		Parent: "usb1", Controller: "0000:00:14.0",
		Interfaces: []USBInterface{{Name: "1-3:1.0", Class: 0xff, SubClass: 0xff, Protocol: 0xff, Driver: "ftdi_sio"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("1-3 (-want +got):\n%s", diff)
	}
	if got.Devnum == 0 {
		t.Errorf("devnum not read")
	}
}

// A device unplugged between the listing and the reads is simply gone: no
// warning, and the others are all there.
func TestUSBVanishesAfterListing(t *testing.T) {
	root, _ := threeDevices(t)
	f := openFS(t, root)
	f.afterList = func(bus string, names []string) {
		os.Remove(filepath.Join(root, "sys/bus/usb/devices/1-2"))
		os.RemoveAll(filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"))
	}
	devs, warns, err := f.USBDevices()
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, usbNames(devs)); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
}

// The same when the device goes while its files are being read.
func TestUSBVanishesWhileRead(t *testing.T) {
	root, _ := threeDevices(t)
	f := openFS(t, root)
	f.afterOpen = func(name string) {
		if name == "1-2" {
			os.Remove(filepath.Join(root, "sys/bus/usb/devices/1-2"))
			os.RemoveAll(filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"))
		}
	}
	devs, warns, err := f.USBDevices()
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, usbNames(devs)); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
}

func TestUSBDefects(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dev2 := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/"
	for _, tc := range []struct {
		name   string
		break_ func(tree *sysfstest.Tree)
		// want: the warning's device, path suffix and error text; the
		// devices that must still be listed.
		wantDev, wantPath, wantErr string
		wantIs                     error
		wantDevices                []string
	}{
		{
			name:    "malformed idVendor",
			break_:  func(tree *sysfstest.Tree) { tree.WriteFile(dev2+"idVendor", "zz\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "idVendor", wantErr: `"zz" is not 4 hex digits`,
			wantIs:      ErrInvalid,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "decimal devnum with a letter",
			break_:  func(tree *sysfstest.Tree) { tree.WriteFile(dev2+"devnum", "0x5\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "devnum", wantErr: `"0x5" is not a decimal number`,
			wantIs:      ErrInvalid,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "missing busnum",
			break_:  func(tree *sysfstest.Tree) { os.Remove(filepath.Join(tree.Root, dev2+"busnum")) },
			wantDev: "1-2", wantPath: "/" + dev2 + "busnum", wantErr: "missing",
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name: "dangling link",
			break_: func(tree *sysfstest.Tree) {
				tree.Symlink("sys/bus/usb/devices/1-9", "../../../devices/pci0000:00/0000:00:14.0/usb1/1-9")
			},
			wantDev: "1-9", wantPath: "/sys/bus/usb/devices/1-9", wantErr: "dangling link",
			wantIs:      ErrDangling,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "symlink loop",
			break_:  func(tree *sysfstest.Tree) { tree.Symlink("sys/bus/usb/devices/1-9", "1-9") },
			wantDev: "1-9", wantPath: "/sys/bus/usb/devices/1-9",
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name: "attribute linked outside the root",
			break_: func(tree *sysfstest.Tree) {
				os.Remove(filepath.Join(tree.Root, dev2+"idProduct"))
				tree.Symlink(dev2+"idProduct", outside)
			},
			wantDev: "1-2", wantPath: "/" + dev2 + "idProduct",
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "attribute larger than a page",
			break_:  func(tree *sysfstest.Tree) { tree.WriteFile(dev2+"product", strings.Repeat("x", 5000)) },
			wantDev: "1-2", wantPath: "/" + dev2 + "product", wantErr: "larger than 4096",
			wantIs:      ErrTooLarge,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, tree := threeDevices(t)
			tc.break_(tree)
			devs, warns, err := openFS(t, root).USBDevices()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantDevices, usbNames(devs)); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
			if len(warns) != 1 {
				t.Fatalf("got warnings %v, want one", warns)
			}
			w := warns[0]
			if w.Device != tc.wantDev || w.Path != tc.wantPath || !strings.Contains(w.Error(), tc.wantErr) {
				t.Errorf("warning %q (device %q, path %q): want device %q, path %q, text %q",
					w, w.Device, w.Path, tc.wantDev, tc.wantPath, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(w, tc.wantIs) {
				t.Errorf("warning %v is not %v", w, tc.wantIs)
			}
			for _, d := range devs {
				if d.IDProduct == 0x1234 {
					t.Errorf("%s: read a file outside the root", d.Name)
				}
			}
		})
	}
}

// A link with an absolute target, as some captures have, is taken as
// relative to the root, never as the host's /sys.
func TestAbsoluteLinkStaysInRoot(t *testing.T) {
	root, tree := threeDevices(t)
	link := "sys/bus/usb/devices/1-2"
	os.Remove(filepath.Join(root, link))
	tree.Symlink(link, "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
	devs, warns, err := openFS(t, root).USBDevices()
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if len(devs) != 4 || devs[1].Name != "1-2" || devs[1].Serial != "B" {
		t.Errorf("got %+v, want 1-2 read through its absolute link", devs)
	}
}

func TestOldKernelWithoutDevpath(t *testing.T) {
	root := t.TempDir()
	tree := sysfstest.New(root)
	hub := sysfstest.RootHub(2, "480")
	hub.Omit = []string{"devpath"}
	tree.AddUSB(hub)
	h := sysfstest.Hub(2, "3")
	h.Omit = []string{"devpath"}
	tree.AddUSB(h)
	tree.AddUSB(sysfstest.USBDevice{Bus: 2, Port: "3.4", IDVendor: 0x0483, IDProduct: 0x2016, Omit: []string{"devpath"}})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	devs, warns, err := openFS(t, root).USBDevices()
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	got := map[string]string{}
	for _, d := range devs {
		got[d.Name] = d.Devpath
	}
	if diff := cmp.Diff(map[string]string{"usb2": "0", "2-3": "3", "2-3.4": "3.4"}, got); diff != "" {
		t.Errorf("devpaths (-want +got):\n%s", diff)
	}
}

// Interfaces come from the device's own directory: a bus listing without
// interface links must not lose them.
func TestInterfacesWithoutBusLinks(t *testing.T) {
	root, _ := threeDevices(t)
	matches, _ := filepath.Glob(filepath.Join(root, "sys/bus/usb/devices/*:*"))
	for _, m := range matches {
		os.Remove(m)
	}
	devs, _, err := openFS(t, root).USBDevices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if len(d.Interfaces) != 1 {
			t.Errorf("%s: interfaces %+v, want one", d.Name, d.Interfaces)
		}
	}
}

func TestRoots(t *testing.T) {
	if _, err := NewFS(filepath.Join(t.TempDir(), "nonexistent")); err == nil {
		t.Error("NewFS of a missing root succeeded")
	}
	empty := t.TempDir()
	usb, w1, err1 := openFS(t, empty).USBDevices()
	pci, w2, err2 := openFS(t, empty).PCIFunctions()
	if len(usb)+len(pci)+len(w1)+len(w2) != 0 || err1 != nil || err2 != nil {
		t.Errorf("empty root: %v %v %v %v %v %v, want nothing", usb, w1, err1, pci, w2, err2)
	}
}
