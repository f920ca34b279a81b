package readiness

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
)

// IsBridge reports whether a function is a PCI-to-PCI (or CardBus)
// bridge: class 0604 or 0609, or a header type other than 0 in config.
// VFIO ignores bridges when it decides whether a group is viable, and
// libvirt refuses to assign them.
func IsBridge(p *discover.PCI) bool {
	if p.HeaderType != nil && *p.HeaderType != 0 {
		return true
	}
	switch p.Class >> 8 {
	case 0x0604, 0x0607, 0x0609:
		return true
	}
	return false
}

// Endpoint reports whether a function is one VFIO counts in its group and
// can hand out: no PCI bridge (IsBridge), host bridge or ISA bridge.
func Endpoint(p *discover.PCI) bool { return !IsBridge(p) && !notEndpoint(p) }

// notEndpoint reports whether a function is a host or ISA bridge: never
// assignable, so never what a group is judged for.
func notEndpoint(p *discover.PCI) bool {
	c := p.Class >> 8
	return c == 0x0600 || c == 0x0601
}

// VFIOHolder reports whether a driver leaves a function free for VFIO:
// vfio-pci and its vendor variants (mlx5_vfio_pci, pds_vfio,
// xe-vfio-pci, ...), and pci-stub, the placeholder that claims a device so
// that no host driver does.
func VFIOHolder(driver string) bool {
	return driver == "pci-stub" || strings.Contains(driver, "vfio")
}

// HeldByHost reports whether a function is bound to a driver that keeps
// its group from VFIO: one that is not a VFIOHolder. pcieport does not
// (since Linux 5.19 it is marked driver_managed_dma, as the VFIO drivers
// and pci-stub are).
func HeldByHost(p *discover.PCI) bool {
	return p.Driver != "" && !VFIOHolder(p.Driver) && p.Driver != "pcieport"
}

// buildGroups gathers the functions by their iommu_group links. The group
// directories are not needed: a capture may lack them, and the links name
// the group.
func buildGroups(devs []discover.Device) []Group {
	byNumber := map[int]*Group{}
	var groups []*Group
	for _, d := range devs {
		if d.PCI == nil || d.PCI.IOMMUGroup == nil {
			continue
		}
		g := byNumber[*d.PCI.IOMMUGroup]
		if g == nil {
			g = &Group{Number: *d.PCI.IOMMUGroup}
			byNumber[g.Number] = g
			groups = append(groups, g)
		}
		g.Members = append(g.Members, d)
	}
	out := make([]Group, 0, len(groups))
	for _, g := range groups {
		slices.SortFunc(g.Members, comparePCI)
		var endpoints, host []discover.Device
		for _, m := range g.Members {
			if IsBridge(m.PCI) {
				continue
			}
			if HeldByHost(m.PCI) {
				host = append(host, m)
			}
			if !notEndpoint(m.PCI) {
				endpoints = append(endpoints, m)
			}
		}
		// A lone endpoint on a host driver is only detached; the group
		// is shared when assigning one of its endpoints would take
		// another function from the host.
		g.Nothing = len(endpoints) == 0
		for _, e := range endpoints {
			if others := slices.DeleteFunc(slices.Clone(host), func(h discover.Device) bool { return h.Name == e.Name }); len(others) > 0 {
				g.Shared = host
				break
			}
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

func comparePCI(a, b discover.Device) int {
	aa, ba := a.PCI.Address, b.PCI.Address
	switch {
	case aa != nil && ba != nil:
		return cmp.Or(aa.Compare(*ba), cmp.Compare(a.Name, b.Name))
	case aa != nil:
		return -1
	case ba != nil:
		return 1
	}
	return cmp.Compare(a.Name, b.Name)
}

// nodedev is libvirt's name for a PCI function: pci_0000_01_00_0.
func nodedev(name string) string {
	return quote.Shell("pci_" + strings.NewReplacer(":", "_", ".", "_").Replace(name))
}

// sysfsPath writes dir+name+file as one shell word. Scan gives only names
// the kernel makes, which need no quoting; a Device built by hand may
// hold anything, and a command hostdev advises must not run it.
func sysfsPath(dir, name, file string) string {
	return quote.Shell(dir + name + file)
}

// named lists functions as "0000:00:1f.2 (ahci)".
func named(devs []discover.Device) string {
	parts := make([]string, len(devs))
	for i, d := range devs {
		parts[i] = fmt.Sprintf("%s (%s)", d.Name, d.PCI.Driver)
	}
	return strings.Join(parts, ", ")
}

// iommuParams is the kernel command line that turns the IOMMU on. Intel's
// is off unless asked for; AMD's is on whenever the firmware enables it,
// and amd_iommu takes no "on" (people write it, and the kernel ignores
// it): only amd_iommu=off must go.
func iommuParams(vendor string) string {
	switch vendor {
	case "intel":
		return "intel_iommu=on iommu=pt"
	case "amd":
		return "iommu=pt, without amd_iommu=off (amd_iommu=on is not an option: the AMD IOMMU is on once the firmware enables it)"
	}
	return "intel_iommu=on iommu=pt (Intel), or iommu=pt without amd_iommu=off (AMD, whose IOMMU is on once the firmware enables it)"
}

func pciReasons(d discover.Device, rep *Report, groups map[int]*Group) []Reason {
	p := d.PCI
	// What can never be assigned gets that one reason: the others would
	// change nothing.
	switch {
	case IsBridge(p):
		what := "a PCI bridge (class " + fmt.Sprintf("%04x", uint32(p.Class)>>8) + ")"
		if p.HeaderType != nil && *p.HeaderType != 0 {
			what = fmt.Sprintf("a bridge (header type %d in config)", *p.HeaderType)
		}
		return []Reason{{Code: Bridge, Message: "It is " + what + ", not an endpoint: libvirt refuses it " +
			`("Non-endpoint PCI devices cannot be assigned to guests") and VFIO ignores it. ` +
			"Assign the devices behind it instead."}}
	case p.Class>>8 == 0x0600:
		return []Reason{{Code: HostBridge, Message: "It is a host bridge (class 0600), the CPU's own link to PCI, " +
			"not an endpoint: it stays with the host."}}
	case p.Class>>8 == 0x0601:
		return []Reason{{Code: ISABridge, Message: "It is an ISA bridge (class 0601), the chipset's LPC controller " +
			"behind the keyboard controller, TPM and firmware flash: not an endpoint, it stays with the host."}}
	}

	var rs []Reason
	switch {
	case !rep.IOMMU:
		rs = append(rs, Reason{Code: NoIOMMU,
			Message: "The IOMMU is off (/sys/kernel/iommu_groups is empty), and VFIO needs it to assign any PCI device. " +
				"Turn on VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, and boot with " + iommuParams(rep.Vendor) + ".",
			Fix: []string{
				"# add " + iommuParams(rep.Vendor) + " to GRUB_CMDLINE_LINUX in /etc/default/grub, then:",
				"update-grub && reboot",
			}})
	case p.IOMMUGroup == nil:
		rs = append(rs, Reason{Code: NoIOMMU,
			Message: "It has no IOMMU group although the IOMMU is on: the IOMMU does not cover it, so VFIO cannot take it."})
	default:
		if g := groups[*p.IOMMUGroup]; g != nil {
			var others []discover.Device
			for _, m := range g.Members {
				if m.Name != d.Name && !IsBridge(m.PCI) && HeldByHost(m.PCI) {
					others = append(others, m)
				}
			}
			if len(others) > 0 {
				rs = append(rs, groupShared(g, others))
			}
		}
	}
	if HeldByHost(p) {
		rs = append(rs, Reason{Code: HostDriver,
			Message: fmt.Sprintf("It is bound to the host driver %s. libvirt detaches it when the VM starts if its "+
				"<hostdev> says managed='yes' (virt-manager and virt-install write that; libvirt's own default is no). "+
				"Otherwise, and for QEMU run by hand, detach it first.", p.Driver),
			Fix: []string{
				"virsh nodedev-detach " + nodedev(d.Name),
				"# or by hand:",
				"modprobe vfio-pci",
				"echo vfio-pci > " + sysfsPath("/sys/bus/pci/devices/", d.Name, "/driver_override"),
				"echo " + quote.Shell(d.Name) + " > " + sysfsPath("/sys/bus/pci/devices/", d.Name, "/driver/unbind"),
				"echo " + quote.Shell(d.Name) + " > /sys/bus/pci/drivers_probe",
			}})
	}
	if p.ResetMethod != nil && *p.ResetMethod == "" {
		rs = append(rs, Reason{Code: NoReset,
			Message: "reset_method is empty: its reset methods were turned off by writing to that file (the kernel " +
				"hides the file of a function that has none). VFIO still takes it, but cannot reset it: it may keep " +
				"state from one VM to the next, or fail after a guest reboot.",
			Fix: []string{
				"# give it back the kernel's own reset methods:",
				"echo default > " + sysfsPath("/sys/bus/pci/devices/", d.Name, "/reset_method"),
			}})
	}
	if p.BootVGA {
		rs = append(rs, Reason{Code: BootVGA,
			Message: "The host's boot console is on it (boot_vga is 1): once it is detached the host has no screen, " +
				"and the guest may need the card's ROM from a file, because the firmware has already run it. " +
				"A second GPU for the host avoids both.",
			Fix: []string{
				"# keep the host's framebuffer off it: add initcall_blacklist=sysfb_init to the kernel command line (video=efifb:off on kernels before simpledrm)",
			}})
	}
	if len(p.VirtFns) > 0 {
		rs = append(rs, Reason{Code: SRIOVPF,
			Message: fmt.Sprintf("It is an SR-IOV physical function with %d VFs (%s). VMs usually get the VFs; "+
				"detaching the PF from its driver removes them.", len(p.VirtFns), strings.Join(p.VirtFns, ", "))})
	}
	if p.PhysFn != "" {
		rs = append(rs, Reason{Code: SRIOVVF,
			Message: fmt.Sprintf("It is an SR-IOV virtual function of %s, which must keep its driver for this VF to exist.", p.PhysFn)})
	}
	return rs
}

func groupShared(g *Group, others []discover.Device) Reason {
	r := Reason{Code: GroupShared,
		Message: fmt.Sprintf("IOMMU group %d is shared with %s. VFIO hands out a group whole, so every other endpoint "+
			"in it must be assigned to the same VM or left without a host driver. Splitting the group needs the "+
			"ACS override patch (pcie_acs_override=downstream,multifunction), which gives up the isolation the "+
			"group stands for; another slot may give the card a group of its own.", g.Number, named(others)),
	}
	for _, o := range others {
		r.Fix = append(r.Fix, "virsh nodedev-detach "+nodedev(o.Name)+"   # or assign it to the same VM")
	}
	return r
}
