// Package discover lists the USB devices, PCI functions and mediated
// device instances of a Linux host, or of a captured sysfs tree, as one
// model.
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
// Device, with USB, PCI or Mdev, is the one model of a device: field comments
// name the sysfs file each value comes from. Values carry their meaning in
// their types (ID, Class, PCIClass, BCD, Speed, PortPath), each with a
// String method; in JSON they keep the forms sysfs prints. A value that may be absent although zero is a real value
// is a pointer, nil when absent: the device strings (a device may supply
// an empty serial), a PCI Address (0000:00:00.0 exists), Revision,
// IOMMUGroup (group 0 exists), NUMANode, ResetMethod and HeaderType.
// Numbers the kernel never makes zero (Busnum, Devnum) are 0 when they
// could not be read, and strings with no such distinction (Driver,
// Parent) are "" when absent.
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

// busRank orders buses: USB, PCI, mdev, then any other.
func busRank(b Bus) int {
	switch b {
	case BusUSB:
		return 0
	case BusPCI:
		return 1
	case BusMdev:
		return 2
	}
	return 3
}

func (o Options) wants(b Bus) bool {
	return o.Buses == nil || slices.Contains(o.Buses, b)
}

// Result is one scan's devices, USB first by bus and port path, then PCI
// by address, then mediated device instances by UUID, and the warnings about the devices it could not fully read.
type Result struct {
	Devices  []Device  `json:"devices"`
	Warnings []Warning `json:"warnings"`
}

// Scan reads the devices under opts.Root. It fails only when the root
// cannot be read at all, or with ctx.Err() when ctx ends, which it checks
// before every device it reads from sysfs; problems with single devices
// are warnings.
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
			err = scanUSB(ctx, fs, opts, res)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.wants(BusPCI) {
		if err := scanPCI(ctx, fs, opts, res); err != nil {
			return nil, err
		}
	}
	if opts.wants(BusMdev) {
		if err := scanMdev(ctx, fs, res); err != nil {
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

func scanUSB(ctx context.Context, fs *sysfs.FS, opts Options, res *Result) error {
	devs, warns, err := usbDevices(ctx, fs)
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, warns...)
	names := opts.usbNamer(fs.Root(), len(devs), res)
	for i := range devs {
		names.name(&devs[i])
	}
	slices.SortFunc(devs, compareDevices)
	res.Devices = append(res.Devices, devs...)
	return nil
}

func scanPCI(ctx context.Context, fs *sysfs.FS, opts Options, res *Result) error {
	devs, warns, err := pciFunctions(ctx, fs)
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, warns...)
	if len(devs) == 0 {
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
	for i := range devs {
		names.name(&devs[i])
	}
	slices.SortFunc(devs, compareDevices)
	res.Devices = append(res.Devices, devs...)
	return nil
}

// compareDevices is the order of a scan's devices (and a watcher's): USB
// by bus, port path and name, then PCI by address, unaddressed ones last,
// then mediated devices by UUID.
func compareDevices(a, b Device) int {
	if a.Bus != b.Bus {
		return cmp.Compare(busRank(a.Bus), busRank(b.Bus))
	}
	if a.USB != nil && b.USB != nil {
		return cmp.Or(
			cmp.Compare(a.USB.Busnum, b.USB.Busnum),
			a.USB.Port.Compare(b.USB.Port),
			cmp.Compare(a.Name, b.Name),
		)
	}
	if a.PCI != nil && b.PCI != nil {
		switch aa, ba := a.PCI.Address, b.PCI.Address; {
		case aa != nil && ba != nil:
			return cmp.Or(aa.Compare(*ba), cmp.Compare(a.Name, b.Name))
		case aa != nil:
			return -1
		case ba != nil:
			return 1
		}
	}
	return cmp.Compare(a.Name, b.Name)
}
