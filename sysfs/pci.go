package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/pciaddr"
)

const pciBusDir = "sys/bus/pci/devices"

// PCIFunction is what sysfs says of one PCI function. IDs and class come
// from modalias when it is well formed, and from the vendor, device and
// class files otherwise.
type PCIFunction struct {
	Name    string          // the entry in /sys/bus/pci/devices: "0000:00:1f.3"
	Address pciaddr.Address // parsed from Name; valid when HasAddress
	// HasAddress is false for an entry whose name is not a PCI address.
	HasAddress bool
	Path       string // the function's directory, relative to the root

	// Modalias is the modalias file when it is well formed, else "".
	Modalias string

	Vendor          uint16 // modalias v, or vendor
	Device          uint16 // modalias d, or device
	SubsystemVendor uint16 // modalias sv, or subsystem_vendor
	SubsystemDevice uint16 // modalias sd, or subsystem_device
	Class           uint32 // modalias bc, sc, i, or class

	Revision    uint8 // revision
	HasRevision bool

	Driver         string // target of the driver link
	DriverOverride string // driver_override, "" for "(null)"

	IOMMUGroup    int // target of the iommu_group link
	HasIOMMUGroup bool

	NUMANode    int // numa_node; -1 is reported as HasNUMANode false
	HasNUMANode bool

	PhysFn  string   // target of the physfn link (VFs)
	VirtFns []string // targets of virtfn0, virtfn1, ... (PFs)

	// ResetMethod is reset_method, the reset methods the kernel will try
	// in order ("flr bus"). The file exists on kernels from 5.15; empty
	// means the function cannot be reset.
	ResetMethod    string
	HasResetMethod bool

	// BootVGA is true when boot_vga is 1: the firmware's console is on it.
	BootVGA bool

	// HeaderType is byte 0x0e of config with the multi-function bit
	// cleared: 0 for an endpoint, 1 for a PCI-to-PCI bridge, 2 for CardBus.
	// Only the functions of base class 06 (bridges) have it read; see
	// readHeaderType.
	HeaderType    uint8
	HasHeaderType bool

	// Parent is the address of the bridge above the function, if any.
	Parent string
	// Unlisted is set for a function found in /sys/devices as the parent of
	// a listed device, but missing from /sys/bus/pci/devices.
	Unlisted bool
}

// PCIFunctions lists the functions under /sys/bus/pci/devices, with the
// same rules as USBDevices: broken ones are kept with warnings, vanished
// ones are dropped, and a root without /sys/bus/pci has none.
func (f *FS) PCIFunctions() ([]PCIFunction, []Warning, error) {
	fns, warns := readBus(f, pciBusDir, "pci", nil, readPCI)
	if fns == nil {
		return nil, warns, nil // no bus directory: nothing is unlisted either
	}
	return f.addUnlisted(fns, warns)
}

// addUnlisted adds the functions that listed PCI functions or USB root hubs
// sit below but that /sys/bus/pci/devices lacks (old kernels and partial
// captures have such holes). Leaving them out would hide a USB controller
// or a bridge that the listed devices depend on.
func (f *FS) addUnlisted(fns []PCIFunction, warns []Warning) ([]PCIFunction, []Warning, error) {
	listed := make(map[string]bool, len(fns))
	for _, fn := range fns {
		listed[fn.Name] = true
	}
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, path.Dir(strings.TrimPrefix(fn.Path, "/")))
	}
	// USB root hubs name their controller; resolving their links is cheap.
	if usb, names, _ := f.openBus(usbBusDir); usb != nil {
		for _, n := range names {
			if strings.HasPrefix(n, "usb") {
				if rel, err := usb.resolve(n); err == nil {
					dirs = append(dirs, path.Dir(rel))
				}
			}
		}
		usb.close()
	}
	slices.Sort(dirs)
	for _, dir := range slices.Compact(dirs) {
		// Every PCI function on the way down counts, not only the nearest.
		for d := dir; d != "." && d != "/" && strings.Contains(d, "/"); d = path.Dir(d) {
			name := path.Base(d)
			if !IsPCIName(name) || listed[name] {
				continue
			}
			listed[name] = true
			fn, w, err := f.PCIFunctionAt(d)
			if err != nil {
				continue
			}
			warns = append(warns, w...)
			warns = append(warns, Warning{Device: name, Path: fn.Path,
				Err: fmt.Errorf("in /sys/devices but not in %s; listed anyway", show(pciBusDir))})
			fns = append(fns, fn)
		}
	}
	return fns, warns, nil
}

// PCIFunctionAt reads the function whose directory is rel, root-relative
// ("/sys/devices/pci0000:00/0000:00:1d.7"). It is for functions that a
// device's path goes through but /sys/bus/pci/devices does not list.
func (f *FS) PCIFunctionAt(rel string) (PCIFunction, []Warning, error) {
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	d, err := f.openDir(path.Base(rel), rel)
	if err != nil {
		return PCIFunction{}, nil, fmt.Errorf("open %s: %w", show(rel), unwrapPath(err))
	}
	defer d.close()
	fn, ok := readPCI(d)
	if !ok {
		return PCIFunction{}, nil, fmt.Errorf("open %s: %w", show(rel), fs.ErrNotExist)
	}
	fn.Unlisted = true
	return fn, d.warn, nil
}

func readPCI(d *device) (fn PCIFunction, ok bool) {
	fn = PCIFunction{Name: d.name, Path: show(d.rel)}
	if IsPCIName(d.name) {
		fn.Address, _ = pciaddr.Parse(d.name)
		fn.HasAddress = true
	} else {
		d.warnf("", fmt.Errorf("%w: %q is not a PCI address (DDDD:BB:SS.F)", ErrInvalid, d.name))
	}

	raw, err := d.read("modalias")
	switch {
	case err == nil:
		m, perr := ParsePCIModalias(raw)
		if perr == nil {
			fn.Modalias = raw
			fn.Vendor, fn.Device = m.Vendor, m.Device
			fn.SubsystemVendor, fn.SubsystemDevice = m.SubsystemVendor, m.SubsystemDevice
			fn.Class = m.Class
			break
		}
		d.warnf("modalias", fmt.Errorf("%w; reading vendor, device and class instead", perr))
		readPCIIDFiles(d, &fn)
	case errors.Is(err, fs.ErrNotExist):
		if d.gone() {
			return fn, false
		}
		d.warnf("modalias", errors.New("missing; reading vendor, device and class instead"))
		readPCIIDFiles(d, &fn)
	default:
		d.warnf("modalias", fmt.Errorf("%w; reading vendor, device and class instead", err))
		readPCIIDFiles(d, &fn)
	}

	if v, ok := d.hex("revision", 8, false); ok {
		fn.Revision, fn.HasRevision = uint8(v), true
	}
	fn.Driver = d.optionalLink("driver")
	if s, ok := d.optional("driver_override"); ok && s != "(null)" {
		fn.DriverOverride = s
	}
	if g := d.optionalLink("iommu_group"); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || !isDigits(g) {
			d.warnf("iommu_group", fmt.Errorf("%w: group %q is not a number", ErrInvalid, g))
		} else {
			fn.IOMMUGroup, fn.HasIOMMUGroup = n, true
		}
	}
	if n, ok := d.dec("numa_node", false); ok && n >= 0 {
		fn.NUMANode, fn.HasNUMANode = n, true
	}
	fn.PhysFn = d.optionalLink("physfn")
	// VFs are numbered from 0 without gaps; probing the links costs one
	// readlink for a function without SR-IOV, where listing the
	// directory would cost far more.
	for i := 0; ; i++ {
		vf := d.optionalLink("virtfn" + strconv.Itoa(i))
		if vf == "" {
			break
		}
		fn.VirtFns = append(fn.VirtFns, vf)
	}
	if s, ok := d.optional("reset_method"); ok {
		fn.ResetMethod, fn.HasResetMethod = strings.Join(strings.Fields(s), " "), true
		for _, m := range strings.Fields(s) {
			if !resetMethodName(m) {
				d.warnf("reset_method", fmt.Errorf("%w: %q is not a reset method's name", ErrInvalid, s))
				fn.ResetMethod, fn.HasResetMethod = "", false
				break
			}
		}
	}
	fn.BootVGA, _ = d.flag("boot_vga")
	if fn.Class>>16 == 0x06 {
		fn.HeaderType, fn.HasHeaderType = readHeaderType(d)
	}
	if p := path.Base(path.Dir(d.rel)); IsPCIName(p) {
		fn.Parent = p
	}
	if d.vanished() {
		return fn, false
	}
	return fn, true
}

// readHeaderType reads the header type from config, which unprivileged
// readers see the first 64 bytes of. Reading config brings a function in
// D3cold back to power (the kernel's pci_config_pm_runtime_get), which
// would wake a laptop's sleeping GPU on every scan: so only bridges (base
// class 06) are read, the one class where the header type tells more than
// the class does, and not when power_state says D3cold.
func readHeaderType(d *device) (uint8, bool) {
	if s, ok := d.optional("power_state"); ok && s == "D3cold" {
		return 0, false
	}
	b, err := d.readBytes("config", 64)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, false
	case err != nil:
		d.warnf("config", err)
		return 0, false
	case len(b) <= 0x0e:
		d.warnf("config", fmt.Errorf("%w: %d bytes, too short for the header type at 0x0e", ErrInvalid, len(b)))
		return 0, false
	}
	// Layouts 0 (endpoint), 1 (PCI bridge) and 2 (CardBus) exist; 0x7f is
	// what a function that does not answer reads as.
	if t := b[0x0e] & 0x7f; t <= 2 {
		return t, true
	}
	d.warnf("config", fmt.Errorf("%w: header type %#02x at 0x0e is not 0, 1 or 2", ErrInvalid, b[0x0e]))
	return 0, false
}

// resetMethodName reports whether s can be one of the kernel's reset
// method names (device_specific, acpi, flr, af_flr, pm, bus, cxl_bus).
func resetMethodName(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return s != ""
}

// readPCIIDFiles is the fallback for a function without a usable modalias.
func readPCIIDFiles(d *device, fn *PCIFunction) {
	setHex(d, "vendor", 16, true, &fn.Vendor)
	setHex(d, "device", 16, true, &fn.Device)
	setHex(d, "class", 24, true, &fn.Class)
	setHex(d, "subsystem_vendor", 16, false, &fn.SubsystemVendor)
	setHex(d, "subsystem_device", 16, false, &fn.SubsystemDevice)
}

// PCIModalias is a parsed PCI modalias.
type PCIModalias struct {
	Vendor, Device                   uint16
	SubsystemVendor, SubsystemDevice uint16
	Class                            uint32
}

// ParsePCIModalias reads the kernel's
// "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", checking every field.
func ParsePCIModalias(s string) (PCIModalias, error) {
	var m PCIModalias
	rest := s
	field := func(tag string, digits, bits int) (uint64, error) {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, tag); !ok || len(rest) < digits {
			return 0, fmt.Errorf("%w: modalias %q: no %d-digit %q field", ErrInvalid, s, digits, tag)
		}
		v, err := strconv.ParseUint(rest[:digits], 16, bits)
		if err != nil {
			return 0, fmt.Errorf("%w: modalias %q: %q field %q is not a %d-bit hex number", ErrInvalid, s, tag, rest[:digits], bits)
		}
		rest = rest[digits:]
		return v, nil
	}
	var vals [7]uint64
	for i, f := range []struct {
		tag          string
		digits, bits int
	}{
		{"pci:v", 8, 16}, {"d", 8, 16}, {"sv", 8, 16}, {"sd", 8, 16},
		{"bc", 2, 8}, {"sc", 2, 8}, {"i", 2, 8},
	} {
		v, err := field(f.tag, f.digits, f.bits)
		if err != nil {
			return m, err
		}
		vals[i] = v
	}
	if rest != "" {
		return m, fmt.Errorf("%w: modalias %q: trailing %q", ErrInvalid, s, rest)
	}
	m.Vendor, m.Device = uint16(vals[0]), uint16(vals[1])
	m.SubsystemVendor, m.SubsystemDevice = uint16(vals[2]), uint16(vals[3])
	m.Class = uint32(vals[4])<<16 | uint32(vals[5])<<8 | uint32(vals[6])
	return m, nil
}

// IsPCIName reports whether s is a PCI function's sysfs name, DDDD:BB:SS.F.
func IsPCIName(s string) bool {
	if strings.Count(s, ":") != 2 {
		return false
	}
	_, err := pciaddr.Parse(s)
	return err == nil
}

// controllerOf finds the nearest PCI function in a device path.
func controllerOf(dir string) string {
	for dir != "." && dir != "/" && dir != "" {
		if b := path.Base(dir); IsPCIName(b) {
			return b
		}
		dir = path.Dir(dir)
	}
	return ""
}
