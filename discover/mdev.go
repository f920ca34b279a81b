package discover

// Mediated devices (mdev), as the kernel lays them out. The facts come from
// the kernel's Documentation/driver-api/vfio-mediated-device.rst,
// Documentation/ABI/testing/sysfs-bus-vfio-mdev, drivers/vfio/mdev/
// mdev_core.c and mdev_sysfs.c, and the samples in samples/vfio-mdev/
// (mtty.c, mdpy.c, mbochs.c):
//
//   - A parent device (a PCI function such as an Intel GPU at
//     0000:00:02.0, or a virtual one such as the mtty sample's
//     /sys/devices/virtual/mtty/mtty) has a directory
//     mdev_supported_types/, with one directory per type.
//   - A type's directory is named "%s-%s": the parent's driver name, then
//     the driver's own name for the type: i915-GVTg_V5_4, nvidia-63,
//     mtty-2. It holds name (the type's name, or its directory name when
//     the driver gives none), description (optional), device_api
//     ("vfio-pci", "vfio-ccw", "vfio-ap"), available_instances ("%u"),
//     create (write-only: writing a UUID makes an instance) and devices/,
//     with one link per instance of the type, named by its UUID.
//   - An instance is a child of its parent, named by its UUID as the
//     kernel prints it with %pUl: 8-4-4-4-12 lower-case hex digits. It is
//     listed in /sys/bus/mdev/devices/UUID, a link to its directory, and
//     holds mdev_type (a link to its type's directory), remove
//     (write-only: writing 1 removes it), driver (the vendor driver's
//     mdev driver, vfio_mdev on kernels before 5.16) and iommu_group: VFIO
//     gives every instance a group of its own, whose /dev/vfio/N a VM
//     opens.
//   - Every parent is also linked from /sys/class/mdev_bus/NAME.
//
// Scan lists instances as devices of their own (Bus "mdev", Mdev set) and
// a PCI parent's types in its PCI part (PCI.MdevTypes). A parent that is
// not a PCI function (the mtty sample, s390's vfio_ccw and vfio_ap
// subchannels) is no Device: its instances are still listed, and each
// carries its type as read through its mdev_type link.

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/sysfs"
)

// BusMdev is the bus of mediated device instances.
const BusMdev Bus = "mdev"

const mdevBusDir = "sys/bus/mdev/devices"

// MdevType is one type of mediated device a parent offers: a directory of
// mdev_supported_types. Field comments name its files.
type MdevType struct {
	// ID is the directory's name, "i915-GVTg_V5_4": what create is given
	// through, and what libvirt, Proxmox (mdev=) and Incus (mdev=) name.
	ID          string
	Name        string // name; "" when absent or unreadable
	Description string // description; "" when absent
	DeviceAPI   string // device_api: "vfio-pci", "vfio-ccw", "vfio-ap"
	// AvailableInstances is available_instances: how many more instances
	// the parent can make of this type; nil when it could not be read.
	AvailableInstances *int
	// Instances are the UUIDs of the type's instances (devices/), sorted;
	// empty for a type read through an instance's mdev_type link.
	Instances []string
}

// Mdev holds what only a mediated device instance has.
type Mdev struct {
	UUID string   // the instance's name: 8-4-4-4-12 lower-case hex
	Type MdevType // read through the mdev_type link, without Instances
	// ParentPath is the parent device's directory ("/sys/devices/
	// pci0000:00/0000:00:02.0"); Device.Parent is its name.
	ParentPath string
	Driver     string // target of the driver link; "" when unbound
	// IOMMUGroup is the target of the iommu_group link, the group whose
	// /dev/vfio/N a VM opens; nil when it has none.
	IOMMUGroup *int
}

// OffersMdevType returns the parent's type with that ID, if it offers it.
func (p *PCI) OffersMdevType(id string) (MdevType, bool) {
	if p == nil {
		return MdevType{}, false
	}
	for _, t := range p.MdevTypes {
		if t.ID == id {
			return t, true
		}
	}
	return MdevType{}, false
}

// IsMdevUUID reports whether s is a UUID as the kernel names an instance:
// 8-4-4-4-12 lower-case hex digits.
func IsMdevUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// IsMdevTypeID reports whether s can be a type's directory name: the
// kernel makes it from a driver name and the driver's type name, which
// are letters, digits, '-', '_' and '.'; at most 64 bytes.
func IsMdevTypeID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// isDeviceAPI reports whether s has the shape of a device_api value,
// "vfio-pci": lower-case letters, digits and '-'.
func isDeviceAPI(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// maxMdevTypes bounds what one parent's mdev_supported_types is read for:
// real parents offer a few dozen types (NVIDIA's GPUs the most).
const maxMdevTypes = 256

// readMdevTypes reads d's mdev_supported_types, if it has one; nil when it
// has none. A type that cannot be read is a warning and is left out.
func readMdevTypes(d *sysfs.Dir) []MdevType {
	sub, err := d.Sub("mdev_supported_types")
	if err != nil {
		return nil // the common case: not an mdev parent
	}
	defer sub.Close()
	names, err := sub.List()
	if err != nil {
		d.Warn("mdev_supported_types", err)
		return nil
	}
	slices.Sort(names)
	if len(names) > maxMdevTypes {
		d.Warn("mdev_supported_types", fmt.Errorf("%w: %d types, more than %d; the rest are left out", sysfs.ErrInvalid, len(names), maxMdevTypes))
		names = names[:maxMdevTypes]
	}
	types := []MdevType{}
	for _, n := range names {
		if !IsMdevTypeID(n) {
			sub.Warn(n, fmt.Errorf("%w: %s is not an mdev type's name (letters, digits, '-', '_', '.'); left out", sysfs.ErrInvalid, quote.Text(n)))
			continue
		}
		td, err := sub.Sub(n)
		if err != nil {
			sub.Warn(n, err)
			continue
		}
		t, ok := readMdevType(td, n)
		if ok {
			t.Instances = readMdevInstances(td)
			types = append(types, t)
		}
		td.Close()
	}
	return types
}

// readMdevType reads one type's files; ok is false when device_api, which
// every type has, is missing or malformed.
func readMdevType(td *sysfs.Dir, id string) (MdevType, bool) {
	t := MdevType{ID: id}
	if s, ok := td.Attr("name", sysfs.Optional); ok {
		t.Name = s
	}
	if s, ok := td.Attr("description", sysfs.Optional); ok {
		t.Description = s
	}
	api, ok := td.Attr("device_api", sysfs.Required)
	if !ok {
		return t, false
	}
	if !isDeviceAPI(api) {
		td.Warn("device_api", fmt.Errorf("%w: %q is not a VFIO device API such as vfio-pci; type left out", sysfs.ErrInvalid, api))
		return t, false
	}
	t.DeviceAPI = api
	if n, ok := td.Dec("available_instances", sysfs.Required); ok {
		if n < 0 {
			td.Warn("available_instances", fmt.Errorf("%w: %d is negative", sysfs.ErrInvalid, n))
		} else {
			t.AvailableInstances = &n
		}
	}
	return t, true
}

// readMdevInstances lists a type's devices/, keeping the names that are
// UUIDs.
func readMdevInstances(td *sysfs.Dir) []string {
	dd, err := td.Sub("devices")
	if err != nil {
		td.Warn("devices", err)
		return nil
	}
	defer dd.Close()
	names, err := dd.List()
	if err != nil {
		td.Warn("devices", err)
		return nil
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		if IsMdevUUID(n) {
			// Reading the link is what puts it in a snapshot (a
			// Recorder sees links read, not names listed).
			dd.Link(n)
			out = append(out, n)
		} else {
			dd.Warn(n, fmt.Errorf("%w: %s is not an instance's UUID (8-4-4-4-12 lower-case hex); left out", sysfs.ErrInvalid, quote.Text(n)))
		}
	}
	return out
}

// mdevInstances lists /sys/bus/mdev/devices, with the rules of
// pciFunctions: an entry whose name is not a UUID is a warning and is left
// out, a broken one is kept with warnings.
func mdevInstances(ctx context.Context, f *sysfs.FS) ([]Device, []Warning, error) {
	kept, warns := busNames(f, mdevBusDir, IsMdevUUID, "a mediated device's UUID (8-4-4-4-12 lower-case hex)")
	if kept == nil {
		return nil, warns, ctx.Err()
	}
	devs, more, err := sysfs.ReadEntries(ctx, f, mdevBusDir, kept, func(d *sysfs.Dir) (Device, bool) { return readMdev(f, d) })
	if err != nil {
		return nil, nil, err
	}
	return devs, append(warns, more...), ctx.Err()
}

func readMdev(f *sysfs.FS, d *sysfs.Dir) (Device, bool) {
	m := &Mdev{UUID: d.Name()}
	dev := Device{Bus: BusMdev, Name: d.Name(), SysfsPath: d.Path(), Mdev: m}
	m.ParentPath = path.Dir(d.Path())
	if p := path.Base(m.ParentPath); p != "devices" && p != "/" && p != "." {
		dev.Parent = p
	}
	m.Driver = d.Target("driver")
	if g := d.Target("iommu_group"); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || !isDigits(g) {
			d.Warn("iommu_group", fmt.Errorf("%w: group %q is not a number", sysfs.ErrInvalid, g))
		} else {
			m.IOMMUGroup = &n
		}
	}
	readMdevTypeLink(f, d, m)
	if d.Vanished() {
		return dev, false
	}
	return dev, true
}

// readMdevTypeLink reads the instance's type through its mdev_type link.
func readMdevTypeLink(f *sysfs.FS, d *sysfs.Dir, m *Mdev) {
	id, err := d.Link("mdev_type")
	if err != nil {
		d.Warn("mdev_type", err)
		return
	}
	if !IsMdevTypeID(id) {
		d.Warn("mdev_type", fmt.Errorf("%w: points to %s, not an mdev type", sysfs.ErrInvalid, quote.Text(id)))
		return
	}
	m.Type.ID = id
	p, err := d.Resolve("mdev_type")
	if err != nil {
		d.Warn("mdev_type", err)
		return
	}
	td, err := f.OpenDir(p)
	if err != nil {
		d.Warn("mdev_type", fmt.Errorf("%w to %s", sysfs.ErrDangling, p))
		return
	}
	defer td.Close()
	t, _ := readMdevType(td, id)
	for _, w := range td.Warnings() {
		d.Warn("mdev_type", fmt.Errorf("%s: %w", w.Path, w.Err))
	}
	m.Type = t
}

func scanMdev(ctx context.Context, fs *sysfs.FS, res *Result) error {
	devs, warns, err := mdevInstances(ctx, fs)
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, warns...)
	slices.SortFunc(devs, compareDevices)
	res.Devices = append(res.Devices, devs...)
	return nil
}
