package discover

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func usbDev(name string, bus, devnum int, port PortPath, mod func(*Device)) Device {
	d := Device{
		Bus: BusUSB, Name: name, VendorID: 0x0627, ProductID: 0x0001,
		USB: &USB{
			Busnum: bus, Devnum: devnum, Port: port, Class: 0, BCD: 0x0000, Speed: "480",
			Interfaces: []Interface{{Name: name + ":1.0", Number: 0, Class: 3, Subclass: 0, Protocol: 0}},
		},
	}
	if mod != nil {
		mod(&d)
	}
	return d
}

func TestCompareUSBAgree(t *testing.T) {
	a := []Device{
		usbDev("usb1", 1, 1, "0", nil),
		usbDev("1-1", 1, 2, "1", nil),
		{Bus: BusPCI, Name: "0000:00:1d.0", PCI: &PCI{}},
	}
	// The libusb view: no strings, no drivers, no sysfs path; order
	// differs too. None of that is a difference.
	b := []Device{
		usbDev("1-1", 1, 2, "1", func(d *Device) { d.USB.Interfaces[0].Driver = "usbhid" }),
		usbDev("usb1", 1, 1, "0", func(d *Device) {
			d.USB.Product, d.SysfsPath, d.VendorName = new("QEMU"), "/sys/devices/x", "QEMU"
		}),
	}
	if got := CompareUSB(a, b); len(got) != 0 {
		t.Errorf("CompareUSB of agreeing views: %v", got)
	}
	if got := CompareUSB(nil, nil); len(got) != 0 {
		t.Errorf("CompareUSB of two empty views: %v", got)
	}
}

func TestCompareUSBDiffer(t *testing.T) {
	a := []Device{
		usbDev("usb1", 1, 1, "0", nil),
		usbDev("1-1", 1, 2, "1", nil),
		usbDev("1-1.2", 1, 3, "1.2", nil),
		usbDev("1-1.10", 1, 7, "1.10", func(d *Device) {
			d.USB.Interfaces = append(d.USB.Interfaces, Interface{Name: "1-1.10:1.1", Number: 1, Class: 8, Subclass: 6, Protocol: 0x50})
		}),
		usbDev("2-1", 2, 2, "1", nil),
	}
	b := []Device{
		usbDev("usb1", 1, 1, "0", nil),
		usbDev("1-1", 1, 4, "1", func(d *Device) {
			d.VendorID, d.ProductID = 0x1d6b, 0x0002
			d.USB.Class, d.USB.Subclass, d.USB.Protocol, d.USB.BCD = 9, 1, 2, 0x0612
			d.USB.Speed = "12"
		}),
		usbDev("1-1.10", 1, 7, "1.10", func(d *Device) {
			d.USB.Interfaces[0].Protocol = 1
		}),
		usbDev("1-1.11", 1, 8, "1.11", nil),
		usbDev("2-1", 2, 2, "1", nil),
	}
	want := []USBDifference{
		{Device: "1-1", Field: "devnum", A: "2", B: "4"},
		{Device: "1-1", Field: "vendor_id", A: "0627", B: "1d6b"},
		{Device: "1-1", Field: "product_id", A: "0001", B: "0002"},
		{Device: "1-1", Field: "class", A: "00", B: "09"},
		{Device: "1-1", Field: "subclass", A: "00", B: "01"},
		{Device: "1-1", Field: "protocol", A: "00", B: "02"},
		{Device: "1-1", Field: "bcd_device", A: "0000", B: "0612"},
		{Device: "1-1", Field: "speed", A: "480", B: "12"},
		{Device: "1-1.2", Field: "device", A: "present"},
		{Device: "1-1.10", Field: "interfaces", A: "0,1", B: "0"},
		{Device: "1-1.10", Field: "interface 0", A: "03/00/00", B: "03/00/01"},
		{Device: "1-1.11", Field: "device", B: "present"},
	}
	if diff := cmp.Diff(want, CompareUSB(a, b)); diff != "" {
		t.Errorf("CompareUSB (-want +got):\n%s", diff)
	}
}
