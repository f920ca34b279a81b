package discover

import "slices"

// Clone returns a deep copy of d: its USB and PCI parts and their slices
// are its own, so that changing one changes nothing the other sees. What
// a Watcher hands out is such a copy.
func (d Device) Clone() Device {
	if d.USB != nil {
		u := *d.USB
		u.Interfaces = slices.Clone(u.Interfaces)
		d.USB = &u
	}
	if d.PCI != nil {
		p := *d.PCI
		p.VirtFns = slices.Clone(p.VirtFns)
		d.PCI = &p
	}
	return d
}
