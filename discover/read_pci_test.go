package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

func pciTree(t *testing.T) (string, *sysfstest.Host) {
	t.Helper()
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	g1, g2 := 1, 2
	node0 := 0
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Revision: 0x07, Driver: "pcieport", IOMMUGroup: &g1})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x1c82, SubsystemVendor: 0x1043, SubsystemDevice: 0x8613, Class: 0x030000, Revision: 0xa1, Driver: "nouveau", IOMMUGroup: &g1, NUMANode: &node0})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x0fb9, Class: 0x040300, Revision: 0xa1, Driver: "vfio-pci", DriverOverride: "vfio-pci", IOMMUGroup: &g1})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igb", TotalVFs: 7, IOMMUGroup: &g2})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.0", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igbvf"})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.4", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000})
	tree.AddPCI(sysfstest.PCIFunction{Address: "10000:00:00.0", Vendor: 0x8086, Device: 0x1237, Class: 0x060000})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	return root, tree
}

func TestPCIFunctions(t *testing.T) {
	root, _ := pciTree(t)
	fns, warns, err := pciFunctions(context.Background(), openFS(t, root))
	if err != nil || len(warns) > 0 {
		t.Fatalf("PCIFunctions: %v, warnings %v", err, warns)
	}
	byName := map[string]Device{}
	for _, f := range fns {
		byName[f.Name] = f
	}
	ignore := cmpopts.IgnoreFields(Device{}, "SysfsPath")
	fn := func(name string, vendor, device ID, parent string, p PCI) Device {
		p.Address = new(pciaddr.MustParse(name))
		return Device{Bus: BusPCI, Name: name, VendorID: vendor, ProductID: device, Parent: parent, PCI: &p}
	}
	for _, want := range []Device{
		fn("0000:01:00.0", 0x10de, 0x1c82, "0000:00:01.0", PCI{
			SubsystemVendorID: 0x1043, SubsystemProductID: 0x8613, Class: 0x030000,
			Revision: new(uint8(0xa1)), Driver: "nouveau", IOMMUGroup: new(1), NUMANode: new(0)}),
		fn("0000:01:00.1", 0x10de, 0x0fb9, "0000:00:01.0", PCI{
			Class: 0x040300, Revision: new(uint8(0xa1)),
			Driver: "vfio-pci", DriverOverride: "vfio-pci", IOMMUGroup: new(1)}),
		fn("0000:02:00.0", 0x8086, 0x1520, "", PCI{
			Class: 0x020000, Revision: new(uint8(0)), Driver: "igb",
			IOMMUGroup: new(2), VirtFns: []string{"0000:02:10.0", "0000:02:10.4"}}),
		fn("0000:02:10.4", 0x8086, 0x1520, "", PCI{
			Class: 0x020000, Revision: new(uint8(0)), PhysFn: "0000:02:00.0"}),
		fn("10000:00:00.0", 0x8086, 0x1237, "", PCI{Class: 0x060000, Revision: new(uint8(0))}),
	} {
		if diff := cmp.Diff(want, byName[want.Name], ignore); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.Name, diff)
		}
	}
	if len(fns) != 7 {
		t.Errorf("got %d functions, want 7", len(fns))
	}
}

func TestPCIDefects(t *testing.T) {
	gpu := "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/"
	for _, tc := range []struct {
		name     string
		break_   func(*sysfstest.Host)
		wantPath string
		wantErr  string
		check    func(t *testing.T, f Device)
	}{
		{
			name:     "no modalias: vendor, device and class files",
			break_:   func(tr *sysfstest.Host) { os.Remove(filepath.Join(tr.Root(), gpu+"modalias")) },
			wantPath: "/" + gpu + "modalias", wantErr: "missing; reading vendor, device and class instead",
		},
		{
			name:     "short modalias",
			break_:   func(tr *sysfstest.Host) { tr.WriteFile(gpu+"modalias", "pci:v000010DEd\n") },
			wantPath: "/" + gpu + "modalias", wantErr: "reading vendor, device and class instead",
		},
		{
			name: "non-hex modalias",
			break_: func(tr *sysfstest.Host) {
				tr.WriteFile(gpu+"modalias", "pci:v000010DEd00001C8Zsv00001043sd00008613bc03sc00i00\n")
			},
			wantPath: "/" + gpu + "modalias", wantErr: `"00001C8Z" is not a 16-bit hex number`,
		},
		{
			name: "iommu group that is not a number",
			break_: func(tr *sysfstest.Host) {
				os.Remove(filepath.Join(tr.Root(), gpu+"iommu_group"))
				tr.Symlink(gpu+"iommu_group", "../../../kernel/iommu_groups/x")
			},
			wantPath: "/" + gpu + "iommu_group", wantErr: `group "x" is not a number`,
			check: func(t *testing.T, f Device) {
				if f.PCI.IOMMUGroup != nil {
					t.Errorf("group %d read from a bad link", *f.PCI.IOMMUGroup)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, tree := pciTree(t)
			tc.break_(tree)
			fns, warns, err := pciFunctions(context.Background(), openFS(t, root))
			if err != nil {
				t.Fatal(err)
			}
			if len(fns) != 7 {
				t.Errorf("got %d functions, want all 7", len(fns))
			}
			if len(warns) != 1 || warns[0].Path != tc.wantPath || !strings.Contains(warns[0].Error(), tc.wantErr) {
				t.Fatalf("warnings %v: want one for %s saying %q", warns, tc.wantPath, tc.wantErr)
			}
			for _, f := range fns {
				if f.Name != "0000:01:00.0" {
					continue
				}
				// IDs survive through the fallback files.
				if f.VendorID != 0x10de || f.ProductID != 0x1c82 || f.PCI.Class != 0x030000 {
					t.Errorf("IDs %s:%s class %s, want 10de:1c82 030000", f.VendorID, f.ProductID, f.PCI.Class)
				}
				if tc.check != nil {
					tc.check(t, f)
				}
			}
		})
	}
}

// A function in /sys/devices that /sys/bus/pci/devices lacks, above a
// listed one, is listed with a warning rather than lost.
func TestPCIUnlisted(t *testing.T) {
	root, _ := pciTree(t)
	os.Remove(filepath.Join(root, "sys/bus/pci/devices/0000:00:01.0"))
	fns, warns, err := pciFunctions(context.Background(), openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	var found *Device
	for i := range fns {
		if fns[i].Name == "0000:00:01.0" {
			found = &fns[i]
		}
	}
	if found == nil || found.PCI.Class != 0x060400 {
		t.Fatalf("bridge 0000:00:01.0: got %+v, want it listed as unlisted", found)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), "not in /sys/bus/pci/devices") {
		t.Errorf("warnings %v, want one about the missing link", warns)
	}
}

func TestPCIBadName(t *testing.T) {
	root, tree := pciTree(t)
	tree.Symlink("sys/bus/pci/devices/bogus", "../../../devices/pci0000:00/0000:00:01.0")
	fns, warns, err := pciFunctions(context.Background(), openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 7 {
		t.Errorf("got %d functions, want the 7 without the bogus one", len(fns))
	}
	if len(warns) != 1 || !errors.Is(warns[0], sysfs.ErrInvalid) || warns[0].Path != "/sys/bus/pci/devices" ||
		!strings.Contains(warns[0].Error(), "entry bogus is not a PCI address") {
		t.Errorf("warnings %v, want one saying bogus is not an address", warns)
	}
}

// PCI functions that are removed during a scan (hot unplug, or VFs torn
// down by sriov_numvfs=0) are dropped silently, at any point.
func TestPCIVanishes(t *testing.T) {
	gpu := "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"
	remove := func(root string) {
		os.Remove(filepath.Join(root, "sys/bus/pci/devices/0000:01:00.0"))
		os.RemoveAll(filepath.Join(root, gpu))
	}
	for _, tc := range []struct {
		name string
		hook func(root string) hooks
	}{
		{"after listing", func(root string) hooks {
			once := false
			return hooks{symlink: func(string) {
				if !once {
					once = true
					remove(root)
				}
			}}
		}},
		{"after opening", func(root string) hooks {
			return hooks{dir: func(p string) {
				if p == gpu {
					remove(root)
				}
			}}
		}},
		{"after modalias", func(root string) hooks {
			return hooks{file: func(p string) {
				if p == gpu+"/modalias" {
					remove(root)
				}
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := pciTree(t)
			f := openFS(t, root, sysfs.WithRecorder(tc.hook(root)))
			fns, warns, err := pciFunctions(context.Background(), f)
			if err != nil || len(warns) > 0 {
				t.Fatalf("PCIFunctions: %v, warnings %v", err, warns)
			}
			if len(fns) != 6 {
				t.Errorf("got %d functions, want the 6 left", len(fns))
			}
			for _, fn := range fns {
				if fn.Name == "0000:01:00.0" {
					t.Errorf("listed the removed function: %+v", fn)
				}
			}
		})
	}
}

// PCI bus entries that dangle or loop cost a warning each, not the others.
func TestPCIBrokenLinks(t *testing.T) {
	root, tree := pciTree(t)
	tree.Symlink("sys/bus/pci/devices/0000:00:1f.0", "../../../devices/pci0000:00/0000:00:1f.0")
	tree.Symlink("sys/bus/pci/devices/0000:00:1f.1", "0000:00:1f.1")
	fns, warns, err := pciFunctions(context.Background(), openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 7 {
		t.Errorf("got %d functions, want the 7 good ones", len(fns))
	}
	got := map[string]bool{}
	for _, w := range warns {
		got[w.Device] = true
	}
	if len(warns) != 2 || !got["0000:00:1f.0"] || !got["0000:00:1f.1"] || !errors.Is(warns[0], sysfs.ErrDangling) {
		t.Errorf("warnings %v, want a dangling one for 1f.0 and a loop for 1f.1", warns)
	}
}

// Values are trimmed of the whitespace the kernel pads some with.
func TestWhitespaceTrimmed(t *testing.T) {
	root, tree := threeDevices(t)
	dev := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/"
	tree.WriteFile(dev+"idVendor", " 0403 \n")
	tree.WriteFile(dev+"devnum", "  7\n")
	tree.WriteFile(dev+"speed", "12 \n")
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	d := devs[1]
	if d.VendorID != 0x0403 || d.USB.Devnum != 7 || d.USB.Speed != "12" {
		t.Errorf("got vendor %s devnum %d speed %q, want 0403, 7, \"12\"", d.VendorID, d.USB.Devnum, d.USB.Speed)
	}
}
