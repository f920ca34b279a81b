package discover

import (
	"fmt"
	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/sysfs"
	"strconv"
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
	s := string(b)
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	v, err := strconv.ParseUint(s, 16, 16)
	if err != nil {
		return fmt.Errorf("id %q is not 4 hex digits", b)
	}
	*id = ID(v)
	return nil
}

// Device is one USB device or PCI function. Exactly one of USB and PCI is
// set, as Bus says.
type Device struct {
	Bus  Bus
	Name string // the sysfs name: "1-3.1", "usb1", "0000:00:1f.3"

	VendorID  ID
	ProductID ID // for PCI, the device ID

	// Names from the vendor/product databases; empty when unknown or when
	// the scan was numeric.
	VendorName  string
	ProductName string

	SysfsPath string // resolved, under /sys/devices, relative to the scan root
	// Parent is the parent USB device's name, or the upstream PCI bridge's
	// address; empty for root hubs and top-level PCI functions.
	Parent string

	USB *USB
	PCI *PCI
}

// USB holds what only USB devices have.
type USB struct {
	Busnum int
	Devnum int
	Port   string // the devpath: "3.1"; "0" for a root hub

	Class    uint8
	Subclass uint8
	Protocol uint8
	BCD      uint16 // bcdDevice
	Speed    string // as sysfs prints it: "1.5", "12", "480", "5000", ...
	MaxChild int

	// Device strings; empty when the device supplies none. A device may
	// also supply an empty string: the Has fields say which it gave.
	Manufacturer string
	Product      string
	Serial       string

	HasManufacturer, HasProduct, HasSerial bool

	// Devnode is "/dev/bus/usb/001/005"; empty when busnum or devnum
	// could not be read.
	Devnode string

	// Controller is the PCI address of the host controller the bus hangs
	// off, when the sysfs path shows it.
	Controller string

	Interfaces []Interface

	// Unauthorized is true when the kernel holds the device unconfigured
	// (authorized is 0), as USBGuard does with a blocked device.
	Unauthorized bool
}

// IsHub reports whether the device is a hub (class 09), root hubs included.
func (u *USB) IsHub() bool { return u.Class == 0x09 }

// IsRootHub reports whether the device is a bus's root hub.
func (u *USB) IsRootHub() bool { return u.Port == "0" }

// Interface is one interface of a USB device's active configuration.
type Interface struct {
	Name     string // "1-3.1:1.0"
	Number   uint8
	Class    uint8
	Subclass uint8
	Protocol uint8
	Driver   string // empty when no driver is bound
}

// PCI holds what only PCI functions have.
type PCI struct {
	Address pciaddr.Address // valid when HasAddress
	// HasAddress is false for a sysfs entry whose name is not an address.
	HasAddress bool

	Class    uint32 // 24 bits: base class, subclass, programming interface
	Revision uint8
	// HasRevision is false when the revision could not be read.
	HasRevision bool

	SubsystemVendorID  ID
	SubsystemProductID ID

	ClassName    string // "Audio device", from the database
	SubclassName string

	Driver         string
	DriverOverride string

	IOMMUGroup int // valid when HasIOMMUGroup
	// HasIOMMUGroup is false when the function has no group (IOMMU off).
	HasIOMMUGroup bool

	NUMANode    int // valid when HasNUMANode
	HasNUMANode bool

	PhysFn  string   // the PF's address, for an SR-IOV VF
	VirtFns []string // the VFs' addresses, for an SR-IOV PF, in VF order

	// ResetMethod is what reset_method lists, "flr bus"; empty with
	// HasResetMethod means the function cannot be reset. Kernels before
	// 5.15 have no such file.
	ResetMethod    string
	HasResetMethod bool

	// BootVGA is true when the firmware's console is on this function.
	BootVGA bool

	// HeaderType is the config header type (0 endpoint, 1 PCI bridge, 2
	// CardBus bridge), read for bridge classes only; valid when
	// HasHeaderType.
	HeaderType    uint8
	HasHeaderType bool
}

// Warning is a problem with one device that did not stop the scan. Its
// Path is relative to the scan root ("/sys/devices/.../idVendor").
type Warning = sysfs.Warning
