package sysfstest

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// PCIFunction describes one PCI function for Host.AddPCI. Field comments
// name the sysfs file each becomes; the kernel's format is used for each.
type PCIFunction struct {
	// Address is the function's name, "0000:00:1f.3", in lower case. The
	// domain may be wider than 4 digits: "10000:00:00.0".
	Address string
	// Parent is the address of the bridge the function sits behind; its
	// directory is then inside the bridge's. "" puts the function on a
	// root bus, in sys/devices/pciDDDD:BB. A VF with no Parent sits next
	// to its PF.
	Parent string

	Vendor          uint16 // vendor, 0x%04x
	Device          uint16 // device, 0x%04x
	SubsystemVendor uint16 // subsystem_vendor, 0x%04x
	SubsystemDevice uint16 // subsystem_device, 0x%04x
	// Class is class, 0x%06x: base class, subclass, prog-if. A class of
	// 0x0604xx (PCI bridge) gives header type 1 in config.
	Class    uint32
	Revision uint8 // revision, 0x%02x

	// NUMANode is numa_node; nil writes -1 (none).
	NUMANode *int
	// Driver is the bound driver; "" leaves the function unbound.
	Driver string
	// DriverOverride is driver_override; "" writes "(null)".
	DriverOverride string
	// IOMMUGroup, when set, makes the iommu_group link and the group's
	// devices/ADDR link back.
	IOMMUGroup *int

	// PhysFn makes this function a VF of the PF at that address (added
	// before): a physfn link here and the PF's next virtfnN link.
	PhysFn string
	// TotalVFs, when positive, makes this function an SR-IOV PF:
	// sriov_totalvfs, and sriov_numvfs counting the VFs added for it.
	TotalVFs int

	// ResetMethod is reset_method, like "flr bus"; "" omits the file.
	ResetMethod string
	// BootVGA is boot_vga, "1" or "0"; nil omits the file.
	BootVGA *bool
	// HeaderType, when set, replaces the header type the class implies,
	// in config: a bridge that does not say so in its class.
	HeaderType *byte
	// Config writes a 64-byte config file with the IDs, class, revision,
	// header type and, for a bridge, its bus numbers, so that lspci can
	// read the tree.
	Config bool

	// Omit lists files and links not to write: "modalias", "driver", ...
	Omit []string
	// Raw gives exact contents for files, replacing the normal ones or
	// adding others; "modalias": "pci:v0000\n" makes a malformed one.
	Raw map[string]string
}

// Modalias returns the function's modalias as the kernel prints it,
// including the newline.
func (f PCIFunction) Modalias() string {
	return fmt.Sprintf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n",
		f.Vendor, f.Device, f.SubsystemVendor, f.SubsystemDevice,
		byte(f.Class>>16), byte(f.Class>>8), byte(f.Class))
}

func (f PCIFunction) headerType() byte {
	if f.HeaderType != nil {
		return *f.HeaderType
	}
	switch f.Class >> 8 {
	case 0x0604, 0x0609:
		return 1
	case 0x0607:
		return 2
	}
	return 0
}

type pciNode struct {
	dir    string
	parent string
	bus    int
	driver string // the bound driver, "" if none
	// native is the driver drivers_probe binds it to, as the kernel's ID
	// tables would: the one it was added with, unless that was vfio-pci
	// or pci-stub.
	native   string
	override string   // driver_override, "" for none
	links    []string // root-relative links outside dir, removed with it
	group    int      // the IOMMU group, -1 if none
	physFn   string   // the PF's address, for a VF
	// config is the config file to patch with bus numbers, "" if none.
	config      string
	secondary   int // lowest bus directly below; -1 before any child
	subordinate int // highest bus anywhere below
	numVFs      int
	numVFsFile  bool
}

// parsePCIAddress splits "DDDD:BB:SS.F" into the root bus directory name
// ("pciDDDD:BB") and the bus number.
func parsePCIAddress(a string) (rootBus string, bus int, ok bool) {
	dom, rest, ok1 := strings.Cut(a, ":")
	b, sf, ok2 := strings.Cut(rest, ":")
	s, f, ok3 := strings.Cut(sf, ".")
	if !ok1 || !ok2 || !ok3 || len(dom) < 4 || len(dom) > 8 || len(b) != 2 || len(s) != 2 || len(f) != 1 {
		return "", 0, false
	}
	for _, p := range []string{dom, b, s} {
		if _, err := strconv.ParseUint(p, 16, 32); err != nil || strings.ToLower(p) != p {
			return "", 0, false
		}
	}
	n, _ := strconv.ParseUint(b, 16, 8)
	slot, _ := strconv.ParseUint(s, 16, 8)
	if f[0] < '0' || f[0] > '7' || slot > 0x1f {
		return "", 0, false
	}
	return "pci" + dom + ":" + b, int(n), true
}

// AddPCI writes the function's directory, its attributes and links, and its
// link in sys/bus/pci/devices, and returns its directory
// ("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0").
func (h *Host) AddPCI(f PCIFunction) string {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	rootBus, busNum, ok := parsePCIAddress(f.Address)
	if !ok {
		h.failf("PCI %q: not an address like 0000:00:1f.3", f.Address)
		return ""
	}
	if h.pci[f.Address] != nil {
		h.failf("PCI %s: added twice", f.Address)
		return ""
	}
	var pf *pciNode
	if f.PhysFn != "" {
		if pf = h.pci[f.PhysFn]; pf == nil {
			h.failf("PCI %s: PF %s not added", f.Address, f.PhysFn)
			return ""
		}
		if f.Parent == "" {
			f.Parent = pf.parent
		}
	}
	dir := "sys/devices/" + rootBus + "/" + f.Address
	if f.Parent != "" {
		p := h.pci[f.Parent]
		if p == nil {
			h.failf("PCI %s: parent %s not added", f.Address, f.Parent)
			return ""
		}
		dir = p.dir + "/" + f.Address
	}

	h.bus("pci")
	h.mkdir(dir)
	var a attrs
	a.set("class", fmt.Sprintf("0x%06x\n", f.Class))
	if f.Config {
		a.set("config", string(f.config(busNum)))
	}
	a.set("device", fmt.Sprintf("0x%04x\n", f.Device))
	a.set("driver_override", "(null)\n")
	if f.DriverOverride != "" {
		a.set("driver_override", f.DriverOverride+"\n")
	}
	a.set("irq", "0\n")
	a.set("modalias", f.Modalias())
	numa := -1
	if f.NUMANode != nil {
		numa = *f.NUMANode
	}
	a.set("numa_node", fmt.Sprintf("%d\n", numa))
	if f.ResetMethod != "" {
		a.set("reset_method", f.ResetMethod+"\n")
	}
	if f.BootVGA != nil {
		a.set("boot_vga", "0\n")
		if *f.BootVGA {
			a.set("boot_vga", "1\n")
		}
	}
	nres := 13
	if f.headerType() == 1 {
		nres = 17
	}
	a.set("resource", strings.Repeat("0x0000000000000000 0x0000000000000000 0x0000000000000000\n", nres))
	a.set("revision", fmt.Sprintf("0x%02x\n", f.Revision))
	if f.TotalVFs > 0 {
		a.set("sriov_numvfs", "0\n")
		a.set("sriov_totalvfs", fmt.Sprintf("%d\n", f.TotalVFs))
	}
	a.set("subsystem_device", fmt.Sprintf("0x%04x\n", f.SubsystemDevice))
	a.set("subsystem_vendor", fmt.Sprintf("0x%04x\n", f.SubsystemVendor))
	var drv string
	if f.Driver != "" {
		drv = "DRIVER=" + f.Driver + "\n"
	}
	a.set("uevent", fmt.Sprintf("%sPCI_CLASS=%X\nPCI_ID=%04X:%04X\nPCI_SUBSYS_ID=%04X:%04X\nPCI_SLOT_NAME=%s\nMODALIAS=%s",
		drv, f.Class, f.Vendor, f.Device, f.SubsystemVendor, f.SubsystemDevice, f.Address, f.Modalias()))
	a.set("vendor", fmt.Sprintf("0x%04x\n", f.Vendor))
	h.writeAttrs(dir, &a, f.Omit, f.Raw)

	if f.Driver != "" && wanted("driver", f.Omit, f.Raw) {
		h.link(dir+"/driver", h.driver("pci", f.Driver, dir))
	}
	if wanted("subsystem", f.Omit, f.Raw) {
		h.link(dir+"/subsystem", "sys/bus/pci")
	}
	if f.IOMMUGroup != nil {
		h.AddIOMMUGroup(*f.IOMMUGroup)
		g := fmt.Sprintf("sys/kernel/iommu_groups/%d", *f.IOMMUGroup)
		if wanted("iommu_group", f.Omit, f.Raw) {
			h.link(dir+"/iommu_group", g)
		}
		h.link(g+"/devices/"+f.Address, dir)
	}
	h.link("sys/bus/pci/devices/"+f.Address, dir)

	n := &pciNode{dir: dir, parent: f.Parent, bus: busNum, secondary: -1, subordinate: -1,
		group: -1, physFn: f.PhysFn, links: []string{"sys/bus/pci/devices/" + f.Address}}
	if f.Driver != "" && wanted("driver", f.Omit, f.Raw) {
		n.driver = f.Driver
	}
	n.override = f.DriverOverride
	if f.Driver != "vfio-pci" && f.Driver != "pci-stub" {
		n.native = f.Driver
	}
	if f.IOMMUGroup != nil {
		n.group = *f.IOMMUGroup
		n.links = append(n.links, fmt.Sprintf("sys/kernel/iommu_groups/%d/devices/%s", n.group, f.Address))
	}
	if f.Config && f.headerType() == 1 && wanted("config", f.Omit, f.Raw) {
		n.config = dir + "/config"
	}
	n.numVFsFile = f.TotalVFs > 0 && wanted("sriov_numvfs", f.Omit, f.Raw)
	h.pci[f.Address] = n

	if pf != nil {
		if wanted("physfn", f.Omit, f.Raw) {
			h.link(dir+"/physfn", pf.dir)
		}
		vf := fmt.Sprintf("%s/virtfn%d", pf.dir, pf.numVFs)
		h.link(vf, dir)
		n.links = append(n.links, vf)
		pf.numVFs++
		if pf.numVFsFile {
			h.write(pf.dir+"/sriov_numvfs", fmt.Sprintf("%d\n", pf.numVFs))
		}
	}
	h.noteBus(f.Parent, busNum)
	return dir
}

// noteBus records that bus exists below the bridge parent, and patches the
// secondary and subordinate bus numbers of parent and its ancestors.
func (h *Host) noteBus(parent string, bus int) {
	first := true
	for p := h.pci[parent]; p != nil; p = h.pci[p.parent] {
		changed := false
		if first && (p.secondary < 0 || bus < p.secondary) {
			p.secondary, changed = bus, true
		}
		if bus > p.subordinate {
			p.subordinate, changed = bus, true
		}
		first = false
		if !changed {
			break
		}
		if p.config != "" {
			h.patch(p.config, 0x19, []byte{byte(max(p.secondary, 0)), byte(max(p.subordinate, 0))})
		}
	}
}

// config is the first 64 bytes of the function's configuration space.
func (f PCIFunction) config(bus int) []byte {
	c := make([]byte, 64)
	le := binary.LittleEndian
	le.PutUint16(c[0x00:], f.Vendor)
	le.PutUint16(c[0x02:], f.Device)
	if f.Driver != "" {
		le.PutUint16(c[0x04:], 0x0006) // command: memory space, bus master
	}
	c[0x08] = f.Revision
	c[0x09] = byte(f.Class)
	c[0x0a] = byte(f.Class >> 8)
	c[0x0b] = byte(f.Class >> 16)
	c[0x0e] = f.headerType()
	switch c[0x0e] {
	case 0:
		le.PutUint16(c[0x2c:], f.SubsystemVendor)
		le.PutUint16(c[0x2e:], f.SubsystemDevice)
		c[0x3d] = 1 // interrupt pin INTA
	case 1:
		c[0x18] = byte(bus) // primary; secondary and subordinate follow children
	}
	return c
}
