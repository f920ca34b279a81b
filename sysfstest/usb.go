package sysfstest

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// DefaultController is the PCI address a root hub hangs off when its
// Controller is empty.
const DefaultController = "0000:00:14.0"

// USBDevice describes one USB device for Host.Plug and Host.AddUSB. Field
// comments name the sysfs file each becomes; the kernel's format is used
// for each.
type USBDevice struct {
	// Bus is busnum, and the N of a root hub's name usbN.
	Bus int
	// Port is the port path below the root hub, "3" or "3.1.2"; it is
	// written to devpath and names the device "B-3.1.2". It is "" for the
	// root hub usbN, whose devpath is "0".
	Port string
	// Controller is, for a root hub, the PCI address of its host
	// controller ("" means DefaultController). A controller not yet added
	// with AddPCI is added as an Intel xHCI. Ignored for other devices.
	Controller string
	// Devnum is devnum, 1 to 127; 0 takes the next free number the way
	// the kernel does: round-robin from the number after the last one
	// given, wrapping from 127 to 1.
	Devnum int

	IDVendor       uint16 // idVendor, %04x
	IDProduct      uint16 // idProduct, %04x
	BCDDevice      uint16 // bcdDevice, %04x
	DeviceClass    uint8  // bDeviceClass, %02x; 0x09 makes a hub
	DeviceSubClass uint8  // bDeviceSubClass, %02x
	DeviceProtocol uint8  // bDeviceProtocol, %02x

	// Speed is speed: "1.5", "12", "480", "5000", "10000" or "20000";
	// "" means "480".
	Speed string
	// BCDUSB is version, printed like " 2.00"; 0 derives it from Speed.
	BCDUSB uint16
	// MaxChild is maxchild, the number of ports of a hub. Port directories
	// port1..portN are made in the hub's interface, with connect_type.
	MaxChild int
	// MaxPower is bMaxPower, like "100mA"; "" means "0mA" for a root hub
	// and "100mA" otherwise.
	MaxPower string

	// Manufacturer, Product and Serial are written only when non-nil; they
	// may be empty or hold any UTF-8.
	Manufacturer *string
	Product      *string
	Serial       *string

	// ConnectType is written to connect_type of the parent hub's port the
	// device is plugged into; "" leaves "unknown".
	ConnectType string

	// Interfaces are the interfaces of configuration 1, named "B-P:1.N".
	// When nil, a hub gets one hub interface bound to the hub driver, and
	// any other device gets none.
	Interfaces []USBInterface

	// Unauthorized writes 0 to authorized, as USBGuard leaves a blocked
	// device. Such a device is not configured: give it no Interfaces.
	Unauthorized bool

	// Omit lists files and links not to write: "devpath" for a kernel as
	// old as 2.6.27, "driver" for a device no driver claimed.
	Omit []string
	// Raw gives exact contents for files, replacing the normal ones or
	// adding others; "idVendor": "zz\n" makes a malformed attribute.
	Raw map[string]string
}

// USBInterface describes one interface directory of a USBDevice.
type USBInterface struct {
	Number           uint8 // bInterfaceNumber, %02x; also the N in "B-P:1.N"
	AlternateSetting uint8 // bAlternateSetting, %2d
	Class            uint8 // bInterfaceClass, %02x
	SubClass         uint8 // bInterfaceSubClass, %02x
	Protocol         uint8 // bInterfaceProtocol, %02x
	NumEndpoints     uint8 // bNumEndpoints, %02x
	// Driver is the bound driver ("usbhid"); "" leaves the interface
	// unbound, with no driver link.
	Driver string

	Omit []string          // as for USBDevice
	Raw  map[string]string // as for USBDevice
}

// Name returns the device's sysfs name: "usbN" for a root hub, else "B-P".
func (d USBDevice) Name() string {
	if d.Port == "" {
		return "usb" + strconv.Itoa(d.Bus)
	}
	return strconv.Itoa(d.Bus) + "-" + d.Port
}

// RootHub returns the root hub of bus as Linux presents it for an xHCI
// controller at DefaultController: 1d6b:0002, or 1d6b:0003 when speed is
// 5000 or more, with 4 ports.
func RootHub(bus int, speed string) USBDevice {
	d := USBDevice{
		Bus:          bus,
		IDVendor:     0x1d6b,
		IDProduct:    0x0002,
		BCDDevice:    0x0601,
		DeviceClass:  0x09,
		Speed:        speed,
		MaxChild:     4,
		Manufacturer: new("Linux 6.1.0-18-amd64 xhci-hcd"),
		Product:      new("xHCI Host Controller"),
		Serial:       new(DefaultController),
	}
	if speedAtLeast5G(speed) {
		d.IDProduct = 0x0003
		d.DeviceProtocol = 0x03
	} else {
		d.DeviceProtocol = 0x01
	}
	return d
}

// Hub returns an external 4-port USB 2.0 hub (Genesys Logic 05e3:0610)
// at port on bus.
func Hub(bus int, port string) USBDevice {
	return USBDevice{
		Bus:            bus,
		Port:           port,
		IDVendor:       0x05e3,
		IDProduct:      0x0610,
		BCDDevice:      0x9226,
		DeviceClass:    0x09,
		DeviceProtocol: 0x02,
		MaxChild:       4,
		Product:        new("USB2.1 Hub"),
		Manufacturer:   new("GenesysLogic"),
	}
}

func speedAtLeast5G(speed string) bool {
	switch speed {
	case "5000", "10000", "20000":
		return true
	}
	return false
}

// bcdUSBFor is the usual bcdUSB of a device running at speed.
func bcdUSBFor(speed string) uint16 {
	switch speed {
	case "1.5", "12":
		return 0x0110
	case "5000":
		return 0x0300
	case "10000":
		return 0x0310
	case "20000":
		return 0x0320
	}
	return 0x0200
}

type usbNode struct {
	dir      string // root-relative device directory
	hubIf    string // root-relative interface directory holding the ports
	maxChild int

	bus, devnum int
	parent      string      // the parent hub's name; "" for a root hub
	links       []string    // root-relative links outside dir, removed with it
	char        string      // the sys/dev/char link, if made
	ifaces      []*usbIface // in the order they were made
}

// usbIface is one interface directory of a device.
type usbIface struct {
	name, dir string
	driver    string // the bound driver, "" if none
}

// usbBus allocates devnums as drivers/usb/core/hub.c does.
type usbBus struct {
	next int         // where the search for a free devnum starts
	used [128]string // the device holding each devnum, "" if free
}

// alloc returns the first free devnum from next on, wrapping from 127 to
// 1, or 0 when all 127 are taken.
func (b *usbBus) alloc() int {
	for i := range 127 {
		if n := (b.next-1+i)%127 + 1; b.used[n] == "" {
			return n
		}
	}
	return 0
}

// AddUSB writes a USB device as a capture of sysfs holds it, with no node
// in /dev: the device directory under its parent (the host controller's
// PCI function for a root hub, the parent hub otherwise), its interfaces,
// their links in sys/bus/usb/devices, and the sys/dev/char link if
// CharLinks is set. It returns the device directory
// ("sys/devices/pci0000:00/0000:00:14.0/usb1/1-3"). Plug does the same and
// then makes the node.
func (h *Host) AddUSB(d USBDevice) string {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	_, dir := h.addUSB(d)
	return dir
}

// addUSB is AddUSB, and also returns the device as written, with its
// devnum and defaults filled in.
func (h *Host) addUSB(d USBDevice) (USBDevice, string) {
	name := d.Name()
	if d.Bus <= 0 {
		h.failf("USB %s: bus %d must be positive", name, d.Bus)
		return d, ""
	}
	if d.Port != "" && !validPort(d.Port) {
		h.failf("USB %s: port path %q is not like 3.1.2", name, d.Port)
		return d, ""
	}
	if h.usb[name] != nil {
		h.failf("USB %s: added twice", name)
		return d, ""
	}

	var dir string
	var port int
	var parent *usbNode
	if d.Port == "" {
		ctrl := d.Controller
		if ctrl == "" {
			ctrl = DefaultController
		}
		if h.pci[ctrl] == nil {
			h.AddPCI(xHCI(ctrl))
		}
		pc := h.pci[ctrl]
		if pc == nil {
			h.failf("USB %s: controller %s could not be added", name, ctrl)
			return d, ""
		}
		if h.buses[d.Bus] != nil {
			h.failf("USB %s: bus %d has a root hub already", name, d.Bus)
			return d, ""
		}
		h.buses[d.Bus] = &usbBus{next: 1}
		dir = pc.dir + "/" + name
	} else {
		pname := "usb" + strconv.Itoa(d.Bus)
		p := d.Port
		if i := strings.LastIndexByte(d.Port, '.'); i >= 0 {
			pname, p = strconv.Itoa(d.Bus)+"-"+d.Port[:i], d.Port[i+1:]
		}
		parent = h.usb[pname]
		if parent == nil {
			h.failf("USB %s: parent %s not added", name, pname)
			return d, ""
		}
		port, _ = strconv.Atoi(p)
		if port < 1 || port > parent.maxChild || parent.hubIf == "" {
			h.failf("USB %s: %s has no port %d (maxchild %d)", name, pname, port, parent.maxChild)
			return d, ""
		}
		dir = parent.dir + "/" + name
	}

	b := h.buses[d.Bus]
	switch {
	case d.Devnum == 0:
		if d.Devnum = b.alloc(); d.Devnum == 0 {
			h.failf("USB %s: bus %d has no free devnum", name, d.Bus)
			return d, ""
		}
		b.next = d.Devnum%127 + 1
	case d.Devnum < 1 || d.Devnum > 127:
		h.failf("USB %s: devnum %d is not in 1..127", name, d.Devnum)
		return d, ""
	case b.used[d.Devnum] != "":
		h.failf("USB %s: devnum %d is %s's", name, d.Devnum, b.used[d.Devnum])
		return d, ""
	case d.Devnum >= b.next:
		b.next = d.Devnum%127 + 1
	}

	if d.Speed == "" {
		d.Speed = "480"
	}
	if d.BCDUSB == 0 {
		d.BCDUSB = bcdUSBFor(d.Speed)
	}
	if d.MaxPower == "" {
		d.MaxPower = "100mA"
		if d.Port == "" {
			d.MaxPower = "0mA"
		}
	}
	if d.Interfaces == nil && d.DeviceClass == 0x09 {
		d.Interfaces = []USBInterface{{Class: 0x09, NumEndpoints: 1, Driver: "hub"}}
	}

	h.bus("usb")
	h.mkdir(dir)
	var a attrs
	devpath := d.Port
	if devpath == "" {
		devpath = "0"
	}
	bmAttributes, packet0 := "a0\n", "64\n"
	if d.Port == "" {
		bmAttributes = "e0\n"
	}
	if speedAtLeast5G(d.Speed) {
		packet0 = "9\n"
	}
	a.set("authorized", "1\n")
	if d.Unauthorized {
		a.set("authorized", "0\n")
	}
	if d.Port == "" {
		a.set("authorized_default", "1\n")
	}
	a.set("avoid_reset_quirk", "0\n")
	a.set("bConfigurationValue", "1\n")
	a.set("bDeviceClass", fmt.Sprintf("%02x\n", d.DeviceClass))
	a.set("bDeviceProtocol", fmt.Sprintf("%02x\n", d.DeviceProtocol))
	a.set("bDeviceSubClass", fmt.Sprintf("%02x\n", d.DeviceSubClass))
	a.set("bMaxPacketSize0", packet0)
	a.set("bMaxPower", d.MaxPower+"\n")
	a.set("bNumConfigurations", "1\n")
	a.set("bNumInterfaces", fmt.Sprintf("%2d\n", len(d.Interfaces)))
	a.set("bcdDevice", fmt.Sprintf("%04x\n", d.BCDDevice))
	a.set("bmAttributes", bmAttributes)
	a.set("busnum", fmt.Sprintf("%d\n", d.Bus))
	a.set("dev", fmt.Sprintf("189:%d\n", (d.Bus-1)*128+d.Devnum-1))
	a.set("devnum", fmt.Sprintf("%d\n", d.Devnum))
	a.set("devpath", devpath+"\n")
	a.set("idProduct", fmt.Sprintf("%04x\n", d.IDProduct))
	a.set("idVendor", fmt.Sprintf("%04x\n", d.IDVendor))
	if d.Manufacturer != nil {
		a.set("manufacturer", *d.Manufacturer+"\n")
	}
	a.set("maxchild", fmt.Sprintf("%d\n", d.MaxChild))
	if d.Product != nil {
		a.set("product", *d.Product+"\n")
	}
	a.set("removable", "unknown\n")
	if d.Serial != nil {
		a.set("serial", *d.Serial+"\n")
	}
	a.set("speed", d.Speed+"\n")
	a.set("uevent", fmt.Sprintf("MAJOR=189\nMINOR=%d\nDEVNAME=bus/usb/%03d/%03d\nDEVTYPE=usb_device\nDRIVER=usb\nPRODUCT=%x/%x/%x\nTYPE=%d/%d/%d\nBUSNUM=%03d\nDEVNUM=%03d\n",
		(d.Bus-1)*128+d.Devnum-1, d.Bus, d.Devnum, d.IDVendor, d.IDProduct, d.BCDDevice,
		d.DeviceClass, d.DeviceSubClass, d.DeviceProtocol, d.Bus, d.Devnum))
	a.set("version", fmt.Sprintf("%2x.%02x\n", d.BCDUSB>>8, d.BCDUSB&0xff))
	h.writeAttrs(dir, &a, d.Omit, d.Raw)

	if wanted("driver", d.Omit, d.Raw) {
		h.link(dir+"/driver", h.driver("usb", "usb", dir))
	}
	if wanted("subsystem", d.Omit, d.Raw) {
		h.link(dir+"/subsystem", "sys/bus/usb")
	}
	h.link("sys/bus/usb/devices/"+name, dir)
	if parent != nil {
		portDir := fmt.Sprintf("%s/port%d", parent.hubIf, port)
		if wanted("port", d.Omit, d.Raw) {
			h.link(dir+"/port", portDir)
		}
		h.link(portDir+"/device", dir)
		if d.ConnectType != "" {
			h.write(portDir+"/connect_type", d.ConnectType+"\n")
		}
	}

	node := &usbNode{dir: dir, maxChild: d.MaxChild, bus: d.Bus, devnum: d.Devnum,
		links: []string{"sys/bus/usb/devices/" + name, "sys/bus/usb/drivers/usb/" + name}}
	if parent != nil {
		node.parent = path.Base(parent.dir)
		node.links = append(node.links, fmt.Sprintf("%s/port%d/device", parent.hubIf, port))
	}
	ifPrefix := name + ":1."
	if d.Port == "" {
		ifPrefix = strconv.Itoa(d.Bus) + "-0:1."
	}
	for _, in := range d.Interfaces {
		ifDir := dir + "/" + ifPrefix + strconv.Itoa(int(in.Number))
		h.addInterface(d, in, ifDir)
		fi := &usbIface{name: path.Base(ifDir), dir: ifDir}
		if wanted("driver", in.Omit, in.Raw) {
			fi.driver = in.Driver
		}
		node.ifaces = append(node.ifaces, fi)
		h.ifaces[fi.name] = fi
		// The ports belong to the hub interface: the first of class 09.
		if d.DeviceClass == 0x09 && in.Class == 0x09 && node.hubIf == "" {
			node.hubIf = ifDir
		}
	}
	if node.hubIf != "" {
		for p := 1; p <= d.MaxChild; p++ {
			pd := fmt.Sprintf("%s/port%d", node.hubIf, p)
			h.mkdir(pd)
			h.write(pd+"/connect_type", "unknown\n")
		}
	}
	if h.CharLinks {
		node.char = fmt.Sprintf("sys/dev/char/189:%d", (d.Bus-1)*128+d.Devnum-1)
		h.mkdir("sys/dev/char")
		h.link(node.char, dir)
	}
	h.usb[name] = node
	b.used[d.Devnum] = name
	return d, dir
}

func (h *Host) addInterface(d USBDevice, in USBInterface, dir string) {
	h.mkdir(dir)
	modalias := fmt.Sprintf("usb:v%04Xp%04Xd%04Xdc%02Xdsc%02Xdp%02Xic%02Xisc%02Xip%02Xin%02X",
		d.IDVendor, d.IDProduct, d.BCDDevice, d.DeviceClass, d.DeviceSubClass, d.DeviceProtocol,
		in.Class, in.SubClass, in.Protocol, in.Number)
	var a attrs
	a.set("authorized", "1\n")
	a.set("bAlternateSetting", fmt.Sprintf("%2d\n", in.AlternateSetting))
	a.set("bInterfaceClass", fmt.Sprintf("%02x\n", in.Class))
	a.set("bInterfaceNumber", fmt.Sprintf("%02x\n", in.Number))
	a.set("bInterfaceProtocol", fmt.Sprintf("%02x\n", in.Protocol))
	a.set("bInterfaceSubClass", fmt.Sprintf("%02x\n", in.SubClass))
	a.set("bNumEndpoints", fmt.Sprintf("%02x\n", in.NumEndpoints))
	a.set("modalias", modalias+"\n")
	a.set("supports_autosuspend", "1\n")
	var drv string
	if in.Driver != "" {
		drv = "DRIVER=" + in.Driver + "\n"
	}
	a.set("uevent", fmt.Sprintf("DEVTYPE=usb_interface\n%sPRODUCT=%x/%x/%x\nTYPE=%d/%d/%d\nINTERFACE=%d/%d/%d\nMODALIAS=%s\n",
		drv, d.IDVendor, d.IDProduct, d.BCDDevice, d.DeviceClass, d.DeviceSubClass, d.DeviceProtocol,
		in.Class, in.SubClass, in.Protocol, modalias))
	h.writeAttrs(dir, &a, in.Omit, in.Raw)
	if in.Driver != "" && wanted("driver", in.Omit, in.Raw) {
		h.link(dir+"/driver", h.driver("usb", in.Driver, dir))
	}
	if wanted("subsystem", in.Omit, in.Raw) {
		h.link(dir+"/subsystem", "sys/bus/usb")
	}
	h.link("sys/bus/usb/devices/"+path.Base(dir), dir)
}

// validPort reports whether p is a port path: decimal numbers joined by dots.
func validPort(p string) bool {
	for s := range strings.SplitSeq(p, ".") {
		if n, err := strconv.Atoi(s); err != nil || n < 1 || s[0] == '0' {
			return false
		}
	}
	return true
}

// xHCI is the host controller AddUSB adds for a root hub whose controller
// is missing: an Intel Cannon Lake xHCI.
func xHCI(addr string) PCIFunction {
	return PCIFunction{
		Address:         addr,
		Vendor:          0x8086,
		Device:          0xa36d,
		SubsystemVendor: 0x17aa,
		SubsystemDevice: 0x312a,
		Class:           0x0c0330,
		Revision:        0x10,
		Driver:          "xhci_hcd",
		Config:          true,
	}
}
