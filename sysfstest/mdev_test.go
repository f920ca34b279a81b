package sysfstest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// AddMdevType and AddMdev write the kernel's layout (drivers/vfio/mdev/
// mdev_sysfs.c and mdev_core.c): every file and link, with its content or
// target.
func TestAddMdev(t *testing.T) {
	h := NewHost(t)
	h.AddPCI(PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, Driver: "i915"})
	h.AddMdevType(MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4",
		Description: "low_gm_size: 128MB", AvailableInstances: 2})
	h.AddMdev(Mdev{UUID: "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d", Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4",
		Driver: "vfio_mdev", IOMMUGroup: new(12)})
	h.AddMdevType(MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-1", AvailableInstances: 0, DeviceAPI: "vfio-pci"})

	var got []string
	err := filepath.WalkDir(h.Root(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.Root(), p)
		rel = filepath.ToSlash(rel)
		if !strings.Contains(rel, "mdev") && !strings.Contains(rel, "f1d3c2b4") && !strings.Contains(rel, "iommu_groups/12") {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got = append(got, rel+" -> "+target)
		case d.IsDir():
			got = append(got, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			got = append(got, rel+": "+strings.TrimSuffix(string(b), "\n"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gpu := "sys/devices/pci0000:00/0000:00:02.0"
	u := "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	want := []string{
		"sys/bus/mdev/",
		"sys/bus/mdev/devices/",
		"sys/bus/mdev/devices/" + u + " -> ../../../devices/pci0000:00/0000:00:02.0/" + u,
		"sys/bus/mdev/drivers/",
		"sys/bus/mdev/drivers/vfio_mdev/",
		"sys/bus/mdev/drivers/vfio_mdev/bind: ",
		"sys/bus/mdev/drivers/vfio_mdev/" + u + " -> ../../../../devices/pci0000:00/0000:00:02.0/" + u,
		"sys/bus/mdev/drivers/vfio_mdev/unbind: ",
		"sys/bus/mdev/drivers_autoprobe: 1",
		"sys/bus/mdev/drivers_probe: ",
		"sys/class/mdev_bus/",
		"sys/class/mdev_bus/0000:00:02.0 -> ../../devices/pci0000:00/0000:00:02.0",
		"sys/class/mdev_bus/mtty -> ../../devices/virtual/mtty/mtty",
		gpu + "/" + u + "/",
		gpu + "/" + u + "/driver -> ../../../../bus/mdev/drivers/vfio_mdev",
		gpu + "/" + u + "/iommu_group -> ../../../../kernel/iommu_groups/12",
		gpu + "/" + u + "/mdev_type -> ../mdev_supported_types/i915-GVTg_V5_4",
		gpu + "/" + u + "/remove: ",
		gpu + "/" + u + "/subsystem -> ../../../../bus/mdev",
		gpu + "/" + u + "/uevent: DRIVER=vfio_mdev",
		gpu + "/mdev_supported_types/",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/available_instances: 1",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/create: ",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/description: low_gm_size: 128MB",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/device_api: vfio-pci",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/devices/",
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/devices/" + u + " -> ../../../" + u,
		gpu + "/mdev_supported_types/i915-GVTg_V5_4/name: GVTg_V5_4",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/available_instances: 0",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/create: ",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/device_api: vfio-pci",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/devices/",
		"sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/name: mtty-1",
		"sys/kernel/iommu_groups/12/",
		"sys/kernel/iommu_groups/12/devices/",
		"sys/kernel/iommu_groups/12/devices/" + u + " -> ../../../../devices/pci0000:00/0000:00:02.0/" + u,
		"sys/kernel/iommu_groups/12/type: DMA",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestAddMdevErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		do   func(h *Host)
		want string
	}{
		{"no parent", func(h *Host) { h.AddMdevType(MdevType{Parent: "0000:00:02.0", ID: "i915-x"}) },
			`sysfstest: mdev parent "0000:00:02.0": neither a PCI function added before nor a directory under sys/devices`},
		{"no type", func(h *Host) { h.AddMdev(Mdev{UUID: "u", Parent: "sys/devices/virtual/mtty/mtty", Type: "mtty-1"}) },
			"sysfstest: mdev u: type mtty-1 of sys/devices/virtual/mtty/mtty not added"},
		{"type twice", func(h *Host) {
			h.AddMdevType(MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-1"})
			h.AddMdevType(MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-1"})
		}, "sysfstest: mdev type mtty-1 of sys/devices/virtual/mtty/mtty: added twice"},
		{"bad type", func(h *Host) { h.AddMdevType(MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "a/b"}) },
			`sysfstest: mdev type "a/b": not a directory name`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHostAt(t.TempDir())
			tt.do(h)
			if err := h.Err(); err == nil || err.Error() != tt.want {
				t.Errorf("Err() = %v, want %s", err, tt.want)
			}
		})
	}
}
