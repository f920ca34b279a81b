package sysfstest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite ../testdata/sysfs/*.txtar from the fixtures in fixtures_test.go")

const fixtureDir = "../testdata/sysfs"

// fixtures are the trees under testdata/sysfs: each is built with a Tree,
// defects included, and dumped under its comment. TestFixtures checks that
// the files match; go test -run TestFixtures -update rewrites them.
var fixtures = []struct {
	file    string
	comment string
	build   func(t *Host)
}{
	{"usb-basic.txtar", usbBasicComment, buildUSBBasic},
	{"usb-defects.txtar", usbDefectsComment, buildUSBDefects},
	{"usb-oldkernel.txtar", usbOldKernelComment, buildUSBOldKernel},
	{"pci-basic.txtar", pciBasicComment, buildPCIBasic},
}

func TestFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.file, func(t *testing.T) {
			root := t.TempDir()
			tr := NewHostAt(root)
			f.build(tr)
			if err := tr.Err(); err != nil {
				t.Fatal(err)
			}
			data, err := dump(root)
			if err != nil {
				t.Fatal(err)
			}
			a := txtar.Parse(data)
			a.Comment = []byte(strings.TrimLeft(f.comment, "\n"))
			want := txtar.Format(a)
			path := filepath.Join(fixtureDir, f.file)
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s is not what fixtures_test.go builds; run go test -run TestFixtures -update (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestFixtureLinks unpacks every testdata/sysfs archive and checks that each
// entry of sys/bus/*/devices resolves to a directory, except those the
// comment lists as "broken: PATH".
func TestFixtureLinks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(fixtures) {
		t.Fatalf("found %d archives in %s, want at least %d", len(files), fixtureDir, len(fixtures))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			a, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for line := range strings.Lines(string(a.Comment)) {
				if p, ok := strings.CutPrefix(strings.TrimSpace(line), "broken: "); ok {
					want = append(want, strings.Fields(p)[0])
				}
			}
			if !bytes.Contains(a.Comment, []byte("\n")) {
				t.Errorf("no comment header")
			}
			root := Unpack(t, file)
			links, err := filepath.Glob(filepath.Join(root, "sys/bus/*/devices/*"))
			if err != nil {
				t.Fatal(err)
			}
			if len(links) == 0 {
				t.Fatal("no entries in sys/bus/*/devices")
			}
			var broken []string
			for _, l := range links {
				rel, _ := filepath.Rel(root, l)
				fi, err := os.Lstat(l)
				if err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("%s is not a symlink", rel)
					continue
				}
				if fi, err := os.Stat(l); err != nil || !fi.IsDir() {
					broken = append(broken, filepath.ToSlash(rel))
				}
			}
			slices.Sort(want)
			if diff := cmp.Diff(want, broken); diff != "" {
				t.Errorf("unresolvable links in sys/bus/*/devices (-want +got):\n%s", diff)
			}
		})
	}
}

const usbBasicComment = `
usb-basic: a laptop-like USB tree with nothing wrong in it.
Built by buildUSBBasic in sysfstest/fixtures_test.go.

Controller 0000:00:14.0 (8086:a36d, xHCI, driver xhci_hcd) carries two buses.
A correct scan reports 14 USB devices (12 plus two root hubs), in name order:

  name       devnum  id         class  speed  strings (manufacturer / product / serial)
  1-1          2     05e3:0610  09     480    GenesysLogic / USB2.1 Hub / -         hub, 4 ports
  1-1.1        3     05e3:0610  09     480    GenesysLogic / USB2.1 Hub / -         hub, 4 ports
  1-1.1.1      5     1a86:7523  ff     12     - / USB Serial / -                    iface 1-1.1.1:1.0 ff/01/02 ch341
  1-1.1.2      4     0bda:5411  09     480    Generic / 4-Port USB 2.0 Hub / -      hub, 4 ports (third hub level)
  1-1.1.2.3    7     0403:6001  00     12     FTDI / FT232R USB UART / A10K3QKF     behind three hubs; iface ff/ff/ff ftdi_sio
  1-1.1.3      6     1a86:7523  ff     12     - / USB Serial / -                    same as 1-1.1.1: only the port tells them apart
  1-2          8     1050:0407  00     12     Yubico / YubiKey OTP+FIDO+CCID / 12345678
  1-3          9     1050:0407  00     12     Yubico / YubiKey OTP+FIDO+CCID / 23456789   same as 1-2 but the serial
  1-4         10     046d:0825  ef     480    - / - / 5A8C1E20                       webcam, 4 interfaces
  1-5         11     1209:0001  00     12     Überträger™ GmbH / Funk-Empfänger ✓ / ""   serial file is empty
  1-6         12     04d9:1603  00     1.5    - / - / -                              no manufacturer, product or serial file
  2-1          2     0781:5581  00     5000   SanDisk / Ultra / 4C530001230921103052   version 3.20
  usb1         1     1d6b:0002  09     480    Linux 6.1.0-18-amd64 xhci-hcd / xHCI Host Controller / 0000:00:14.0
  usb2         1     1d6b:0003  09     5000   Linux 6.1.0-18-amd64 xhci-hcd / xHCI Host Controller / 0000:00:14.0

Parents follow the directories: 1-1.1.2.3 sits below 1-1.1.2, 1-1.1, 1-1, usb1.

Interfaces, bound (driver) or not:
  1-2 and 1-3:  :1.0 03/01/01 usbhid, :1.1 03/00/00 usbhid, :1.2 0b/00/00 unbound
  1-4:          :1.0 0e/01/00 uvcvideo, :1.1 0e/02/00 uvcvideo, :1.2 01/01/00 snd-usb-audio, :1.3 01/02/00 unbound
  1-5:          :1.0 ff/00/00 unbound
  1-6:          :1.0 03/01/02 usbhid
  2-1:          :1.0 08/06/50 usb-storage
  hubs:         :1.0 09/00/00 hub (root hubs: 1-0:1.0 and 2-0:1.0)

Every device has a node dev/bus/usb/BBB/DDD. Like a real kernel, every
device and interface has a subsystem link to sys/bus/usb, so a walker that
follows symlinks loops through sys/bus/usb/devices forever.
`

func buildUSBBasic(t *Host) {
	rh := RootHub(1, "480")
	rh.MaxChild = 6
	t.Plug(rh)
	rh = RootHub(2, "5000")
	t.Plug(rh)

	hub := Hub(1, "1")
	t.Plug(hub)
	hub.Port = "1.1"
	t.Plug(hub)
	t.Plug(USBDevice{Bus: 1, Port: "1.1.2", IDVendor: 0x0bda, IDProduct: 0x5411, BCDDevice: 0x0104,
		DeviceClass: 0x09, DeviceProtocol: 0x02, MaxChild: 4,
		Manufacturer: new("Generic"), Product: new("4-Port USB 2.0 Hub")})
	ch340 := USBDevice{Bus: 1, Port: "1.1.1", IDVendor: 0x1a86, IDProduct: 0x7523, BCDDevice: 0x0264,
		DeviceClass: 0xff, Speed: "12", MaxPower: "98mA", ConnectType: "hotplug",
		Product:    new("USB Serial"),
		Interfaces: []USBInterface{{Class: 0xff, SubClass: 0x01, Protocol: 0x02, NumEndpoints: 3, Driver: "ch341"}}}
	t.Plug(ch340)
	ch340.Port = "1.1.3"
	t.Plug(ch340)
	t.Plug(USBDevice{Bus: 1, Port: "1.1.2.3", IDVendor: 0x0403, IDProduct: 0x6001, BCDDevice: 0x0600,
		Speed: "12", MaxPower: "90mA", ConnectType: "hotplug",
		Manufacturer: new("FTDI"), Product: new("FT232R USB UART"), Serial: new("A10K3QKF"),
		Interfaces: []USBInterface{{Class: 0xff, SubClass: 0xff, Protocol: 0xff, NumEndpoints: 2, Driver: "ftdi_sio"}}})

	yubikey := USBDevice{Bus: 1, Port: "2", IDVendor: 0x1050, IDProduct: 0x0407, BCDDevice: 0x0543,
		Speed: "12", MaxPower: "30mA", ConnectType: "hotplug",
		Manufacturer: new("Yubico"), Product: new("YubiKey OTP+FIDO+CCID"), Serial: new("12345678"),
		Interfaces: []USBInterface{
			{Number: 0, Class: 0x03, SubClass: 0x01, Protocol: 0x01, NumEndpoints: 1, Driver: "usbhid"},
			{Number: 1, Class: 0x03, NumEndpoints: 2, Driver: "usbhid"},
			{Number: 2, Class: 0x0b, NumEndpoints: 3},
		}}
	t.Plug(yubikey)
	yubikey.Port, yubikey.Serial = "3", new("23456789")
	t.Plug(yubikey)

	t.Plug(USBDevice{Bus: 1, Port: "4", IDVendor: 0x046d, IDProduct: 0x0825, BCDDevice: 0x0012,
		DeviceClass: 0xef, DeviceSubClass: 0x02, DeviceProtocol: 0x01, MaxPower: "500mA",
		ConnectType: "hardwired", Serial: new("5A8C1E20"),
		Interfaces: []USBInterface{
			{Number: 0, Class: 0x0e, SubClass: 0x01, NumEndpoints: 1, Driver: "uvcvideo"},
			{Number: 1, Class: 0x0e, SubClass: 0x02, Driver: "uvcvideo"},
			{Number: 2, Class: 0x01, SubClass: 0x01, Driver: "snd-usb-audio"},
			{Number: 3, Class: 0x01, SubClass: 0x02},
		}})
	t.Plug(USBDevice{Bus: 1, Port: "5", IDVendor: 0x1209, IDProduct: 0x0001, BCDDevice: 0x0100,
		Speed: "12", ConnectType: "hotplug",
		Manufacturer: new("Überträger™ GmbH"), Product: new("Funk-Empfänger ✓"), Serial: new(""),
		Interfaces: []USBInterface{{Class: 0xff, NumEndpoints: 2}}})
	t.Plug(USBDevice{Bus: 1, Port: "6", IDVendor: 0x04d9, IDProduct: 0x1603, BCDDevice: 0x0100,
		Speed: "1.5", ConnectType: "hotplug",
		Interfaces: []USBInterface{{Class: 0x03, SubClass: 0x01, Protocol: 0x02, NumEndpoints: 1, Driver: "usbhid"}}})

	t.Plug(USBDevice{Bus: 2, Port: "1", IDVendor: 0x0781, IDProduct: 0x5581, BCDDevice: 0x0100,
		Speed: "5000", BCDUSB: 0x0320, MaxPower: "896mA", ConnectType: "hotplug",
		Manufacturer: new("SanDisk"), Product: new("Ultra"), Serial: new("4C530001230921103052"),
		Interfaces: []USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, NumEndpoints: 2, Driver: "usb-storage"}}})
}

const usbDefectsComment = `
usb-defects: one USB bus with broken entries among good ones.
Built by buildUSBDefects in sysfstest/fixtures_test.go.

Controller 0000:00:14.0 (xHCI), root hub usb1 (1d6b:0002, devnum 1, 4 ports).

  1-1  devnum 2  idVendor holds "00zz\n": malformed. A correct scan still
       reports 1-1 (idProduct 1666, Kingston DataTraveler 3.0, serial
       E0D55EA574B5F3A0C9870F27, iface 1-1:1.0 08/06/50 usb-storage) with a
       warning naming .../1-1/idVendor; it must not drop the other devices.
  1-2  sys/bus/usb/devices/1-2 is dangling: its target
       sys/devices/pci0000:00/0000:00:14.0/usb1/1-2 does not exist (the
       device was unplugged mid-capture). Report a warning or skip it
       silently; never fail the scan.
  1-3  devnum 3  046d:c52b Logitech / USB Receiver, no serial, fine:
       interfaces :1.0 03/01/01 usbhid, :1.1 03/01/02 usbhid, :1.2 03/00/00 usbhid.
  1-4  sys/bus/usb/devices/1-4 points at itself (ELOOP). Same handling as 1-2.

broken: sys/bus/usb/devices/1-2 (target missing)
broken: sys/bus/usb/devices/1-4 (symlink loop)

So a correct scan lists exactly 1-1, 1-3 and usb1.

Traps for careless walkers outside sys/bus/usb:
  sys/block/loop0 -> ../devices/virtual/block/loop0, whose subsystem link
  leads to sys/class/block, which links back to loop0: a cycle.
  sys/block/loop1 -> ../class/block/loop1 -> ../../block/loop1: ELOOP.
As on a real kernel, every USB device's subsystem link is a cycle too.
`

func buildUSBDefects(t *Host) {
	rh := RootHub(1, "480")
	t.AddUSB(rh)
	t.AddUSB(USBDevice{Bus: 1, Port: "1", IDVendor: 0x0951, IDProduct: 0x1666, BCDDevice: 0x0110,
		MaxPower: "300mA", Manufacturer: new("Kingston"), Product: new("DataTraveler 3.0"),
		Serial: new("E0D55EA574B5F3A0C9870F27"), Raw: map[string]string{"idVendor": "00zz\n"},
		Interfaces: []USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, NumEndpoints: 2, Driver: "usb-storage"}}})
	t.Link("sys/bus/usb/devices/1-2", "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
	t.AddUSB(USBDevice{Bus: 1, Port: "3", IDVendor: 0x046d, IDProduct: 0xc52b, BCDDevice: 0x1211,
		Speed: "12", MaxPower: "98mA", Manufacturer: new("Logitech"), Product: new("USB Receiver"),
		Interfaces: []USBInterface{
			{Number: 0, Class: 0x03, SubClass: 0x01, Protocol: 0x01, NumEndpoints: 1, Driver: "usbhid"},
			{Number: 1, Class: 0x03, SubClass: 0x01, Protocol: 0x02, NumEndpoints: 1, Driver: "usbhid"},
			{Number: 2, Class: 0x03, NumEndpoints: 1, Driver: "usbhid"},
		}})
	t.Symlink("sys/bus/usb/devices/1-4", "1-4")

	t.WriteFile("sys/devices/virtual/block/loop0/dev", "7:0\n")
	t.WriteFile("sys/devices/virtual/block/loop0/size", "0\n")
	t.Link("sys/devices/virtual/block/loop0/subsystem", "sys/class/block")
	t.Link("sys/block/loop0", "sys/devices/virtual/block/loop0")
	t.Link("sys/class/block/loop0", "sys/devices/virtual/block/loop0")
	t.Link("sys/block/loop1", "sys/class/block/loop1")
	t.Link("sys/class/block/loop1", "sys/block/loop1")
}

const usbOldKernelComment = `
usb-oldkernel: a 2.6.27-era tree. No device has a devpath file (and none
has the port link or removable file of later kernels); the PCI functions
have no driver_override. A scan must take the port path from the name.
Built by buildUSBOldKernel in sysfstest/fixtures_test.go.

  name    devnum  id         class  speed  port path  parent  strings
  usb1      1     1d6b:0002  09     480    0          -       Linux 2.6.27-7-generic ehci_hcd / EHCI Host Controller / 0000:00:1d.7
  1-1       2     05e3:0608  09     480    1          usb1    - / USB2.0 Hub / -        hub, 4 ports
  1-1.2     3     0781:5406  00     480    1.2        1-1     SanDisk / U3 Cruzer Micro / 0774910BAA01ACB2
  1-3       4     0bda:0158  00     480    3          usb1    Generic / USB2.0-CRW / 20071114173400000
  usb2      1     1d6b:0001  09     12     0          -       Linux 2.6.27-7-generic uhci_hcd / UHCI Host Controller / 0000:00:1d.0
  2-1       2     046d:c016  00     1.5    1          usb2    Logitech / Optical USB Mouse / -

Controllers: usb1 on 0000:00:1d.7 (8086:293a EHCI, ehci_hcd), usb2 on
0000:00:1d.0 (8086:2934 UHCI, uhci_hcd).
Interfaces: hubs :1.0 09/00/00 hub; 1-1.2:1.0 08/06/50 usb-storage;
1-3:1.0 08/06/50 usb-storage; 2-1:1.0 03/01/02 usbhid.
`

func buildUSBOldKernel(t *Host) {
	old := []string{"devpath", "port", "removable"}
	pciOld := []string{"driver_override"}
	t.AddPCI(PCIFunction{Address: "0000:00:1d.0", Vendor: 0x8086, Device: 0x2934, SubsystemVendor: 0x17aa,
		SubsystemDevice: 0x20f0, Class: 0x0c0300, Revision: 0x03, Driver: "uhci_hcd", Omit: pciOld})
	t.AddPCI(PCIFunction{Address: "0000:00:1d.7", Vendor: 0x8086, Device: 0x293a, SubsystemVendor: 0x17aa,
		SubsystemDevice: 0x20f1, Class: 0x0c0320, Revision: 0x03, Driver: "ehci_hcd", Omit: pciOld})

	rh := RootHub(1, "480")
	rh.Controller, rh.BCDDevice, rh.MaxChild, rh.Omit = "0000:00:1d.7", 0x0206, 6, old
	rh.Manufacturer, rh.Product, rh.Serial = new("Linux 2.6.27-7-generic ehci_hcd"), new("EHCI Host Controller"), new("0000:00:1d.7")
	t.AddUSB(rh)
	rh = RootHub(2, "12")
	rh.Controller, rh.IDProduct, rh.BCDDevice, rh.MaxChild, rh.Omit = "0000:00:1d.0", 0x0001, 0x0206, 2, old
	rh.DeviceProtocol = 0
	rh.Manufacturer, rh.Product, rh.Serial = new("Linux 2.6.27-7-generic uhci_hcd"), new("UHCI Host Controller"), new("0000:00:1d.0")
	t.AddUSB(rh)

	hub := Hub(1, "1")
	hub.IDProduct, hub.BCDDevice, hub.DeviceProtocol, hub.Omit = 0x0608, 0x0702, 0x01, old
	hub.Manufacturer = nil
	hub.Product = new("USB2.0 Hub")
	t.AddUSB(hub)
	t.AddUSB(USBDevice{Bus: 1, Port: "1.2", IDVendor: 0x0781, IDProduct: 0x5406, BCDDevice: 0x0200,
		MaxPower: "200mA", Omit: old,
		Manufacturer: new("SanDisk"), Product: new("U3 Cruzer Micro"), Serial: new("0774910BAA01ACB2"),
		Interfaces: []USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, NumEndpoints: 2, Driver: "usb-storage"}}})
	t.AddUSB(USBDevice{Bus: 1, Port: "3", IDVendor: 0x0bda, IDProduct: 0x0158, BCDDevice: 0x5813,
		MaxPower: "500mA", Omit: old,
		Manufacturer: new("Generic"), Product: new("USB2.0-CRW"), Serial: new("20071114173400000"),
		Interfaces: []USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, NumEndpoints: 3, Driver: "usb-storage"}}})
	t.AddUSB(USBDevice{Bus: 2, Port: "1", IDVendor: 0x046d, IDProduct: 0xc016, BCDDevice: 0x0340,
		Speed: "1.5", Omit: old, Manufacturer: new("Logitech"), Product: new("Optical USB Mouse"),
		Interfaces: []USBInterface{{Class: 0x03, SubClass: 0x01, Protocol: 0x02, NumEndpoints: 1, Driver: "usbhid"}}})
}

const pciBasicComment = `
pci-basic: a workstation's PCI functions, some deliberately odd.
Built by buildPCIBasic in sysfstest/fixtures_test.go.
Every function but 0000:00:1f.4 has a 64-byte config file, so
  lspci -A linux-sysfs -O sysfs.path=ROOT/sys/bus/pci -n
lists all 16 (0000:00:1f.4 from its vendor, device and class files).

A correct scan reports 16 functions:

  address        id         class   parent        driver         iommu  notes
  0000:00:00.0   8086:3e0f  060000  -             -              0      host bridge (header type 0)
  0000:00:01.0   8086:1901  060400  -             pcieport       1      PCIe root port (header type 1, secondary bus 01)
  0000:01:00.0   10de:1e87  030000  0000:00:01.0  nouveau        2      GPU behind the root port; boot_vga 0, reset_method bus
  0000:01:00.1   10de:10f8  040300  0000:00:01.0  snd_hda_intel  2      the GPU's audio function, same group
  0000:00:02.0   8086:3e92  030000  -             i915           3      boot_vga 1
  0000:00:14.0   8086:a36d  0c0330  -             xhci_hcd       4
  0000:00:16.0   8086:a360  078000  -             mei_me         5      modalias not hex ("...d0000A36G..."): use the files
  0000:00:1c.0   8086:a33c  060400  -             pcieport       6      root port, secondary bus 02
  0000:02:00.0   8086:1521  020000  0000:00:1c.0  igb            7      SR-IOV PF: sriov_totalvfs 7, sriov_numvfs 2, virtfn0 -> 02:10.0, virtfn1 -> 02:10.4, numa_node 0
  0000:02:10.0   8086:1520  020000  0000:00:1c.0  igbvf          8      VF, physfn -> 02:00.0, reset_method flr
  0000:02:10.4   8086:1520  020000  0000:00:1c.0  vfio-pci       9      VF, physfn -> 02:00.0, driver_override vfio-pci
  0000:00:1f.0   8086:a306  060100  -             lpc_ich        10     ISA bridge (header type 0)
  0000:00:1f.3   8086:a348  040300  -             snd_hda_intel  10
  0000:00:1f.4   8086:a323  0c0500  -             i801_smbus     10     no modalias, subsystem_vendor, subsystem_device, revision or config
  0000:00:1f.5   8086:a324  0c8000  -             -              10     modalias too short ("pci:v00008086d0000A324"): use the files
  10000:00:00.0  144d:a808  010802  -             nvme           11     32-bit domain, in sys/devices/pci10000:00; numa_node 0

Subsystem IDs are 17aa:312a except for 01:00.x (1043:8712), 02:xx.x
(8086:0001) and 10000:00:00.0 (144d:a801). numa_node is -1 except where
noted; driver_override is (null) except on 02:10.4. The two malformed
modalias files must cost a warning each, not the function and not the scan.
`

func buildPCIBasic(t *Host) {
	lenovo := func(f PCIFunction) PCIFunction {
		f.SubsystemVendor, f.SubsystemDevice, f.Config = 0x17aa, 0x312a, true
		return f
	}
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x3e0f, Class: 0x060000,
		Revision: 0x08, IOMMUGroup: new(0)}))
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400,
		Revision: 0x07, Driver: "pcieport", IOMMUGroup: new(1)}))
	t.AddPCI(PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x1e87,
		SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x030000, Revision: 0xa1, Driver: "nouveau",
		IOMMUGroup: new(2), BootVGA: new(false), ResetMethod: "bus", Config: true})
	t.AddPCI(PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x10f8,
		SubsystemVendor: 0x1043, SubsystemDevice: 0x8712, Class: 0x040300, Revision: 0xa1, Driver: "snd_hda_intel",
		IOMMUGroup: new(2), ResetMethod: "bus", Config: true})
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000,
		Driver: "i915", IOMMUGroup: new(3), BootVGA: new(true)}))
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330,
		Revision: 0x10, Driver: "xhci_hcd", IOMMUGroup: new(4)}))
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:16.0", Vendor: 0x8086, Device: 0xa360, Class: 0x078000,
		Revision: 0x10, Driver: "mei_me", IOMMUGroup: new(5),
		Raw: map[string]string{"modalias": "pci:v00008086d0000A36Gsv000017AAsd0000312Abc07sc80i00\n"}}))
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:1c.0", Vendor: 0x8086, Device: 0xa33c, Class: 0x060400,
		Revision: 0xf0, Driver: "pcieport", IOMMUGroup: new(6)}))
	t.AddPCI(PCIFunction{Address: "0000:02:00.0", Parent: "0000:00:1c.0", Vendor: 0x8086, Device: 0x1521,
		SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "igb",
		IOMMUGroup: new(7), NUMANode: new(0), TotalVFs: 7, ResetMethod: "flr bus", Config: true})
	t.AddPCI(PCIFunction{Address: "0000:02:10.0", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520,
		SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "igbvf",
		IOMMUGroup: new(8), NUMANode: new(0), ResetMethod: "flr", Config: true})
	t.AddPCI(PCIFunction{Address: "0000:02:10.4", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520,
		SubsystemVendor: 0x8086, SubsystemDevice: 0x0001, Class: 0x020000, Revision: 0x01, Driver: "vfio-pci",
		DriverOverride: "vfio-pci", IOMMUGroup: new(9), NUMANode: new(0), ResetMethod: "flr", Config: true})
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0xa306, Class: 0x060100,
		Revision: 0x10, Driver: "lpc_ich", IOMMUGroup: new(10)}))
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300,
		Revision: 0x10, Driver: "snd_hda_intel", IOMMUGroup: new(10)}))
	t.AddPCI(PCIFunction{Address: "0000:00:1f.4", Vendor: 0x8086, Device: 0xa323, Class: 0x0c0500,
		Revision: 0x10, Driver: "i801_smbus", IOMMUGroup: new(10),
		Omit: []string{"modalias", "subsystem_vendor", "subsystem_device", "revision"}})
	t.AddPCI(lenovo(PCIFunction{Address: "0000:00:1f.5", Vendor: 0x8086, Device: 0xa324, Class: 0x0c8000,
		Revision: 0x10, IOMMUGroup: new(10), Raw: map[string]string{"modalias": "pci:v00008086d0000A324\n"}}))
	t.AddPCI(PCIFunction{Address: "10000:00:00.0", Vendor: 0x144d, Device: 0xa808, SubsystemVendor: 0x144d,
		SubsystemDevice: 0xa801, Class: 0x010802, Driver: "nvme", IOMMUGroup: new(11), NUMANode: new(0),
		ResetMethod: "flr", Config: true})
}
