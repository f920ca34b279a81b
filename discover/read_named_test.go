package discover

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfstest"
)

// The listing and the named reads agree with the full scan: the names are
// the full scan's, and reading some names gives exactly those devices,
// read the same way.
func TestNamedReads(t *testing.T) {
	root := sysfstest.Unpack(t, filepath.Join("..", "testdata", "sysfs", "usb-basic.txtar"))
	f := openFS(t, root)
	all, _, err := readUSBAll(f)
	if err != nil {
		t.Fatal(err)
	}
	names, warns := usbDeviceNames(f)
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
	some, _ := usbDevicesNamed(f, []string{"1-2", "2-1", "9-9", "1-2:1.0"})
	if len(some) != 2 || some[0].Name != "1-2" || some[1].Name != "2-1" {
		t.Fatalf("usbDevicesNamed = %v", some)
	}
	for _, d := range some {
		i := slices.IndexFunc(all, func(a Device) bool { return a.Name == d.Name })
		if diff := cmp.Diff(all[i], d); diff != "" {
			t.Errorf("%s read alone differs from the full scan (-all +alone):\n%s", d.Name, diff)
		}
	}

	proot := sysfstest.Unpack(t, filepath.Join("..", "testdata", "sysfs", "pci-basic.txtar"))
	pf := openFS(t, proot)
	pnames, _ := pf.ListBus(pciBusDir)
	fns, _ := pciFunctionsNamed(pf, pnames[:2])
	if len(pnames) < 3 || len(fns) != 2 || fns[0].Name != pnames[0] || fns[1].Name != pnames[1] {
		t.Errorf("PCIFunctionNames %v, PCIFunctionsNamed %v", pnames, fns)
	}

	empty := openFS(t, t.TempDir())
	if n, w := usbDeviceNames(empty); n != nil || w != nil {
		t.Errorf("no bus: %v %v", n, w)
	}
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
	f := openFS(t, root)
	for _, tc := range []struct {
		bus, dev int
		name     string
	}{{3, 1, "usb3"}, {3, 2, "3-2"}, {3, 3, ""}, {1, 1, ""}, {0, 2, ""}, {3, 129, ""}} {
		name, ok := usbDeviceNameAt(f, tc.bus, tc.dev)
		if name != tc.name || ok != (tc.name != "") {
			t.Errorf("usbDeviceNameAt(%d, %d) = %q, %v; want %q", tc.bus, tc.dev, name, ok, tc.name)
		}
	}
	devs, warns := usbDevicesNamed(f, []string{"3-2", "3-2:1.0", "../3-2", "", "3-2"})
	if len(devs) != 1 || devs[0].Name != "3-2" || len(warns) != 0 {
		t.Errorf("usbDevicesNamed = %v, %v", devs, warns)
	}
}
