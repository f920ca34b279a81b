package vfio

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfstest"
)

// host is a GPU with its audio function behind a root port (group 1), a
// USB controller with an unbound function in its slot on the root bus
// (group 2), a NIC
// that shares group 3 with an NVMe drive in another slot, and a NIC whose
// group 4 partner in another slot is unbound.
func host(t *testing.T) *sysfstest.Host {
	t.Helper()
	tr := sysfstest.NewHost(t)
	g := func(n int) *int { return &n }
	for _, f := range []sysfstest.PCIFunction{
		{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: g(1)},
		{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Driver: "nouveau", IOMMUGroup: g(1)},
		{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x22ba, Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: g(1)},
		{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Driver: "xhci_hcd", IOMMUGroup: g(2)},
		{Address: "0000:00:14.2", Vendor: 0x8086, Device: 0xa36f, Class: 0x050000, IOMMUGroup: g(2)},
		{Address: "0000:02:00.0", Vendor: 0x8086, Device: 0x1533, Class: 0x020000, Driver: "igb", IOMMUGroup: g(3)},
		{Address: "0000:03:00.0", Vendor: 0x144d, Device: 0xa808, Class: 0x010802, Driver: "nvme", IOMMUGroup: g(3)},
		{Address: "0000:04:00.0", Vendor: 0x8086, Device: 0x1533, Class: 0x020000, Driver: "igb", IOMMUGroup: g(4)},
		{Address: "0000:05:00.0", Vendor: 0x8086, Device: 0x1533, Class: 0x020000, IOMMUGroup: g(4)},
	} {
		tr.AddPCI(f)
	}
	return tr
}

func scan(t *testing.T, root string) []discover.Device {
	t.Helper()
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Fatalf("warnings: %v", res.Warnings)
	}
	return res.Devices
}

// drivers gives each function's driver and driver_override.
func drivers(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, d := range scan(t, root) {
		got[d.Name] = d.PCI.Driver + "/" + d.PCI.DriverOverride
	}
	return got
}

func names(ds []discover.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func TestPlan(t *testing.T) {
	tr := host(t)
	devs := scan(t, tr.Root())
	for _, tc := range []struct {
		addr         string
		take, others []string
		group        int
		blockedBy    []string
		err          string
	}{
		{addr: "0000:01:00.0", take: []string{"0000:01:00.0", "0000:01:00.1"}, group: 1},
		{addr: "0000:01:00.1", take: []string{"0000:01:00.0", "0000:01:00.1"}, group: 1},
		// On the root bus, a slot's functions are separate devices.
		{addr: "0000:00:14.0", take: []string{"0000:00:14.0"}, others: []string{"0000:00:14.2"}, group: 2},
		{addr: "0000:00:14.2", take: []string{"0000:00:14.2"}, others: []string{"0000:00:14.0"}, group: 2, blockedBy: []string{"0000:00:14.0"}},
		{addr: "0000:02:00.0", take: []string{"0000:02:00.0"}, others: []string{"0000:03:00.0"}, group: 3, blockedBy: []string{"0000:03:00.0"}},
		{addr: "0000:04:00.0", take: []string{"0000:04:00.0"}, others: []string{"0000:05:00.0"}, group: 4},
		{addr: "0000:00:01.0", err: "a bridge"},
		{addr: "0000:09:00.0", err: "no such PCI function"},
	} {
		p, err := NewPlan(devs, tc.addr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.addr, err, tc.err)
			}
			continue
		}
		var blocked *BlockedError
		switch {
		case tc.blockedBy != nil && !errors.As(err, &blocked):
			t.Errorf("%s: %v, want a *BlockedError", tc.addr, err)
		case tc.blockedBy != nil:
			if diff := cmp.Diff(tc.blockedBy, names(blocked.Holders)); diff != "" {
				t.Errorf("%s: holders (-want +got):\n%s", tc.addr, diff)
			}
			if want := blocked.Holders[0].Name + " (" + blocked.Holders[0].PCI.Driver + ")"; !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v does not name the holder and its driver", tc.addr, err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.addr, err)
		}
		if diff := cmp.Diff(tc.take, names(p.Take)); diff != "" {
			t.Errorf("%s: take (-want +got):\n%s", tc.addr, diff)
		}
		if diff := cmp.Diff(tc.others, names(p.Others)); diff != "" {
			t.Errorf("%s: others (-want +got):\n%s", tc.addr, diff)
		}
		if p.Group != tc.group {
			t.Errorf("%s: group %d, want %d", tc.addr, p.Group, tc.group)
		}
	}
}

func TestTakeAndRelease(t *testing.T) {
	tr := host(t)
	root := tr.Root()
	before := drivers(t, root)
	p, err := NewPlan(scan(t, root), "0000:01:00.0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/dev/vfio/vfio", "/dev/vfio/1"}, p.DevNodes()); diff != "" {
		t.Errorf("devnodes (-want +got):\n%s", diff)
	}
	b := Binder{Root: root, Write: tr.WritePCIControl}
	if _, err := b.Take(context.Background(), p); err == nil || !strings.Contains(err.Error(), "modprobe vfio-pci") {
		t.Fatalf("Take without vfio-pci loaded: %v", err)
	}
	tr.AddDriver("pci", Driver)
	held, err := b.Take(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Held{{"0000:01:00.0", "nouveau", ""}, {"0000:01:00.1", "snd_hda_intel", ""}}
	if diff := cmp.Diff(want, held); diff != "" {
		t.Errorf("held (-want +got):\n%s", diff)
	}
	now := drivers(t, root)
	for _, a := range []string{"0000:01:00.0", "0000:01:00.1"} {
		if now[a] != "vfio-pci/vfio-pci" {
			t.Errorf("%s: driver/override %q after Take, want vfio-pci/vfio-pci", a, now[a])
		}
	}
	if now["0000:00:01.0"] != before["0000:00:01.0"] {
		t.Errorf("the root port moved: %q", now["0000:00:01.0"])
	}
	if err := b.Release(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, drivers(t, root)); diff != "" {
		t.Errorf("after Release (-before +after):\n%s", diff)
	}
}

// A function on vfio-pci before Take stays there after Release, and one
// with an override of its own gets it back.
func TestTakeKeepsWhatWasThere(t *testing.T) {
	tr := sysfstest.NewHost(t)
	g := 7
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: &g})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:06:00.0", Parent: "0000:00:02.0", Vendor: 0x1b36, Device: 0x0005, Class: 0x00ff00, Driver: "vfio-pci", IOMMUGroup: &g})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:06:00.1", Parent: "0000:00:02.0", Vendor: 0x1b36, Device: 0x0005, Class: 0x00ff00, DriverOverride: "pci-stub", IOMMUGroup: &g})
	tr.AddDriver("pci", "pci-stub")
	root := tr.Root()
	before := drivers(t, root)
	p, err := NewPlan(scan(t, root), "0000:06:00.0")
	if err != nil {
		t.Fatal(err)
	}
	b := Binder{Root: root, Write: tr.WritePCIControl}
	held, err := b.Take(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Held{{"0000:06:00.0", "vfio-pci", ""}, {"0000:06:00.1", "", "pci-stub"}}, held); diff != "" {
		t.Errorf("held (-want +got):\n%s", diff)
	}
	if err := b.Release(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, drivers(t, root)); diff != "" {
		t.Errorf("after Release (-before +after):\n%s", diff)
	}
}

// When the second function cannot be moved, the first is given back:
// Take leaves the host as it found it.
func TestTakeRollsBack(t *testing.T) {
	tr := host(t)
	tr.AddDriver("pci", Driver)
	root := tr.Root()
	before := drivers(t, root)
	p, err := NewPlan(scan(t, root), "0000:01:00.0")
	if err != nil {
		t.Fatal(err)
	}
	fail := errors.New("injected")
	b := Binder{Root: root, Write: func(rel, value string) error {
		if rel == "sys/bus/pci/drivers_probe" && value == "0000:01:00.1" && strings.Contains(drivers(t, root)["0000:01:00.1"], "/vfio-pci") {
			return fail
		}
		return tr.WritePCIControl(rel, value)
	}}
	held, err := b.Take(context.Background(), p)
	if !errors.Is(err, fail) || held != nil {
		t.Fatalf("Take: %v, %v; want the injected failure and nothing held", held, err)
	}
	if !strings.Contains(err.Error(), "0000:01:00.1") {
		t.Errorf("%v does not say which function failed", err)
	}
	if diff := cmp.Diff(before, drivers(t, root)); diff != "" {
		t.Errorf("after a failed Take (-before +after):\n%s", diff)
	}
}

// A bind that never shows is an error after Wait, not a hang, and the
// function is put back.
func TestTakeTimesOut(t *testing.T) {
	tr := host(t)
	tr.AddDriver("pci", Driver)
	root := tr.Root()
	before := drivers(t, root)
	p, err := NewPlan(scan(t, root), "0000:04:00.0")
	if err != nil {
		t.Fatal(err)
	}
	b := Binder{Root: root, Wait: 50e6, Write: func(rel, value string) error {
		if rel == "sys/bus/pci/drivers_probe" && strings.Contains(drivers(t, root)[value], "/vfio-pci") {
			return nil // the probe "succeeds" and binds nothing
		}
		return tr.WritePCIControl(rel, value)
	}}
	if _, err := b.Take(context.Background(), p); err == nil || !strings.Contains(err.Error(), "still on no driver") {
		t.Fatalf("Take: %v, want a timeout", err)
	}
	if diff := cmp.Diff(before, drivers(t, root)); diff != "" {
		t.Errorf("after a Take that timed out (-before +after):\n%s", diff)
	}
}
