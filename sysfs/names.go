package sysfs

import "strings"

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
// them: a name that is not (or no longer) listed is left out, silently.
func (f *FS) USBDevicesNamed(names []string) ([]USBDevice, []Warning) {
	want := set(names)
	return readBus(f, usbBusDir, "usb", func(n string) bool { return want[n] && !strings.Contains(n, ":") }, readUSB)
}

// PCIFunctionsNamed reads the named PCI functions of /sys/bus/pci/devices.
func (f *FS) PCIFunctionsNamed(names []string) ([]PCIFunction, []Warning) {
	want := set(names)
	return readBus(f, pciBusDir, "pci", func(n string) bool { return want[n] }, readPCI)
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
