package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const usbBusDir = "sys/bus/usb/devices"

// USBDevice is what sysfs says of one USB device. Field comments name the
// file each comes from.
type USBDevice struct {
	Name string // the entry in /sys/bus/usb/devices: "1-3.1", "usb1"
	Path string // the device directory, relative to the root: "/sys/devices/..."

	Busnum   int    // busnum
	Devnum   int    // devnum
	Devpath  string // devpath, or derived from Name on kernels without it
	MaxChild int    // maxchild

	IDVendor  uint16 // idVendor
	IDProduct uint16 // idProduct
	BCDDevice uint16 // bcdDevice
	Class     uint8  // bDeviceClass
	SubClass  uint8  // bDeviceSubClass
	Protocol  uint8  // bDeviceProtocol
	Speed     string // speed

	Manufacturer string // manufacturer, when present
	Product      string // product, when present
	Serial       string // serial, when present
	// The strings may be present and empty; these say which files exist.
	HasManufacturer, HasProduct, HasSerial bool

	// Unauthorized is true when authorized is 0: the kernel keeps the
	// device unconfigured, as USBGuard or authorized_default=0 make it.
	Unauthorized bool

	// Parent is the name of the USB device above this one; empty for a root hub.
	Parent string
	// Controller is the PCI address of the host controller, when the path
	// goes through one.
	Controller string

	Interfaces []USBInterface
}

// USBInterface is one interface directory, "B-P:C.I", of a device.
type USBInterface struct {
	Name     string // directory name: "1-3.1:1.0"
	Number   uint8  // bInterfaceNumber
	Class    uint8  // bInterfaceClass
	SubClass uint8  // bInterfaceSubClass
	Protocol uint8  // bInterfaceProtocol
	Driver   string // target of the driver link; empty when unbound
}

// USBDevices lists the USB devices under /sys/bus/usb/devices, skipping
// interface entries. A device that cannot be fully read is still returned,
// with warnings; one that vanished during the scan is left out. A root
// without /sys/bus/usb has no USB devices, which is not an error.
func (f *FS) USBDevices() ([]USBDevice, []Warning, error) {
	devs, warns := readBus(f, usbBusDir, "usb", func(n string) bool { return !strings.Contains(n, ":") }, readUSB)
	return devs, warns, nil
}

// readUSB reads one device directory. ok is false when the device vanished
// while it was being read.
func readUSB(d *device) (dev USBDevice, ok bool) {
	dev = USBDevice{Name: d.name, Path: show(d.rel)}
	var have bool
	if dev.Busnum, have = d.dec("busnum", true); !have && d.gone() {
		return dev, false
	}
	dev.Devnum, _ = d.dec("devnum", true)
	// Out-of-range numbers would make a device node that does not exist.
	if dev.Busnum < 0 || dev.Busnum > 999 {
		d.warnf("busnum", fmt.Errorf("%w: bus %d is out of range", ErrInvalid, dev.Busnum))
		dev.Busnum = 0
	}
	if dev.Devnum < 0 || dev.Devnum > 127 {
		d.warnf("devnum", fmt.Errorf("%w: device number %d is not 1 to 127", ErrInvalid, dev.Devnum))
		dev.Devnum = 0
	}
	setHex(d, "idVendor", 16, true, &dev.IDVendor)
	setHex(d, "idProduct", 16, true, &dev.IDProduct)
	setHex(d, "bcdDevice", 16, false, &dev.BCDDevice)
	setHex(d, "bDeviceClass", 8, false, &dev.Class)
	setHex(d, "bDeviceSubClass", 8, false, &dev.SubClass)
	setHex(d, "bDeviceProtocol", 8, false, &dev.Protocol)
	dev.MaxChild, _ = d.dec("maxchild", false)
	dev.Speed, _ = d.optional("speed")
	dev.Manufacturer, dev.HasManufacturer = d.optional("manufacturer")
	dev.Product, dev.HasProduct = d.optional("product")
	dev.Serial, dev.HasSerial = d.optional("serial")

	if v, ok := d.flag("authorized"); ok {
		dev.Unauthorized = !v
	}
	if p, ok := d.optional("devpath"); ok {
		dev.Devpath = p
	} else {
		dev.Devpath = DevpathFromName(d.name)
	}
	if dev.Busnum == 0 {
		// busnum is also in the name; use it so the device still sorts and
		// selects by bus, after the warning above.
		dev.Busnum = busFromName(d.name)
	}

	parentDir := path.Dir(d.rel)
	if p := path.Base(parentDir); IsUSBDeviceName(p) {
		dev.Parent = p
	}
	dev.Controller = controllerOf(parentDir)
	dev.Interfaces = readInterfaces(d)
	// A read that failed because the device was unplugged under us is not
	// a warning: the device is simply gone.
	if d.vanished() {
		return dev, false
	}
	return dev, true
}

// readInterfaces reads the interface directories inside the device's own
// directory. /sys/bus/usb/devices is not used for them: old kernels and
// captures miss some of those links.
func readInterfaces(d *device) []USBInterface {
	names, err := d.list()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.warnf("", unwrapPath(err))
		}
		return nil
	}
	prefix := d.name + ":"
	if strings.HasPrefix(d.name, "usb") {
		prefix = d.name[len("usb"):] + "-0:"
	}
	var ifs []USBInterface
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		sub, err := d.sub(n)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
				d.warnf(n, err)
			}
			continue
		}
		in := USBInterface{Name: n}
		setHex(sub, "bInterfaceNumber", 8, true, &in.Number)
		setHex(sub, "bInterfaceClass", 8, true, &in.Class)
		setHex(sub, "bInterfaceSubClass", 8, false, &in.SubClass)
		setHex(sub, "bInterfaceProtocol", 8, false, &in.Protocol)
		in.Driver = sub.optionalLink("driver")
		d.warn = append(d.warn, sub.warn...)
		sub.close()
		ifs = append(ifs, in)
	}
	slices.SortFunc(ifs, func(a, b USBInterface) int {
		return compareInterfaceNames(a.Name, b.Name)
	})
	return ifs
}

// compareInterfaceNames orders "1-1:1.10" after "1-1:1.2".
func compareInterfaceNames(a, b string) int {
	_, ca, _ := strings.Cut(a, ":")
	_, cb, _ := strings.Cut(b, ":")
	return ComparePorts(ca, cb)
}

// DevpathFromName derives the port path from a device name, as old kernels
// without a devpath file need: "usb3" is "0", "3-2.1" is "2.1".
func DevpathFromName(name string) string {
	if strings.HasPrefix(name, "usb") {
		return "0"
	}
	if _, p, ok := strings.Cut(name, "-"); ok {
		return p
	}
	return ""
}

func busFromName(name string) int {
	s := strings.TrimPrefix(name, "usb")
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

// IsUSBDeviceName reports whether name is a USB device's sysfs name ("usb1",
// "1-3.1") rather than an interface ("1-3.1:1.0") or something else.
func IsUSBDeviceName(name string) bool {
	if rest, ok := strings.CutPrefix(name, "usb"); ok {
		return isDigits(rest)
	}
	bus, port, ok := strings.Cut(name, "-")
	if !ok || !isDigits(bus) || port == "" {
		return false
	}
	for _, p := range strings.Split(port, ".") {
		if !isDigits(p) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ComparePorts orders port paths component by component, numerically, so
// "0" < "1" < "1.2" < "1.10" < "2". Non-numeric parts compare as text.
func ComparePorts(a, b string) int {
	for a != "" || b != "" {
		if a == "" {
			return -1
		}
		if b == "" {
			return 1
		}
		var pa, pb string
		pa, a, _ = strings.Cut(a, ".")
		pb, b, _ = strings.Cut(b, ".")
		na, ea := strconv.Atoi(pa)
		nb, eb := strconv.Atoi(pb)
		switch {
		case ea == nil && eb == nil && na != nb:
			if na < nb {
				return -1
			}
			return 1
		case (ea != nil || eb != nil) && pa != pb:
			return strings.Compare(pa, pb)
		}
	}
	return 0
}
