package sysfstest

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// AddDriver makes sys/bus/BUS/drivers/NAME with nothing bound to it, as
// loading a module that binds nothing does ("modprobe vfio-pci").
func (h *Host) AddDriver(bus, name string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		h.failf("bad driver name %q", name)
		return
	}
	h.bus(bus)
	h.driverDir(bus, name)
}

// WritePCIControl does to the tree what the kernel's PCI driver core does
// when value is written to one of its control files, so that code which
// hands functions from driver to driver can be tested on a fake host. rel
// is the file, relative to the root:
//
//	sys/bus/pci/devices/ADDR/driver_override  the driver only that may bind it; "" clears it
//	sys/bus/pci/devices/ADDR/driver/unbind    ADDR: unbind it from its driver
//	sys/bus/pci/drivers/DRIVER/unbind         ADDR: unbind it from DRIVER
//	sys/bus/pci/drivers/DRIVER/bind           ADDR: bind it to DRIVER
//	sys/bus/pci/drivers_probe                 ADDR: bind it, if unbound, to its override or else
//	                                          to the driver it was added with
//
// A driver binds only when sys/bus/pci/drivers/DRIVER exists (AddDriver,
// or any function added bound to it), as a module must be loaded, and
// only the driver_override's driver binds a function that has one. The
// errors are the kernel's: unix.ENODEV when the driver cannot take the
// function or it is not bound to that driver, unix.EINVAL for a value
// that names no function, unix.ENOENT for a file the kernel does not
// have. A trailing newline in value is dropped, as the kernel drops it.
//
// Like every method of Host, it is not safe to call at the same time as
// another; on a Host from NewHost it ends the test on a failure of the
// tree, so call it from the test's goroutine, or use NewHostAt.
func (h *Host) WritePCIControl(rel, value string) error {
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	value = strings.TrimSuffix(value, "\n")
	if rel == "sys/bus/pci/drivers_probe" {
		n := h.pci[value]
		if n == nil {
			return unix.EINVAL
		}
		if n.driver != "" {
			return nil
		}
		drv := n.native
		if n.override != "" {
			drv = n.override
		}
		if drv == "" || !h.drivers["pci/"+drv] {
			return nil // no driver takes it: it stays unbound, and the write succeeds
		}
		return h.bindErr(value, drv)
	}
	if dev, file, ok := strings.Cut(strings.TrimPrefix(rel, "sys/bus/pci/devices/"), "/"); ok && strings.HasPrefix(rel, "sys/bus/pci/devices/") {
		n := h.pci[dev]
		if n == nil {
			return unix.ENOENT
		}
		switch file {
		case "driver_override":
			if strings.ContainsAny(value, "\n/") {
				return unix.EINVAL
			}
			n.override = value
			shown := value
			if shown == "" {
				shown = "(null)"
			}
			h.write(n.dir+"/driver_override", shown+"\n")
			return h.Err()
		case "driver/unbind":
			if n.driver == "" {
				return unix.ENOENT // no driver link, no file
			}
			// It is the driver's own unbind file, which takes any
			// function bound to that driver.
			rel = "sys/bus/pci/drivers/" + n.driver + "/unbind"
		default:
			return unix.ENOENT
		}
	}
	if rest, ok := strings.CutPrefix(rel, "sys/bus/pci/drivers/"); ok {
		drv, op, _ := strings.Cut(rest, "/")
		if !h.drivers["pci/"+drv] || (op != "bind" && op != "unbind") {
			return unix.ENOENT
		}
		n := h.pci[value]
		if n == nil {
			return unix.ENODEV
		}
		if op == "unbind" {
			if n.driver != drv {
				return unix.ENODEV
			}
			h.UnbindDriver(value)
			return h.Err()
		}
		if n.driver != "" || n.override != "" && n.override != drv {
			return unix.ENODEV
		}
		return h.bindErr(value, drv)
	}
	return fmt.Errorf("%s: %w", rel, unix.ENOENT)
}

// bindErr binds addr to drv and returns the tree's error.
func (h *Host) bindErr(addr, drv string) error {
	h.BindDriver(addr, drv)
	return h.Err()
}
