// Package sysfstest builds fake sysfs trees for tests and benchmarks.
//
// Sysfs names are full of colons, which Go module zips reject, so fake trees
// are never checked in as directories. They live as txtar archives under
// testdata/sysfs and are unpacked into a temporary directory by the test:
//
//	root := sysfstest.Unpack(t, "../testdata/sysfs/usb-basic.txtar")
//	fs, err := sysfs.NewFS(root)
//
// or they are built in code with a Host, which writes the kernel's layout
// and attribute formats:
//
//	tr := sysfstest.NewHostAt(t.TempDir())
//	tr.AddUSB(sysfstest.RootHub(1, "480")) // and its xHCI, 0000:00:14.0
//	tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x1050, IDProduct: 0x0407,
//		Serial: new("12345678"), DevNode: true})
//	if err := tr.Err(); err != nil {
//		t.Fatal(err)
//	}
//
// Synthetic builds large trees for benchmarks, and dump (in the tests) turns any tree back
// into a txtar archive so that a tree built in code can be frozen into
// testdata. The archives in testdata/sysfs are made that way, by
// fixtures_test.go: change the builders there and run
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
// archive comment is free text describing the tree.
package sysfstest
