package readiness

import (
	"slices"

	"github.com/hostdev/hostdev/discover"
)

// TakenTogether is v for a device whose VM's config also names the
// devices in taken (their sysfs names): the hypervisor detaches those from
// their host drivers for the same VM, so members of v's IOMMU group among
// them no longer make the group shared. A member on a host driver that
// taken leaves out keeps group-shared, which then names only such members.
// A verdict without group-shared comes back as it is.
func (r *Report) TakenTogether(v Verdict, taken []string) Verdict {
	i := slices.IndexFunc(v.Reasons, func(re Reason) bool { return re.Code == GroupShared })
	p := v.Device.PCI
	if i < 0 || p == nil || p.IOMMUGroup == nil {
		return v
	}
	n := slices.IndexFunc(r.Groups, func(g Group) bool { return g.Number == *p.IOMMUGroup })
	if n < 0 {
		return v
	}
	g := &r.Groups[n]
	var others []discover.Device
	for _, m := range g.Members {
		if m.Name != v.Device.Name && !IsBridge(m.PCI) && HeldByHost(m.PCI) && !slices.Contains(taken, m.Name) {
			others = append(others, m)
		}
	}
	v.Reasons = slices.Clone(v.Reasons)
	if len(others) > 0 {
		v.Reasons[i] = groupShared(g, others)
	} else {
		v.Reasons = slices.Delete(v.Reasons, i, i+1)
	}
	v.Assignable = !slices.ContainsFunc(v.Reasons, func(re Reason) bool { return re.Code.Blocking() })
	return v
}
