// Package sysfs reads the kernel's device files under a root directory,
// safely: it is the reader beneath package discover, which turns what it
// reads into devices.
//
// Everything goes through an FS made by NewFS(root). Reads stay beneath
// root: directories are opened with openat2's RESOLVE_IN_ROOT where the
// kernel has it, and otherwise by resolving links by hand through an
// os.Root, with absolute targets taken as relative to root; attributes are
// opened without following links and read at most a page at a time. So a
// captured tree can never send a read to the host's own /sys.
//
// A Dir is one open directory with typed getters, each with its own base
// and width. A file that is present but wrong becomes a Warning kept by
// the Dir, so that one bad attribute costs one warning, not the device:
//
//	fs, err := sysfs.NewFS("/")
//	names, warns := fs.ListBus("/sys/bus/usb/devices")
//	devs, more, err := sysfs.ReadEntries(ctx, fs, "/sys/bus/usb/devices", names,
//		func(d *sysfs.Dir) (uint64, bool) {
//			vendor, _ := d.Hex("idVendor", 16, sysfs.Required)
//			return vendor, !d.Vanished() // a device unplugged meanwhile is gone
//		})
package sysfs

// Recorder is told of every read an FS makes, so that exactly what was read
// can be written into a snapshot. Paths are slash-separated and relative to
// the root ("sys/bus/usb/devices").
type Recorder interface {
	// File is called with the bytes a file read returned.
	File(path string, data []byte)
	// Symlink is called with the target a link read returned.
	Symlink(path, target string)
	// Dir is called for a directory that was listed or entered.
	Dir(path string)
}
