// Package readiness says whether each device of a scan can be given to a
// VM now, and if not, why and what to do about it.
//
//	res, err := discover.Scan(ctx, discover.Options{Root: "/"})
//	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: "/"})
//	for _, v := range rep.Devices {
//		fmt.Println(v.Device.Name, v.Assignable)
//		for _, r := range v.Reasons {
//			fmt.Println("  ", r.Code, r.Message) // r.Fix: commands that help
//		}
//	}
//
// A device is assignable when none of its reasons blocks (Code.Blocking).
// Some reasons are information only: a PCI function or USB device bound to
// a host driver can still be assigned, because libvirt (managed='yes') and
// QEMU detach it. Rep.Groups holds the IOMMU groups with VFIO's verdict.
package readiness

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfs"
)

// Code names a reason, for machines. Codes are stable.
type Code string

// The codes, in the order a device's reasons are listed.
const (
	// PCI
	NoIOMMU     Code = "no-iommu"     // the IOMMU is off, or does not cover the function
	Bridge      Code = "bridge"       // class 0604/0609 or header type 1/2: not an endpoint
	HostBridge  Code = "host-bridge"  // class 0600
	ISABridge   Code = "isa-bridge"   // class 0601
	GroupShared Code = "group-shared" // another endpoint of the IOMMU group is on a host driver
	HostDriver  Code = "host-driver"  // bound to a host driver (USB: interfaces are); informational
	NoReset     Code = "no-reset"     // reset_method exists and is empty; a warning
	BootVGA     Code = "boot-vga"     // boot_vga is 1: the host console; a warning
	SRIOVPF     Code = "sriov-pf"     // an SR-IOV PF, with its VFs; informational
	SRIOVVF     Code = "sriov-vf"     // an SR-IOV VF, with its PF; informational
	// Unmanaged: a libvirt <hostdev> without managed='yes' names a
	// function on a host driver, which libvirt then refuses. Only check
	// -f gives it, since only a config says how the device is named.
	Unmanaged Code = "unmanaged"
	// NamedTwice: one VM's config names the device more than once, which
	// libvirt and QEMU refuse. Only check gives it, since only a config
	// says how often the device is named.
	NamedTwice Code = "named-twice"

	// USB
	Hub          Code = "hub"          // QEMU never passes hubs
	RootHub      Code = "root-hub"     // the host controller's own hub
	Unauthorized Code = "unauthorized" // authorized is 0 (USBGuard)
	NoAccess     Code = "no-access"    // the user cannot open the devnode read-write

	// Mediated devices (mdev.go)
	MdevParent    Code = "mdev-parent"    // a PCI function offering mdev types; informational
	MdevExhausted Code = "mdev-exhausted" // the type asked for is not offered, or has no instances left (MdevTypeVerdict)
	Busy          Code = "busy"           // an instance's VFIO group is open in a process (a VM)
)

// Codes lists every code, in order. The slice is the caller's own.
func Codes() []Code { return slices.Clone(allCodes) }

var allCodes = []Code{NoIOMMU, Bridge, HostBridge, ISABridge, GroupShared, Unmanaged, NamedTwice, HostDriver, NoReset, BootVGA,
	SRIOVPF, SRIOVVF, MdevParent, MdevExhausted, Busy, Hub, RootHub, Unauthorized, NoAccess}

// Blocking reports whether a reason with this code makes a device
// unassignable. host-driver, no-reset, boot-vga and the SR-IOV codes do
// not: VFIO and QEMU take such a device, and the message says what it
// costs. no-reset is a warning rather than a block because libvirt leaves
// a vfio-pci device's reset to VFIO, and VFIO opens a device it cannot
// reset; the device may then carry state from one guest to the next.
func (c Code) Blocking() bool {
	switch c {
	case HostDriver, NoReset, BootVGA, SRIOVPF, SRIOVVF, MdevParent:
		return false
	}
	return true
}

// Reason is one thing that stands between a device and a VM, or that the
// user should know before assigning it.
type Reason struct {
	Code Code
	// Message says what is wrong and what to do, in one paragraph.
	Message string
	// Fix holds commands or config lines that fix it, one per line, for
	// a report; it may be empty.
	Fix []string
}

// Verdict is one device's readiness.
type Verdict struct {
	Device     discover.Device
	Assignable bool
	Reasons    []Reason // by code order; empty only when nothing is worth saying
}

// Has reports whether the verdict has a reason with code c.
func (v Verdict) Has(c Code) bool {
	return slices.ContainsFunc(v.Reasons, func(r Reason) bool { return r.Code == c })
}

// Group is one IOMMU group: VFIO hands a group to one owner as a whole.
type Group struct {
	Number  int
	Members []discover.Device // the scanned functions in the group, by address
	// Shared lists the endpoints on host drivers that keep some member
	// of the group from being assigned; empty when the group is viable.
	Shared []discover.Device
	// Nothing is true when the group holds no endpoint at all, only
	// bridges: nothing in it can be assigned.
	Nothing bool
}

// Viable reports whether every endpoint of the group can be assigned
// without taking another one from a host driver.
func (g Group) Viable() bool { return len(g.Shared) == 0 && !g.Nothing }

// Report is the readiness of one scan.
type Report struct {
	// IOMMU is false when no IOMMU group exists: DMA remapping is off,
	// and no PCI function can be assigned.
	IOMMU   bool
	Devices []Verdict // one per device, in the order given
	// Warnings are what could not be read; the verdicts are still given.
	Warnings []sysfs.Warning
	Groups   []Group // by number
	// Vendor is "intel" or "amd" when a host bridge says which, for
	// the kernel parameter no-iommu advises; "" otherwise.
	Vendor string
}

// Verdict returns the verdict for the device with that sysfs name.
func (r *Report) Verdict(name string) (Verdict, bool) {
	for _, v := range r.Devices {
		if v.Device.Name == name {
			return v, true
		}
	}
	return Verdict{}, false
}

// Options says where the devices were scanned.
type Options struct {
	// Root is the directory the devices were scanned beneath; "" is "/".
	// /sys/kernel/iommu_groups is read beneath it. Only when it is "/"
	// are the USB device nodes checked (no-access): a captured tree's
	// devnodes say nothing about this host.
	Root string

	// access checks that the current user can open a device node for
	// reading and writing; nil uses access(2). Tests set it.
	access func(devnode string) error
	// holders lists the processes that hold a device node open (busy);
	// nil scans /proc on the live host. Tests set it.
	holders func(devnode string) []int
}

// Assess gives each device its verdict. It needs the whole scan, not only
// the devices asked about, because an IOMMU group's other members decide
// whether a function can be assigned. It fails only when Root cannot be
// read.
func Assess(devs []discover.Device, opts Options) (*Report, error) {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	fsys, err := sysfs.NewFS(root)
	if err != nil {
		return nil, err
	}
	groups, err := fsys.IOMMUGroups()
	fsys.Close()
	rep := &Report{IOMMU: len(groups) > 0, Vendor: cpuVendor(devs)}
	if err != nil {
		// The iommu_group links still say what the groups are.
		rep.Warnings = append(rep.Warnings, sysfs.Warning{Err: err})
	}
	// A capture may hold a device's iommu_group link without the group
	// directory it points to; the link alone says the IOMMU was on.
	if slices.ContainsFunc(devs, func(d discover.Device) bool { return d.PCI != nil && d.PCI.IOMMUGroup != nil }) {
		rep.IOMMU = true
	}
	rep.Groups = buildGroups(devs)
	byNumber := map[int]*Group{}
	for i := range rep.Groups {
		byNumber[rep.Groups[i].Number] = &rep.Groups[i]
	}

	access := opts.access
	if filepath.Clean(root) != "/" {
		access = nil
	} else if access == nil {
		access = func(p string) error { return unix.Access(p, unix.R_OK|unix.W_OK) }
	}

	holders := opts.holders
	if holders == nil && filepath.Clean(root) == "/" {
		holders = procHolders // a captured tree's VFIO groups are not this host's
	}

	for _, d := range devs {
		var rs []Reason
		switch {
		case d.PCI != nil:
			rs = pciReasons(d, rep, byNumber)
			if len(d.PCI.MdevTypes) > 0 {
				rs = append(rs, mdevParentReason(d))
			}
		case d.USB != nil:
			rs = usbReasons(d, access)
		case d.Mdev != nil:
			rs = mdevReasons(d, holders)
		}
		sortReasons(rs)
		rep.Devices = append(rep.Devices, Verdict{Device: d, Reasons: rs,
			Assignable: !slices.ContainsFunc(rs, func(r Reason) bool { return r.Code.Blocking() })})
	}
	return rep, nil
}

// cpuVendor guesses the IOMMU's maker from the host bridges.
func cpuVendor(devs []discover.Device) string {
	for _, d := range devs {
		if d.PCI == nil || d.PCI.Class>>8 != 0x0600 {
			continue
		}
		switch d.VendorID {
		case 0x8086:
			return "intel"
		case 0x1022, 0x1d94: // AMD, Hygon
			return "amd"
		}
	}
	return ""
}

// accessError turns what access(2) said into words.
func accessError(devnode string, err error) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Sprintf("%s does not exist (is /dev a devtmpfs here, or does a container hide it?)", devnode)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Sprintf("you (uid %d) cannot open %s for reading and writing", unix.Getuid(), devnode)
	case errors.Is(err, unix.EROFS):
		return fmt.Sprintf("%s is on a read-only file system", devnode)
	}
	return fmt.Sprintf("%s cannot be opened for reading and writing: %v", devnode, err)
}

// UnmanagedHostdev is v as a libvirt <hostdev> without managed='yes'
// finds it: a function on a host driver is then refused by libvirt
// ("Unmanaged PCI device ... must be manually detached from the host").
// v is returned as it is when that does not apply.
func UnmanagedHostdev(v Verdict) Verdict {
	return unmanaged(v, "<hostdev>", "<hostdev mode='subsystem' type='pci' managed='yes'>")
}

// UnmanagedInterface is UnmanagedHostdev for a libvirt <interface
// type='hostdev'> (an SR-IOV VF as the guest's network card), which takes
// managed= as a <hostdev> does.
func UnmanagedInterface(v Verdict) Verdict {
	return unmanaged(v, "<interface type='hostdev'>", "<interface type='hostdev' managed='yes'>")
}

func unmanaged(v Verdict, elem, fix string) Verdict {
	if v.Device.PCI == nil || !v.Has(HostDriver) {
		return v
	}
	d := v.Device
	v.Reasons = append(slices.Clone(v.Reasons), Reason{Code: Unmanaged,
		Message: fmt.Sprintf("Its %s has no managed='yes', and it is on the host driver %s: libvirt refuses "+
			"to start the VM (\"Unmanaged PCI device %s must be manually detached from the host\"). Add "+
			"managed='yes' to the %s, or detach it before the VM starts.", elem, d.PCI.Driver, d.Name, elem),
		Fix: []string{
			fix,
			"# or: virsh nodedev-detach " + nodedev(d.Name),
		}})
	sortReasons(v.Reasons)
	v.Assignable = false
	return v
}

// Duplicate is v for a device that one VM's config names more than once,
// at each of where (FILE:LINE, or the references as given): libvirt
// refuses such a domain, and QEMU opens a host device once.
func Duplicate(v Verdict, where []string) Verdict {
	times := "twice"
	if len(where) > 2 {
		times = fmt.Sprintf("%d times", len(where))
	}
	v.Reasons = append(slices.Clone(v.Reasons), Reason{Code: NamedTwice,
		Message: fmt.Sprintf("The VM's config names %s %s (%s), and a host device is given to a VM once: "+
			"libvirt refuses the domain (\"Hostdev already exists in the domain configuration\"), "+
			"QEMU's vfio-pci fails (\"device is already attached\"), and a second usb-host never gets the device. "+
			"Keep one reference to it.", v.Device.Name, times, strings.Join(where, ", ")),
	})
	sortReasons(v.Reasons)
	v.Assignable = false
	return v
}

// sortReasons puts reasons in the order of Codes.
func sortReasons(rs []Reason) {
	slices.SortStableFunc(rs, func(a, b Reason) int {
		return cmp.Compare(slices.Index(allCodes, a.Code), slices.Index(allCodes, b.Code))
	})
}
