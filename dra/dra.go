package dra

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	resourceapi "k8s.io/api/resource/v1"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra/draattr"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/vfio"
)

// DriverName is the name the driver publishes under; see draattr.DriverName.
const DriverName = draattr.DriverName

// The attributes, by name, typed for the API's maps; draattr has them as
// plain strings. See the package documentation for what each holds and on
// which devices.
const (
	AttrBusType            resourceapi.QualifiedName = draattr.BusType
	AttrVendorID           resourceapi.QualifiedName = draattr.VendorID
	AttrProductID          resourceapi.QualifiedName = draattr.ProductID
	AttrPreparable         resourceapi.QualifiedName = draattr.Preparable
	AttrClass              resourceapi.QualifiedName = draattr.Class
	AttrDriver             resourceapi.QualifiedName = draattr.Driver
	AttrVendorName         resourceapi.QualifiedName = draattr.VendorName
	AttrProductName        resourceapi.QualifiedName = draattr.ProductName
	AttrSerial             resourceapi.QualifiedName = draattr.Serial
	AttrPort               resourceapi.QualifiedName = draattr.Port
	AttrBusnum             resourceapi.QualifiedName = draattr.Busnum
	AttrDevnum             resourceapi.QualifiedName = draattr.Devnum
	AttrBus                resourceapi.QualifiedName = draattr.Bus
	AttrDeviceNumber       resourceapi.QualifiedName = draattr.DeviceNumber
	AttrInterfaceClasses   resourceapi.QualifiedName = draattr.InterfaceClasses
	AttrManufacturer       resourceapi.QualifiedName = draattr.Manufacturer
	AttrProduct            resourceapi.QualifiedName = draattr.Product
	AttrSpeed              resourceapi.QualifiedName = draattr.Speed
	AttrController         resourceapi.QualifiedName = draattr.Controller
	AttrPCIBusID           resourceapi.QualifiedName = draattr.PCIBusID
	AttrIOMMUGroup         resourceapi.QualifiedName = draattr.IOMMUGroup
	AttrIOMMUGroupViable   resourceapi.QualifiedName = draattr.IOMMUGroupViable
	AttrPrepareTakes       resourceapi.QualifiedName = draattr.PrepareTakes
	AttrPrepareBlockedBy   resourceapi.QualifiedName = draattr.PrepareBlockedBy
	AttrNUMANode           resourceapi.QualifiedName = draattr.NUMANode
	AttrSRIOVPhysFn        resourceapi.QualifiedName = draattr.SRIOVPhysFn
	AttrSRIOVNumVFs        resourceapi.QualifiedName = draattr.SRIOVNumVFs
	AttrSubsystemVendorID  resourceapi.QualifiedName = draattr.SubsystemVendorID
	AttrSubsystemProductID resourceapi.QualifiedName = draattr.SubsystemProductID
	AttrBootVGA            resourceapi.QualifiedName = draattr.BootVGA
	AttrPCIeRoot           resourceapi.QualifiedName = draattr.PCIeRoot
)

// The API's limits (k8s.io/api/resource/v1), which Build and Slices keep.
const (
	MaxDevicesPerSlice        = resourceapi.ResourceSliceMaxDevices                          // 128
	MaxTaintedDevicesPerSlice = resourceapi.ResourceSliceMaxDevicesWithAdvancedFeatures      // 64, once a device has taints
	MaxAttributes             = resourceapi.ResourceSliceMaxAttributesAndCapacitiesPerDevice // 32, attributes and capacities
	MaxStringLength           = draattr.MaxValueLength                                       // 64 bytes
	MaxNameLength             = 63                                                           // a DNS label
)

// NameSource says what a device's name was derived from.
type NameSource string

// The sources of a name.
const (
	BySerial  NameSource = "serial"  // a USB device's serial, unique on the node
	ByPort    NameSource = "port"    // a USB device's bus and port path
	ByAddress NameSource = "address" // a PCI function's address
)

// Device is one published device and the hostdev device it stands for.
type Device struct {
	// API is the device as published: name, attributes and taints.
	API resourceapi.Device
	// Source is the device as scanned.
	Source discover.Device
	// NamedBy says what API.Name was derived from.
	NamedBy NameSource
	// Preparable is false when a prepare would refuse the device now; its
	// taints then say why.
	Preparable bool
	// Takes lists the other functions of a PCI function's IOMMU group in
	// its own slot (a GPU's audio function), which a prepare binds to
	// vfio-pci with it.
	Takes []string
	// BlockedBy lists the endpoints of a PCI function's IOMMU group in
	// other slots that host drivers hold: while there is one, the
	// function is not preparable.
	BlockedBy []string
}

// Inventory is what one host publishes.
type Inventory struct {
	// Devices are in the scan's order: USB devices by bus and port, then
	// PCI functions by address.
	Devices []Device
	// Warnings say which devices were left out, or lost attributes, and why.
	Warnings []sysfs.Warning
}

// Build turns a readiness report into the devices a node publishes. It
// needs the report of a whole scan: the other members of a PCI function's
// IOMMU group decide whether it can be prepared.
func Build(rep *readiness.Report) *Inventory {
	return build(rep, MaxAttributes)
}

func build(rep *readiness.Report, maxAttrs int) *Inventory {
	inv := &Inventory{}
	groups := map[int]*readiness.Group{}
	for i := range rep.Groups {
		groups[rep.Groups[i].Number] = &rep.Groups[i]
	}
	var kept []readiness.Verdict
	for _, v := range rep.Devices {
		if never(v) {
			continue
		}
		if v.Device.USB == nil && v.Device.PCI == nil {
			inv.Warnings = append(inv.Warnings, sysfs.Warning{Device: v.Device.Name,
				Err: fmt.Errorf("not published: a mediated device (bus %s); hostdev-dra publishes USB devices and PCI functions", v.Device.Bus)})
			continue
		}
		if v.Device.PCI != nil && v.Device.PCI.Address == nil {
			inv.Warnings = append(inv.Warnings, sysfs.Warning{Device: v.Device.Name,
				Err: fmt.Errorf("not published: the name of PCI function %q is not an address", v.Device.Name)})
			continue
		}
		kept = append(kept, v)
	}
	names, sources := deviceNames(kept)
	inv.Devices = make([]Device, 0, len(kept))
	seen := make(map[string]bool, len(kept))
	for i, v := range kept {
		d := Device{Source: v.Device, NamedBy: sources[i]}
		if names[i] == "" || seen[names[i]] {
			inv.Warnings = append(inv.Warnings, sysfs.Warning{Device: v.Device.Name,
				Err: fmt.Errorf("not published: its name %q is another device's too", names[i])})
			continue
		}
		var g *readiness.Group
		if p := v.Device.PCI; p != nil && p.IOMMUGroup != nil {
			g = groups[*p.IOMMUGroup]
		}
		d.Takes, d.BlockedBy = groupPlan(v.Device, g)
		d.Preparable = true
		var taints []resourceapi.DeviceTaint
		for _, r := range v.Reasons {
			if !r.Code.Blocking() || (r.Code == readiness.GroupShared && len(d.BlockedBy) == 0) {
				continue
			}
			d.Preparable = false
			taints = append(taints, resourceapi.DeviceTaint{Key: DriverName + "/" + string(r.Code),
				Effect: resourceapi.DeviceTaintEffectNoSchedule})
		}
		attrs := attributes(d, g)
		if len(attrs) > maxAttrs {
			var dropped []string
			for _, a := range attrs[maxAttrs:] {
				dropped = append(dropped, string(a.name))
			}
			inv.Warnings = append(inv.Warnings, sysfs.Warning{Device: v.Device.Name,
				Err: fmt.Errorf("attributes past the API's %d dropped: %s", maxAttrs, strings.Join(dropped, ", "))})
			attrs = attrs[:maxAttrs]
		}
		d.API = resourceapi.Device{Name: names[i], Taints: taints,
			Attributes: make(map[resourceapi.QualifiedName]resourceapi.DeviceAttribute, len(attrs))}
		for _, a := range attrs {
			d.API.Attributes[a.name] = a.value()
		}
		// The last line of defence: a device the API server would refuse
		// would take its whole slice down with it.
		if err := validateDevice(d.API); err != nil {
			inv.Warnings = append(inv.Warnings, sysfs.Warning{Device: v.Device.Name,
				Err: fmt.Errorf("not published: %w", err)})
			continue
		}
		seen[names[i]] = true
		inv.Devices = append(inv.Devices, d)
	}
	return inv
}

// never reports whether a device is of a kind that is never handed out.
func never(v readiness.Verdict) bool {
	for _, c := range []readiness.Code{readiness.Hub, readiness.RootHub,
		readiness.Bridge, readiness.HostBridge, readiness.ISABridge} {
		if v.Has(c) {
			return true
		}
	}
	return false
}

// groupPlan says, for a PCI function in group g, which other functions of
// the group a prepare takes with it and which keep it from being prepared,
// by vfio's own rule (vfio.GroupPlan), so that what is published and what
// a prepare does cannot disagree.
func groupPlan(d discover.Device, g *readiness.Group) (takes, blockedBy []string) {
	if d.PCI == nil || g == nil {
		return nil, nil
	}
	p, err := vfio.GroupPlan(d, g.Members)
	for _, m := range p.Take {
		if m.Name != d.Name {
			takes = append(takes, m.Name)
		}
	}
	var blocked *vfio.BlockedError
	if errors.As(err, &blocked) {
		for _, m := range blocked.Holders {
			blockedBy = append(blockedBy, m.Name)
		}
	}
	return takes, blockedBy
}

// deviceNames gives every device its name and says where it came from;
// see the package documentation for the rule.
func deviceNames(vs []readiness.Verdict) ([]string, []NameSource) {
	names := make([]string, len(vs))
	sources := make([]NameSource, len(vs))
	bySerial := map[string]int{}
	for i, v := range vs {
		d := v.Device
		switch {
		case d.USB != nil:
			prefix := fmt.Sprintf("usb-%s-%s-", d.VendorID, d.ProductID)
			if s := d.USB.Serial; s != nil && label(*s) != "" {
				names[i], sources[i] = fit(prefix+"sn-", label(*s), *s), BySerial
				bySerial[names[i]]++
				continue
			}
			names[i], sources[i] = fit(prefix+"port-", label(d.Name), d.Name), ByPort
		case d.PCI != nil:
			names[i], sources[i] = fit("pci-", label(d.PCI.Address.String()), d.Name), ByAddress
		}
	}
	for i, v := range vs {
		if sources[i] == BySerial && bySerial[names[i]] > 1 {
			d := v.Device
			names[i] = fit(fmt.Sprintf("usb-%s-%s-port-", d.VendorID, d.ProductID), label(d.Name), d.Name)
			sources[i] = ByPort
		}
	}
	// Different serials or sysfs names cannot map to one port or address
	// name on a sound host; a captured tree can hold anything.
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for i, v := range vs {
		if count[names[i]] > 1 {
			names[i] = fit(names[i]+"-", "", "dup\x00"+v.Device.Name)
		}
	}
	return names, sources
}

// label maps s to the characters of a DNS label: ASCII letters lower-cased,
// digits kept, every run of anything else one '-', none at either end.
func label(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
			continue
		}
		dash = true
	}
	return b.String()
}

// fit joins prefix and lbl into a name of at most MaxNameLength; a longer
// one keeps what fits of lbl and ends in '-' and a hash of raw, the whole
// value lbl came from. An empty lbl always gets the hash.
func fit(prefix, lbl, raw string) string {
	if lbl != "" && len(prefix)+len(lbl) <= MaxNameLength {
		return prefix + lbl
	}
	h := hash8(raw)
	keep := MaxNameLength - len(prefix) - len(h) - 1
	if keep < 0 {
		// Only a prefix we made ourselves this long could get here.
		return strings.TrimRight(prefix[:MaxNameLength-len(h)-1], "-") + "-" + h
	}
	lbl = strings.TrimRight(lbl[:min(keep, len(lbl))], "-")
	if lbl == "" {
		return prefix + h
	}
	return prefix + lbl + "-" + h
}

// sortedUnique is the distinct non-empty values of ss, sorted, joined by
// commas.
func sortedUnique(ss []string) string {
	ss = slices.DeleteFunc(slices.Clone(ss), func(s string) bool { return s == "" })
	slices.SortFunc(ss, cmp.Compare)
	return strings.Join(slices.Compact(ss), ",")
}
