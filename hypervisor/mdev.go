package hypervisor

// Mediated device instances (bus mdev) in the dialects that name them:
//
//	libvirt  <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
//	           <source><address uuid='UUID'/></source></hostdev>
//	         (docs/formatdomain.rst, "Host device assignment"; model is
//	         vfio-pci, vfio-ccw or vfio-ap, the type's device_api)
//	QEMU     -device vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID
//	         (docs/system/devices/vfio... and the kernel's
//	         Documentation/driver-api/vfio-mediated-device.rst; any sysfs
//	         path of the instance works, its last element is the UUID)
//
// xl and the 2007 seed have no form for them.

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
)

// mdevModels are the libvirt models, the VFIO device APIs an mdev type
// may have (device_api).
var mdevModels = []string{"vfio-pci", "vfio-ccw", "vfio-ap"}

// isMdevSysfsdev reports whether a vfio-pci sysfsdev= names a mediated
// device rather than a PCI function: its last element has a UUID's shape,
// or it is under /sys/bus/mdev.
func isMdevSysfsdev(p string) bool {
	base := path.Base(p)
	return strings.HasPrefix(path.Clean(p), "/sys/bus/mdev/") || len(base) == 36 && strings.Count(base, "-") == 4
}

// qemuMdevRef reads vfio-pci,sysfsdev=PATH where PATH is an instance.
func qemuMdevRef(orig, sysfsdev string) (Ref, error) {
	base := path.Base(sysfsdev)
	if !discover.IsMdevUUID(base) {
		if discover.IsMdevUUID(strings.ToLower(base)) {
			return Ref{}, errorf(DialectQEMU, 0, orig, "sysfsdev=%s: sysfs names a mediated device in lower case; write /sys/bus/mdev/devices/%s",
				quote.Text(sysfsdev), strings.ToLower(base))
		}
		return Ref{}, errorf(DialectQEMU, 0, orig, "sysfsdev=%s does not end in a PCI address or a mediated device's UUID; "+
			"write /sys/bus/pci/devices/DDDD:BB:SS.F or /sys/bus/mdev/devices/UUID", quote.Text(sysfsdev))
	}
	sel, err := match.New(match.Term{Key: match.KeyBus, Values: []string{"mdev"}}, match.Term{Key: match.KeyUUID, Values: []string{base}})
	if err != nil {
		return Ref{}, selectorError(DialectQEMU, 0, orig, err)
	}
	return Ref{Dialect: DialectQEMU, Text: orig, Selector: sel}, nil
}

// libvirtMdevTerms reads a <hostdev type='mdev'>'s source.
func libvirtMdevTerms(m *libvirtxml.DomainHostdevSubsysMDev) ([]match.Term, string) {
	switch {
	case m.Model == "":
		return nil, "has no model=; libvirt needs the type's device API: model='vfio-pci' (or vfio-ccw, vfio-ap)"
	case !slices.Contains(mdevModels, m.Model):
		return nil, fmt.Sprintf("model='%s' is not vfio-pci, vfio-ccw or vfio-ap", quote.Text(m.Model))
	case m.Source == nil || m.Source.Address == nil || m.Source.Address.UUID == "":
		return nil, "has no <source><address uuid='...'/></source>; give the instance's UUID, as /sys/bus/mdev/devices lists it"
	}
	return []match.Term{
		{Key: match.KeyBus, Values: []string{"mdev"}},
		{Key: match.KeyUUID, Values: []string{m.Source.Address.UUID}},
	}, ""
}

// mdevWritable refuses mediated devices in the formats that have no form
// for them.
func mdevWritable(f Format, items []Resolved) error {
	for _, it := range items {
		d := it.Device
		if d.Bus != discover.BusMdev || d.Mdev == nil {
			continue
		}
		name, typ, parent := quote.Text(d.Name), quote.Text(d.Mdev.Type.ID), quote.Text(d.Parent)
		switch f {
		case FormatQEMU, FormatQMP, FormatLibvirt, FormatDevnode:
		case FormatProxmox:
			return unsupported{fmt.Sprintf("mediated device %s: Proxmox makes its mediated devices itself when the VM starts and takes no existing one; for a new instance of its type write hostpciN: %s,mdev=%s", name, parent, typ)}
		case FormatIncus:
			return unsupported{fmt.Sprintf("mediated device %s: Incus makes its mediated devices itself and takes no existing one; for a new instance of its type: incus config device add \"$VM\" NAME gpu gputype=mdev mdev=%s pci=%s", name, typ, parent)}
		default:
			return unsupported{fmt.Sprintf("mediated device %s: the %s format has no way to name one; use qemu, qmp, libvirt or devnode", name, f)}
		}
	}
	return nil
}

// mdevSysfsdev is the sysfsdev= QEMU is given for an instance.
func mdevSysfsdev(d discover.Device) string { return "/sys/bus/mdev/devices/" + d.Mdev.UUID }

// qemuMdevOption writes -device vfio-pci for an instance; ok is false for
// any other device.
func qemuMdevOption(id string, d discover.Device) (string, bool) {
	if d.Bus != discover.BusMdev || d.Mdev == nil {
		return "", false
	}
	return fmt.Sprintf("-device vfio-pci,id=%s,sysfsdev=%s\n", qemuValue(id), qemuValue(mdevSysfsdev(d))), true
}

// qmpMdevArgs is device_add's arguments for an instance; ok is false for
// any other device.
func qmpMdevArgs(id string, d discover.Device) (any, bool) {
	if d.Bus != discover.BusMdev || d.Mdev == nil {
		return nil, false
	}
	return struct {
		Driver   string `json:"driver"`
		ID       string `json:"id"`
		Sysfsdev string `json:"sysfsdev"`
	}{"vfio-pci", id, mdevSysfsdev(d)}, true
}

// libvirtMdev makes h a <hostdev type='mdev'> for the instance, keeping
// what a libvirt reference's own element said (model, display, ramfb).
func libvirtMdev(h *libvirtxml.DomainHostdev, d discover.Device) {
	m := &libvirtxml.DomainHostdevSubsysMDev{}
	if h.SubsysMDev != nil {
		*m = *h.SubsysMDev
	}
	if m.Model == "" {
		m.Model = "vfio-pci"
		if slices.Contains(mdevModels, d.Mdev.Type.DeviceAPI) {
			m.Model = d.Mdev.Type.DeviceAPI
		}
	}
	m.Source = &libvirtxml.DomainHostdevSubsysMDevSource{Address: &libvirtxml.DomainAddressMDev{UUID: d.Mdev.UUID}}
	h.SubsysUSB, h.SubsysPCI = nil, nil
	h.Managed = ""
	h.SubsysMDev = m
}

// MDevType is the mediated device type a reference asks to be created on
// the device it names (Proxmox's hostpci mdev=TYPE, Incus's gpu
// gputype=mdev mdev=TYPE, a selector's exact mdev-type= on a PCI
// function), or "".
func (r Ref) MDevType() string {
	if r.pve != nil {
		return r.pve.mdev
	}
	if r.incus != nil && r.incus.cfg["gputype"] == "mdev" {
		return r.incus.cfg["mdev"]
	}
	t, _ := r.Selector.Exact(match.KeyMdevType)
	return t
}
