package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

const (
	gvtUUID  = "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	gvtUUID2 = "0b1c2d3e-4f50-4612-8734-a5b6c7d8e9f0"
	mttyUUID = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
)

// mdevHost is a host shaped as the kernel makes it (see discover's
// mdev.go): an Intel GPU offering two GVT-g types, one used up, with an
// instance of each, and the mtty sample with one instance.
func mdevHost(t *testing.T) string {
	t.Helper()
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000,
		Driver: "i915", IOMMUGroup: new(0)})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4",
		Description: "low_gm_size: 128MB\nhigh_gm_size: 512MB", AvailableInstances: 3})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_8", Name: "GVTg_V5_8", AvailableInstances: 1})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4", Driver: "vfio_mdev", IOMMUGroup: new(12)})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID2, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_8", Driver: "vfio_mdev", IOMMUGroup: new(14)})
	h.AddMdevType(sysfstest.MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-2", Name: "Dual port serial", AvailableInstances: 12})
	h.AddMdev(sysfstest.Mdev{UUID: mttyUUID, Parent: "sys/devices/virtual/mtty/mtty", Type: "mtty-2", Driver: "mtty", IOMMUGroup: new(13)})
	return h.Root()
}

// list, resolve and check on a host with mediated devices: one golden
// file holds each command and what it printed.
func TestMdevCommands(t *testing.T) {
	root := mdevHost(t)
	dom := writeFile(t, "domain.xml", `<domain><devices>
  <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='`+gvtUUID+`'/></source></hostdev>
</devices></domain>
`)
	// Proxmox and Incus make an instance of a type on the card they name.
	pve := writeFile(t, "100.conf", "hostpci0: 00:02.0,mdev=i915-GVTg_V5_4,pcie=1\n")
	incus := writeFile(t, "vgpu.sh", "incus config device add vm vgpu gpu gputype=mdev mdev=i915-GVTg_V5_8\n")
	var b strings.Builder
	for _, args := range [][]string{
		{"list"},
		{"list", "--bus", "mdev", "-v"},
		{"list", "--json", "mdev-type=mtty-*"},
		{"resolve", "uuid=" + strings.ToUpper(mttyUUID)},
		{"resolve", "--format", "libvirt", "uuid=" + gvtUUID},
		{"resolve", "--format", "qemu", "-f", dom},
		{"resolve", "mdev-type=i915-GVTg_V5_4"},
		{"resolve", "--format", "xen", "uuid=" + gvtUUID},
		{"check", "address=00:02.0,mdev-type=i915-GVTg_V5_4"},
		{"check", "address=00:02.0,mdev-type=i915-GVTg_V5_8"},
		{"check", "-f", dom},
		{"groups"},
		{"nfd", "vgpu=bus=mdev", "gvt=mdev-type=i915-*"},
		{"resolve", "--format", "claim", "uuid=" + gvtUUID},
		{"fill", dom},
		{"resolve", "-f", pve},
		{"check", "-f", pve},
		{"check", "-f", incus},
	} {
		args = append(args, "-n", "--root", root)
		code, out, errs := hostdev(t, args...)
		shown := strings.ReplaceAll(strings.Join(args, " "), root, "ROOT")
		shown = strings.NewReplacer(dom, "domain.xml", pve, "100.conf", incus, "vgpu.sh").Replace(shown)
		b.WriteString("$ hostdev-discover " + shown + "\n")
		b.WriteString(out)
		if errs != "" {
			b.WriteString("stderr: " + strings.NewReplacer(dom, "domain.xml", pve, "100.conf", incus, "vgpu.sh").Replace(errs))
		}
		b.WriteString("exit " + string(rune('0'+code)) + "\n\n")
	}
	testenv.Golden(t, filepath.Join("testdata", "mdev.txt"), b.String(), *update)
}

// A snapshot of a host with mediated devices lists as the host does.
func TestMdevSnapshot(t *testing.T) {
	snapshotRoundTrip(t, mdevHost(t), "mdev.tar.gz")
}

// A type's name and description are anyone's text: list quotes them, and
// JSON says they are unclean.
func TestMdevUntrustedText(t *testing.T) {
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, Driver: "i915"})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-x", Name: "a\x1b[31m\" b,c\u202e", Description: "x\ny", AvailableInstances: 1})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID, Parent: "0000:00:02.0", Type: "i915-x", Driver: "vfio_mdev\x1b]0;x\x07"})
	code, out, errs := hostdev(t, "list", "-n", "--bus", "mdev", "--root", h.Root())
	want := "mdev " + gvtUUID + ` type=i915-x "a\x1b[31m\" b,c\u202e" parent=0000:00:02.0 driver="vfio_mdev\x1b]0;x\a"` + "\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stderr %q\n got %q\nwant %q", code, errs, out, want)
	}
	_, out, _ = hostdev(t, "list", "-n", "--json", "--root", h.Root())
	for _, s := range []string{`"mdev_types[0].name",`, `"mdev_types[0].description"`, `"mdev_type.name",`, `"mdev_type.description",`, `"driver"`} {
		if !strings.Contains(out, s) {
			t.Errorf("JSON has no unclean %s:\n%s", s, out)
		}
	}
}
