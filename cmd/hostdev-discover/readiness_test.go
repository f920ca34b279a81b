package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

// workstation builds a host with a passthrough GPU whose audio function
// is still on snd_hda_intel, an iGPU with the boot console, a chipset group
// shared with the SATA controller, an SR-IOV NIC, and USB gear: a hub, a
// keyboard, a stick with a HID and a storage interface, and a key USBGuard
// blocks. With iommu false, the same host has its IOMMU off.
func workstation(t *testing.T, iommu bool) string {
	t.Helper()
	root := t.TempDir()
	tr := sysfstest.NewHostAt(root)
	group := func(n int) *int {
		if !iommu {
			return nil
		}
		return &n
	}
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x3e30, Class: 0x060000, Driver: "skl_uncore", IOMMUGroup: group(0)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", Config: true, IOMMUGroup: group(1)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x1c82, Class: 0x030000, Driver: "vfio-pci", DriverOverride: "vfio-pci",
		ResetMethod: "flr bus", BootVGA: new(false), IOMMUGroup: group(1)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x0fb9, Class: 0x040300, Driver: "snd_hda_intel",
		Raw: map[string]string{"reset_method": "\n"}, IOMMUGroup: group(1)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, Driver: "i915", BootVGA: new(true), ResetMethod: "flr", IOMMUGroup: group(2)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Driver: "xhci_hcd", IOMMUGroup: group(3)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0xa306, Class: 0x060100, IOMMUGroup: group(9)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.2", Vendor: 0x8086, Device: 0xa352, Class: 0x010601, Driver: "ahci", IOMMUGroup: group(9)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.4", Vendor: 0x8086, Device: 0xa323, Class: 0x0c0500, Driver: "i801_smbus", IOMMUGroup: group(9)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igb", TotalVFs: 7, IOMMUGroup: group(10)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.0", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "vfio-pci", IOMMUGroup: group(11)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.4", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, IOMMUGroup: group(12)})
	tr.AddUSB(sysfstest.RootHub(1, "480"))
	tr.AddUSB(sysfstest.Hub(1, "1"))
	tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1.1", IDVendor: 0x046d, IDProduct: 0xc31c, Product: new("USB Keyboard"),
		Interfaces: []sysfstest.USBInterface{{Number: 0, Class: 0x03, SubClass: 0x01, Protocol: 0x01, Driver: "usbhid"}}})
	tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x0781, IDProduct: 0x5581, Product: new("Ultra"), Serial: new("4C530001"),
		Interfaces: []sysfstest.USBInterface{{Number: 0, Class: 0x03, Driver: "usbhid"}, {Number: 1, Class: 0x08, SubClass: 0x06, Protocol: 0x50, Driver: "usb-storage"}}})
	tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x1050, IDProduct: 0x0407, Product: new("YubiKey OTP+FIDO+CCID"), Unauthorized: true})
	tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "4", IDVendor: 0x0483, IDProduct: 0x2016, Product: new("Fingerprint Reader"),
		Interfaces: []sysfstest.USBInterface{{Number: 0, Class: 0xff}}})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestReadinessGolden(t *testing.T) {
	root, off := workstation(t, true), workstation(t, false)
	for _, tc := range []struct {
		golden string
		args   []string
		code   int
	}{
		{"groups.txt", []string{"groups", "-n", "--root", root}, 0},
		{"groups.json", []string{"groups", "-n", "--json", "--root", root}, 0},
		{"groups-iommu-off.txt", []string{"groups", "-n", "--root", off}, 0},
		{"check.txt", []string{"check", "-n", "--root", root, "01:00.0", "01:00.1", "00:02.0", "02:10.0", "host:0781:5581", "host:1050:0407", "port=1-1", "busnum=1,devnum=1"}, 5},
		{"check-ok.txt", []string{"check", "-n", "--root", root, "02:10.4", "host:0483:2016"}, 0},
		{"check-iommu-off.txt", []string{"check", "-n", "--root", off, "01:00.0"}, 5},
		{"check.json", []string{"check", "-n", "--json", "--root", root, "01:00.0", "host:0483:2016"}, 5},
		{"list-assignable.txt", []string{"list", "-n", "--assignable", "-v", "--root", root}, 0},
		{"list-verbose-usb.txt", []string{"list", "-n", "-v", "--bus", "usb", "--root", root}, 0},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, out, errs := hostdev(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errs)
			}
			if code == 0 && errs != "" {
				t.Errorf("stderr %q", errs)
			}
			testenv.Golden(t, filepath.Join("testdata", tc.golden), strings.ReplaceAll(out, root, "ROOT"), *update)
		})
	}
}

func TestCheckExitCodes(t *testing.T) {
	root := workstation(t, true)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"assignable", []string{"check", "02:10.4"}, 0, ""},
		{"one of two not assignable", []string{"check", "02:10.4", "00:1f.2"}, 5, "1 of 2 devices is not assignable"},
		{"not assignable", []string{"check", "busnum=1,devnum=1"}, 5, "the device is not assignable"},
		{"no match", []string{"check", "host:dead:beef"}, 3, "dead:beef"},
		{"ambiguous", []string{"check", "vendor=8086,bus=pci"}, 4, "devices match"},
		{"bad selector", []string{"check", "usb"}, 2, `"usb" is not key=value`},
		{"no selector", []string{"check"}, 2, "check needs a SELECTOR or -f FILE"},
		{"groups takes no arguments", []string{"groups", "1"}, 2, "unknown command"},
		{"QEMU option", []string{"check", "-device vfio-pci,host=0000:02:10.4"}, 0, ""},
		// A function on a host driver: libvirt detaches it only for a
		// managed <hostdev>, and refuses an unmanaged one.
		{"libvirt managed", []string{"check", "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='0' slot='2' function='0'/></source></hostdev>"}, 0, ""},
		{"libvirt unmanaged", []string{"check", "<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='2' function='0'/></source></hostdev>"}, 5, "the device is not assignable"},
		{"libvirt unmanaged, vfio-pci", []string{"check", "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0' bus='2' slot='0x10' function='4'/></source></hostdev>"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := hostdev(t, append(tc.args, "-n", "--root", root)...)
			if code != tc.code || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.stderr)
			}
		})
	}
}

// list --json gives every device assignable and reasons, and the filters
// judge a device with its whole group in view.
func TestListReadinessJSON(t *testing.T) {
	root := workstation(t, true)
	code, out, errs := hostdev(t, "list", "-n", "--json", "--root", root, "01:00.*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Devices []struct {
			Name       string `json:"name"`
			Assignable bool   `json:"assignable"`
			Reasons    []struct {
				Code     string `json:"code"`
				Blocking bool   `json:"blocking"`
			} `json:"reasons"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, d := range res.Devices {
		var cs []string
		for _, r := range d.Reasons {
			cs = append(cs, r.Code+map[bool]string{true: "!", false: ""}[r.Blocking])
		}
		got[d.Name] = []any{d.Assignable, cs}
	}
	want := map[string]any{
		"0000:01:00.0": []any{false, []string{"group-shared!"}},
		"0000:01:00.1": []any{true, []string{"host-driver", "no-reset"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
}

// The unmanaged reason says what libvirt would say, and what to change.
func TestCheckUnmanaged(t *testing.T) {
	root := workstation(t, true)
	code, out, _ := hostdev(t, "check", "-n", "--root", root,
		"<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='2' function='0'/></source></hostdev>")
	for _, s := range []string{"NOT ASSIGNABLE", "[blocks] unmanaged", "Unmanaged PCI device 0000:00:02.0 must be",
		"<hostdev mode='subsystem' type='pci' managed='yes'>", "[note] host-driver"} {
		if !strings.Contains(out, s) {
			t.Errorf("exit %d; no %q in\n%s", code, s, out)
		}
	}
}
