// Package draattr is the vocabulary of hostdev's DRA driver that a CEL
// selector is written in: the driver's name, its attributes' names, and how
// a device's string becomes an attribute's value. It imports no Kubernetes
// module, so that hostdev-discover can write selectors for the driver
// without linking Kubernetes; package dra, which publishes the devices,
// takes its names and values from here.
//
//	fmt.Sprintf(`device.attributes[%q].%s == %q`, draattr.DriverName, draattr.Serial, draattr.Value(serial))
//
// What each attribute holds, and on which devices, is in package dra's
// documentation.
package draattr

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/hostdev/hostdev/internal/quote"
)

// DriverName is the name the driver publishes under, and the domain of its
// attributes: device.attributes["hostdev.io"].serial in a CEL selector.
// It is a DNS subdomain, as the API wants, outside the k8s.io and
// kubernetes.io domains Kubernetes keeps for itself, and short, because
// every selector a user writes spells it out. It names the project rather
// than a vendor: the driver hands out devices of every vendor.
const DriverName = "hostdev.io"

// The attributes' names. Those without a domain are in DriverName's.
const (
	BusType   = "busType"
	VendorID  = "vendorID"
	ProductID = "productID"

	Preparable = "preparable"
	Class      = "class"
	Driver     = "driver"

	VendorName  = "vendorName"
	ProductName = "productName"

	// USB
	Serial           = "serial"
	Port             = "port"
	Busnum           = "busnum"
	Devnum           = "devnum"
	Bus              = "bus"
	DeviceNumber     = "deviceNumber"
	InterfaceClasses = "interfaceClasses"
	Manufacturer     = "manufacturer"
	Product          = "product"
	Speed            = "speed"
	Controller       = "controller"

	// PCI
	PCIBusID           = "resource.kubernetes.io/pciBusID"
	IOMMUGroup         = "iommuGroup"
	IOMMUGroupViable   = "iommuGroupViable"
	PrepareTakes       = "prepareTakesFunctions"
	PrepareBlockedBy   = "prepareBlockedBy"
	NUMANode           = "resource.kubernetes.io/numaNode"
	SRIOVPhysFn        = "sriovPhysFn"
	SRIOVNumVFs        = "sriovNumVFs"
	SubsystemVendorID  = "subsystemVendorID"
	SubsystemProductID = "subsystemProductID"
	BootVGA            = "bootVGA"
	PCIeRoot           = "resource.kubernetes.io/pcieRoot"
)

// MaxValueLength is the API's limit on a string value, in bytes
// (resource.k8s.io/v1 DeviceAttributeMaxValueLength).
const MaxValueLength = 64

// Value gives the value a string attribute holds for s: s itself when it
// is printable and fits in 64 bytes; a Go string literal when it is not
// printable (as `hostdev-discover list` prints it: invalid UTF-8, control
// and format characters, or a leading '"'); and past 64 bytes, the first
// 55 bytes of that (never splitting a character), '~' and 8 hex digits of
// the SHA-256 of s. A selector compares an attribute with Value of what it
// wants.
func Value(s string) string {
	v := quote.Text(s)
	if len(v) <= MaxValueLength {
		return v
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:4])
	cut := MaxValueLength - len(h) - 1
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "~" + h
}

// CEL gives s as a CEL string literal, for a selector: Go's quoting, which
// CEL reads the same for what Value returns.
func CEL(s string) string { return strconv.Quote(s) }
