package sysfstest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exists reports which of the root-relative paths exist (as themselves,
// not followed).
func exists(root string, paths ...string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func TestBindDriver(t *testing.T) {
	h := NewHost(t)
	h.AddPCI(PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x1e87, Class: 0x030000,
		Driver: "nouveau", IOMMUGroup: new(12)})
	h.Plug(RootHub(1, "480"))
	h.Plug(USBDevice{Bus: 1, Port: "1", Interfaces: []USBInterface{{Class: 0x08}}})
	gpu := "sys/devices/pci0000:01/0000:01:00.0"
	key := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0"

	h.UnbindDriver("0000:01:00.0")
	h.BindDriver("0000:01:00.0", "vfio-pci")
	h.BindDriver("1-1:1.0", "usb-storage")
	if got, want := exists(h.Root(), gpu+"/driver", "sys/bus/pci/drivers/nouveau/0000:01:00.0",
		"sys/bus/pci/drivers/vfio-pci/0000:01:00.0", key+"/driver", "sys/bus/usb/drivers/usb-storage/1-1:1.0"),
		[]string{gpu + "/driver", "sys/bus/pci/drivers/vfio-pci/0000:01:00.0", key + "/driver",
			"sys/bus/usb/drivers/usb-storage/1-1:1.0"}; !slices.Equal(got, want) {
		t.Errorf("after binding, these exist: %q, want %q", got, want)
	}
	link, _ := os.Readlink(filepath.Join(h.Root(), gpu, "driver"))
	if want := "../../../bus/pci/drivers/vfio-pci"; link != want {
		t.Errorf("driver link %q, want %q", link, want)
	}
	uevent, _ := os.ReadFile(filepath.Join(h.Root(), key, "uevent"))
	if !strings.HasPrefix(string(uevent), "DEVTYPE=usb_interface\nDRIVER=usb-storage\nPRODUCT=") {
		t.Errorf("interface uevent:\n%s", uevent)
	}

	h.UnbindDriver("1-1:1.0")
	uevent, _ = os.ReadFile(filepath.Join(h.Root(), key, "uevent"))
	if strings.Contains(string(uevent), "DRIVER=") {
		t.Errorf("interface uevent after unbind:\n%s", uevent)
	}
	h.Unplug("1-1") // the interface's driver link goes with it
	if got := exists(h.Root(), "sys/bus/usb/drivers/usb-storage/1-1:1.0", key); len(got) != 0 {
		t.Errorf("after unplug, these exist: %q", got)
	}

	for _, c := range []struct {
		name string
		do   func(h *Host)
		want string
	}{
		{"bound twice", func(h *Host) { h.BindDriver("0000:00:14.0", "vfio-pci") }, "bound to xhci_hcd already"},
		{"not bound", func(h *Host) { h.UnbindDriver("1-1:1.0"); h.UnbindDriver("1-1:1.0") }, "not bound"},
		{"a device", func(h *Host) { h.BindDriver("1-1", "usbhid") }, "drivers bind to its interfaces"},
		{"nothing", func(h *Host) { h.BindDriver("0000:09:00.0", "vfio-pci") }, "no PCI function or USB interface"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewHostAt(t.TempDir())
			h.Plug(RootHub(1, "480"))
			h.Plug(USBDevice{Bus: 1, Port: "1", Interfaces: []USBInterface{{Class: 0x03, Driver: "usbhid"}}})
			c.do(h)
			if err := h.Err(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// Removing a PF removes its VFs first, a bridge what is behind it, and a
// host controller its USB bus; an IOMMU group goes with its last member.
func TestRemovePCI(t *testing.T) {
	h := NewHost(t)
	h.AddPCI(PCIFunction{Address: "0000:00:01.0", Class: 0x060400, Driver: "pcieport", IOMMUGroup: new(1)})
	h.AddPCI(PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Class: 0x020000,
		Driver: "mlx5_core", TotalVFs: 2, IOMMUGroup: new(2)})
	h.AddPCI(PCIFunction{Address: "0000:01:00.1", PhysFn: "0000:01:00.0", Class: 0x020000, IOMMUGroup: new(3)})
	h.AddPCI(PCIFunction{Address: "0000:01:00.2", PhysFn: "0000:01:00.0", Class: 0x020000,
		Driver: "vfio-pci", IOMMUGroup: new(3)})
	h.Plug(RootHub(1, "480"))
	h.Plug(USBDevice{Bus: 1, Port: "2"})

	h.RemovePCI("0000:01:00.1")
	if got := exists(h.Root(), "sys/kernel/iommu_groups/3", "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/virtfn0",
		"sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/virtfn1"); !slices.Equal(got, []string{
		"sys/kernel/iommu_groups/3", "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/virtfn1"}) {
		t.Errorf("after removing one VF, these exist: %q", got)
	}
	h.RemovePCI("0000:00:01.0")
	h.RemovePCI("0000:00:14.0")
	var left []string
	for _, dir := range []string{"sys/bus/pci/devices", "sys/bus/pci/drivers/vfio-pci", "sys/bus/pci/drivers/mlx5_core",
		"sys/bus/usb/devices", "sys/kernel/iommu_groups", "sys/dev/char", "dev/bus/usb", "sys/devices/pci0000:00", "sys/devices/pci0000:01"} {
		es, _ := os.ReadDir(filepath.Join(h.Root(), dir))
		for _, e := range es {
			if strings.Contains(e.Name(), ":") { // a device, not a driver's bind file
				left = append(left, dir+"/"+e.Name())
			}
		}
	}
	if len(left) != 0 {
		t.Errorf("left after removing everything: %q", left)
	}
	h.AddPCI(PCIFunction{Address: "0000:00:01.0", Class: 0x060400, IOMMUGroup: new(1)}) // again, from scratch
}
