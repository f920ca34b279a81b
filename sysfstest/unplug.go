package sysfstest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// Plug adds a USB device the way the kernel does: its sysfs entries first,
// then its device node, which is what a watcher sees. It returns the
// devnum the device got.
func (t *Tree) Plug(d USBDevice) int {
	d.DevNode = false
	dir := t.AddUSB(d)
	n := t.usb[path.Base(dir)]
	if dir == "" || n == nil {
		return 0
	}
	t.AddDevNode(n.bus, n.devnum)
	return n.devnum
}

// Unplug removes a USB device the way the kernel does: the devices behind
// it first (it may be a hub), then its device node, then its sysfs
// entries.
func (t *Tree) Unplug(name string) {
	n := t.usb[name]
	if n == nil {
		t.failf("USB %s: not plugged", name)
		return
	}
	var children []string
	for c, cn := range t.usb {
		if cn.parent == name {
			children = append(children, c)
		}
	}
	slices.Sort(children)
	for _, c := range children {
		t.Unplug(c)
	}
	t.RemoveDevNode(n.bus, n.devnum) // made by Plug, AddUSB or AddDevNode, if at all
	t.RemoveUSBEntries(name)
}

// RemoveDevNode removes dev/bus/usb/BBB/DDD, and then, as devtmpfs does,
// the folders above it that it leaves empty.
func (t *Tree) RemoveDevNode(bus, devnum int) {
	rel := fmt.Sprintf("dev/bus/usb/%03d/%03d", bus, devnum)
	t.remove(rel)
	for d := path.Dir(rel); d != "dev" && d != "."; d = path.Dir(d) {
		if os.Remove(t.abs(d)) != nil {
			break // not empty, or not there
		}
		delete(t.dirs, d)
	}
}

// RemoveUSBEntries removes the sysfs entries of a device that has no
// children left, and leaves its device node alone: Unplug without the
// node, for a test of a node that outlives its device.
func (t *Tree) RemoveUSBEntries(name string) {
	n := t.usb[name]
	if n == nil {
		t.failf("USB %s: not plugged", name)
		return
	}
	for _, l := range n.links {
		t.remove(l)
	}
	t.remove(n.dir)
	delete(t.usb, name)
	if n.parent == "" {
		delete(t.buses, n.bus)
	}
}

// remove deletes rel and everything below it, and forgets the directories
// it had made there.
func (t *Tree) remove(rel string) {
	if t.dirs[rel] {
		// Walk what is there rather than all t.dirs: trees are large.
		filepath.WalkDir(t.abs(rel), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				if r, err := filepath.Rel(t.Root, p); err == nil {
					delete(t.dirs, filepath.ToSlash(r))
				}
			}
			return nil
		})
	}
	if err := os.RemoveAll(t.abs(rel)); err != nil {
		t.fail(err)
	}
}
