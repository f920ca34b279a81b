package readiness

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
)

// Mediated devices. An instance is assignable when VFIO has it (it has an
// IOMMU group, which VFIO gives every instance it registers) and no VM
// holds it. Sysfs does not say whether an instance is in use: a VM holds
// its group's /dev/vfio/N open, which only /proc/PID/fd shows. So busy is
// checked on the live host (Root "/") only, among the processes the user
// may look into; an instance held by another user's process is seen only
// by root. An instance opened through the iommufd cdev
// (/dev/vfio/devices/vfioX) is not seen.

// mdevReasons judges one instance.
func mdevReasons(d discover.Device, holders func(string) []int) []Reason {
	m := d.Mdev
	var rs []Reason
	if m.IOMMUGroup == nil {
		drv := "no driver is bound to it"
		if m.Driver != "" {
			drv = "its driver is " + quote.Text(m.Driver)
		}
		rs = append(rs, Reason{Code: NoIOMMU,
			Message: fmt.Sprintf("It has no IOMMU group, so VFIO has not registered it and no VM can open it (%s). "+
				"Load the parent's vendor driver with its VFIO part (kvmgt for Intel GVT-g, nvidia-vgpu-vfio for NVIDIA), or remove and create the instance again.", drv),
			Fix: []string{"echo 1 > " + sysfsPath("/sys/bus/mdev/devices/", d.Name, "/remove")},
		})
		return rs
	}
	if holders != nil {
		node := "/dev/vfio/" + strconv.Itoa(*m.IOMMUGroup)
		if pids := holders(node); len(pids) > 0 {
			ps := make([]string, len(pids))
			for i, p := range pids {
				ps[i] = strconv.Itoa(p)
			}
			rs = append(rs, Reason{Code: Busy,
				Message: fmt.Sprintf("It is in use: %s, its VFIO group, is open in process %s (a VM). An instance serves one VM at a time; "+
					"stop that VM, or create another instance of type %s.", node, strings.Join(ps, ", "), quote.Text(m.Type.ID)),
				Fix: []string{"ps -o pid,args -p " + strings.Join(ps, ",")},
			})
		}
	}
	return rs
}

// mdevParentReason says what a parent offers, for information: assigning
// the parent itself removes its instances.
func mdevParentReason(d discover.Device) Reason {
	var parts []string
	for _, t := range d.PCI.MdevTypes {
		left := "? left"
		if n := t.AvailableInstances; n != nil {
			left = strconv.Itoa(*n) + " left"
		}
		parts = append(parts, fmt.Sprintf("%s (%s, %d made)", quote.Text(t.ID), left, len(t.Instances)))
	}
	return Reason{Code: MdevParent,
		Message: fmt.Sprintf("It is a mediated device parent: it offers %s. VMs usually get instances of these types; "+
			"giving it whole to a VM removes them.", strings.Join(parts, ", "))}
}

// MdevTypeVerdict is v, a parent's verdict, as a config that asks it for
// an instance of type typ finds it (Proxmox's hostpci mdev=, Incus's
// gputype=mdev): blocked with mdev-exhausted when it does not offer typ or
// typ has no instances left (available_instances 0). The other reasons
// are about giving the parent whole, and are dropped. v is returned as it
// is for a device that is no PCI function.
func MdevTypeVerdict(v Verdict, typ string) Verdict {
	p := v.Device.PCI
	if p == nil {
		return v
	}
	v.Reasons = slices.DeleteFunc(slices.Clone(v.Reasons), func(r Reason) bool { return r.Code != NoIOMMU })
	t, ok := p.OffersMdevType(typ)
	switch {
	case !ok:
		offered := "none"
		if len(p.MdevTypes) > 0 {
			ids := make([]string, len(p.MdevTypes))
			for i, t := range p.MdevTypes {
				ids[i] = quote.Text(t.ID)
			}
			offered = strings.Join(ids, ", ")
		}
		v.Reasons = append(v.Reasons, Reason{Code: MdevExhausted,
			Message: fmt.Sprintf("It offers no mediated device type %s (it offers %s): no instance of it can be made here. "+
				"Pick one of the types it offers, or load the driver that offers it.", quote.Text(typ), offered)})
	case t.AvailableInstances != nil && *t.AvailableInstances == 0:
		rm := make([]string, len(t.Instances))
		for i, u := range t.Instances {
			rm[i] = "echo 1 > " + sysfsPath("/sys/bus/mdev/devices/", u, "/remove") + "   # if no VM uses it"
		}
		v.Reasons = append(v.Reasons, Reason{Code: MdevExhausted,
			Message: fmt.Sprintf("Its mediated device type %s has no instances left (available_instances is 0; %d exist): "+
				"no other can be made. Remove an instance no VM uses, or pick a smaller type.", quote.Text(typ), len(t.Instances)),
			Fix: rm})
	}
	sortReasons(v.Reasons)
	v.Assignable = !slices.ContainsFunc(v.Reasons, func(r Reason) bool { return r.Code.Blocking() })
	return v
}

// procHolders lists the processes that hold node open, by their
// /proc/PID/fd links; processes whose fds the user cannot read are
// skipped.
func procHolders(node string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join("/proc", e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // another user's process, or one that has ended
		}
		for _, fd := range fds {
			if t, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && t == node {
				pids = append(pids, pid)
				break
			}
		}
	}
	slices.Sort(pids)
	return pids
}
