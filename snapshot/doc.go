// Package snapshot reads and writes sysfs captures as .tar.gz archives.
//
// A capture is the part of a host's /sys that a scan read, stored under
// "sys/..." so that the same scan can be replayed on another machine.
//
// To write one, record into an Archive (it is a sysfs.Recorder) and save it:
//
//	a := snapshot.NewArchive()
//	// ... let a sysfs.FS report its reads to a ...
//	f, err := os.Create("host.tar.gz")
//	if err != nil { ... }
//	if _, err := a.WriteTo(f); err != nil { ... }
//	if err := f.Close(); err != nil { ... }
//
// To scan one, unpack it and point sysfs at the directory:
//
//	dir, cleanup, err := snapshot.UnpackContext(ctx, "host.tar.gz")
//	if err != nil { ... }
//	defer cleanup()
//	fs, err := sysfs.NewFS(dir)
//
// Archives come from other people, so Extract treats them as hostile: nothing
// is written outside the destination, symlinks are created but never
// followed, and size and entry counts are bounded. Unpacking stops within
// an entry once ctx is done, and leaves no temporary directory behind.
package snapshot
