package sysfs

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/hostdev/hostdev/sysfstest"
)

// The listing and the named reads agree with the full scan: the names are
// the full scan's, and reading some names gives exactly those devices,
// read the same way.
func TestNamedReads(t *testing.T) {
	root := sysfstest.Unpack(t, filepath.Join("..", "testdata", "sysfs", "usb-basic.txtar"))
	f, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, _, err := f.USBDevices()
	if err != nil {
		t.Fatal(err)
	}
	names, warns := f.USBDeviceNames()
	if len(warns) > 0 {
		t.Fatalf("warnings: %v", warns)
	}
	var want []string
	for _, d := range all {
		want = append(want, d.Name)
	}
	if !slices.Equal(names, want) {
		t.Errorf("USBDeviceNames = %v\nwant %v", names, want)
	}
	some, _ := f.USBDevicesNamed([]string{"1-2", "2-1", "9-9", "1-2:1.0"})
	if len(some) != 2 || some[0].Name != "1-2" || some[1].Name != "2-1" {
		t.Fatalf("USBDevicesNamed = %v", some)
	}
	for _, d := range some {
		i := slices.IndexFunc(all, func(a USBDevice) bool { return a.Name == d.Name })
		if !equalUSB(all[i], d) {
			t.Errorf("%s read alone differs from the full scan", d.Name)
		}
	}

	proot := sysfstest.Unpack(t, filepath.Join("..", "testdata", "sysfs", "pci-basic.txtar"))
	pf, err := NewFS(proot)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	pnames, _ := pf.PCIFunctionNames()
	fns, _ := pf.PCIFunctionsNamed(pnames[:2])
	if len(pnames) < 3 || len(fns) != 2 || fns[0].Name != pnames[0] || fns[1].Name != pnames[1] {
		t.Errorf("PCIFunctionNames %v, PCIFunctionsNamed %v", pnames, fns)
	}

	empty, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if n, w := empty.USBDeviceNames(); n != nil || w != nil {
		t.Errorf("no bus: %v %v", n, w)
	}
}

func equalUSB(a, b USBDevice) bool {
	return a.Name == b.Name && a.Busnum == b.Busnum && a.Devnum == b.Devnum && a.Serial == b.Serial &&
		len(a.Interfaces) == len(b.Interfaces) && a.Path == b.Path
}

// A node's number leads to its device through /sys/dev/char, when the
// tree has the kernel's links; a named read finds a device without
// listing the bus, and leaves out names that are not devices.
func TestUSBDeviceNameAt(t *testing.T) {
	root := t.TempDir()
	tr := sysfstest.NewHostAt(root)
	tr.CharLinks = true
	tr.Plug(sysfstest.RootHub(3, "480"))
	tr.Plug(sysfstest.USBDevice{Bus: 3, Port: "2", IDVendor: 0x0483, IDProduct: 0x2016})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	f, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		bus, dev int
		name     string
	}{{3, 1, "usb3"}, {3, 2, "3-2"}, {3, 3, ""}, {1, 1, ""}, {0, 2, ""}, {3, 129, ""}} {
		name, ok := f.USBDeviceNameAt(tc.bus, tc.dev)
		if name != tc.name || ok != (tc.name != "") {
			t.Errorf("USBDeviceNameAt(%d, %d) = %q, %v; want %q", tc.bus, tc.dev, name, ok, tc.name)
		}
	}
	devs, warns := f.USBDevicesNamed([]string{"3-2", "3-2:1.0", "../3-2", "", "3-2"})
	if len(devs) != 1 || devs[0].Name != "3-2" || len(warns) != 0 {
		t.Errorf("USBDevicesNamed = %v, %v", devs, warns)
	}
}
