package discover

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Only a Change carries Old, on a USB device as on a PCI function.
func TestWatchOldOnlyOnChange(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	n := h.tree.Plug(key(1, "1", "K")).Devnum
	h.check()
	add := h.next(1)
	want(t, add, "add 1-1@"+fmt.Sprint(n))
	// Unbind the interface's driver, then rescan: a change.
	dev := h.w.Devices()[1]
	if err := os.Remove(filepath.Join(h.tree.Root(), dev.SysfsPath, "1-1:1.0", "driver")); err != nil {
		t.Fatal(err)
	}
	h.w.w.inject <- fsnotify.ErrEventOverflow
	chg := h.next(1)
	want(t, chg, "change 1-1@"+fmt.Sprint(n))
	h.tree.Unplug("1-1")
	h.check()
	rm := h.next(1)
	want(t, rm, "remove 1-1@"+fmt.Sprint(n))
	if add[0].Old != nil || rm[0].Old != nil {
		t.Errorf("Old on an add or a remove: %v, %v", add[0].Old, rm[0].Old)
	}
	o := chg[0].Old
	if o == nil || o.USB == nil || o.USB.Interfaces[0].Driver != "usb-storage" || chg[0].Device.USB.Interfaces[0].Driver != "" {
		t.Fatalf("change: Old %+v, Device %+v", o, chg[0].Device.USB)
	}
}

// In JSON, ready has no device, and a change has "old".
func TestEventJSON(t *testing.T) {
	tm := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	b, err := json.Marshal(Event{Op: Ready, Time: tm})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"op":"ready","time":"2026-12-05T23:00:00Z"}`; got != want {
		t.Errorf("ready: %s, want %s", got, want)
	}
	d := Device{Bus: BusPCI, Name: "0000:00:1f.3", PCI: &PCI{Driver: "vfio-pci"}}
	old := Device{Bus: BusPCI, Name: "0000:00:1f.3", PCI: &PCI{Driver: "snd_hda_intel"}}
	b, err = json.Marshal(Event{Op: Change, Time: tm, Device: d, Old: &old})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"old":{`) || !strings.Contains(string(b), `"driver":"snd_hda_intel"`) {
		t.Errorf("change: %s", b)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || back.Op != Change || back.Old == nil || back.Old.PCI.Driver != "snd_hda_intel" {
		t.Errorf("read back: %+v, %v", back, err)
	}
	b, _ = json.Marshal(Event{Op: Add, Time: tm, Device: d})
	if strings.Contains(string(b), `"old"`) {
		t.Errorf("add: %s", b)
	}
}

// Uevents: Auto listens on the host's root only, Off never, On whatever
// the root (or says why it cannot).
func TestWatchUeventModes(t *testing.T) {
	tree := t.TempDir()
	for _, c := range []struct {
		name   string
		root   string
		mode   UeventMode
		listen bool
	}{
		{"auto, a tree", tree, UeventsAuto, false},
		{"off, the host", "/", UeventsOff, false},
		{"on, a tree", tree, UeventsOn, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := Watch(t.Context(), WatchOptions{Options: Options{Root: c.root, Buses: []Bus{BusPCI}, Numeric: true}, Rescan: NoRescan, Uevents: c.mode})
			if err != nil {
				t.Fatal(err)
			}
			listening := w.w.uconn != nil
			w.Close()
			var errs []string
			for err := range w.Errors {
				errs = append(errs, err.Error())
			}
			unavailable := slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, "kernel uevents are unavailable") })
			if listening != c.listen && !(c.listen && unavailable) {
				t.Errorf("listening %v, want %v; errors %q", listening, c.listen, errs)
			}
		})
	}
}
