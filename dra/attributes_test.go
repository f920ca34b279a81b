package dra

import (
	"fmt"
	"github.com/hostdev/hostdev/sysfstest"
	"slices"
	"strings"
	"testing"

	resourceapi "k8s.io/api/resource/v1"
)

// TestAttributeBudget: a device never has more attributes than the API
// takes; the ones past it go from the end of the priority order, with a
// warning, and the identity ones stay.
func TestAttributeBudget(t *testing.T) {
	rep := assess(t, workstation(t).Root())
	most := 0
	for _, d := range Build(rep).Devices {
		most = max(most, len(d.API.Attributes))
	}
	if most > MaxAttributes || most < 19 {
		t.Errorf("the richest device has %d attributes; want 19 to %d", most, MaxAttributes)
	}

	inv := build(rep, 5)
	d, ok := bySource(inv, "1-2.1")
	if !ok {
		t.Fatal("1-2.1 not published")
	}
	var got []string
	for n := range d.API.Attributes {
		got = append(got, string(n))
	}
	slices.Sort(got)
	want := []string{"busType", "port", "productID", "serial", "vendorID"}
	if !slices.Equal(got, want) {
		t.Errorf("with room for 5: %v, want %v", got, want)
	}
	found := false
	for _, w := range inv.Warnings {
		if w.Device == "1-2.1" && strings.Contains(w.Error(), "busnum, devnum, preparable") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning names what 1-2.1 lost: %v", inv.Warnings)
	}
}

// fakeInventory has n devices, every k-th tainted (none when k is 0).
func fakeInventory(n, k int) *Inventory {
	inv := &Inventory{}
	for i := range n {
		d := resourceapi.Device{Name: fmt.Sprintf("dev-%d", i)}
		if k > 0 && i%k == 0 {
			d.Taints = []resourceapi.DeviceTaint{{Key: "hostdev.io/no-iommu", Effect: resourceapi.DeviceTaintEffectNoSchedule}}
		}
		inv.Devices = append(inv.Devices, Device{API: d})
	}
	return inv
}

func TestSlices(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n, k  int
		sizes []int
	}{
		{"none", 0, 0, []int{0}},
		{"one", 1, 0, []int{1}},
		{"128", 128, 0, []int{128}},
		{"129", 129, 0, []int{128, 1}},
		{"all tainted", 65, 1, []int{64, 1}},
		{"mixed", 370, 5, []int{128, 128, 40, 64, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := fakeInventory(tc.n, tc.k).Slices("node-1", 7)
			var sizes []int
			seen := map[string]bool{}
			for _, s := range ss {
				sizes = append(sizes, len(s.Spec.Devices))
				if s.Spec.Pool.Generation != 7 || s.Spec.Pool.ResourceSliceCount != int64(len(ss)) || s.Spec.Pool.Name != "node-1" {
					t.Errorf("%s: pool %+v, want node-1 at generation 7 of %d slices", s.Name, s.Spec.Pool, len(ss))
				}
				if err := validateSlice(s); err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
				for _, d := range s.Spec.Devices {
					seen[d.Name] = true
				}
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("slice sizes %v, want %v", sizes, tc.sizes)
			}
			if len(seen) != tc.n {
				t.Errorf("%d distinct devices in the slices, want %d", len(seen), tc.n)
			}
		})
	}
}

// TestValidateSlice: the checks that guard the API server's limits do
// catch what breaks them.
func TestValidateSlice(t *testing.T) {
	bad := func(mutate func(*resourceapi.Device)) error {
		inv := fakeInventory(1, 0)
		s := "x"
		inv.Devices[0].API.Attributes = map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{"ok": {StringValue: &s}}
		mutate(&inv.Devices[0].API)
		return validateSlice(inv.Slices("node-1", 1)[0])
	}
	if err := bad(func(*resourceapi.Device) {}); err != nil {
		t.Fatalf("a good slice: %v", err)
	}
	long := strings.Repeat("z", 65)
	n := int64(1)
	for name, mutate := range map[string]func(*resourceapi.Device){
		"name with colon": func(d *resourceapi.Device) { d.Name = "pci-0000:00" },
		"name too long":   func(d *resourceapi.Device) { d.Name = strings.Repeat("a", 64) },
		"string too long": func(d *resourceapi.Device) { d.Attributes["s"] = resourceapi.DeviceAttribute{StringValue: &long} },
		"two values": func(d *resourceapi.Device) {
			d.Attributes["s"] = resourceapi.DeviceAttribute{StringValue: &long, IntValue: &n}
		},
		"bad attribute": func(d *resourceapi.Device) { d.Attributes["9lives"] = resourceapi.DeviceAttribute{IntValue: &n} },
		"long identifier": func(d *resourceapi.Device) {
			d.Attributes[resourceapi.QualifiedName(strings.Repeat("a", 33))] = resourceapi.DeviceAttribute{IntValue: &n}
		},
		"bad taint key":    func(d *resourceapi.Device) { d.Taints = []resourceapi.DeviceTaint{{Key: "a b", Effect: "NoSchedule"}} },
		"bad taint effect": func(d *resourceapi.Device) { d.Taints = []resourceapi.DeviceTaint{{Key: "a", Effect: "Maybe"}} },
		"33 attributes": func(d *resourceapi.Device) {
			for i := range 33 {
				d.Attributes[resourceapi.QualifiedName(fmt.Sprintf("a%d", i))] = resourceapi.DeviceAttribute{IntValue: &n}
			}
		},
	} {
		if err := bad(mutate); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := validateSlice(fakeInventory(65, 0).Slices("n", 1)[0]); err != nil {
		t.Errorf("65 untainted devices: %v", err)
	}
	s := fakeInventory(65, 0).Slices("n", 1)[0]
	s.Spec.Devices[0].Taints = []resourceapi.DeviceTaint{{Key: "a", Effect: "NoSchedule"}}
	if err := validateSlice(s); err == nil {
		t.Error("65 devices, one tainted: no error")
	}
}

// The functions of a slot on the root bus are the chipset's separate
// devices: a prepare of one never takes another, so a sibling on a host
// driver keeps it from being prepared, as vfio.GroupPlan says.
func TestChipsetSiblingsBlock(t *testing.T) {
	tr := sysfstest.NewHost(t)
	g := 5
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0x2918, Class: 0x060100, Driver: "lpc_ich", IOMMUGroup: &g})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.2", Vendor: 0x8086, Device: 0x2922, Class: 0x010601, Driver: "ahci", IOMMUGroup: &g})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0x2930, Class: 0x0c0500, Driver: "vfio-pci", IOMMUGroup: &g})
	inv := inventory(t, tr.Root())
	d, ok := bySource(inv, "0000:00:1f.3")
	if !ok {
		t.Fatalf("0000:00:1f.3 not published: %v", inv.Warnings)
	}
	if d.Preparable || len(d.Takes) != 0 || len(d.BlockedBy) != 1 || d.BlockedBy[0] != "0000:00:1f.2" {
		t.Errorf("0000:00:1f.3: preparable %v, takes %v, blocked by %v; want not preparable, blocked by 0000:00:1f.2 alone",
			d.Preparable, d.Takes, d.BlockedBy)
	}
}
