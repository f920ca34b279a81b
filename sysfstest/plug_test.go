package sysfstest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Unplugging what was plugged leaves the tree as it was, links and nodes
// included, and a replug gets the next devnum, as the kernel gives it.
func TestPlugUnplug(t *testing.T) {
	root := t.TempDir()
	tr := NewHostAt(root)
	tr.CharLinks = true
	tr.AddUSB(RootHub(1, "480"))
	list := func(rel string) []string {
		es, _ := os.ReadDir(filepath.Join(root, rel))
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	before := list("sys/bus/usb/devices")
	hub := Hub(1, "2")
	hub.MaxChild = 4
	if n := tr.Plug(hub).Devnum; n != 2 {
		t.Errorf("hub devnum %d, want 2", n)
	}
	key := USBDevice{Bus: 1, Port: "2.3", IDVendor: 0x0483, IDProduct: 0x2016,
		Interfaces: []USBInterface{{Class: 8, Driver: "usb-storage"}}}
	if n := tr.Plug(key).Devnum; n != 3 {
		t.Errorf("key devnum %d, want 3", n)
	}
	for _, p := range []string{"dev/bus/usb/001/003", "sys/bus/usb/devices/1-2.3:1.0", "sys/dev/char/189:2"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("after plug: %v", err)
		}
	}
	tr.Unplug("1-2")
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	if after := list("sys/bus/usb/devices"); !slices.Equal(after, before) {
		t.Errorf("bus lists %v after unplug, %v before plug", after, before)
	}
	for _, p := range []string{"dev/bus/usb/001/003", "sys/bus/usb/devices/1-2.3", "sys/bus/usb/devices/1-2.3:1.0",
		"sys/bus/usb/drivers/usb-storage/1-2.3:1.0", "sys/dev/char/189:2", "sys/dev/char/189:1"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("after unplug, %s: %v", p, err)
		}
	}
	if n := tr.Plug(key.withPort("1")).Devnum; n != 4 {
		t.Errorf("replug devnum %d, want 4", n)
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
}

func (d USBDevice) withPort(p string) USBDevice { d.Port = p; return d }

// devnums go round-robin from 1 to 127, as the kernel hands them out: a
// freed number is taken again only once the count has wrapped.
func TestDevnumRoundRobin(t *testing.T) {
	h := NewHost(t)
	rh := RootHub(1, "480")
	rh.MaxChild = 127
	if got := h.Plug(rh).Devnum; got != 1 {
		t.Fatalf("root hub devnum %d, want 1", got)
	}
	dev := func(port int) USBDevice { return USBDevice{Bus: 1, Port: strconv.Itoa(port)} }
	h.Plug(dev(1))
	h.Unplug("1-1") // devnum 2 is free again, but next is 3
	var got []int
	for p := 2; p <= 126; p++ {
		got = append(got, h.Plug(dev(p)).Devnum)
	}
	if got[0] != 3 || got[len(got)-1] != 127 {
		t.Errorf("devnums %d..%d, want 3..127", got[0], got[len(got)-1])
	}
	h.Unplug("1-60") // devnum 61
	got = []int{h.Plug(dev(1)).Devnum, h.Plug(dev(60)).Devnum}
	if !slices.Equal(got, []int{2, 61}) {
		t.Errorf("after the wrap, devnums %v, want [2 61]", got)
	}

	full := NewHostAt(t.TempDir())
	full.Plug(rh)
	for p := 1; p <= 126; p++ {
		full.Plug(dev(p))
	}
	if err := full.Err(); err != nil {
		t.Fatal(err)
	}
	full.Plug(dev(127))
	if err := full.Err(); err == nil || !strings.Contains(err.Error(), "no free devnum") {
		t.Errorf("a 128th device on a bus: error %v, want no free devnum", err)
	}
	bad := NewHostAt(t.TempDir())
	bad.Plug(rh)
	d := dev(1)
	d.Devnum = 128
	bad.Plug(d)
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "not in 1..127") {
		t.Errorf("devnum 128: error %v, want not in 1..127", err)
	}
}

// Plug makes a device's entries in the kernel's order, the node last, and
// Unplug removes them in the reverse order, the interfaces before the node.
func TestPlugOrder(t *testing.T) {
	h := NewHost(t)
	h.Plug(RootHub(1, "480"))
	h.Plug(Hub(1, "1"))
	var ops []string
	h.trace = func(op, rel string) { ops = append(ops, op+" "+rel) }
	dev := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.2"
	steps := []string{
		"mkdir " + dev,
		"write " + dev + "/idVendor",
		"mkdir " + dev + "/1-1.2:1.0",
		"symlink sys/bus/usb/devices/1-1.2:1.0",
		"symlink sys/dev/char/189:2",
		"write dev/bus/usb/001/003",
	}
	h.Plug(USBDevice{Bus: 1, Port: "1.2", Interfaces: []USBInterface{{Class: 0x08, Driver: "usb-storage"}}})
	checkOrder(t, "plug", ops, steps)
	if ops[len(ops)-1] != steps[len(steps)-1] {
		t.Errorf("plug ends with %q, want the node", ops[len(ops)-1])
	}

	ops = nil
	h.Unplug("1-1")
	checkOrder(t, "unplug", ops, []string{
		"remove sys/bus/usb/devices/1-1.2:1.0",
		"remove " + dev + "/1-1.2:1.0",
		"remove dev/bus/usb/001/003",
		"remove sys/dev/char/189:2",
		"remove sys/bus/usb/devices/1-1.2",
		"remove " + dev,
		"remove dev/bus/usb/001/002", // the hub's, after all behind it
		"remove sys/devices/pci0000:00/0000:00:14.0/usb1/1-1",
	})
}

// checkOrder checks that each of steps is in ops, in that order.
func checkOrder(t *testing.T, what string, ops, steps []string) {
	t.Helper()
	at := -1
	for _, s := range steps {
		i := slices.Index(ops, s)
		if i < 0 {
			t.Errorf("%s: no %q in\n%s", what, s, strings.Join(ops, "\n"))
			return
		}
		if i < at {
			t.Errorf("%s: %q comes before %q:\n%s", what, s, ops[at], strings.Join(ops, "\n"))
		}
		at = i
	}
}

// A Host from NewHost reports a failure through its testing.TB's Fatal,
// from the method that failed.
func TestNewHostFatal(t *testing.T) {
	tb := &fatalTB{TB: t}
	h := NewHost(tb)
	h.Plug(USBDevice{Bus: 1, Port: "1"})
	if want := "sysfstest: USB 1-1: parent usb1 not added"; tb.fatal != want {
		t.Errorf("Fatal(%q), want Fatal(%q)", tb.fatal, want)
	}
}

// fatalTB records what Fatal is called with, and carries on.
type fatalTB struct {
	testing.TB
	fatal string
}

func (tb *fatalTB) Fatal(args ...any) { tb.fatal = fmt.Sprint(args...) }
