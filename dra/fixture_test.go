package dra

import (
	"context"
	"flag"
	"testing"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// workstation is a small host with one of everything the driver decides
// about: hubs and bridges it leaves out, two identical USB serial adapters
// told apart by serial, two sticks with one serial between them, a device
// without a serial, a USBGuard-blocked one, a GPU with its audio function,
// a NIC whose IOMMU group holds an endpoint of another slot on a host
// driver, and an SR-IOV PF with a VF.
func workstation(t testing.TB) *sysfstest.Host {
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x3e0f, Class: 0x060000,
		IOMMUGroup: new(0)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330,
		Driver: "xhci_hcd", IOMMUGroup: new(1), NUMANode: new(0)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400,
		Driver: "pcieport", IOMMUGroup: new(2)})
	// The GPU is already on vfio-pci, its audio function on the host's
	// sound driver: the group is not viable, but a prepare takes both.
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x1e87,
		SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x030000, Driver: "vfio-pci",
		IOMMUGroup: new(2), BootVGA: new(false), ResetMethod: "bus"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x10f8,
		SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x040300, Driver: "snd_hda_intel",
		IOMMUGroup: new(2), ResetMethod: "bus"})
	// Group 3 holds two slots behind a bridge without ACS: the NIC at
	// 03:00.0 cannot be prepared while 04:00.0 is on ahci.
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1c.0", Vendor: 0x8086, Device: 0xa33c, Class: 0x060400,
		Driver: "pcieport", IOMMUGroup: new(3)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:03:00.0", Parent: "0000:00:1c.0", Vendor: 0x10ec, Device: 0x8168,
		Class: 0x020000, Driver: "r8169", IOMMUGroup: new(3)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:04:00.0", Parent: "0000:00:1c.0", Vendor: 0x1b21, Device: 0x0612,
		Class: 0x010601, Driver: "ahci", IOMMUGroup: new(3)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:05:00.0", Vendor: 0x8086, Device: 0x1521, Class: 0x020000,
		Driver: "igb", IOMMUGroup: new(4), NUMANode: new(1), TotalVFs: 7, ResetMethod: "flr bus"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:05:10.0", PhysFn: "0000:05:00.0", Vendor: 0x8086, Device: 0x1520,
		Class: 0x020000, Driver: "vfio-pci", IOMMUGroup: new(5), NUMANode: new(1), ResetMethod: "flr"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0xa306, Class: 0x060100,
		Driver: "lpc_ich", IOMMUGroup: new(6)})

	h.Plug(sysfstest.RootHub(1, "480"))
	h.Plug(sysfstest.Hub(1, "2"))
	ftdi := func(port, serial string) sysfstest.USBDevice {
		return sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0403, IDProduct: 0x6001, Speed: "12",
			Manufacturer: new("FTDI"), Product: new("FT232R USB UART"), Serial: new(serial),
			Interfaces: []sysfstest.USBInterface{{Class: 0xff, SubClass: 0xff, Protocol: 0xff, Driver: "ftdi_sio"}}}
	}
	h.Plug(ftdi("2.1", "A7022OOQ"))
	h.Plug(ftdi("2.2", "A7022OOR"))
	stick := func(port string) sysfstest.USBDevice {
		return sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0781, IDProduct: 0x5581,
			Manufacturer: new("SanDisk"), Product: new("Ultra"), Serial: new("0123456789"),
			Interfaces: []sysfstest.USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, Driver: "usb-storage"}}}
	}
	h.Plug(stick("2.3"))
	h.Plug(stick("2.4"))
	h.Plug(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x046d, IDProduct: 0xc077, Speed: "1.5",
		Interfaces: []sysfstest.USBInterface{{Class: 0x03, SubClass: 0x01, Protocol: 0x02, Driver: "usbhid"}}})
	h.Plug(sysfstest.USBDevice{Bus: 1, Port: "4", IDVendor: 0x1050, IDProduct: 0x0407, Unauthorized: true,
		Manufacturer: new("Yubico"), Product: new("YubiKey OTP+FIDO+CCID"), Serial: new("12345678")})
	return h
}

// inventory scans root and builds what it publishes, without name
// databases, so that goldens do not depend on the machine's.
func inventory(t testing.TB, root string) *Inventory {
	t.Helper()
	rep := assess(t, root)
	return Build(rep)
}

func assess(t testing.TB, root string) *readiness.Report {
	t.Helper()
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// byName finds a published device.
func byName(inv *Inventory, name string) (Device, bool) {
	for _, d := range inv.Devices {
		if d.API.Name == name {
			return d, true
		}
	}
	return Device{}, false
}

// bySource finds the published device of a sysfs name.
func bySource(inv *Inventory, name string) (Device, bool) {
	for _, d := range inv.Devices {
		if d.Source.Name == name {
			return d, true
		}
	}
	return Device{}, false
}
