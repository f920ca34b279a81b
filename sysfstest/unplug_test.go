package sysfstest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Unplugging what was plugged leaves the tree as it was, links and nodes
// included, and a replug gets the next devnum, as the kernel gives it.
func TestPlugUnplug(t *testing.T) {
	root := t.TempDir()
	tr := New(root)
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
	if n := tr.Plug(hub); n != 2 {
		t.Errorf("hub devnum %d, want 2", n)
	}
	key := USBDevice{Bus: 1, Port: "2.3", IDVendor: 0x0483, IDProduct: 0x2016,
		Interfaces: []USBInterface{{Class: 8, Driver: "usb-storage"}}}
	if n := tr.Plug(key); n != 3 {
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
	if n := tr.Plug(key.withPort("1")); n != 4 {
		t.Errorf("replug devnum %d, want 4", n)
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
}

func (d USBDevice) withPort(p string) USBDevice { d.Port = p; return d }
