package report

import (
	"context"
	"testing"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

// The hostile strings a device may carry: each must show as text.
const (
	hostileSerial  = `"><img src=x onerror=alert(1)>`
	hostileProduct = `</script><script>alert(2)</script>`
)

// fakeHost is a host with a little of everything the page draws: a USB
// tree with a hub and two FTDI clones told apart by serial, a device
// whose serial and product are hostile, a PCI bridge alone in its group
// (nothing to assign), a GPU whose group it shares with an audio
// function on a host driver (shared), a viable xHCI, and an SR-IOV PF
// with two VFs.
func fakeHost(t *testing.T) string {
	t.Helper()
	h := sysfstest.NewHost(t)
	g := func(n int) *int { return &n }
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: g(1)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: g(7)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x22ba, Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: g(7)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Driver: "xhci_hcd", IOMMUGroup: g(3)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:03:00.0", Vendor: 0x8086, Device: 0x1521, Class: 0x020000, Driver: "igb", IOMMUGroup: g(10), TotalVFs: 2, ResetMethod: "flr"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:03:10.0", PhysFn: "0000:03:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "vfio-pci", IOMMUGroup: g(11), ResetMethod: "flr"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:03:10.4", PhysFn: "0000:03:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igbvf", IOMMUGroup: g(12), ResetMethod: "flr"})
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Controller: "0000:00:14.0", DeviceClass: 0x09, MaxChild: 4, Speed: "480", IDVendor: 0x1d6b, IDProduct: 0x0002})
	h.AddUSB(sysfstest.Hub(1, "2"))
	for _, c := range [][2]string{{"2.1", "A7022OOO"}, {"2.2", "A7022OOP"}} {
		port, serial := c[0], c[1]
		h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0403, IDProduct: 0x6001, Speed: "12",
			Serial:     new(serial),
			Interfaces: []sysfstest.USBInterface{{Class: 0xff, Driver: "ftdi_sio"}}})
	}
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x1050, IDProduct: 0x0407, Speed: "12",
		Serial: new(hostileSerial), Product: new(hostileProduct), Manufacturer: new("Yubico"),
		Interfaces: []sysfstest.USBInterface{{Class: 0x03, Driver: "usbhid"}, {Number: 1, Class: 0x0b}}})
	return h.Root()
}

// assess scans root, without names (they depend on the host's
// databases), and judges every device, as the command does.
func assess(t testing.TB, root string) *readiness.Report {
	t.Helper()
	return assessNames(t, root, false)
}

// assessNames is assess, with the names of the host's usb.ids and pci.ids
// when names is true.
func assessNames(t testing.TB, root string, names bool) *readiness.Report {
	t.Helper()
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: !names})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
