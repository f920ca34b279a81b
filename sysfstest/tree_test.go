package sysfstest

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// buildSmall is a tree with one of everything the builder makes.
func buildSmall(t *testing.T) (root string, tr *Host) {
	t.Helper()
	root = t.TempDir()
	tr = NewHostAt(root)
	tr.AddUSB(RootHub(1, "480"))
	tr.AddUSB(Hub(1, "3"))
	tr.Plug(USBDevice{Bus: 1, Port: "3.1", IDVendor: 0x1050, IDProduct: 0x0407, BCDDevice: 0x0543,
		Speed: "12", MaxPower: "30mA", ConnectType: "hotplug",
		Manufacturer: new("Yubico"), Product: new("YubiKey OTP+FIDO+CCID"), Serial: new("12345678"),
		Interfaces: []USBInterface{
			{Number: 0, Class: 0x03, SubClass: 0x01, Protocol: 0x01, NumEndpoints: 1, Driver: "usbhid"},
			{Number: 1, Class: 0x03, NumEndpoints: 2, Driver: "usbhid"},
			{Number: 2, Class: 0x0b, NumEndpoints: 3},
		}})
	tr.AddUSB(USBDevice{Bus: 1, Port: "4", Devnum: 17, IDVendor: 0x0781, IDProduct: 0x5581,
		Omit: []string{"devpath", "driver"}, Raw: map[string]string{"idProduct": "zz\n", "power/control": "on\n"}})

	tr.AddPCI(PCIFunction{Address: "0000:00:1c.0", Vendor: 0x8086, Device: 0xa33c, Class: 0x060400,
		Revision: 0xf0, Driver: "pcieport", IOMMUGroup: new(6), Config: true})
	tr.AddPCI(PCIFunction{Address: "0000:02:00.0", Parent: "0000:00:1c.0", Vendor: 0x8086, Device: 0x1521,
		SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "igb",
		IOMMUGroup: new(7), NUMANode: new(0), TotalVFs: 7, ResetMethod: "flr bus", Config: true})
	tr.AddPCI(PCIFunction{Address: "0000:02:10.0", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520,
		Class: 0x020000, IOMMUGroup: new(8)})
	tr.AddPCI(PCIFunction{Address: "0000:02:10.4", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520,
		Class: 0x020000, DriverOverride: "vfio-pci", IOMMUGroup: new(9)})
	tr.AddPCI(PCIFunction{Address: "10000:00:00.0", Vendor: 0x144d, Device: 0xa808, Class: 0x010802,
		BootVGA: new(false)})
	tr.AddIOMMUGroup(42)
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return root, tr
}

func TestBuilderFiles(t *testing.T) {
	root, _ := buildSmall(t)
	const (
		xhci = "sys/devices/pci0000:00/0000:00:14.0/"
		yk   = xhci + "usb1/1-3/1-3.1/"
		pf   = "sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/"
		vf0  = "sys/devices/pci0000:00/0000:00:1c.0/0000:02:10.0/"
	)
	tests := []struct {
		path string
		want string // content; "<absent>" if the file must not exist
	}{
		{xhci + "usb1/idVendor", "1d6b\n"},
		{xhci + "usb1/idProduct", "0002\n"},
		{xhci + "usb1/devpath", "0\n"},
		{xhci + "usb1/devnum", "1\n"},
		{xhci + "usb1/serial", "0000:00:14.0\n"},
		{xhci + "usb1/1-0:1.0/bInterfaceClass", "09\n"},
		{xhci + "usb1/1-0:1.0/port3/connect_type", "unknown\n"},
		{xhci + "usb1/1-3/maxchild", "4\n"},
		{xhci + "usb1/1-3/1-3:1.0/port1/connect_type", "hotplug\n"},
		{yk + "idVendor", "1050\n"},
		{yk + "idProduct", "0407\n"},
		{yk + "bcdDevice", "0543\n"},
		{yk + "bDeviceClass", "00\n"},
		{yk + "bDeviceSubClass", "00\n"},
		{yk + "bDeviceProtocol", "00\n"},
		{yk + "busnum", "1\n"},
		{yk + "devnum", "3\n"},
		{yk + "devpath", "3.1\n"},
		{yk + "maxchild", "0\n"},
		{yk + "speed", "12\n"},
		{yk + "version", " 1.10\n"},
		{yk + "bNumInterfaces", " 3\n"},
		{yk + "bMaxPower", "30mA\n"},
		{yk + "authorized", "1\n"},
		{yk + "manufacturer", "Yubico\n"},
		{yk + "product", "YubiKey OTP+FIDO+CCID\n"},
		{yk + "serial", "12345678\n"},
		{yk + "dev", "189:2\n"},
		{yk + "1-3.1:1.1/bInterfaceNumber", "01\n"},
		{yk + "1-3.1:1.1/bInterfaceClass", "03\n"},
		{yk + "1-3.1:1.1/bInterfaceSubClass", "00\n"},
		{yk + "1-3.1:1.1/bInterfaceProtocol", "00\n"},
		{yk + "1-3.1:1.1/bAlternateSetting", " 0\n"},
		{yk + "1-3.1:1.0/modalias", "usb:v1050p0407d0543dc00dsc00dp00ic03isc01ip01in00\n"},
		{"dev/bus/usb/001/003", ""},
		{xhci + "usb1/1-4/devnum", "17\n"},
		{xhci + "usb1/1-4/idProduct", "zz\n"},
		{xhci + "usb1/1-4/power/control", "on\n"},
		{xhci + "usb1/1-4/devpath", "<absent>"},
		{xhci + "usb1/1-4/manufacturer", "<absent>"},
		{xhci + "usb1/1-4/serial", "<absent>"},
		{xhci + "usb1/1-4/bNumInterfaces", " 0\n"},

		{pf + "vendor", "0x8086\n"},
		{pf + "device", "0x1521\n"},
		{pf + "subsystem_vendor", "0x8086\n"},
		{pf + "subsystem_device", "0x0001\n"},
		{pf + "class", "0x020000\n"},
		{pf + "revision", "0x01\n"},
		{pf + "modalias", "pci:v00008086d00001521sv00008086sd00000001bc02sc00i00\n"},
		{pf + "numa_node", "0\n"},
		{pf + "driver_override", "(null)\n"},
		{pf + "reset_method", "flr bus\n"},
		{pf + "sriov_totalvfs", "7\n"},
		{pf + "sriov_numvfs", "2\n"},
		{pf + "boot_vga", "<absent>"},
		{vf0 + "numa_node", "-1\n"},
		{vf0 + "reset_method", "<absent>"},
		{vf0 + "config", "<absent>"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:10.4/driver_override", "vfio-pci\n"},
		{"sys/devices/pci10000:00/10000:00:00.0/modalias", "pci:v0000144Dd0000A808sv00000000sd00000000bc01sc08i02\n"},
		{"sys/devices/pci10000:00/10000:00:00.0/boot_vga", "0\n"},
		{"sys/kernel/iommu_groups/42/type", "DMA\n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(root, tt.path))
			if tt.want == "<absent>" {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("exists (err %v) with %q", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuilderLinks(t *testing.T) {
	root, _ := buildSmall(t)
	const yk = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1"
	tests := []struct {
		link string
		want string // target; "<absent>" if the link must not exist
	}{
		{"sys/bus/usb/devices/usb1", "../../../devices/pci0000:00/0000:00:14.0/usb1"},
		{"sys/bus/usb/devices/1-3.1", "../../../" + yk[len("sys/"):]},
		{"sys/bus/usb/devices/1-3.1:1.2", "../../../" + yk[len("sys/"):] + "/1-3.1:1.2"},
		{yk + "/driver", "../../../../../../bus/usb/drivers/usb"},
		{yk + "/subsystem", "../../../../../../bus/usb"},
		{yk + "/port", "../1-3:1.0/port1"},
		{"sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/port1/device", "../../1-3.1"},
		{yk + "/1-3.1:1.0/driver", "../../../../../../../bus/usb/drivers/usbhid"},
		{yk + "/1-3.1:1.2/driver", "<absent>"},
		{"sys/bus/usb/drivers/usbhid/1-3.1:1.1", "../../../../devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1/1-3.1:1.1"},
		{"sys/devices/pci0000:00/0000:00:14.0/usb1/1-4/driver", "<absent>"},
		{"sys/devices/pci0000:00/0000:00:14.0/driver", "../../../bus/pci/drivers/xhci_hcd"},

		{"sys/bus/pci/devices/0000:02:00.0", "../../../devices/pci0000:00/0000:00:1c.0/0000:02:00.0"},
		{"sys/bus/pci/devices/10000:00:00.0", "../../../devices/pci10000:00/10000:00:00.0"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/driver", "../../../../bus/pci/drivers/igb"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/iommu_group", "../../../../kernel/iommu_groups/7"},
		{"sys/kernel/iommu_groups/7/devices/0000:02:00.0", "../../../../devices/pci0000:00/0000:00:1c.0/0000:02:00.0"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/virtfn0", "../0000:02:10.0"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/virtfn1", "../0000:02:10.4"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:10.4/physfn", "../0000:02:00.0"},
		{"sys/devices/pci0000:00/0000:00:1c.0/0000:02:10.4/driver", "<absent>"},
		{"sys/bus/pci/drivers/igb/0000:02:00.0", "../../../../devices/pci0000:00/0000:00:1c.0/0000:02:00.0"},
	}
	for _, tt := range tests {
		t.Run(tt.link, func(t *testing.T) {
			got, err := os.Readlink(filepath.Join(root, tt.link))
			if tt.want == "<absent>" {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("exists (err %v) -> %q", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("target = %q, want %q", got, tt.want)
			}
			if _, err := os.Stat(filepath.Join(root, tt.link)); err != nil {
				t.Errorf("does not resolve: %v", err)
			}
		})
	}
}

func TestBuilderConfig(t *testing.T) {
	root, _ := buildSmall(t)
	tests := []struct {
		name string
		path string
		want map[int]byte // offset → byte
	}{
		{"bridge", "sys/devices/pci0000:00/0000:00:1c.0/config", map[int]byte{
			0x00: 0x86, 0x01: 0x80, 0x02: 0x3c, 0x03: 0xa3, 0x08: 0xf0, 0x09: 0x00, 0x0a: 0x04, 0x0b: 0x06,
			0x0e: 1, 0x18: 0x00, 0x19: 0x02, 0x1a: 0x02}},
		{"endpoint", "sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/config", map[int]byte{
			0x00: 0x86, 0x01: 0x80, 0x02: 0x21, 0x03: 0x15, 0x08: 0x01, 0x09: 0x00, 0x0a: 0x00, 0x0b: 0x02,
			0x0e: 0, 0x2c: 0x86, 0x2d: 0x80, 0x2e: 0x01, 0x2f: 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := os.ReadFile(filepath.Join(root, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != 64 {
				t.Fatalf("config has %d bytes, want 64", len(c))
			}
			got := map[int]byte{}
			for off := range tt.want {
				got[off] = c[off]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config bytes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuilderBridgeBuses checks that bus numbers of nested bridges follow
// what is added below them.
func TestBuilderBridgeBuses(t *testing.T) {
	root := t.TempDir()
	tr := NewHostAt(root)
	bridge := func(addr, parent string) PCIFunction {
		return PCIFunction{Address: addr, Parent: parent, Vendor: 0x10b5, Device: 0x8747, Class: 0x060400, Config: true}
	}
	tr.AddPCI(bridge("0000:00:01.0", ""))
	tr.AddPCI(bridge("0000:05:00.0", "0000:00:01.0"))
	tr.AddPCI(bridge("0000:06:08.0", "0000:05:00.0"))
	tr.AddPCI(bridge("0000:06:09.0", "0000:05:00.0"))
	tr.AddPCI(PCIFunction{Address: "0000:07:00.0", Parent: "0000:06:08.0", Class: 0x020000})
	tr.AddPCI(PCIFunction{Address: "0000:09:00.0", Parent: "0000:06:09.0", Class: 0x020000})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][3]byte{
		"0000:00:01.0": {0x00, 0x05, 0x09},
		"0000:05:00.0": {0x05, 0x06, 0x09},
		"0000:06:08.0": {0x06, 0x07, 0x07},
		"0000:06:09.0": {0x06, 0x09, 0x09},
	}
	got := map[string][3]byte{}
	for addr := range want {
		c, err := os.ReadFile(filepath.Join(root, "sys/bus/pci/devices", addr, "config"))
		if err != nil {
			t.Fatal(err)
		}
		got[addr] = [3]byte(c[0x18:0x1b])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("primary, secondary, subordinate bus (-want +got):\n%s", diff)
	}
}

func TestBuilderErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(tr *Host)
		want  string
	}{
		{"no root hub", func(tr *Host) { tr.AddUSB(USBDevice{Bus: 1, Port: "1"}) }, "parent usb1 not added"},
		{"no parent hub", func(tr *Host) {
			tr.AddUSB(RootHub(1, "480"))
			tr.AddUSB(USBDevice{Bus: 1, Port: "1.2"})
		}, "parent 1-1 not added"},
		{"port beyond maxchild", func(tr *Host) {
			tr.AddUSB(RootHub(1, "480"))
			tr.AddUSB(USBDevice{Bus: 1, Port: "5"})
		}, "has no port 5"},
		{"parent not a hub", func(tr *Host) {
			tr.AddUSB(RootHub(1, "480"))
			tr.AddUSB(USBDevice{Bus: 1, Port: "1"})
			tr.AddUSB(USBDevice{Bus: 1, Port: "1.1"})
		}, "has no port 1"},
		{"bad port", func(tr *Host) { tr.AddUSB(USBDevice{Bus: 1, Port: "1.0"}) }, "not like 3.1.2"},
		{"bus 0", func(tr *Host) { tr.AddUSB(USBDevice{}) }, "must be positive"},
		{"USB twice", func(tr *Host) {
			tr.AddUSB(RootHub(1, "480"))
			tr.AddUSB(RootHub(1, "480"))
		}, "added twice"},
		{"bad address", func(tr *Host) { tr.AddPCI(PCIFunction{Address: "00:1f.3"}) }, "not an address"},
		{"upper case address", func(tr *Host) { tr.AddPCI(PCIFunction{Address: "0000:00:1F.3"}) }, "not an address"},
		{"no bridge", func(tr *Host) { tr.AddPCI(PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0"}) }, "parent 0000:00:01.0 not added"},
		{"no PF", func(tr *Host) { tr.AddPCI(PCIFunction{Address: "0000:01:10.0", PhysFn: "0000:01:00.0"}) }, "PF 0000:01:00.0 not added"},
		{"PCI twice", func(tr *Host) {
			tr.AddPCI(PCIFunction{Address: "0000:00:01.0"})
			tr.AddPCI(PCIFunction{Address: "0000:00:01.0"})
		}, "added twice"},
		{"negative group", func(tr *Host) { tr.AddIOMMUGroup(-1) }, "negative"},
		{"raw escapes", func(tr *Host) {
			tr.AddPCI(PCIFunction{Address: "0000:00:01.0", Raw: map[string]string{"../../../x": ""}})
		}, "not a clean relative path"},
		{"file escapes", func(tr *Host) { tr.WriteFile("../x", "") }, "not a clean relative path"},
		{"link escapes", func(tr *Host) { tr.Symlink("/x", "y") }, "not a clean relative path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewHostAt(t.TempDir())
			tt.build(tr)
			if err := tr.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Err() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestLspci reads pci-basic with lspci, when it is installed: the config
// files and the layout must be good enough for pciutils.
func TestLspci(t *testing.T) {
	lspci, err := exec.LookPath("lspci")
	if err != nil {
		t.Skip("lspci not installed")
	}
	root := Unpack(t, filepath.Join(fixtureDir, "pci-basic.txtar"))
	out, err := exec.Command(lspci, "-A", "linux-sysfs", "-O", "sysfs.path="+filepath.Join(root, "sys/bus/pci"), "-n").Output()
	if err != nil {
		t.Fatalf("lspci: %v", err)
	}
	// Revisions are left out: pciutils versions differ on a function
	// without config (0000:00:1f.4).
	var got []string
	for line := range strings.Lines(string(out)) {
		got = append(got, strings.Join(strings.Fields(line)[:3], " "))
	}
	want := []string{
		"0000:00:00.0 0600: 8086:3e0f",
		"0000:00:01.0 0604: 8086:1901",
		"0000:00:02.0 0300: 8086:3e92",
		"0000:00:14.0 0c03: 8086:a36d",
		"0000:00:16.0 0780: 8086:a360",
		"0000:00:1c.0 0604: 8086:a33c",
		"0000:00:1f.0 0601: 8086:a306",
		"0000:00:1f.3 0403: 8086:a348",
		"0000:00:1f.4 0c05: 8086:a323",
		"0000:00:1f.5 0c80: 8086:a324",
		"0000:01:00.0 0300: 10de:1e87",
		"0000:01:00.1 0403: 10de:10f8",
		"0000:02:00.0 0200: 8086:1521",
		"0000:02:10.0 0200: 8086:1520",
		"0000:02:10.4 0200: 8086:1520",
		"10000:00:00.0 0108: 144d:a808",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lspci -n (-want +got):\n%s", diff)
	}
}
