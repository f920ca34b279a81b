package sysfstest

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// MdevType describes one mediated device type a parent offers, for
// Host.AddMdevType. The layout is the kernel's (drivers/vfio/mdev/
// mdev_sysfs.c, Documentation/ABI/testing/sysfs-bus-vfio-mdev):
// PARENT/mdev_supported_types/ID/{name,description,device_api,
// available_instances,create,devices/}, and a link
// sys/class/mdev_bus/PARENT to the parent.
type MdevType struct {
	// Parent is the address of a PCI function added before
	// ("0000:00:02.0"), or, for a parent that is not one, its directory
	// ("sys/devices/virtual/mtty/mtty"), which is made if need be.
	Parent string
	// ID is the type's directory name: the parent's driver, '-', the
	// driver's name for the type: "i915-GVTg_V5_4", "mtty-2".
	ID          string
	Name        string // name; "" writes ID, as the kernel does without a pretty name
	Description string // description; "" omits it (a driver may give none)
	DeviceAPI   string // device_api; "" writes "vfio-pci"
	// AvailableInstances is available_instances; AddMdev lowers it by
	// one for each instance of the type, down to 0.
	AvailableInstances int

	// Omit lists files not to write; Raw gives exact contents, as for
	// PCIFunction.
	Omit []string
	Raw  map[string]string
}

// Mdev describes one mediated device instance, for Host.AddMdev.
type Mdev struct {
	// UUID names the instance; the kernel prints it in lower case,
	// 8-4-4-4-12.
	UUID string
	// Parent and Type name a type added with AddMdevType.
	Parent string
	Type   string
	// Driver is the mdev driver bound to it (the vendor driver's, or
	// vfio_mdev on kernels before 5.16); "" leaves it unbound.
	Driver string
	// IOMMUGroup, when set, makes the iommu_group link and the group's
	// devices/UUID link back: VFIO gives each instance its own group.
	IOMMUGroup *int

	// Omit lists files and links not to write ("mdev_type", "driver");
	// Raw gives exact contents for files.
	Omit []string
	Raw  map[string]string
}

type mdevTypeNode struct {
	dir       string
	available int
	availFile bool
}

// mdevParentDir is the directory of a parent named as MdevType.Parent
// says, made if it is not a PCI function.
func (h *Host) mdevParentDir(parent string) (string, bool) {
	if n := h.pci[parent]; n != nil {
		return n.dir, true
	}
	if strings.HasPrefix(parent, "sys/devices/") && h.validRel(parent) {
		h.mkdir(parent)
		return parent, true
	}
	h.failf("mdev parent %q: neither a PCI function added before nor a directory under sys/devices", parent)
	return "", false
}

// AddMdevType writes a type's directory below its parent, and returns it
// ("sys/devices/pci0000:00/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4").
func (h *Host) AddMdevType(t MdevType) string {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	pdir, ok := h.mdevParentDir(t.Parent)
	if !ok {
		return ""
	}
	if t.ID == "" || strings.ContainsAny(t.ID, "/\x00") || t.ID == "." || t.ID == ".." {
		h.failf("mdev type %q: not a directory name", t.ID)
		return ""
	}
	dir := pdir + "/mdev_supported_types/" + t.ID
	if h.mdevTypes[dir] != nil {
		h.failf("mdev type %s of %s: added twice", t.ID, t.Parent)
		return ""
	}
	if !h.dirs[pdir+"/mdev_supported_types"] {
		h.mkdir(pdir + "/mdev_supported_types")
		h.mkdir("sys/class/mdev_bus")
		h.link("sys/class/mdev_bus/"+path.Base(pdir), pdir)
	}
	h.mkdir(dir + "/devices")
	var a attrs
	a.set("available_instances", fmt.Sprintf("%d\n", t.AvailableInstances))
	a.set("create", "")
	if t.Description != "" {
		a.set("description", t.Description+"\n")
	}
	api := t.DeviceAPI
	if api == "" {
		api = "vfio-pci"
	}
	a.set("device_api", api+"\n")
	name := t.Name
	if name == "" {
		name = t.ID
	}
	a.set("name", name+"\n")
	h.writeAttrs(dir, &a, t.Omit, t.Raw)
	h.mdevTypes[dir] = &mdevTypeNode{dir: dir, available: t.AvailableInstances,
		availFile: wanted("available_instances", t.Omit, t.Raw)}
	return dir
}

// AddMdev writes an instance as the kernel's mdev_device_create does: its
// directory below the parent, named by the UUID, with remove, mdev_type,
// driver, subsystem and iommu_group; the type's devices/UUID link; and
// sys/bus/mdev/devices/UUID. It returns the instance's directory.
func (h *Host) AddMdev(m Mdev) string {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	pdir, ok := h.mdevParentDir(m.Parent)
	if !ok {
		return ""
	}
	t := h.mdevTypes[pdir+"/mdev_supported_types/"+m.Type]
	if t == nil {
		h.failf("mdev %s: type %s of %s not added", m.UUID, m.Type, m.Parent)
		return ""
	}
	if m.UUID == "" || strings.ContainsAny(m.UUID, "/\x00") || m.UUID == "." || m.UUID == ".." {
		h.failf("mdev %q: not a directory name", m.UUID)
		return ""
	}
	dir := pdir + "/" + m.UUID
	if h.dirs[dir] {
		h.failf("mdev %s: added twice", m.UUID)
		return ""
	}
	h.bus("mdev")
	h.mkdir(dir)
	var a attrs
	a.set("remove", "")
	uevent := ""
	if m.Driver != "" {
		uevent = "DRIVER=" + m.Driver + "\n"
	}
	a.set("uevent", uevent)
	h.writeAttrs(dir, &a, m.Omit, m.Raw)
	if wanted("mdev_type", m.Omit, m.Raw) {
		h.link(dir+"/mdev_type", t.dir)
	}
	if m.Driver != "" && wanted("driver", m.Omit, m.Raw) {
		h.link(dir+"/driver", h.driver("mdev", m.Driver, dir))
	}
	if wanted("subsystem", m.Omit, m.Raw) {
		h.link(dir+"/subsystem", "sys/bus/mdev")
	}
	if m.IOMMUGroup != nil {
		h.AddIOMMUGroup(*m.IOMMUGroup)
		g := "sys/kernel/iommu_groups/" + strconv.Itoa(*m.IOMMUGroup)
		if wanted("iommu_group", m.Omit, m.Raw) {
			h.link(dir+"/iommu_group", g)
		}
		h.link(g+"/devices/"+m.UUID, dir)
	}
	h.link(t.dir+"/devices/"+m.UUID, dir)
	h.link("sys/bus/mdev/devices/"+m.UUID, dir)
	if t.available > 0 {
		t.available--
		if t.availFile {
			h.write(t.dir+"/available_instances", fmt.Sprintf("%d\n", t.available))
		}
	}
	return dir
}
