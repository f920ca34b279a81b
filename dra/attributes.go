package dra

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	resourceapi "k8s.io/api/resource/v1"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra/draattr"
	"github.com/hostdev/hostdev/readiness"
)

// hash8 is 8 hex digits of the SHA-256 of s.
func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// attr is one attribute before it goes into the API's map: one of s, n
// and b, as kind says. It is a third of the size of a DeviceAttribute,
// which a device of 20 attributes feels.
type attr struct {
	name resourceapi.QualifiedName
	kind byte // 's', 'i' or 'b'
	b    bool
	n    int64
	s    string
}

func (a attr) value() resourceapi.DeviceAttribute {
	switch a.kind {
	case 's':
		s := a.s
		return resourceapi.DeviceAttribute{StringValue: &s}
	case 'i':
		n := a.n
		return resourceapi.DeviceAttribute{IntValue: &n}
	}
	b := a.b
	return resourceapi.DeviceAttribute{BoolValue: &b}
}

func str(name resourceapi.QualifiedName, s string) attr {
	return attr{name: name, kind: 's', s: draattr.Value(s)}
}

func integer(name resourceapi.QualifiedName, n int) attr {
	return attr{name: name, kind: 'i', n: int64(n)}
}

func boolean(name resourceapi.QualifiedName, b bool) attr {
	return attr{name: name, kind: 'b', b: b}
}

// attributes lists a device's attributes in order of priority: when there
// are more than the API allows, the last go first.
func attributes(d Device, g *readiness.Group) []attr {
	s := d.Source
	as := make([]attr, 0, 24)
	as = append(as,
		str(AttrBusType, string(s.Bus)),
		str(AttrVendorID, s.VendorID.String()),
		str(AttrProductID, s.ProductID.String()))
	switch {
	case s.USB != nil:
		u := s.USB
		var classes, drivers []string
		for _, in := range u.Interfaces {
			classes = append(classes, in.Class.String())
			drivers = append(drivers, in.Driver)
		}
		as = append(as,
			str(AttrSerial, deref(u.Serial)),
			str(AttrPort, u.Port.String()),
			integer(AttrBusnum, u.Busnum),
			integer(AttrDevnum, u.Devnum),
			boolean(AttrPreparable, d.Preparable),
			str(AttrBus, fmt.Sprintf("%03d", u.Busnum)),
			str(AttrDeviceNumber, fmt.Sprintf("%03d", u.Devnum)),
			str(AttrClass, u.Class.String()),
			str(AttrInterfaceClasses, sortedUnique(classes)),
			str(AttrDriver, sortedUnique(drivers)),
			str(AttrManufacturer, deref(u.Manufacturer)),
			str(AttrProduct, deref(u.Product)),
			str(AttrVendorName, s.VendorName),
			str(AttrProductName, s.ProductName),
			str(AttrSpeed, string(u.Speed)),
			str(AttrController, u.Controller),
		)
	case s.PCI != nil:
		p := s.PCI
		as = append(as,
			str(AttrPCIBusID, p.Address.String()),
			boolean(AttrPreparable, d.Preparable))
		if p.IOMMUGroup != nil {
			as = append(as, integer(AttrIOMMUGroup, *p.IOMMUGroup))
		}
		var fns []string
		for _, t := range d.Takes {
			fns = append(fns, t[strings.LastIndexByte(t, '.')+1:])
		}
		as = append(as,
			boolean(AttrIOMMUGroupViable, g != nil && g.Viable()),
			str(AttrPrepareTakes, strings.Join(fns, ",")),
			str(AttrPrepareBlockedBy, strings.Join(d.BlockedBy, ",")),
			str(AttrClass, p.Class.String()),
			str(AttrDriver, p.Driver))
		if p.NUMANode != nil && *p.NUMANode >= 0 {
			as = append(as, integer(AttrNUMANode, *p.NUMANode))
		}
		if p.PhysFn != "" {
			as = append(as, str(AttrSRIOVPhysFn, p.PhysFn))
		}
		if len(p.VirtFns) > 0 {
			as = append(as, integer(AttrSRIOVNumVFs, len(p.VirtFns)))
		}
		as = append(as,
			str(AttrVendorName, s.VendorName),
			str(AttrProductName, s.ProductName),
			str(AttrSubsystemVendorID, p.SubsystemVendorID.String()),
			str(AttrSubsystemProductID, p.SubsystemProductID.String()),
			boolean(AttrBootVGA, p.BootVGA))
		if root := pcieRoot(s); root != "" {
			as = append(as, str(AttrPCIeRoot, root))
		}
	}
	return as
}

// pcieRoot is the root complex a function hangs off, "pci0000:00", the
// first directory of its path under /sys/devices.
func pcieRoot(d discover.Device) string {
	rest, ok := strings.CutPrefix(d.SysfsPath, "/sys/devices/")
	if !ok {
		return ""
	}
	root, _, _ := strings.Cut(rest, "/")
	if !strings.HasPrefix(root, "pci") {
		return ""
	}
	return root
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
