// Package sysfs reads the kernel's device files under a root directory.
//
// Everything goes through an FS made by NewFS(root). Reads stay beneath
// root: symlinks are resolved by hand, with absolute targets taken as
// relative to root, and files are opened through an os.Root, so a captured
// tree can never send a read to the host's own /sys.
//
//	fs, err := sysfs.NewFS("/")
//	usb, problems, err := fs.USBDevices()
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
