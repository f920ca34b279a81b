package discover

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hostdev/hostdev/internal/testenv"
)

// On this host, as root: a PCI function's driver_override is set, which
// no file event shows, and a uevent is asked for. The watcher, with its
// rescan off, must see the change through the kernel's uevent alone, and
// see it undone.
func TestWatchHostUevent(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to write driver_override and ask the kernel for a uevent")
	}
	fns, _ := filepath.Glob("/sys/bus/pci/devices/*")
	var dir string
	for _, f := range fns {
		if _, err := os.Stat(filepath.Join(f, "driver_override")); err != nil {
			continue
		}
		if dir == "" {
			dir = f
		}
		if _, err := os.Lstat(filepath.Join(f, "driver")); os.IsNotExist(err) {
			dir = f // one without a driver is best: nothing could bind
			break
		}
	}
	if dir == "" {
		testenv.Skip(t, "no PCI function with driver_override on this host")
	}
	name := filepath.Base(dir)
	old, err := os.ReadFile(filepath.Join(dir, "driver_override"))
	if err != nil {
		t.Fatal(err)
	}
	if string(old) != "(null)\n" {
		testenv.Skip(t, "%s has driver_override %q already; leaving it alone", name, old)
	}
	w, err := Watch(context.Background(), WatchOptions{Options: Options{Root: "/", Buses: []Bus{BusPCI}, Numeric: true}, Rescan: NoRescan})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go func() {
		for err := range w.Errors {
			t.Errorf("watch: %v", err)
		}
	}()
	if w.w.uconn == nil {
		t.Fatal("no uevent socket on the host root")
	}
	if ev := <-w.Events; ev.Op != Ready {
		t.Fatalf("first event %s, want ready", brief([]Event{ev}))
	}
	set := func(v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "driver_override"), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "uevent"), []byte("change"), 0); err != nil {
			t.Fatal(err)
		}
	}
	defer os.WriteFile(filepath.Join(dir, "driver_override"), []byte("\n"), 0)
	for _, v := range []string{"hostdev-test", ""} {
		start := time.Now()
		set(v + "\n")
		select {
		case ev := <-w.Events:
			if ev.Op != Change || ev.Device.Name != name || ev.Device.PCI.DriverOverride != v {
				t.Fatalf("after driver_override=%q: %s override %q", v, brief([]Event{ev}), ev.Device.PCI.DriverOverride)
			}
			t.Logf("driver_override=%q seen as a change of %s in %s", v, name, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("driver_override=%q on %s: no event in 5s", v, name)
		}
	}
}
