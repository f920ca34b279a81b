// Package dra turns hostdev's view of a host into what a Kubernetes DRA
// driver publishes (resource.k8s.io/v1): one Device per USB device and per
// PCI endpoint function, in the ResourceSlices of one pool per node.
//
//	rep, err := h.Assess(ctx)           // a hostdev.Host: scan and verdicts
//	inv := dra.Build(rep)               // devices, names, attributes, taints
//	slices := inv.Slices(nodeName, gen) // at most 128 (64 if tainted) a slice
//
// It is the only package of the module that imports Kubernetes, and nothing
// but the DRA driver imports it: hostdev-discover and the core packages stay
// free of k8s.io modules.
//
// # What is published
//
// Every USB device and every PCI function except those that can never be
// handed out: hubs and root hubs (QEMU never passes a hub, and a root hub is
// the host controller's own; pass the controller as a PCI function instead),
// PCI-to-PCI and CardBus bridges, host bridges and ISA bridges. Which ones
// these are is readiness's verdict (codes hub, root-hub, bridge, host-bridge,
// isa-bridge), so the driver and `hostdev-discover check` never disagree.
// A PCI function whose name is not an address is left out with a warning.
//
// A device that is published but cannot be prepared now (a blocking reason
// in its verdict: no IOMMU, an IOMMU group shared with an endpoint in another
// slot that a host driver holds, a USB device USBGuard holds) carries
// preparable=false and a NoSchedule taint per reason, keyed
// "hostdev.io/<reason code>". The attribute is what the DeviceClasses select
// on: taints are dropped by an API server without the DRADeviceTaints feature,
// an attribute never is.
//
// # Device names
//
// A device name is a DNS label (at most 63 characters of [a-z0-9-], starting
// and ending with a letter or digit) that stays the same when the same device
// is unplugged and plugged in again, so that an allocation still names it:
//
//   - A USB device is named by its serial, usb-VVVV-PPPP-sn-SERIAL, when that
//     name is unique on the node: no other device of the same vendor:product
//     has the same serial, once mapped to a label (letters lower-cased, every
//     other character a '-', runs of them one '-'). A device without a
//     serial, with an empty one, with one that has no letter or digit, or
//     sharing its mapped serial with another device, is named by where it is
//     plugged in, usb-VVVV-PPPP-port-B-P-P (bus and port path, "3-2.1" as
//     3-2-1), which stays the same across a replug into the same port, but
//     not across a reboot that numbers the buses otherwise (the kernel
//     numbers them in the order their host controller drivers load).
//     A serial-named device that gets a twin is renamed by port: an identical
//     serial is no identity.
//   - A PCI function is named by its address, pci-DDDD-BB-SS-F.
//
// A name that would be longer than 63 characters keeps as much of its label
// as fits and ends in '-' and 8 hex digits of the SHA-256 of the whole
// serial (or sysfs name): shortened, never cut silently, and two long
// serials sharing a prefix still get two names. Should two devices still
// end up with one name (a captured tree can hold anything), each gets a hash
// of its sysfs name appended, and one that still collides is left out with a
// warning: a name is never silently shared.
//
// # Attributes
//
// Attributes are in the driver's domain (hostdev.io) unless they are one of
// Kubernetes' standard ones (resource.kubernetes.io/...). An expression that
// reads an attribute a device lacks fails, and a failed expression aborts the
// whole allocation, so attributes are published on every device of a bus
// even when empty: serial is "" on a USB device without one. What only some
// devices of a bus can have (iommuGroup, resource.kubernetes.io/numaNode,
// the SR-IOV ones) is published only then: test for it with has() or .?
//
// Every device, in this order of priority:
//
//	busType            string  "usb" or "pci"
//	vendorID           string  "0403", 4 hex digits (PCI: vendor)
//	productID          string  "6001", 4 hex digits (PCI: device)
//
// USB devices, then:
//
//	serial             string  the device's serial; "" when it has none
//	port               string  the port path, "2.1" (QEMU's hostport)
//	busnum, devnum     int     as sysfs gives them (0 when unreadable)
//	preparable         bool    see above
//	bus, deviceNumber  string  "003", "007": bus and device number as other
//	                           USB DRA drivers (deckhouse's) publish them
//	class              string  bDeviceClass, "ef"
//	interfaceClasses   string  the interfaces' classes, sorted, "03,08"
//	driver             string  the interfaces' drivers, sorted, "usbhid"
//	manufacturer       string  the device's own strings ("" when absent)
//	product            string
//	vendorName         string  from usb.ids ("" when unknown)
//	productName        string
//	speed              string  Mbit/s as sysfs prints it, "480"
//	controller         string  the host controller's PCI address
//
// PCI functions, then:
//
//	resource.kubernetes.io/pciBusID   string  "0000:01:00.0", what KubeVirt reads
//	preparable                        bool    see above
//	iommuGroup                        int     only when it has a group
//	iommuGroupViable                  bool    readiness's verdict on the group:
//	                                          no endpoint in it on a host driver
//	                                          keeps another from being assigned
//	prepareTakesFunctions             string  the functions of its group in its
//	                                          own slot that a prepare binds to
//	                                          vfio-pci along with it, "1" or "1,2"
//	prepareBlockedBy                  string  endpoints of its group in other
//	                                          slots on host drivers ("" if none)
//	class                             string  "030000", 6 hex digits
//	driver                            string  the bound driver, "" if none
//	resource.kubernetes.io/numaNode   int     only when it has one
//	sriovPhysFn                       string  a VF's PF address
//	sriovNumVFs                       int     a PF's VFs
//	vendorName, productName           string  from pci.ids ("" when unknown)
//	subsystemVendorID                 string
//	subsystemProductID                string
//	bootVGA                           bool
//	resource.kubernetes.io/pcieRoot   string  "pci0000:00"
//
// A device may have at most 32 attributes: past that, the last in this order
// are dropped first, with a warning. Today a device has at most 21, so none is.
//
// # String values
//
// A string value is at most 64 bytes, and a device's strings are anything
// its firmware or a captured tree says. A printable value (valid UTF-8,
// no control or format characters, not starting with '"') is published as
// it is; any other is published as a Go string literal, exactly as
// `hostdev-discover list` prints it (draattr.Value). A value longer than 64
// bytes keeps its first 55 bytes (never splitting a character) and ends in
// '~' and 8 hex digits of the SHA-256 of the whole value.
//
// # Slices
//
// All of a node's devices are one pool, named after the node. A slice holds
// at most 128 devices, or 64 when one of them is tainted (the API's limit for
// slices that use taints), so untainted devices fill slices of 128 first and
// tainted ones follow in slices of 64; every slice of the pool carries the same
// generation and the number of slices. A node without devices still publishes
// one empty slice: an empty pool says the driver runs.
package dra
