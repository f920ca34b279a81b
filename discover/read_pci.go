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

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/sysfs"
)

const pciBusDir = "sys/bus/pci/devices"

// pciFunctions lists the functions under /sys/bus/pci/devices, with the
// same rules as usbDevices: broken ones are kept with warnings, vanished
// ones are dropped, and a root without /sys/bus/pci has none. Functions
// that listed devices sit below but the bus directory lacks are added.
func pciFunctions(ctx context.Context, f *sysfs.FS) ([]Device, []Warning, error) {
	names, warns := pciFunctionNames(f)
	if names == nil {
		return nil, warns, ctx.Err() // no bus directory: nothing is unlisted either
	}
	fns, more, err := sysfs.ReadEntries(ctx, f, pciBusDir, names, readPCI)
	if err != nil {
		return nil, nil, err
	}
	fns, more = addUnlisted(f, fns, append(warns, more...))
	return fns, more, ctx.Err()
}

// pciFunctionNames lists /sys/bus/pci/devices, sorted; nil when there is
// no such directory. An entry whose name is not a PCI address is a warning
// and is left out: the name is the function's identity, and it reaches
// ids, paths and the commands hostdev advises.
func pciFunctionNames(f *sysfs.FS) ([]string, []Warning) {
	return busNames(f, pciBusDir, isPCIName, "a PCI address (DDDD:BB:SS.F)")
}

// busNames lists the entries of a bus's devices folder whose names are
// valid; each other entry is a warning that says it is not what, and is
// left out. It is nil when the folder cannot be read.
func busNames(f *sysfs.FS, dir string, valid func(string) bool, what string) ([]string, []Warning) {
	names, warns := f.ListBus(dir)
	if names == nil {
		return nil, warns
	}
	kept := names[:0]
	for _, n := range names {
		if valid(n) {
			kept = append(kept, n)
			continue
		}
		warns = append(warns, Warning{Path: "/" + dir, Err: fmt.Errorf(
			"%w: entry %s is not %s; left out", sysfs.ErrInvalid, quote.Text(n), what)})
	}
	return kept, warns
}

// pciFunctionsNamed reads the named PCI functions of /sys/bus/pci/devices.
func pciFunctionsNamed(f *sysfs.FS, names []string) ([]Device, []Warning) {
	names = slices.DeleteFunc(sortedSet(names), func(n string) bool { return !isPCIName(n) })
	fns, warns, _ := sysfs.ReadEntries(context.Background(), f, pciBusDir, names, readPCI)
	return fns, warns
}

// addUnlisted adds the functions that listed PCI functions or USB root hubs
// sit below but that /sys/bus/pci/devices lacks (old kernels and partial
// captures have such holes). Leaving them out would hide a USB controller
// or a bridge that the listed devices depend on.
func addUnlisted(f *sysfs.FS, fns []Device, warns []Warning) ([]Device, []Warning) {
	listed := make(map[string]bool, len(fns))
	for _, fn := range fns {
		listed[fn.Name] = true
	}
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, path.Dir(fn.SysfsPath))
	}
	// USB root hubs name their controller; resolving their links is cheap.
	if names, _ := f.ListBus(usbBusDir); len(names) > 0 {
		if usb, err := f.OpenDir(usbBusDir); err == nil {
			for _, n := range names {
				if strings.HasPrefix(n, "usb") {
					if p, err := usb.Resolve(n); err == nil {
						dirs = append(dirs, path.Dir(p))
					}
				}
			}
			usb.Close()
		}
	}
	slices.Sort(dirs)
	for _, dir := range slices.Compact(dirs) {
		// Every PCI function on the way down counts, not only the nearest.
		for d := dir; d != "." && d != "/" && strings.Contains(strings.TrimPrefix(d, "/"), "/"); d = path.Dir(d) {
			name := path.Base(d)
			if !isPCIName(name) || listed[name] {
				continue
			}
			listed[name] = true
			fn, w, err := pciFunctionAt(f, d)
			if err != nil {
				continue
			}
			warns = append(warns, w...)
			warns = append(warns, Warning{Device: name, Path: fn.SysfsPath,
				Err: fmt.Errorf("in /sys/devices but not in /%s; listed anyway", pciBusDir)})
			fns = append(fns, fn)
		}
	}
	return fns, warns
}

// pciFunctionAt reads the function whose directory is p
// ("/sys/devices/pci0000:00/0000:00:1d.7"). It is for functions that a
// device's path goes through but /sys/bus/pci/devices does not list.
func pciFunctionAt(f *sysfs.FS, p string) (Device, []Warning, error) {
	d, err := f.OpenDir(p)
	if err != nil {
		return Device{}, nil, err
	}
	defer d.Close()
	fn, ok := readPCI(d)
	if !ok {
		return Device{}, nil, fmt.Errorf("open %s: %w", d.Path(), fs.ErrNotExist)
	}
	return fn, d.Warnings(), nil
}

func readPCI(d *sysfs.Dir) (dev Device, ok bool) {
	name := d.Name()
	dev = Device{Bus: BusPCI, Name: name, SysfsPath: d.Path()}
	fn := &PCI{}
	dev.PCI = fn
	if isPCIName(name) {
		a, _ := pciaddr.Parse(name)
		fn.Address = &a
	} else {
		d.Warn("", fmt.Errorf("%w: %q is not a PCI address (DDDD:BB:SS.F)", sysfs.ErrInvalid, name))
	}

	raw, err := d.Read("modalias")
	switch {
	case err == nil:
		m, perr := parsePCIModalias(raw)
		if perr == nil {
			dev.VendorID, dev.ProductID = m.vendor, m.device
			fn.SubsystemVendorID, fn.SubsystemProductID = m.subVendor, m.subDevice
			fn.Class = m.class
			break
		}
		d.Warn("modalias", fmt.Errorf("%w; reading vendor, device and class instead", perr))
		readPCIIDFiles(d, &dev)
	case errors.Is(err, fs.ErrNotExist):
		if d.Gone() {
			return dev, false
		}
		d.Warn("modalias", errors.New("missing; reading vendor, device and class instead"))
		readPCIIDFiles(d, &dev)
	default:
		d.Warn("modalias", fmt.Errorf("%w; reading vendor, device and class instead", err))
		readPCIIDFiles(d, &dev)
	}

	if v, ok := d.Hex("revision", 8, sysfs.Optional); ok {
		fn.Revision = new(uint8(v))
	}
	fn.Driver = d.Target("driver")
	if s, ok := d.Attr("driver_override", sysfs.Optional); ok && s != "(null)" {
		fn.DriverOverride = s
	}
	if g := d.Target("iommu_group"); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || !isDigits(g) {
			d.Warn("iommu_group", fmt.Errorf("%w: group %q is not a number", sysfs.ErrInvalid, g))
		} else {
			fn.IOMMUGroup = &n
		}
	}
	if n, ok := d.Dec("numa_node", sysfs.Optional); ok && n >= 0 {
		fn.NUMANode = &n
	}
	fn.PhysFn = pciTarget(d, "physfn")
	// VFs are numbered from 0 without gaps; probing the links costs one
	// readlink for a function without SR-IOV, where listing the
	// directory would cost far more.
	for i := 0; ; i++ {
		link := "virtfn" + strconv.Itoa(i)
		vf := d.Target(link)
		if vf == "" {
			break
		}
		if isPCIName(vf) {
			fn.VirtFns = append(fn.VirtFns, vf)
		} else {
			d.Warn(link, fmt.Errorf("%w: points to %s, not a PCI function", sysfs.ErrInvalid, quote.Text(vf)))
		}
	}
	if s, ok := d.Attr("reset_method", sysfs.Optional); ok {
		fn.ResetMethod = new(strings.Join(strings.Fields(s), " "))
		for _, m := range strings.Fields(s) {
			if !resetMethodName(m) {
				d.Warn("reset_method", fmt.Errorf("%w: %q is not a reset method's name", sysfs.ErrInvalid, s))
				fn.ResetMethod = nil
				break
			}
		}
	}
	fn.BootVGA, _ = d.Flag("boot_vga")
	fn.MdevTypes = readMdevTypes(d)
	if fn.Class.Base() == 0x06 {
		fn.HeaderType = readHeaderType(d)
	}
	if p := path.Base(path.Dir(d.Path())); isPCIName(p) {
		dev.Parent = p
	}
	if d.Vanished() {
		return dev, false
	}
	return dev, true
}

// pciTarget is the PCI function a link points to, "" when there is none;
// a link to something else is a warning.
func pciTarget(d *sysfs.Dir, link string) string {
	t := d.Target(link)
	if t != "" && !isPCIName(t) {
		d.Warn(link, fmt.Errorf("%w: points to %s, not a PCI function", sysfs.ErrInvalid, quote.Text(t)))
		return ""
	}
	return t
}

// readHeaderType reads the header type from config, which unprivileged
// readers see the first 64 bytes of. Reading config brings a function in
// D3cold back to power (the kernel's pci_config_pm_runtime_get), which
// would wake a laptop's sleeping GPU on every scan: so only bridges (base
// class 06) are read, the one class where the header type tells more than
// the class does, and not when power_state says D3cold.
func readHeaderType(d *sysfs.Dir) *uint8 {
	if s, ok := d.Attr("power_state", sysfs.Optional); ok && s == "D3cold" {
		return nil
	}
	b, err := d.ReadBytes("config", 64)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		d.Warn("config", err)
		return nil
	case len(b) <= 0x0e:
		d.Warn("config", fmt.Errorf("%w: %d bytes, too short for the header type at 0x0e", sysfs.ErrInvalid, len(b)))
		return nil
	}
	// Layouts 0 (endpoint), 1 (PCI bridge) and 2 (CardBus) exist; 0x7f is
	// what a function that does not answer reads as.
	if t := b[0x0e] & 0x7f; t <= 2 {
		return &t
	}
	d.Warn("config", fmt.Errorf("%w: header type %#02x at 0x0e is not 0, 1 or 2", sysfs.ErrInvalid, b[0x0e]))
	return nil
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
func readPCIIDFiles(d *sysfs.Dir, dev *Device) {
	setHex(d, "vendor", 16, sysfs.Required, &dev.VendorID)
	setHex(d, "device", 16, sysfs.Required, &dev.ProductID)
	setHex(d, "class", 24, sysfs.Required, &dev.PCI.Class)
	setHex(d, "subsystem_vendor", 16, sysfs.Optional, &dev.PCI.SubsystemVendorID)
	setHex(d, "subsystem_device", 16, sysfs.Optional, &dev.PCI.SubsystemProductID)
}

// pciModalias is a parsed PCI modalias.
type pciModalias struct {
	vendor, device       ID
	subVendor, subDevice ID
	class                PCIClass
}

// parsePCIModalias reads the kernel's
// "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", checking every field.
func parsePCIModalias(s string) (pciModalias, error) {
	var m pciModalias
	rest := s
	field := func(tag string, digits, bits int) (uint64, error) {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, tag); !ok || len(rest) < digits {
			return 0, fmt.Errorf("%w: modalias %q: no %d-digit %q field", sysfs.ErrInvalid, s, digits, tag)
		}
		v, err := strconv.ParseUint(rest[:digits], 16, bits)
		if err != nil {
			return 0, fmt.Errorf("%w: modalias %q: %q field %q is not a %d-bit hex number", sysfs.ErrInvalid, s, tag, rest[:digits], bits)
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
		return m, fmt.Errorf("%w: modalias %q: trailing %q", sysfs.ErrInvalid, s, rest)
	}
	m.vendor, m.device = ID(vals[0]), ID(vals[1])
	m.subVendor, m.subDevice = ID(vals[2]), ID(vals[3])
	m.class = PCIClass(vals[4]<<16 | vals[5]<<8 | vals[6])
	return m, nil
}

// modalias is the modalias the kernel would print for the function, which
// is what the name database is asked with.
func modaliasOf(d *Device) string {
	p := d.PCI
	return fmt.Sprintf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
		uint16(d.VendorID), uint16(d.ProductID), uint16(p.SubsystemVendorID), uint16(p.SubsystemProductID),
		p.Class.Base(), p.Class.Sub(), p.Class.ProgIF())
}

// isPCIName reports whether s is a PCI function's sysfs name, DDDD:BB:SS.F.
func isPCIName(s string) bool {
	if strings.Count(s, ":") != 2 {
		return false
	}
	_, err := pciaddr.Parse(s)
	return err == nil
}
