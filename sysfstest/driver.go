package sysfstest

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// BindDriver binds driver to name, a PCI function ("0000:01:00.0") or a
// USB interface ("1-3.1:1.0"), as the kernel shows a bound driver: the
// driver link in the device's directory, the device's link in
// sys/bus/BUS/drivers/DRIVER, and DRIVER= in its uevent. The name must be
// unbound.
func (h *Host) BindDriver(name, driver string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	bus, dir, cur := h.bindable(name)
	switch {
	case bus == "":
		return
	case driver == "" || strings.Contains(driver, "/"):
		h.failf("%s: bad driver name %q", name, driver)
		return
	case *cur != "":
		h.failf("%s: bound to %s already", name, *cur)
		return
	}
	h.link(dir+"/driver", h.driver(bus, driver, dir))
	*cur = driver
	h.setUeventDriver(dir+"/uevent", driver)
}

// UnbindDriver undoes BindDriver, or the Driver a function or interface
// was added with. The name must be bound.
func (h *Host) UnbindDriver(name string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	bus, dir, cur := h.bindable(name)
	switch {
	case bus == "":
		return
	case *cur == "":
		h.failf("%s: not bound", name)
		return
	}
	h.remove(dir + "/driver")
	h.remove("sys/bus/" + bus + "/drivers/" + *cur + "/" + name)
	*cur = ""
	h.setUeventDriver(dir+"/uevent", "")
}

// bindable finds the PCI function or USB interface name: its bus, its
// directory, and where its driver is kept. bus is "" if there is none.
func (h *Host) bindable(name string) (bus, dir string, driver *string) {
	if n := h.pci[name]; n != nil {
		return "pci", n.dir, &n.driver
	}
	if fi := h.ifaces[name]; fi != nil {
		return "usb", fi.dir, &fi.driver
	}
	if h.usb[name] != nil {
		h.failf("USB %s: drivers bind to its interfaces, such as %s:1.0", name, name)
		return "", "", nil
	}
	h.failf("%s: no PCI function or USB interface of that name", name)
	return "", "", nil
}

// setUeventDriver rewrites the DRIVER= line of the uevent file rel, where
// the kernel prints it: after DEVTYPE= if there is one, else first. A
// uevent file left out with Omit stays out.
func (h *Host) setUeventDriver(rel, driver string) {
	data, err := os.ReadFile(h.abs(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return
	} else if err != nil {
		h.fail(err)
		return
	}
	lines := slices.DeleteFunc(strings.SplitAfter(string(data), "\n"), func(l string) bool {
		return strings.HasPrefix(l, "DRIVER=")
	})
	if driver != "" {
		at := 0
		if i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "DEVTYPE=") }); i >= 0 {
			at = i + 1
		}
		lines = slices.Insert(lines, at, "DRIVER="+driver+"\n")
	}
	h.write(rel, strings.Join(lines, ""))
}

// RemovePCI removes the PCI function addr as the kernel does on a hot
// unplug (or a write to its remove file): first what sits behind it (the
// functions behind a bridge, a PF's VFs, the USB buses of a host
// controller), then its links, its directory, and its IOMMU group once
// the group has no member left.
func (h *Host) RemovePCI(addr string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	h.removePCI(addr)
}

func (h *Host) removePCI(addr string) {
	n := h.pci[addr]
	if n == nil {
		h.failf("PCI %s: not added", addr)
		return
	}
	var below, roots []string
	for a, c := range h.pci {
		if c.parent == addr || c.physFn == addr {
			below = append(below, a)
		}
	}
	for name, u := range h.usb {
		if u.parent == "" && path.Dir(u.dir) == n.dir {
			roots = append(roots, name)
		}
	}
	slices.Sort(below)
	slices.Sort(roots)
	for _, r := range roots {
		h.unplug(r)
	}
	for _, a := range below {
		if h.pci[a] != nil { // not gone with a PF before it
			h.removePCI(a)
		}
	}
	if n.driver != "" {
		h.remove("sys/bus/pci/drivers/" + n.driver + "/" + addr)
	}
	for _, l := range n.links {
		h.remove(l)
	}
	h.remove(n.dir)
	delete(h.pci, addr)
	if n.group >= 0 {
		g := "sys/kernel/iommu_groups/" + strconv.Itoa(n.group)
		if es, err := os.ReadDir(h.abs(g + "/devices")); err == nil && len(es) == 0 {
			h.remove(g)
			delete(h.groups, n.group)
		}
	}
}
