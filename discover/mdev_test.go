package discover

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

const (
	gvtUUID  = "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	gvtUUID2 = "0b1c2d3e-4f50-4612-8734-a5b6c7d8e9f0"
	mttyUUID = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" // the kernel documentation's example
)

// mdevHost is a host shaped as the kernel makes it: an Intel GPU at
// 0000:00:02.0 offering two GVT-g types, one with an instance, the other
// used up; and the mtty sample's virtual parent with an instance.
func mdevHost(t *testing.T) *sysfstest.Host {
	t.Helper()
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000,
		Driver: "i915", IOMMUGroup: new(0)})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4",
		Description:        "low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\nresolution: 1920x1200\nweight: 4",
		AvailableInstances: 3})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_8", Name: "GVTg_V5_8",
		AvailableInstances: 0})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4",
		Driver: "vfio_mdev", IOMMUGroup: new(12)})
	h.AddMdevType(sysfstest.MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-1", Name: "Single port serial",
		Description: "virtual serial ports: 24", AvailableInstances: 24})
	h.AddMdevType(sysfstest.MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-2", Name: "Dual port serial",
		Description: "virtual serial ports: 24", AvailableInstances: 12})
	h.AddMdev(sysfstest.Mdev{UUID: mttyUUID, Parent: "sys/devices/virtual/mtty/mtty", Type: "mtty-2",
		Driver: "mtty", IOMMUGroup: new(13)})
	return h
}

func TestMdevScan(t *testing.T) {
	h := mdevHost(t)
	res, err := Scan(context.Background(), Options{Root: h.Root(), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	want := []Device{
		{Bus: BusPCI, Name: "0000:00:02.0", VendorID: 0x8086, ProductID: 0x3e92,
			SysfsPath: "/sys/devices/pci0000:00/0000:00:02.0",
			PCI: &PCI{Address: new(pciaddr.MustParse("0000:00:02.0")), Class: 0x030000, Revision: new(uint8(0)),
				Driver: "i915", IOMMUGroup: new(0),
				MdevTypes: []MdevType{
					{ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4",
						Description: "low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\nresolution: 1920x1200\nweight: 4",
						DeviceAPI:   "vfio-pci", AvailableInstances: new(2), Instances: []string{gvtUUID}},
					{ID: "i915-GVTg_V5_8", Name: "GVTg_V5_8", DeviceAPI: "vfio-pci", AvailableInstances: new(0)},
				}}},
		{Bus: BusMdev, Name: mttyUUID, SysfsPath: "/sys/devices/virtual/mtty/mtty/" + mttyUUID, Parent: "mtty",
			Mdev: &Mdev{UUID: mttyUUID, ParentPath: "/sys/devices/virtual/mtty/mtty", Driver: "mtty", IOMMUGroup: new(13),
				Type: MdevType{ID: "mtty-2", Name: "Dual port serial", Description: "virtual serial ports: 24",
					DeviceAPI: "vfio-pci", AvailableInstances: new(11)}}},
		{Bus: BusMdev, Name: gvtUUID, SysfsPath: "/sys/devices/pci0000:00/0000:00:02.0/" + gvtUUID, Parent: "0000:00:02.0",
			Mdev: &Mdev{UUID: gvtUUID, ParentPath: "/sys/devices/pci0000:00/0000:00:02.0", Driver: "vfio_mdev", IOMMUGroup: new(12),
				Type: MdevType{ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4",
					Description: "low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\nresolution: 1920x1200\nweight: 4",
					DeviceAPI:   "vfio-pci", AvailableInstances: new(2)}}},
	}
	if diff := cmp.Diff(want, res.Devices); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "mdev.json"), string(out)+"\n", *update)

	// What JSON carries reads back as the same devices, and Clone shares
	// nothing.
	var back Result
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.Devices, back.Devices); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	c := res.Devices[0].Clone()
	*c.PCI.MdevTypes[0].AvailableInstances = 99
	c.PCI.MdevTypes[0].Instances[0] = "x"
	m := res.Devices[1].Clone()
	*m.Mdev.IOMMUGroup = 99
	if diff := cmp.Diff(want, res.Devices); diff != "" {
		t.Errorf("a clone's change reached the original (-want +got):\n%s", diff)
	}

	// Buses limits the scan to mdev instances.
	only, err := Scan(context.Background(), Options{Root: h.Root(), Numeric: true, Buses: []Bus{BusMdev}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:], only.Devices); diff != "" {
		t.Errorf("Buses mdev (-want +got):\n%s", diff)
	}
}

// Bad values in a tree are left out with a warning naming the path; the
// other devices and types stay.
func TestMdevHostile(t *testing.T) {
	h := mdevHost(t)
	gpu := "sys/devices/pci0000:00/0000:00:02.0"
	types := gpu + "/mdev_supported_types/"
	// A type whose name is not one, one without device_api, one with a
	// hostile device_api and one whose available_instances is not a
	// number.
	h.WriteFile(types+"bad'\"<>,\ntype/device_api", "vfio-pci\n")
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-noapi", Omit: []string{"device_api"}})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-evil", Raw: map[string]string{"device_api": "vfio-pci,x=<'\">\n"}})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-count", Raw: map[string]string{"available_instances": "-1x\n"}})
	// An instance link in a type that is not a UUID; a bus entry that is
	// not a UUID; an instance whose mdev_type link is missing.
	h.Link(types+"i915-GVTg_V5_8/devices/NOT-A-UUID", gpu)
	h.Link("sys/bus/mdev/devices/F1D3C2B4-5E6F-4A7B-8C9D-0E1F2A3B4C5D", gpu+"/"+gvtUUID)
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID2, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_8", Omit: []string{"mdev_type"}})

	res, err := Scan(context.Background(), Options{Root: h.Root(), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range res.Devices {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"0000:00:02.0", gvtUUID2, mttyUUID, gvtUUID}, names); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	var ids []string
	for _, ty := range res.Devices[0].PCI.MdevTypes {
		ids = append(ids, ty.ID)
	}
	if diff := cmp.Diff([]string{"i915-GVTg_V5_4", "i915-GVTg_V5_8", "i915-count"}, ids); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	if got := res.Devices[0].PCI.MdevTypes[2].AvailableInstances; got != nil {
		t.Errorf("available_instances -1x read as %d", *got)
	}
	if got := res.Devices[0].PCI.MdevTypes[1].Instances; len(got) != 1 || got[0] != gvtUUID2 {
		t.Errorf("i915-GVTg_V5_8 instances = %q, want only %s", got, gvtUUID2)
	}
	var msgs []string
	for _, w := range res.Warnings {
		msgs = append(msgs, w.Error())
		if !errors.Is(w, sysfs.ErrInvalid) && !errors.Is(w, sysfs.ErrMissing) && w.Path != "/"+gpu+"/"+gvtUUID2+"/mdev_type" {
			t.Errorf("warning %v wraps neither ErrInvalid nor ErrMissing", w)
		}
	}
	want := []string{
		"0000:00:02.0: /" + types + "bad'\"<>,\ntype: invalid value: \"bad'\\\"<>,\\ntype\" is not an mdev type's name (letters, digits, '-', '_', '.'); left out",
		"0000:00:02.0: /" + types + "i915-GVTg_V5_8/devices/NOT-A-UUID: invalid value: NOT-A-UUID is not an instance's UUID (8-4-4-4-12 lower-case hex); left out",
		"0000:00:02.0: /" + types + "i915-count/available_instances: invalid value: \"-1x\" is not a decimal number",
		"0000:00:02.0: /" + types + "i915-evil/device_api: invalid value: \"vfio-pci,x=<'\\\">\" is not a VFIO device API such as vfio-pci; type left out",
		"0000:00:02.0: /" + types + "i915-noapi/device_api: missing",
		"/sys/bus/mdev/devices: invalid value: entry F1D3C2B4-5E6F-4A7B-8C9D-0E1F2A3B4C5D is not a mediated device's UUID (8-4-4-4-12 lower-case hex); left out",
		gvtUUID2 + ": /" + gpu + "/" + gvtUUID2 + "/mdev_type: no such file or directory",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// FuzzMdevEntry puts an instance whose bus entry name is anything, and a
// type whose name, device_api and available_instances are anything,
// beside a real parent and instance: what is kept has the kernel's form,
// and the real ones are never lost.
func FuzzMdevEntry(f *testing.F) {
	f.Add(gvtUUID2, "i915-GVTg_V5_8", "vfio-pci", "2")
	f.Add("F1D3C2B4-5E6F-4A7B-8C9D-0E1F2A3B4C5D", "bad'\"<>,\ntype", "vfio-pci,x=<'\">\n", "-1")
	f.Add("83b8f4f2-509f-382f-3c1e-e6bfe0fa100", "nvidia-63", "", "99999999999999999999")
	root := f.TempDir()
	h := sysfstest.NewHostAt(root)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, Driver: "i915"})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_4", AvailableInstances: 2})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4", Driver: "vfio_mdev", IOMMUGroup: new(12)})
	if err := h.Err(); err != nil {
		f.Fatal(err)
	}
	gpu := "sys/devices/pci0000:00/0000:00:02.0"
	f.Fuzz(func(t *testing.T, entry, typ, api, avail string) {
		bad := func(s string) bool { return s == "" || strings.ContainsAny(s, "/\x00") || s == "." || s == ".." }
		if bad(entry) || bad(typ) || entry == gvtUUID || typ == "i915-GVTg_V5_4" || len(entry) > 200 || len(typ) > 200 {
			return
		}
		tree := sysfstest.NewHostAt(root)
		tdir := gpu + "/mdev_supported_types/" + typ
		idir := gpu + "/fuzzed"
		defer func() {
			os.RemoveAll(filepath.Join(root, tdir))
			os.RemoveAll(filepath.Join(root, idir))
			os.Remove(filepath.Join(root, "sys/bus/mdev/devices", entry))
		}()
		tree.WriteFile(tdir+"/device_api", api)
		tree.WriteFile(tdir+"/available_instances", avail)
		tree.WriteFile(tdir+"/devices/.keep", "")
		tree.WriteFile(idir+"/remove", "")
		tree.Symlink(idir+"/mdev_type", "../mdev_supported_types/"+typ)
		tree.Symlink("sys/bus/mdev/devices/"+entry, "../../../devices/pci0000:00/0000:00:02.0/fuzzed")
		if tree.Err() != nil {
			return // a name the file system refuses
		}
		res, err := Scan(context.Background(), Options{Root: root, Numeric: true})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, d := range res.Devices {
			seen[d.Name] = true
			if m := d.Mdev; m != nil {
				if !IsMdevUUID(d.Name) || m.UUID != d.Name {
					t.Errorf("instance named %q, uuid %q", d.Name, m.UUID)
				}
				if m.Type.ID != "" && !IsMdevTypeID(m.Type.ID) {
					t.Errorf("%s: type %q", d.Name, m.Type.ID)
				}
			}
			if p := d.PCI; p != nil {
				for _, ty := range p.MdevTypes {
					if !IsMdevTypeID(ty.ID) || !isDeviceAPI(ty.DeviceAPI) || ty.AvailableInstances != nil && *ty.AvailableInstances < 0 {
						t.Errorf("type %+v", ty)
					}
					for _, u := range ty.Instances {
						if !IsMdevUUID(u) {
							t.Errorf("type %s: instance %q", ty.ID, u)
						}
					}
				}
			}
		}
		if !seen["0000:00:02.0"] || !seen[gvtUUID] {
			t.Errorf("the real parent or instance was lost: %v", seen)
		}
	})
}
