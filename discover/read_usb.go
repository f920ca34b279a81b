package discover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/usbnum"
	"github.com/hostdev/hostdev/sysfs"
)

// The readers: from a sysfs.FS to Devices, one directory at a time.

const usbBusDir = "sys/bus/usb/devices"

// usbDevices lists the USB devices under /sys/bus/usb/devices, skipping
// interface entries, in name order. A device that cannot be fully read is
// still returned, with warnings; one that vanished during the scan is left
// out. A root without /sys/bus/usb has no USB devices, which is not an
// error.
func usbDevices(ctx context.Context, f *sysfs.FS) ([]Device, []Warning, error) {
	names, warns := usbDeviceNames(f)
	devs, more, err := sysfs.ReadEntries(ctx, f, usbBusDir, names, readUSB)
	return devs, append(warns, more...), err
}

// usbDeviceNames lists the USB device entries of /sys/bus/usb/devices
// (interfaces left out), sorted. An entry whose name the kernel cannot
// have made (usbN, or BUS-PORT[.PORT...]) is a warning and is left out:
// a device's name is its identity, and it reaches ids, file paths and the
// commands hostdev advises.
func usbDeviceNames(f *sysfs.FS) ([]string, []Warning) {
	names, warns := f.ListBus(usbBusDir)
	kept := names[:0]
	for _, n := range names {
		switch {
		case isUSBDeviceName(n):
			kept = append(kept, n)
		case !isUSBInterfaceName(n):
			warns = append(warns, Warning{Path: "/" + usbBusDir, Err: fmt.Errorf(
				"%w: entry %s is not a USB device's name (usbN or BUS-PORT[.PORT]...); left out",
				sysfs.ErrInvalid, quote.Text(n))})
		}
	}
	return kept, warns
}

// isUSBInterfaceName reports whether n is an interface's sysfs name:
// DEVICE:CONFIG.INTERFACE, where a root hub's DEVICE is BUS-0 ("1-0:1.0").
func isUSBInterfaceName(n string) bool {
	dev, suffix, ok := strings.Cut(n, ":")
	if !ok || !isInterfaceSuffix(suffix) {
		return false
	}
	if bus, ok := strings.CutSuffix(dev, "-0"); ok && isDigits(bus) {
		return true
	}
	return isUSBDeviceName(dev) && !strings.HasPrefix(dev, "usb")
}

// usbDevicesNamed reads the named USB devices, as usbDevices reads all of
// them: a name that is not (or no longer) there is left out, silently.
// It opens each name directly, so its cost does not grow with the number
// of devices on the bus.
func usbDevicesNamed(f *sysfs.FS, names []string) ([]Device, []Warning) {
	names = slices.DeleteFunc(sortedSet(names), func(n string) bool { return !isUSBDeviceName(n) })
	devs, warns, _ := sysfs.ReadEntries(context.Background(), f, usbBusDir, names, readUSB)
	return devs, warns
}

func sortedSet(names []string) []string {
	names = slices.Clone(names)
	slices.Sort(names)
	return slices.Compact(names)
}

// usbDeviceNameAt returns the name of the USB device whose node is
// /dev/bus/usb/BBB/DDD, from the kernel's /sys/dev/char/189:M link (M is
// (bus-1)*128 + devnum-1). It reports false when the link is missing, as it
// is in most captured trees, or does not name a USB device.
func usbDeviceNameAt(f *sysfs.FS, bus, devnum int) (string, bool) {
	if bus < 1 || !usbnum.ValidDevnum(devnum) {
		return "", false
	}
	dir, err := f.OpenDir("sys/dev/char")
	if err != nil {
		return "", false
	}
	defer dir.Close()
	p, err := dir.Resolve(fmt.Sprintf("189:%d", (bus-1)*128+devnum-1))
	if err != nil {
		return "", false
	}
	name := path.Base(p)
	if !isUSBDeviceName(name) || busFromName(name) != bus {
		return "", false
	}
	return name, true
}

// readUSB reads one device directory. ok is false when the device vanished
// while it was being read.
func readUSB(d *sysfs.Dir) (dev Device, ok bool) {
	name := d.Name()
	dev = Device{Bus: BusUSB, Name: name, SysfsPath: d.Path()}
	u := &USB{}
	dev.USB = u
	var have bool
	if u.Busnum, have = d.Dec("busnum", sysfs.Required); !have && d.Gone() {
		return dev, false
	}
	u.Devnum, have = d.Dec("devnum", sysfs.Required)
	// Out-of-range numbers would make a device node that does not exist.
	if u.Busnum < 0 || u.Busnum > 999 {
		d.Warn("busnum", fmt.Errorf("%w: bus %d is out of range", sysfs.ErrInvalid, u.Busnum))
		u.Busnum = 0
	}
	if have && !usbnum.ValidDevnum(u.Devnum) {
		d.Warn("devnum", fmt.Errorf("%w: device number %d is not %d to %d", sysfs.ErrInvalid, u.Devnum, usbnum.MinDevnum, usbnum.MaxDevnum))
		u.Devnum = 0
	}
	setHex(d, "idVendor", 16, sysfs.Required, &dev.VendorID)
	setHex(d, "idProduct", 16, sysfs.Required, &dev.ProductID)
	setHex(d, "bcdDevice", 16, sysfs.Optional, &u.BCD)
	setHex(d, "bDeviceClass", 8, sysfs.Optional, &u.Class)
	setHex(d, "bDeviceSubClass", 8, sysfs.Optional, &u.Subclass)
	setHex(d, "bDeviceProtocol", 8, sysfs.Optional, &u.Protocol)
	u.MaxChild, _ = d.Dec("maxchild", sysfs.Optional)
	if s, ok := d.Attr("speed", sysfs.Optional); ok {
		if validSpeed(s) {
			u.Speed = Speed(s)
		} else {
			d.Warn("speed", fmt.Errorf("%w: %s is not a speed in Mbit/s", sysfs.ErrInvalid, quote.Text(s)))
		}
	}
	u.Manufacturer = optionalString(d, "manufacturer")
	u.Product = optionalString(d, "product")
	u.Serial = optionalString(d, "serial")

	if v, ok := d.Flag("authorized"); ok {
		u.Unauthorized = !v
	}
	u.Port = readPort(d)
	if u.Busnum == 0 {
		// busnum is also in the name; use it so the device still sorts and
		// selects by bus, after the warning above.
		u.Busnum = busFromName(name)
	}
	if u.Busnum > 0 && u.Devnum > 0 {
		u.Devnode = fmt.Sprintf("/dev/bus/usb/%03d/%03d", u.Busnum, u.Devnum)
	}

	parentDir := path.Dir(d.Path())
	if p := path.Base(parentDir); isUSBDeviceName(p) {
		dev.Parent = p
	}
	u.Controller = controllerOf(parentDir)
	u.Interfaces = readInterfaces(d)
	// A read that failed because the device was unplugged under us is not
	// a warning: the device is simply gone.
	if d.Vanished() {
		return dev, false
	}
	return dev, true
}

// readPort reads devpath, or derives the port path from the name on old
// kernels (2.6.27) that have no such file. A devpath that is not a port
// path is a warning, and the name's port path is used if it is one.
func readPort(d *sysfs.Dir) PortPath {
	fromName, nameErr := ParsePortPath(portFromName(d.Name()))
	s, ok := d.Attr("devpath", sysfs.Optional)
	if ok {
		p, err := ParsePortPath(s)
		if err == nil {
			return p
		}
		d.Warn("devpath", fmt.Errorf("%w: %v", sysfs.ErrInvalid, err))
	}
	if nameErr != nil {
		d.Warn("", fmt.Errorf("%w: no port path in the name: %v", sysfs.ErrInvalid, nameErr))
		return ""
	}
	return fromName
}

// optionalString reads a string the device may not supply: nil when the
// file is absent.
func optionalString(d *sysfs.Dir, attr string) *string {
	if s, ok := d.Attr(attr, sysfs.Optional); ok {
		return &s
	}
	return nil
}

// setHex reads a hex attribute of the given width into *dst, and leaves
// *dst alone (with a warning, when one is due) if it cannot.
func setHex[T ~uint8 | ~uint16 | ~uint32](d *sysfs.Dir, attr string, bits int, p sysfs.Presence, dst *T) bool {
	v, ok := d.Hex(attr, bits, p)
	if ok {
		*dst = T(v)
	}
	return ok
}

// readInterfaces reads the interface directories inside the device's own
// directory. /sys/bus/usb/devices is not used for them: old kernels and
// captures miss some of those links.
func readInterfaces(d *sysfs.Dir) []Interface {
	names, err := d.List()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.Warn("", err)
		}
		return nil
	}
	name := d.Name()
	prefix := name + ":"
	if strings.HasPrefix(name, "usb") {
		prefix = name[len("usb"):] + "-0:"
	}
	var ifs []Interface
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		if !isInterfaceSuffix(rest) {
			d.Warn(n, fmt.Errorf("%w: not an interface's name (%sCONFIG.INTERFACE); left out", sysfs.ErrInvalid, prefix))
			continue
		}
		sub, err := d.Sub(n)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
				d.Warn(n, err)
			}
			continue
		}
		in := Interface{Name: n}
		setHex(sub, "bInterfaceNumber", 8, sysfs.Required, &in.Number)
		setHex(sub, "bInterfaceClass", 8, sysfs.Required, &in.Class)
		setHex(sub, "bInterfaceSubClass", 8, sysfs.Optional, &in.Subclass)
		setHex(sub, "bInterfaceProtocol", 8, sysfs.Optional, &in.Protocol)
		in.Driver = sub.Target("driver")
		sub.Close()
		ifs = append(ifs, in)
	}
	slices.SortFunc(ifs, func(a, b Interface) int {
		return compareInterfaceNames(a.Name, b.Name)
	})
	return ifs
}

// compareInterfaceNames orders "1-1:1.10" after "1-1:1.2".
func compareInterfaceNames(a, b string) int {
	_, ca, _ := strings.Cut(a, ":")
	_, cb, _ := strings.Cut(b, ":")
	return PortPath(ca).Compare(PortPath(cb))
}

// portFromName is the port path in a device's name, as old kernels
// without a devpath file need: "usb3" is "0", "3-2.1" is "2.1".
func portFromName(name string) string {
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

// isUSBDeviceName reports whether name is a USB device's sysfs name ("usb1",
// "1-3.1") rather than an interface ("1-3.1:1.0") or something else.
func isUSBDeviceName(name string) bool {
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

// isInterfaceSuffix reports whether s is the CONFIG.INTERFACE that ends an
// interface's name, two decimal numbers.
func isInterfaceSuffix(s string) bool {
	c, i, ok := strings.Cut(s, ".")
	return ok && isDigits(c) && isDigits(i)
}

// validSpeed reports whether s can be what the kernel prints in speed:
// "unknown", or Mbit/s as a decimal number ("1.5", "480") or, for
// wireless USB, a range ("53.3-480").
func validSpeed(s string) bool {
	if s == "unknown" {
		return true
	}
	lo, hi, isRange := strings.Cut(s, "-")
	return decimal(lo) && (!isRange || decimal(hi))
}

func decimal(s string) bool {
	whole, frac, ok := strings.Cut(s, ".")
	return isDigits(whole) && (!ok || isDigits(frac))
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

// controllerOf finds the nearest PCI function in a device path.
func controllerOf(dir string) string {
	for dir != "." && dir != "/" && dir != "" {
		if b := path.Base(dir); isPCIName(b) {
			return b
		}
		dir = path.Dir(dir)
	}
	return ""
}
