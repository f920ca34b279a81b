package sysfstest

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Host is a fake Linux host: a sysfs tree, and the /dev/bus/usb nodes of
// its USB devices, written under a root directory in the kernel's layout
// and attribute formats. Paths it takes and returns are slash-separated and
// relative to the root ("sys/devices/...").
//
// The root hub of a bus, every hub on the way to a device, and a
// function's bridge or PF must be added before what sits behind them. A
// Host is not safe for concurrent use.
type Host struct {
	// CharLinks makes AddUSB and Plug write sys/dev/char/189:M, the link
	// the kernel makes from a device number to its device directory.
	// NewHost turns it on; NewHostAt leaves it off, as trees for fixtures
	// and benchmarks do not need it.
	CharLinks bool

	root    string
	tb      testing.TB // nil: failures are kept for Err
	err     error
	dirs    map[string]bool
	usb     map[string]*usbNode  // by sysfs name: "usb1", "1-3.1"
	ifaces  map[string]*usbIface // by sysfs name: "1-3.1:1.0"
	buses   map[int]*usbBus
	pci     map[string]*pciNode // by address
	groups  map[int]bool
	drivers map[string]bool // "usb/hub", "pci/nvme"
	// mdevTypes are the mediated device types, by directory.
	mdevTypes map[string]*mdevTypeNode
	trace     func(op, rel string)
}

// NewHost returns an empty Host rooted in a fresh tb.TempDir(), which
// writes the /sys/dev/char links. A method that fails ends the test with
// tb.Fatal, so, like tb.Fatal, call it from the test's goroutine.
func NewHost(tb testing.TB) *Host {
	tb.Helper()
	h := NewHostAt(tb.TempDir())
	h.tb = tb
	h.CharLinks = true
	return h
}

// NewHostAt returns a Host that writes under root, for code that has no
// testing.TB, such as a program that generates trees for benchmarks. Its
// methods never fail a test: the first failure is kept and reported by
// Err, and later calls still try to do their work. Nothing is written
// until the first call.
func NewHostAt(root string) *Host {
	return &Host{
		root:    root,
		dirs:    map[string]bool{},
		usb:     map[string]*usbNode{},
		ifaces:  map[string]*usbIface{},
		buses:   map[int]*usbBus{},
		pci:     map[string]*pciNode{},
		groups:  map[int]bool{},
		drivers: map[string]bool{},

		mdevTypes: map[string]*mdevTypeNode{},
	}
}

// Root returns the directory the host is written under: what a reader
// takes as its root instead of "/".
func (h *Host) Root() string { return h.root }

// Err returns the first error any call on h met, or nil. A Host from
// NewHost has ended the test instead.
func (h *Host) Err() error { return h.err }

func (h *Host) fail(err error) {
	if h.err == nil {
		h.err = err
	}
}

func (h *Host) failf(format string, args ...any) {
	h.fail(fmt.Errorf("sysfstest: "+format, args...))
}

// check ends the test if a call failed. Every exported method defers it,
// after calling tb.Helper, so that the failure points at the test's line.
func (h *Host) check() {
	if h.tb != nil && h.err != nil {
		h.tb.Helper()
		h.tb.Fatal(h.err)
	}
}

func (h *Host) abs(rel string) string { return filepath.Join(h.root, filepath.FromSlash(rel)) }

// WriteFile writes data to the file rel, creating its parent directories.
// It is for defects and extra files the Add methods do not make.
func (h *Host) WriteFile(rel, data string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	if !h.validRel(rel) {
		return
	}
	h.mkdir(path.Dir(rel))
	h.write(rel, data)
}

// Symlink creates the symlink rel with the given target, creating the
// parent directories of rel. The target is written as given and need not
// exist.
func (h *Host) Symlink(rel, target string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	if !h.validRel(rel) {
		return
	}
	h.mkdir(path.Dir(rel))
	h.symlink(rel, target)
}

// Link creates the symlink rel pointing at the root-relative path to,
// written as a relative target the way the kernel writes its links.
func (h *Host) Link(rel, to string) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	h.Symlink(rel, relTarget(rel, to))
}

// validRel fails unless rel is a clean relative path that stays in Root.
func (h *Host) validRel(rel string) bool {
	if !fs.ValidPath(rel) || rel == "." {
		h.failf("%q is not a clean relative path", rel)
		return false
	}
	return true
}

// link creates rel as a relative symlink to the root-relative path to.
func (h *Host) link(rel, to string) { h.symlink(rel, relTarget(rel, to)) }

// relTarget is the relative symlink target that makes link, a root-relative
// path, point at the root-relative path to.
func relTarget(link, to string) string {
	from := strings.Split(path.Dir(link), "/")
	dst := strings.Split(to, "/")
	i := 0
	for i < len(from) && i < len(dst) && from[i] == dst[i] {
		i++
	}
	var b strings.Builder
	for range len(from) - i {
		b.WriteString("../")
	}
	b.WriteString(strings.Join(dst[i:], "/"))
	return b.String()
}

// attrs collects the files of one directory in the order they are written,
// so that Omit and Raw apply uniformly.
type attrs struct {
	names []string
	vals  map[string]string
}

func (a *attrs) set(name, val string) {
	if a.vals == nil {
		a.vals = map[string]string{}
	}
	if _, ok := a.vals[name]; !ok {
		a.names = append(a.names, name)
	}
	a.vals[name] = val
}

// writeAttrs writes a's files into dir, leaving out omit and replacing or
// adding the raw ones. raw names may contain "/" ("power/control").
func (h *Host) writeAttrs(dir string, a *attrs, omit []string, raw map[string]string) {
	skip := func(n string) bool {
		_, ok := raw[n]
		return ok || slices.Contains(omit, n)
	}
	for _, n := range a.names {
		if !skip(n) {
			h.write(dir+"/"+n, a.vals[n])
		}
	}
	for _, n := range sortedKeys(raw) {
		if !h.validRel(n) {
			continue
		}
		if strings.Contains(n, "/") {
			h.mkdir(path.Dir(dir + "/" + n))
		}
		h.write(dir+"/"+n, raw[n])
	}
}

// wantLink reports whether the file or link name should be made by the
// Host: it is neither omitted nor replaced by a raw file of the same name.
func wanted(name string, omit []string, raw map[string]string) bool {
	_, ok := raw[name]
	return !ok && !slices.Contains(omit, name)
}

func sortedKeys(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// driver makes sys/bus/BUS/drivers/NAME once, with the files the kernel
// gives every driver directory, and links member (root-relative) into it
// under its base name.
func (h *Host) driver(bus, name, member string) string {
	dir := h.driverDir(bus, name)
	h.link(dir+"/"+path.Base(member), member)
	return dir
}

// driverDir makes sys/bus/BUS/drivers/NAME once, and returns it.
func (h *Host) driverDir(bus, name string) string {
	dir := "sys/bus/" + bus + "/drivers/" + name
	if !h.drivers[bus+"/"+name] {
		h.drivers[bus+"/"+name] = true
		h.mkdir(dir)
		h.write(dir+"/bind", "")
		h.write(dir+"/unbind", "")
		if bus == "pci" {
			h.write(dir+"/new_id", "")
			h.write(dir+"/remove_id", "")
		}
	}
	return dir
}

// bus makes sys/bus/BUS with its devices and drivers directories once.
func (h *Host) bus(name string) {
	dir := "sys/bus/" + name
	if h.dirs[dir+"/devices"] {
		return
	}
	h.mkdir(dir + "/devices")
	h.mkdir(dir + "/drivers")
	h.write(dir+"/drivers_autoprobe", "1\n")
	h.write(dir+"/drivers_probe", "")
}

// AddDevNode creates the USB device node dev/bus/usb/BBB/DDD as an empty
// regular file (tests cannot make character devices) and returns its path.
// A watcher test "plugs" a device by calling it after AddUSB.
func (h *Host) AddDevNode(bus, devnum int) string {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	rel := fmt.Sprintf("dev/bus/usb/%03d/%03d", bus, devnum)
	h.mkdir(path.Dir(rel))
	h.write(rel, "")
	return rel
}

// AddIOMMUGroup creates sys/kernel/iommu_groups/N with an empty devices
// directory. AddPCI calls it for a function's group, so it is only needed
// for a group without members.
func (h *Host) AddIOMMUGroup(n int) {
	if h.tb != nil {
		h.tb.Helper()
	}
	defer h.check()
	if n < 0 {
		h.failf("IOMMU group %d is negative", n)
		return
	}
	if h.groups[n] {
		return
	}
	h.groups[n] = true
	dir := fmt.Sprintf("sys/kernel/iommu_groups/%d", n)
	h.mkdir(dir + "/devices")
	h.write(dir+"/type", "DMA\n")
}
