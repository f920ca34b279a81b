// Package sysfstest makes fake Linux hosts for tests: a sysfs tree and the
// /dev/bus/usb nodes of its USB devices, written under a temporary
// directory in the kernel's layout and formats, for code that reads sysfs
// beneath a root it is given, as the discover package does.
//
// A test builds a host, hands its root to the code under test, and plugs
// and unplugs devices while that code runs:
//
//	h := sysfstest.NewHost(t) // in t.TempDir(); a failure ends the test
//	h.Plug(sysfstest.RootHub(1, "480"))
//	h.Plug(sysfstest.Hub(1, "2"))
//	key := h.Plug(sysfstest.USBDevice{Bus: 1, Port: "2.1",
//		IDVendor: 0x0781, IDProduct: 0x5581, Serial: new("K1"),
//		Interfaces: []sysfstest.USBInterface{{Class: 0x08, Driver: "usb-storage"}}})
//	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0",
//		Vendor: 0x10de, Device: 0x1e87, Class: 0x030000, IOMMUGroup: new(14)})
//
//	w, err := discover.Watch(ctx, discover.WatchOptions{
//		Options: discover.Options{Root: h.Root()}})
//	...
//	h.Unplug(key.Name()) // the watcher sees a Remove
//
// Plug and Unplug make and remove a USB device's entries in the order the
// kernel does: Plug makes the node in /dev/bus/usb/BBB last, so a watcher
// woken by it reads a whole device, and Unplug removes it right after the
// interfaces, before the rest of the device.
// Devnums are handed out round-robin from 1 to 127 on each bus, so a
// replugged device gets a new one. AddPCI, RemovePCI, BindDriver and
// UnbindDriver do the same for PCI functions (IOMMU groups, SR-IOV
// PFs and VFs, bridges) and drivers. AddMdevType and AddMdev make mediated
// device parents' types and instances in the kernel's layout
// (mdev_supported_types, /sys/bus/mdev/devices/UUID, /sys/class/mdev_bus),
// on a PCI function or a virtual parent such as the mtty sample's.
// USBDevice and PCIFunction name, field
// by field, the sysfs file each value becomes; Omit and Raw write
// the defects real hosts have.
//
// A Host from NewHostAt writes under a directory of the caller's and keeps
// its first failure for Err instead of ending a test: it is for code that
// has no testing.TB, such as examples and tools that generate trees.
// Synthetic writes large trees for benchmarks.
//
// # Trees from files
//
// Sysfs names are full of colons, which Go module zips reject, so fake
// trees are never checked in as directories. They live in archives and
// are unpacked into a temporary directory by the test:
//
//	root := sysfstest.Unpack(t, "testdata/host.txtar") // or a .tar.gz capture
//
// UnpackTxtar does the same for an archive embedded with //go:embed, and
// CopyFS copies an fs.FS such as a testing/fstest.MapFS, with symlinks.
// The archives in this module's testdata/sysfs are built by
// fixtures_test.go in this package: change the builders there and run
//
//	go test ./sysfstest -run TestFixtures -update
//
// # Archive convention
//
// A txtar file entry named "PATH -> TARGET" is a symlink at PATH whose target
// is TARGET; its content must be empty. An entry whose name ends in "/" is an
// empty directory. An entry named "PATH (hex)" is a regular file whose bytes
// are given as hexadecimal digits (white space between them is ignored); it
// holds what txtar cannot: binary data, or text that does not end in a
// newline. Every other entry is a regular file with that content. The
// archive comment is free text describing the tree. For example:
//
//	-- sys/bus/usb/devices/1-1 -> ../../../devices/pci0000:00/0000:00:14.0/usb1/1-1 --
//	-- sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/idVendor --
//	0781
//	-- sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/descriptors (hex) --
//	12 01 00 02
package sysfstest
