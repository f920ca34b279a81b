package sysfstest

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Tree writes a fake sysfs layout under Root. Paths it takes and returns are
// slash-separated and relative to Root ("sys/devices/...").
//
// The Add methods never return errors: the first failure is kept and
// reported by Err, and later calls still try to do their work. A device's
// parent (a hub, a bridge, a PF) must be added before the device. A Tree is
// not safe for concurrent use.
type Tree struct {
	Root string
	// CharLinks makes AddUSB write sys/dev/char/189:M, the link the kernel
	// makes from a device number to its device directory.
	CharLinks bool

	err     error
	dirs    map[string]bool
	usb     map[string]*usbNode // by sysfs name: "usb1", "1-3.1"
	buses   map[int]*usbBus
	pci     map[string]*pciNode // by address
	groups  map[int]bool
	drivers map[string]bool // "usb/hub", "pci/nvme"
}

// New returns a Tree that writes under root. Nothing is written until the
// first Add.
func New(root string) *Tree {
	return &Tree{
		Root:    root,
		dirs:    map[string]bool{},
		usb:     map[string]*usbNode{},
		buses:   map[int]*usbBus{},
		pci:     map[string]*pciNode{},
		groups:  map[int]bool{},
		drivers: map[string]bool{},
	}
}

// Err returns the first error any call on t met, or nil.
func (t *Tree) Err() error { return t.err }

func (t *Tree) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

func (t *Tree) failf(format string, args ...any) {
	t.fail(fmt.Errorf("sysfstest: "+format, args...))
}

func (t *Tree) abs(rel string) string { return filepath.Join(t.Root, filepath.FromSlash(rel)) }

// WriteFile writes data to the file rel, creating its parent directories.
// It is for defects and extra files the Add methods do not make.
func (t *Tree) WriteFile(rel, data string) {
	if !t.validRel(rel) {
		return
	}
	t.mkdir(path.Dir(rel))
	t.write(rel, data)
}

// Symlink creates the symlink rel with the given target, creating the
// parent directories of rel. The target is written as given and need not
// exist.
func (t *Tree) Symlink(rel, target string) {
	if !t.validRel(rel) {
		return
	}
	t.mkdir(path.Dir(rel))
	t.symlink(rel, target)
}

// Link creates the symlink rel pointing at the root-relative path to,
// written as a relative target the way the kernel writes its links.
func (t *Tree) Link(rel, to string) {
	t.Symlink(rel, relTarget(rel, to))
}

// validRel fails unless rel is a clean relative path that stays in Root.
func (t *Tree) validRel(rel string) bool {
	if !fs.ValidPath(rel) || rel == "." {
		t.failf("%q is not a clean relative path", rel)
		return false
	}
	return true
}

// link creates rel as a relative symlink to the root-relative path to.
func (t *Tree) link(rel, to string) { t.symlink(rel, relTarget(rel, to)) }

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
func (t *Tree) writeAttrs(dir string, a *attrs, omit []string, raw map[string]string) {
	skip := func(n string) bool {
		_, ok := raw[n]
		return ok || slices.Contains(omit, n)
	}
	for _, n := range a.names {
		if !skip(n) {
			t.write(dir+"/"+n, a.vals[n])
		}
	}
	for _, n := range sortedKeys(raw) {
		if !t.validRel(n) {
			continue
		}
		if strings.Contains(n, "/") {
			t.mkdir(path.Dir(dir + "/" + n))
		}
		t.write(dir+"/"+n, raw[n])
	}
}

// wantLink reports whether the file or link name should be made by the
// Tree: it is neither omitted nor replaced by a raw file of the same name.
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
func (t *Tree) driver(bus, name, member string) string {
	dir := "sys/bus/" + bus + "/drivers/" + name
	if !t.drivers[bus+"/"+name] {
		t.drivers[bus+"/"+name] = true
		t.mkdir(dir)
		t.write(dir+"/bind", "")
		t.write(dir+"/unbind", "")
		if bus == "pci" {
			t.write(dir+"/new_id", "")
			t.write(dir+"/remove_id", "")
		}
	}
	t.link(dir+"/"+path.Base(member), member)
	return dir
}

// bus makes sys/bus/BUS with its devices and drivers directories once.
func (t *Tree) bus(name string) {
	dir := "sys/bus/" + name
	if t.dirs[dir+"/devices"] {
		return
	}
	t.mkdir(dir + "/devices")
	t.mkdir(dir + "/drivers")
	t.write(dir+"/drivers_autoprobe", "1\n")
	t.write(dir+"/drivers_probe", "")
}

// AddDevNode creates the USB device node dev/bus/usb/BBB/DDD as an empty
// regular file (tests cannot make character devices) and returns its path.
// A watcher test "plugs" a device by calling it after AddUSB.
func (t *Tree) AddDevNode(bus, devnum int) string {
	rel := fmt.Sprintf("dev/bus/usb/%03d/%03d", bus, devnum)
	t.mkdir(path.Dir(rel))
	t.write(rel, "")
	return rel
}

// AddIOMMUGroup creates sys/kernel/iommu_groups/N with an empty devices
// directory. AddPCI calls it for a function's group, so it is only needed
// for a group without members.
func (t *Tree) AddIOMMUGroup(n int) {
	if n < 0 {
		t.failf("IOMMU group %d is negative", n)
		return
	}
	if t.groups[n] {
		return
	}
	t.groups[n] = true
	dir := fmt.Sprintf("sys/kernel/iommu_groups/%d", n)
	t.mkdir(dir + "/devices")
	t.write(dir+"/type", "DMA\n")
}
