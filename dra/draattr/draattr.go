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
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
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

// The DeviceClasses deploy/deviceclasses.yaml defines: what the driver can
// prepare, by bus.
const (
	ClassUSB = "usb." + DriverName
	ClassPCI = "pci." + DriverName
)

// Selector gives the CEL expression that selects d, one of the devices of
// a scan (all), under the driver: by what stays the same when it is
// plugged in again. A USB device is selected by vendor, product and
// serial, or, when it has no serial or another device of all shares it
// (cheap clones do; hypervisor.SharedSerial, the rule QEMU ids follow), by
// bus and port path; a PCI function by its address,
// and its vendor and device, so that another card in that slot is not
// taken for it. The bus type comes first, so that the expression is false,
// not an error, on a device of the other bus, which lacks the attributes
// it reads.
func Selector(d discover.Device, all []discover.Device) string {
	a := func(name string) string { return fmt.Sprintf("device.attributes[%s].%s", CEL(DriverName), name) }
	terms := []string{
		a(BusType) + " == " + CEL(string(d.Bus)),
		a(VendorID) + " == " + CEL(d.VendorID.String()),
		a(ProductID) + " == " + CEL(d.ProductID.String()),
	}
	switch {
	case d.USB != nil && d.USB.Serial != nil && *d.USB.Serial != "" && !hypervisor.SharedSerial(d, all):
		terms = append(terms, a(Serial)+" == "+CEL(Value(*d.USB.Serial)))
	case d.USB != nil:
		terms = append(terms, fmt.Sprintf("%s == %d", a(Busnum), d.USB.Busnum), a(Port)+" == "+CEL(Value(d.USB.Port.String())))
	case d.PCI != nil && d.PCI.Address != nil:
		terms = append(terms, fmt.Sprintf("device.attributes[%s].pciBusID == %s", CEL("resource.kubernetes.io"), CEL(d.PCI.Address.String())))
	}
	return strings.Join(terms, " && ")
}

// DeviceClass is the DeviceClass for d's bus.
func DeviceClass(d discover.Device) string {
	if d.Bus == discover.BusPCI {
		return ClassPCI
	}
	return ClassUSB
}
