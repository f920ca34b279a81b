// Package discover lists the USB devices and PCI functions of a Linux host,
// or of a captured sysfs tree, as one model.
//
//	res, err := discover.Scan(ctx, discover.Options{Root: "/"})
//	for _, d := range res.Devices {
//		fmt.Println(d.Bus, d.Name, d.VendorID, d.ProductID)
//	}
//	for _, w := range res.Warnings {
//		log.Print(w) // a device that could not be fully read
//	}
//
// A scan never stops at one broken device: the device is listed with what
// could be read, and a Warning says which file was wrong.
//
// Watch follows the devices as they come, go and change:
//
//	w, err := discover.Watch(ctx, discover.WatchOptions{Options: discover.Options{Root: "/"}, Initial: true})
//	defer w.Close() // or cancel ctx: either stops it, read or not
//	for ev := range w.Events { // read w.Errors too
//		switch ev.Op {
//		case discover.Ready:
//			// the Adds above were the whole host
//		case discover.Change:
//			fmt.Println(ev.Device.Name, "changed") // ev.Old is as it was
//		default:
//			fmt.Println(ev.Op, ev.Device.Name)
//		}
//	}
//
// What the watcher hands out (events, Devices) is the caller's own copy.
package discover

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/hostdev/hostdev/sysfs"
)

// Options says what to scan.
type Options struct {
	// Root is the directory sysfs is read beneath; "" means "/".
	Root string
	// Buses limits the scan; nil scans every bus.
	Buses []Bus
	// Numeric skips the vendor/product name databases, like lspci -n.
	Numeric bool
	// Logger hears about the libraries' own messages; nil discards them.
	Logger *slog.Logger
	// Recorder, when set, is told of every file the scan reads, so that
	// a snapshot can hold exactly that.
	Recorder sysfs.Recorder
	// USBBackend is where USB devices are read from; "" means USBSysfs.
	// PCI functions always come from sysfs.
	USBBackend USBBackend
}

func (o Options) wants(b Bus) bool {
	return o.Buses == nil || slices.Contains(o.Buses, b)
}

// Result is one scan's devices, USB first by bus and port path, then PCI
// by address, and the warnings about the devices it could not fully read.
type Result struct {
	Devices  []Device  `json:"devices"`
	Warnings []Warning `json:"warnings"`
}

// Scan reads the devices under opts.Root. It fails only when the root
// cannot be read at all; problems with single devices are warnings.
func Scan(ctx context.Context, opts Options) (*Result, error) {
	backend, err := opts.usbBackend()
	if err != nil {
		return nil, err
	}
	var fsOpts []sysfs.Option
	if opts.Recorder != nil {
		fsOpts = append(fsOpts, sysfs.WithRecorder(opts.Recorder))
	}
	fs, err := sysfs.NewFS(opts.Root, fsOpts...)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	res := &Result{Devices: []Device{}, Warnings: []Warning{}}
	if opts.wants(BusUSB) {
		if backend == USBLibusb {
			err = scanLibusb(opts, res)
		} else {
			err = scanUSB(fs, opts, res)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.wants(BusPCI) {
		if err := scanPCI(fs, opts, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// usbNamer loads the USB name database for n devices under root, unless
// the scan is numeric or finds none; a damaged database is a warning.
func (o Options) usbNamer(root string, n int, res *Result) usbNamer {
	if o.Numeric || n == 0 {
		return usbNamer{}
	}
	db, w := usbNames(dbRoots(root))
	if w != nil {
		res.Warnings = append(res.Warnings, *w)
	}
	return usbNamer{db}
}

func scanUSB(fs *sysfs.FS, opts Options, res *Result) error {
	raw, warns, err := fs.USBDevices()
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, warns...)
	names := opts.usbNamer(fs.Root(), len(raw), res)
	start := len(res.Devices)
	for _, r := range raw {
		res.Devices = append(res.Devices, usbDevice(r, names))
	}
	slices.SortFunc(res.Devices[start:], compareDevices)
	return nil
}

func usbDevice(r sysfs.USBDevice, names usbNamer) Device {
	d := Device{
		Bus:       BusUSB,
		Name:      r.Name,
		VendorID:  ID(r.IDVendor),
		ProductID: ID(r.IDProduct),
		SysfsPath: r.Path,
		Parent:    r.Parent,
		USB: &USB{
			Busnum:       r.Busnum,
			Devnum:       r.Devnum,
			Port:         r.Devpath,
			Class:        r.Class,
			Subclass:     r.SubClass,
			Protocol:     r.Protocol,
			BCD:          r.BCDDevice,
			Speed:        r.Speed,
			MaxChild:     r.MaxChild,
			Manufacturer: r.Manufacturer,
			Product:      r.Product,
			Serial:       r.Serial,
			Controller:   r.Controller,

			HasManufacturer: r.HasManufacturer,
			HasProduct:      r.HasProduct,
			HasSerial:       r.HasSerial,
			Unauthorized:    r.Unauthorized,
		},
	}
	if r.Busnum > 0 && r.Devnum > 0 {
		d.USB.Devnode = fmt.Sprintf("/dev/bus/usb/%03d/%03d", r.Busnum, r.Devnum)
	}
	d.VendorName, d.ProductName = names.names(r.IDVendor, r.IDProduct)
	for _, in := range r.Interfaces {
		d.USB.Interfaces = append(d.USB.Interfaces, Interface{
			Name:     in.Name,
			Number:   in.Number,
			Class:    in.Class,
			Subclass: in.SubClass,
			Protocol: in.Protocol,
			Driver:   in.Driver,
		})
	}
	return d
}

func scanPCI(fs *sysfs.FS, opts Options, res *Result) error {
	raw, warns, err := fs.PCIFunctions()
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, warns...)
	if len(raw) == 0 {
		return nil
	}
	var names *pciNames
	var w *Warning
	if !opts.Numeric {
		names, w = pciNamesFor(dbRoots(fs.Root()), opts.Logger)
	}
	if w != nil {
		res.Warnings = append(res.Warnings, *w)
	}
	start := len(res.Devices)
	for _, r := range raw {
		res.Devices = append(res.Devices, pciDevice(r, names))
	}
	slices.SortFunc(res.Devices[start:], compareDevices)
	return nil
}

func pciDevice(r sysfs.PCIFunction, names *pciNames) Device {
	d := Device{
		Bus:       BusPCI,
		Name:      r.Name,
		VendorID:  ID(r.Vendor),
		ProductID: ID(r.Device),
		SysfsPath: r.Path,
		Parent:    r.Parent,
		PCI: &PCI{
			Address:            r.Address,
			HasAddress:         r.HasAddress,
			Class:              r.Class,
			Revision:           r.Revision,
			HasRevision:        r.HasRevision,
			SubsystemVendorID:  ID(r.SubsystemVendor),
			SubsystemProductID: ID(r.SubsystemDevice),
			Driver:             r.Driver,
			DriverOverride:     r.DriverOverride,
			IOMMUGroup:         r.IOMMUGroup,
			HasIOMMUGroup:      r.HasIOMMUGroup,
			NUMANode:           r.NUMANode,
			HasNUMANode:        r.HasNUMANode,
			PhysFn:             r.PhysFn,
			VirtFns:            r.VirtFns,
			ResetMethod:        r.ResetMethod,
			HasResetMethod:     r.HasResetMethod,
			BootVGA:            r.BootVGA,
			HeaderType:         r.HeaderType,
			HasHeaderType:      r.HasHeaderType,
		},
	}
	names.name(&d, r)
	return d
}

// compareDevices is the order of a scan's devices (and a watcher's): USB
// by bus, port path and name, then PCI by address, unaddressed ones last.
func compareDevices(a, b Device) int {
	if a.Bus != b.Bus {
		if a.Bus == BusUSB {
			return -1
		}
		return 1
	}
	if a.USB != nil && b.USB != nil {
		return cmp.Or(
			cmp.Compare(a.USB.Busnum, b.USB.Busnum),
			sysfs.ComparePorts(a.USB.Port, b.USB.Port),
			cmp.Compare(a.Name, b.Name),
		)
	}
	if a.PCI != nil && b.PCI != nil {
		if a.PCI.HasAddress != b.PCI.HasAddress {
			if a.PCI.HasAddress {
				return -1
			}
			return 1
		}
		return cmp.Or(a.PCI.Address.Compare(b.PCI.Address), cmp.Compare(a.Name, b.Name))
	}
	return cmp.Compare(a.Name, b.Name)
}
