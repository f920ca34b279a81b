package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// What a watcher needs to rescan only what changed: the names a bus lists,
// which is one directory read, and the devices read for a few names.

// USBDeviceNames lists the USB device entries of /sys/bus/usb/devices
// (interfaces left out), sorted. A root without the directory has none.
func (f *FS) USBDeviceNames() ([]string, []Warning) {
	return f.busNames(usbBusDir, func(n string) bool { return !strings.Contains(n, ":") })
}

// PCIFunctionNames lists the entries of /sys/bus/pci/devices, sorted.
func (f *FS) PCIFunctionNames() ([]string, []Warning) {
	return f.busNames(pciBusDir, nil)
}

func (f *FS) busNames(rel string, keep func(string) bool) ([]string, []Warning) {
	dir, names, w := f.openBus(rel)
	if dir == nil {
		if w != nil {
			return nil, []Warning{*w}
		}
		return nil, nil
	}
	dir.close()
	var out []string
	for _, n := range names {
		if keep == nil || keep(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// USBDevicesNamed reads the named USB devices, as USBDevices reads all of
// them: a name that is not (or no longer) there is left out, silently.
// It opens each name directly, so its cost does not grow with the number
// of devices on the bus.
func (f *FS) USBDevicesNamed(names []string) ([]USBDevice, []Warning) {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !validEntry(n) || strings.Contains(n, ":") })
	return readNamed(f, usbBusDir, names, readUSB)
}

// PCIFunctionsNamed reads the named PCI functions of /sys/bus/pci/devices.
func (f *FS) PCIFunctionsNamed(names []string) ([]PCIFunction, []Warning) {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !validEntry(n) })
	return readNamed(f, pciBusDir, names, readPCI)
}

func readNamed[T any](f *FS, rel string, names []string, read func(*device) (T, bool)) ([]T, []Warning) {
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return nil, nil
	}
	dir, err := f.openDir("", rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, []Warning{{Path: show(rel), Err: err}}
	}
	defer dir.close()
	return readEntries(f, dir, names, read)
}

// validEntry says whether name can be a single directory entry.
func validEntry(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// USBDeviceNameAt returns the name of the USB device whose node is
// /dev/bus/usb/BBB/DDD, from the kernel's /sys/dev/char/189:M link (M is
// (bus-1)*128 + devnum-1). It reports false when the link is missing, as it
// is in most captured trees, or does not name a USB device.
func (f *FS) USBDeviceNameAt(bus, devnum int) (string, bool) {
	if bus < 1 || devnum < 1 || devnum > 128 {
		return "", false
	}
	dir, err := f.openDir("", "sys/dev/char")
	if err != nil {
		return "", false
	}
	defer dir.close()
	rel, err := dir.resolve(fmt.Sprintf("189:%d", (bus-1)*128+devnum-1))
	if err != nil {
		return "", false
	}
	name := path.Base(rel)
	if !IsUSBDeviceName(name) || busFromName(name) != bus {
		return "", false
	}
	return name, true
}
