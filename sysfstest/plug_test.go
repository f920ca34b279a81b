package sysfstest

import (
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
