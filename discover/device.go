package discover

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/sysfs"
)

// Bus names the bus a device sits on.
type Bus string

// The buses hostdev knows.
const (
	BusUSB Bus = "usb"
	BusPCI Bus = "pci"
)

// ID is a 16-bit vendor, product or subsystem identifier. It prints, and
// marshals, as four lowercase hex digits.
type ID uint16

func (id ID) String() string { return fmt.Sprintf("%04x", uint16(id)) }

// MarshalText writes the four-digit form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads four hex digits, with or without 0x.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := parseHexText(b, 16)
	if err != nil {
		return fmt.Errorf("id %q is not 4 hex digits", b)
	}
	*id = ID(v)
	return nil
}

func parseHexText(b []byte, bits int) (uint64, error) {
	s := string(b)
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	return strconv.ParseUint(s, 16, bits)
}

// Device is one USB device, PCI function or mediated device instance.
// Exactly one of USB, PCI and Mdev is set, as Bus says.
type Device struct {
	Bus  Bus
	Name string // the sysfs name: "1-3.1", "usb1", "0000:00:1f.3"

	VendorID  ID // idVendor; vendor
	ProductID ID // idProduct; device

	// Names from the vendor/product databases; empty when unknown or when
	// the scan was numeric.
	VendorName  string
	ProductName string

	SysfsPath string // resolved, under /sys/devices, relative to the scan root
	// Parent is the parent USB device's name, or the upstream PCI bridge's
	// address; empty for root hubs and top-level PCI functions.
	Parent string

	USB  *USB
	PCI  *PCI
	Mdev *Mdev // a mediated device instance (Bus "mdev"); see mdev.go
}

// USB holds what only USB devices have. Field comments name the sysfs
// file each comes from.
type USB struct {
	Busnum int      // busnum; 0 when it could not be read
	Devnum int      // devnum, 1 to 127; 0 when it could not be read
	Port   PortPath // devpath, or derived from the name on kernels without it

	Class    Class // bDeviceClass
	Subclass uint8 // bDeviceSubClass
	Protocol uint8 // bDeviceProtocol
	BCD      BCD   // bcdDevice
	Speed    Speed // speed
	MaxChild int   // maxchild: a hub's downstream ports

	// Device strings (manufacturer, product, serial); nil when the device
	// supplies none. A device may also supply an empty string.
	Manufacturer *string
	Product      *string
	Serial       *string

	// Devnode is "/dev/bus/usb/001/005"; empty when busnum or devnum
	// could not be read.
	Devnode string

	// Controller is the PCI address of the host controller the bus hangs
	// off, when the sysfs path shows it.
	Controller string

	Interfaces []Interface

	// Unauthorized is true when authorized is 0: the kernel holds the
	// device unconfigured, as USBGuard does with a blocked device.
	Unauthorized bool
}

// IsHub reports whether the device is a hub (class 09), root hubs included.
func (u *USB) IsHub() bool { return u.Class == ClassHub }

// IsRootHub reports whether the device is a bus's root hub.
func (u *USB) IsRootHub() bool { return u.Port.IsRoot() }

// Interface is one interface, "B-P:C.I", of a USB device's active
// configuration.
type Interface struct {
	Name     string // directory name: "1-3.1:1.0"
	Number   uint8  // bInterfaceNumber
	Class    Class  // bInterfaceClass
	Subclass uint8  // bInterfaceSubClass
	Protocol uint8  // bInterfaceProtocol
	Driver   string // target of the driver link; empty when unbound
}

// PCI holds what only PCI functions have. IDs and class come from
// modalias when it is well formed, and from the vendor, device and class
// files otherwise.
type PCI struct {
	// Address is parsed from the name; nil for a sysfs entry whose name
	// is not an address.
	Address *pciaddr.Address

	Class    PCIClass // modalias bc, sc, i, or class
	Revision *uint8   // revision; nil when it could not be read

	SubsystemVendorID  ID // modalias sv, or subsystem_vendor
	SubsystemProductID ID // modalias sd, or subsystem_device

	ClassName    string // "Audio device", from the database
	SubclassName string

	Driver         string // target of the driver link
	DriverOverride string // driver_override; "" for "(null)"

	// IOMMUGroup is the target of the iommu_group link; nil when the
	// function has none (the IOMMU is off). Group 0 is a real group.
	IOMMUGroup *int
	// NUMANode is numa_node; nil when absent or -1 (no node).
	NUMANode *int

	PhysFn  string   // the PF's address (physfn), for an SR-IOV VF
	VirtFns []string // the VFs' addresses (virtfnN), for an SR-IOV PF, in VF order

	// ResetMethod is what reset_method lists, "flr bus"; empty means the
	// function cannot be reset, and nil that the kernel has no such file
	// (before 5.15) or it could not be read.
	ResetMethod *string

	// BootVGA is true when boot_vga is 1: the firmware's console is on it.
	BootVGA bool

	// MdevTypes are the mediated device types the function offers as an
	// mdev parent (mdev_supported_types), sorted by ID; nil when it is
	// none.
	MdevTypes []MdevType

	// HeaderType is byte 0x0e of config with the multi-function bit
	// cleared (0 endpoint, 1 PCI-to-PCI bridge, 2 CardBus bridge). It is
	// read for bridge classes (base class 06) only, and nil otherwise.
	HeaderType *uint8
}

// Warning is a problem with one device that did not stop the scan. Its
// Path is relative to the scan root ("/sys/devices/.../idVendor").
type Warning = sysfs.Warning

// Clone returns a copy of d that shares nothing with it: its USB or PCI
// part, the optional values they point to, and their slices are copied
// too. A long-lived holder of devices (a watcher) hands out clones, so
// that a consumer may keep or change what it got.
func (d Device) Clone() Device {
	if u := d.USB; u != nil {
		c := *u
		c.Manufacturer, c.Product, c.Serial = clonePtr(u.Manufacturer), clonePtr(u.Product), clonePtr(u.Serial)
		c.Interfaces = slices.Clone(u.Interfaces)
		d.USB = &c
	}
	if p := d.PCI; p != nil {
		c := *p
		c.Address, c.Revision = clonePtr(p.Address), clonePtr(p.Revision)
		c.IOMMUGroup, c.NUMANode = clonePtr(p.IOMMUGroup), clonePtr(p.NUMANode)
		c.ResetMethod, c.HeaderType = clonePtr(p.ResetMethod), clonePtr(p.HeaderType)
		c.VirtFns = slices.Clone(p.VirtFns)
		c.MdevTypes = cloneMdevTypes(p.MdevTypes)
		d.PCI = &c
	}
	if m := d.Mdev; m != nil {
		c := *m
		c.Type = cloneMdevTypes([]MdevType{m.Type})[0]
		c.IOMMUGroup = clonePtr(m.IOMMUGroup)
		d.Mdev = &c
	}
	return d
}

func cloneMdevTypes(ts []MdevType) []MdevType {
	if ts == nil {
		return nil
	}
	out := make([]MdevType, len(ts))
	for i, t := range ts {
		t.AvailableInstances = clonePtr(t.AvailableInstances)
		t.Instances = slices.Clone(t.Instances)
		out[i] = t
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
