// Package match decides which device a selector means.
//
// A permanent config names a device by what it is; hotplug needs the
// instance that is plugged in now. Parse a selector, scan, and resolve:
//
//	sel, err := match.Parse("host:0403:6001,serial=A7022OOP")
//	if err != nil {
//		return err // *ParseError: quotes the input, says which part is wrong
//	}
//	res, err := discover.Scan(ctx, discover.Options{Root: "/"})
//	...
//	dev, err := match.Resolve(sel, res.Devices)
//	var amb *match.AmbiguousError
//	if errors.As(err, &amb) {
//		// "4 devices match 0403:6001; add serial=A7022OOO, ..."
//	}
//
// The forms Parse reads:
//
//	host:8.2, host:008.002       USB bus and device number, decimal
//	host:0483:2016               USB vendor and product, hex
//	0000:00:1f.3, 00:1f.3        a PCI address (domain 0 when left out)
//	00:1f.*, *:00.0, pci:00:1f.3 PCI addresses with wildcard fields
//	vendor=0403|067b,class=ff    key=value terms, all of which must hold
//
// The keys are bus, vendor, product, class (2, 4 or 6 hex digits, matched
// as a prefix of the 24-bit class), driver (the device's or any
// interface's), name (a case-blind glob on the product string or the
// database name), serial, port (1-2.1 on bus 1, or 2.1 on any bus),
// busnum, devnum, interface-class, address, iommu-group, mdev-type and
// uuid. A value may
// hold * wildcards, and | separates alternatives. Selector.String gives
// the canonical key=value form, which Parse reads back to the same
// selector.
//
// Hubs never match unless the selector asks for one (class=09, an exact
// port=, or busnum= with devnum=). Resolve returns one device or a typed
// error: *NoMatchError lists the nearest devices and why each missed, and
// *AmbiguousError gives every candidate the term that would pick it.
// Mediated devices: uuid= names an instance (bus mdev) by its UUID, in any
// case, with or without dashes; mdev-type= matches an instance of that
// type, and a parent PCI function that offers it. So the parent at an
// address offering a type, what Proxmox's hostpci mdev= and Incus's
// gputype=mdev ask for, is address=00:02.0,mdev-type=i915-GVTg_V5_4,
// and an instance is bus=mdev,uuid=....
//
// ResolveMoved also reports when a vendor:product remembered at a bus and
// device number has moved, which Resolve follows silently.
package match
