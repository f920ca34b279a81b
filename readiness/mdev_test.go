package readiness

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfstest"
)

const (
	gvtUUID  = "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	gvtUUID2 = "0b1c2d3e-4f50-4612-8734-a5b6c7d8e9f0"
	mttyUUID = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
)

// An Intel GPU offering two GVT-g types, one used up; an instance that a
// VM holds, one that no VM holds, and one without an IOMMU group.
func buildMdev(h *sysfstest.Host) {
	h.AddPCI(with(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000}, "i915", 0))
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_4", AvailableInstances: 3})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_8", AvailableInstances: 1})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4", Driver: "vfio_mdev", IOMMUGroup: new(12)})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID2, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_8", Driver: "vfio_mdev", IOMMUGroup: new(14)})
	h.AddMdevType(sysfstest.MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-2", AvailableInstances: 12})
	h.AddMdev(sysfstest.Mdev{UUID: mttyUUID, Parent: "sys/devices/virtual/mtty/mtty", Type: "mtty-2"})
}

func TestMdevReadiness(t *testing.T) {
	holders := func(node string) []int {
		if node == "/dev/vfio/12" {
			return []int{4242}
		}
		return nil
	}
	rep := assess(t, buildMdev, Options{holders: holders})
	type verdict struct {
		Assignable bool
		Codes      []Code
		Messages   []string
	}
	got := map[string]verdict{}
	for _, v := range rep.Devices {
		var cs []Code
		var ms []string
		for _, r := range v.Reasons {
			cs = append(cs, r.Code)
			ms = append(ms, r.Message)
		}
		got[v.Device.Name] = verdict{v.Assignable, cs, ms}
	}
	want := map[string]verdict{
		"0000:00:02.0": {true, []Code{HostDriver, MdevParent}, []string{
			got["0000:00:02.0"].Messages[0],
			"It is a mediated device parent: it offers i915-GVTg_V5_4 (2 left, 1 made), i915-GVTg_V5_8 (0 left, 1 made). " +
				"VMs usually get instances of these types; giving it whole to a VM removes them."}},
		gvtUUID: {false, []Code{Busy}, []string{
			"It is in use: /dev/vfio/12, its VFIO group, is open in process 4242 (a VM). An instance serves one VM at a time; " +
				"stop that VM, or create another instance of type i915-GVTg_V5_4."}},
		gvtUUID2: {true, nil, nil},
		mttyUUID: {false, []Code{NoIOMMU}, []string{
			"It has no IOMMU group, so VFIO has not registered it and no VM can open it (no driver is bound to it). " +
				"Load the parent's vendor driver with its VFIO part (kvmgt for Intel GVT-g, nvidia-vgpu-vfio for NVIDIA), or remove and create the instance again."}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}

	// A config asking the parent for a type: one used up, one it does not
	// offer, one with room.
	parent, _ := rep.Verdict("0000:00:02.0")
	for _, tt := range []struct {
		typ        string
		assignable bool
		msg        string
		fix        []string
	}{
		{"i915-GVTg_V5_4", true, "", nil},
		{"i915-GVTg_V5_8", false, "Its mediated device type i915-GVTg_V5_8 has no instances left (available_instances is 0; 1 exist): " +
			"no other can be made. Remove an instance no VM uses, or pick a smaller type.",
			[]string{"echo 1 > /sys/bus/mdev/devices/" + gvtUUID2 + "/remove   # if no VM uses it"}},
		{"nvidia-63", false, "It offers no mediated device type nvidia-63 (it offers i915-GVTg_V5_4, i915-GVTg_V5_8): no instance of it can be made here. " +
			"Pick one of the types it offers, or load the driver that offers it.", nil},
	} {
		v := MdevTypeVerdict(parent, tt.typ)
		var msg string
		var fix []string
		if len(v.Reasons) > 0 {
			msg, fix = v.Reasons[0].Message, v.Reasons[0].Fix
		}
		if v.Assignable != tt.assignable || msg != tt.msg || !cmp.Equal(fix, tt.fix) || len(v.Reasons) > 1 {
			t.Errorf("%s: assignable %v, reasons %+v; want %v, %q, %q", tt.typ, v.Assignable, v.Reasons, tt.assignable, tt.msg, tt.fix)
		}
	}
}

// procHolders finds a process that holds a file open: this test's own,
// and only it among the processes this user may look into.
func TestProcHolders(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vfio-12")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := procHolders(p); !slices.Contains(got, os.Getpid()) {
		t.Errorf("procHolders(%s) = %v, want it to hold %d", p, got, os.Getpid())
	}
	f.Close()
	if got := procHolders(p); slices.Contains(got, os.Getpid()) {
		t.Errorf("procHolders(%s) after Close = %v", p, got)
	}
}
