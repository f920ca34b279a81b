package sysfstest

import (
	"fmt"
	"strconv"
	"strings"
)

// Layout of Synthetic trees.
const (
	synthUSBPerBus   = 127 // devices on one bus, root hub included: devnum 1 to 127
	synthRootPorts   = 25  // root ports per PCI domain, 10 buses each
	synthDownstreams = 8   // switch downstream ports below each root port
	synthSlots       = 32  // endpoint slots on each downstream bus
	synthFuncs       = 4   // functions of each endpoint
)

// syntheticHostControllers is the number of USB host controllers Synthetic
// adds for nUSB devices: one xHCI for every two buses of up to 127
// devices each.
func syntheticHostControllers(nUSB int) int {
	buses := (nUSB + synthUSBPerBus - 1) / synthUSBPerBus
	return (buses + 1) / 2
}

// Synthetic writes a large, realistic tree under root, for benchmarks: nUSB
// USB devices (root hubs and hubs included) and nPCI PCI functions (bridges
// included), plus the xHCI functions the USB buses hang off, one for
// every two buses of up to 127 devices. So sys/bus/usb/devices holds nUSB
// device entries (and their interfaces) and sys/bus/pci/devices holds nPCI
// entries and the controllers. Every USB device has its node in
// /dev/bus/usb.
//
// USB buses come in pairs on one xHCI, a USB 2.0 bus and a SuperSpeed bus,
// each with up to 127 devices (so devnum stays in 1..127); hubs nest up to
// four deep, and the same vendor:product recurs with different serials (or
// none). Past 8001 devices the bus numbers exceed Linux's limit of 63.
// PCI functions sit behind root ports and PCIe switches: 1034 functions per root port, 25
// root ports per domain, in domain 0000 and then 10000, 10001, ...; every
// endpoint slot is its own IOMMU group. The USB controllers live in
// domains 0001, 0002, ... Output depends only on the arguments.
func Synthetic(root string, nUSB, nPCI int) error {
	if nUSB < 0 || nPCI < 0 {
		return fmt.Errorf("sysfstest: negative device count (%d USB, %d PCI)", nUSB, nPCI)
	}
	fns, devs := syntheticPlan(nUSB, nPCI)
	h := NewHostAt(root)
	for _, f := range fns {
		if h.AddPCI(f); h.Err() != nil {
			return h.Err()
		}
	}
	for _, d := range devs {
		if h.Plug(d); h.Err() != nil {
			return h.Err()
		}
	}
	return nil
}

// syntheticPlan lists what Synthetic adds, in order.
func syntheticPlan(nUSB, nPCI int) ([]PCIFunction, []USBDevice) {
	group := 0
	nextGroup := func() *int { group++; return new(group - 1) }
	fns := syntheticPCI(nPCI, nextGroup)
	ctrls, devs := syntheticUSB(nUSB, nextGroup)
	return append(fns, ctrls...), devs
}

func syntheticPCI(n int, nextGroup func() *int) []PCIFunction {
	fns := make([]PCIFunction, 0, n)
	add := func(f PCIFunction) bool {
		if len(fns) == n {
			return false
		}
		f.Config = true
		fns = append(fns, f)
		return true
	}
	for d := 0; len(fns) < n; d++ {
		dom := "0000"
		if d > 0 {
			dom = fmt.Sprintf("%x", 0x10000+d-1)
		}
		addr := func(bus, slot, fn int) string { return fmt.Sprintf("%s:%02x:%02x.%d", dom, bus, slot, fn) }
		if !add(PCIFunction{Address: addr(0, 0, 0), Vendor: 0x8086, Device: 0x3e0f, SubsystemVendor: 0x8086,
			SubsystemDevice: 0x3e0f, Class: 0x060000, Revision: 0x08}) {
			return fns
		}
		for rp := 1; rp <= synthRootPorts; rp++ {
			numa := new((rp - 1) * 2 / synthRootPorts)
			base := (rp-1)*(2+synthDownstreams) + 1
			rpAddr := addr(0, rp, 0)
			if !add(PCIFunction{Address: rpAddr, Vendor: 0x8086, Device: 0x1901, SubsystemVendor: 0x8086,
				SubsystemDevice: 0x7270, Class: 0x060400, Revision: 0x07, Driver: "pcieport",
				NUMANode: numa, IOMMUGroup: nextGroup()}) {
				return fns
			}
			up := addr(base, 0, 0)
			if !add(PCIFunction{Address: up, Parent: rpAddr, Vendor: 0x10b5, Device: 0x8747, Class: 0x060400,
				Revision: 0xca, Driver: "pcieport", NUMANode: numa, IOMMUGroup: nextGroup()}) {
				return fns
			}
			for ds := range synthDownstreams {
				down := addr(base+1, ds+8, 0)
				if !add(PCIFunction{Address: down, Parent: up, Vendor: 0x10b5, Device: 0x8747, Class: 0x060400,
					Revision: 0xca, Driver: "pcieport", NUMANode: numa, IOMMUGroup: nextGroup()}) {
					return fns
				}
				bus := base + 2 + ds
				for slot := range synthSlots {
					g := nextGroup()
					kind := synthPCIKinds[slot%len(synthPCIKinds)]
					for fn := range synthFuncs {
						f := kind[fn]
						f.Address, f.Parent, f.NUMANode, f.IOMMUGroup = addr(bus, slot, fn), down, numa, g
						if !add(f) {
							return fns
						}
					}
				}
			}
		}
	}
	return fns
}

// synthPCIKinds are the multi-function endpoints Synthetic repeats.
var synthPCIKinds = [][synthFuncs]PCIFunction{
	{ // Intel I350 4-port NIC
		{Vendor: 0x8086, Device: 0x1521, SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "igb", ResetMethod: "flr bus"},
		{Vendor: 0x8086, Device: 0x1521, SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "igb", ResetMethod: "flr bus"},
		{Vendor: 0x8086, Device: 0x1521, SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "igb", ResetMethod: "flr bus"},
		{Vendor: 0x8086, Device: 0x1521, SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01},
	},
	{ // NVIDIA Turing GPU: VGA, HD audio, USB, UCSI
		{Vendor: 0x10de, Device: 0x1e87, SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x030000, Revision: 0xa1, Driver: "vfio-pci", DriverOverride: "vfio-pci", ResetMethod: "bus"},
		{Vendor: 0x10de, Device: 0x10f8, SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x040300, Revision: 0xa1, Driver: "vfio-pci", DriverOverride: "vfio-pci", ResetMethod: "bus"},
		{Vendor: 0x10de, Device: 0x1ad8, SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x0c0330, Revision: 0xa1, Driver: "vfio-pci", DriverOverride: "vfio-pci", ResetMethod: "bus"},
		{Vendor: 0x10de, Device: 0x1ad9, SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x0c8000, Revision: 0xa1, Driver: "vfio-pci", DriverOverride: "vfio-pci", ResetMethod: "bus"},
	},
	{ // Mellanox ConnectX-5
		{Vendor: 0x15b3, Device: 0x1017, SubsystemVendor: 0x15b3, SubsystemDevice: 0x0007, Class: 0x020000, Driver: "mlx5_core", ResetMethod: "flr bus"},
		{Vendor: 0x15b3, Device: 0x1017, SubsystemVendor: 0x15b3, SubsystemDevice: 0x0007, Class: 0x020000, Driver: "mlx5_core", ResetMethod: "flr bus"},
		{Vendor: 0x15b3, Device: 0x1017, SubsystemVendor: 0x15b3, SubsystemDevice: 0x0007, Class: 0x020000, Driver: "mlx5_core", ResetMethod: "flr bus"},
		{Vendor: 0x15b3, Device: 0x1017, SubsystemVendor: 0x15b3, SubsystemDevice: 0x0007, Class: 0x020000, Driver: "mlx5_core", ResetMethod: "flr bus"},
	},
	{ // Broadcom BCM5719 4-port NIC
		{Vendor: 0x14e4, Device: 0x1657, SubsystemVendor: 0x103c, SubsystemDevice: 0x22be, Class: 0x020000, Revision: 0x01, Driver: "tg3", ResetMethod: "pm bus"},
		{Vendor: 0x14e4, Device: 0x1657, SubsystemVendor: 0x103c, SubsystemDevice: 0x22be, Class: 0x020000, Revision: 0x01, Driver: "tg3", ResetMethod: "pm bus"},
		{Vendor: 0x14e4, Device: 0x1657, SubsystemVendor: 0x103c, SubsystemDevice: 0x22be, Class: 0x020000, Revision: 0x01, Driver: "tg3", ResetMethod: "pm bus"},
		{Vendor: 0x14e4, Device: 0x1657, SubsystemVendor: 0x103c, SubsystemDevice: 0x22be, Class: 0x020000, Revision: 0x01, Driver: "tg3", ResetMethod: "pm bus"},
	},
}

func syntheticUSB(n int, nextGroup func() *int) ([]PCIFunction, []USBDevice) {
	var ctrls []PCIFunction
	for c := range syntheticHostControllers(n) {
		f := xHCI(fmt.Sprintf("%04x:00:%02x.%d", 1+c/256, c%256/8, c%8))
		f.IOMMUGroup = nextGroup()
		ctrls = append(ctrls, f)
	}
	devs := make([]USBDevice, 0, n)
	serial := 0
	for bus := 1; len(devs) < n; bus++ {
		budget := min(n-len(devs), synthUSBPerBus)
		speed := "480"
		if bus%2 == 0 {
			speed = "5000"
		}
		rh := RootHub(bus, speed)
		rh.Controller = ctrls[(bus-1)/2].Address
		rh.Serial, rh.MaxChild, rh.Devnum = new(rh.Controller), 8, 1
		devs = append(devs, rh)

		// Fill ports breadth first; every fourth device is a hub while
		// the port path is short enough for one more tier.
		type hub struct {
			port        string
			ports, next int
		}
		hubs := []*hub{{ports: rh.MaxChild, next: 1}}
		for i := 1; i < budget; i++ {
			for hubs[0].next > hubs[0].ports {
				hubs = hubs[1:]
			}
			h := hubs[0]
			port := strconv.Itoa(h.next)
			if h.port != "" {
				port = h.port + "." + port
			}
			h.next++
			var d USBDevice
			if i%4 == 1 && strings.Count(port, ".") < 4 {
				d = Hub(bus, port)
				d.MaxChild = 7
				if speed == "5000" {
					d.IDVendor, d.IDProduct, d.BCDDevice, d.DeviceProtocol = 0x2109, 0x0817, 0x0473, 0x03
					d.Manufacturer, d.Product = new("VIA Labs, Inc."), new("USB3.0 Hub")
				}
				hubs = append(hubs, &hub{port: port, ports: d.MaxChild, next: 1})
			} else {
				k := synthUSBKinds[(i+bus)%len(synthUSBKinds)]
				d = k.dev
				d.Interfaces = k.ifs
				if k.serial {
					serial++
					d.Serial = new(fmt.Sprintf("SYN%08d", serial))
				}
			}
			d.Bus, d.Port, d.Devnum, d.Speed = bus, port, i+1, speed
			devs = append(devs, d)
		}
	}
	return ctrls, devs
}

// synthUSBKinds are the non-hub USB devices Synthetic repeats.
var synthUSBKinds = []struct {
	dev    USBDevice
	ifs    []USBInterface
	serial bool
}{
	{
		dev: USBDevice{IDVendor: 0x046d, IDProduct: 0xc31c, BCDDevice: 0x6400, Manufacturer: new("Logitech"), Product: new("USB Keyboard")},
		ifs: []USBInterface{
			{Number: 0, Class: 0x03, SubClass: 0x01, Protocol: 0x01, NumEndpoints: 1, Driver: "usbhid"},
			{Number: 1, Class: 0x03, NumEndpoints: 1, Driver: "usbhid"},
		},
	},
	{
		dev:    USBDevice{IDVendor: 0x0781, IDProduct: 0x5581, BCDDevice: 0x0100, Manufacturer: new("SanDisk"), Product: new("Ultra"), MaxPower: "224mA"},
		ifs:    []USBInterface{{Number: 0, Class: 0x08, SubClass: 0x06, Protocol: 0x50, NumEndpoints: 2, Driver: "usb-storage"}},
		serial: true,
	},
	{
		dev:    USBDevice{IDVendor: 0x0403, IDProduct: 0x6001, BCDDevice: 0x0600, Manufacturer: new("FTDI"), Product: new("FT232R USB UART"), MaxPower: "90mA"},
		ifs:    []USBInterface{{Number: 0, Class: 0xff, SubClass: 0xff, Protocol: 0xff, NumEndpoints: 2, Driver: "ftdi_sio"}},
		serial: true,
	},
	{
		dev: USBDevice{IDVendor: 0x1050, IDProduct: 0x0407, BCDDevice: 0x0543, Manufacturer: new("Yubico"), Product: new("YubiKey OTP+FIDO+CCID"), MaxPower: "30mA"},
		ifs: []USBInterface{
			{Number: 0, Class: 0x03, SubClass: 0x01, Protocol: 0x01, NumEndpoints: 1, Driver: "usbhid"},
			{Number: 1, Class: 0x03, NumEndpoints: 2, Driver: "usbhid"},
			{Number: 2, Class: 0x0b, NumEndpoints: 3},
		},
		serial: true,
	},
	{
		dev: USBDevice{IDVendor: 0x1a86, IDProduct: 0x7523, BCDDevice: 0x0264, Product: new("USB Serial"), MaxPower: "98mA"},
		ifs: []USBInterface{{Number: 0, Class: 0xff, SubClass: 0x01, Protocol: 0x02, NumEndpoints: 3, Driver: "ch341"}},
	},
	{
		dev: USBDevice{IDVendor: 0x046d, IDProduct: 0x0825, BCDDevice: 0x0012, DeviceClass: 0xef, DeviceSubClass: 0x02, DeviceProtocol: 0x01, MaxPower: "500mA"},
		ifs: []USBInterface{
			{Number: 0, Class: 0x0e, SubClass: 0x01, NumEndpoints: 1, Driver: "uvcvideo"},
			{Number: 1, Class: 0x0e, SubClass: 0x02, Driver: "uvcvideo"},
			{Number: 2, Class: 0x01, SubClass: 0x01, Driver: "snd-usb-audio"},
			{Number: 3, Class: 0x01, SubClass: 0x02, Driver: "snd-usb-audio"},
		},
		serial: true,
	},
}
