package sysfstest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// Plug plugs a USB device in the order the kernel makes its entries: the
// sysfs device directory, its attributes and its link in
// sys/bus/usb/devices, then its interfaces with theirs, the sys/dev/char
// link (with CharLinks), and last the node dev/bus/usb/BBB/DDD, which is
// what a watcher of /dev sees. A reader that lists sys/bus/usb/devices
// meanwhile may find the device before its interfaces, as on a real host. It returns
// the device as plugged, with its devnum and defaults filled in.
//
// On a real kernel the interfaces are configured just after the node
// appears; Plug writes them first, so that a reader woken by the node sees
// a whole device. To test a reader against the late interfaces, use
// AddDevNode, WriteFile and Symlink step by step.
func (h *Host) Plug(d USBDevice) USBDevice {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	d, dir := h.addUSB(d)
	if dir == "" {
		return d
	}
	h.AddDevNode(d.Bus, d.Devnum)
	return d
}

// Unplug unplugs the USB device name ("1-3.1", or "usb1" for a root hub)
// in the kernel's order: the devices behind it first if it is a hub, then
// its interfaces, then its node (and dev/bus/usb/BBB once empty, as
// devtmpfs does), and last its own sysfs entries and links.
func (h *Host) Unplug(name string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	h.unplug(name)
}

func (h *Host) unplug(name string) {
	n := h.usb[name]
	if n == nil {
		h.failf("USB %s: not plugged", name)
		return
	}
	var children []string
	for c, cn := range h.usb {
		if cn.parent == name {
			children = append(children, c)
		}
	}
	slices.Sort(children)
	for _, c := range children {
		h.unplug(c)
	}
	h.removeInterfaces(n)
	h.RemoveDevNode(n.bus, n.devnum) // made by Plug or AddDevNode, if at all
	h.removeUSBEntries(name)
}

// RemoveDevNode removes dev/bus/usb/BBB/DDD, and then, as devtmpfs does,
// the folders above it that it leaves empty. With RemoveUSBEntries, it is
// the half of Unplug a test calls on its own to have the node and the
// sysfs entries go at different times.
func (h *Host) RemoveDevNode(bus, devnum int) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	rel := fmt.Sprintf("dev/bus/usb/%03d/%03d", bus, devnum)
	h.remove(rel)
	for d := path.Dir(rel); d != "dev" && d != "."; d = path.Dir(d) {
		if os.Remove(h.abs(d)) != nil {
			break // not empty, or not there
		}
		h.traceOp("remove", d)
		delete(h.dirs, d)
	}
}

// RemoveUSBEntries removes the sysfs entries of a device that has no
// children left, interfaces first, and leaves its device node alone: Unplug
// without the node, for a test of a node that outlives its device.
func (h *Host) RemoveUSBEntries(name string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	h.removeUSBEntries(name)
}

func (h *Host) removeUSBEntries(name string) {
	n := h.usb[name]
	if n == nil {
		h.failf("USB %s: not plugged", name)
		return
	}
	h.removeInterfaces(n)
	if n.char != "" {
		h.remove(n.char)
	}
	for _, l := range n.links {
		h.remove(l)
	}
	h.remove(n.dir)
	delete(h.usb, name)
	if b := h.buses[n.bus]; b != nil && b.used[n.devnum] == name {
		b.used[n.devnum] = ""
	}
	if n.parent == "" {
		delete(h.buses, n.bus)
	}
}

// removeInterfaces removes n's interfaces, each with its links, last made
// first.
func (h *Host) removeInterfaces(n *usbNode) {
	for _, fi := range slices.Backward(n.ifaces) {
		h.remove("sys/bus/usb/devices/" + fi.name)
		if fi.driver != "" {
			h.remove("sys/bus/usb/drivers/" + fi.driver + "/" + fi.name)
		}
		h.remove(fi.dir)
		delete(h.ifaces, fi.name)
	}
	n.ifaces = nil
}

// remove deletes rel and everything below it, and forgets the directories
// it had made there.
func (h *Host) remove(rel string) {
	if h.dirs[rel] {
		// Walk what is there rather than all h.dirs: trees are large.
		filepath.WalkDir(h.abs(rel), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				if r, err := filepath.Rel(h.root, p); err == nil {
					delete(h.dirs, filepath.ToSlash(r))
				}
			}
			return nil
		})
	}
	h.traceOp("remove", rel)
	if err := os.RemoveAll(h.abs(rel)); err != nil {
		h.fail(err)
	}
}
