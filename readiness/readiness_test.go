package readiness

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfstest"
)

// Building blocks for the trees.
var (
	hostBridge = sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x3e30, Class: 0x060000}
	rootPort   = sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", Config: true}
	gpu        = sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x1c82, Class: 0x030000}
	gpuAudio   = sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x0fb9, Class: 0x040300}
	isaBridge  = sysfstest.PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0xa306, Class: 0x060100}
	sata       = sysfstest.PCIFunction{Address: "0000:00:1f.2", Vendor: 0x8086, Device: 0xa352, Class: 0x010601, Driver: "ahci"}
	hda        = sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300, Driver: "snd_hda_intel"}
)

// with returns f with its driver and group set.
func with(f sysfstest.PCIFunction, driver string, group int) sysfstest.PCIFunction {
	f.Driver = driver
	if group >= 0 {
		f.IOMMUGroup = &group
	}
	return f
}

func assess(t *testing.T, build func(*sysfstest.Host), opts Options) *Report {
	t.Helper()
	root := t.TempDir()
	tr := sysfstest.NewHostAt(root)
	build(tr)
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Fatalf("scan warnings: %v", res.Warnings)
	}
	if opts.Root == "" {
		opts.Root = root
	}
	rep, err := Assess(res.Devices, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// codes gives every device's codes, "-" marking one that is not assignable.
func codes(rep *Report) map[string][]Code {
	got := map[string][]Code{}
	for _, v := range rep.Devices {
		cs := []Code{}
		if !v.Assignable {
			cs = append(cs, "-")
		}
		for _, r := range v.Reasons {
			cs = append(cs, r.Code)
		}
		got[v.Device.Name] = cs
	}
	return got
}

// verdicts gives every group's verdict as groups prints it.
func verdicts(rep *Report) map[int]string {
	got := map[int]string{}
	for _, g := range rep.Groups {
		switch {
		case g.Nothing:
			got[g.Number] = "nothing"
		case g.Viable():
			got[g.Number] = "viable"
		default:
			got[g.Number] = "shared with " + named(g.Shared)
		}
	}
	return got
}

// no is the mark of a device that is not assignable, in the want tables.
const no Code = "-"

// TestCodes builds a tree for each situation the issue names and checks
// the full set of codes of every device in it: each code appears where it
// should and nowhere else.
func TestCodes(t *testing.T) {
	one := byte(1)
	seen := map[Code]bool{}
	for _, tc := range []struct {
		name   string
		build  func(*sysfstest.Host)
		want   map[string][]Code
		groups map[int]string
		iommu  bool
	}{{
		name: "GPU on vfio-pci, its audio on snd_hda_intel, behind a root port in their group",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(hostBridge, "", 0))
			tr.AddPCI(with(rootPort, "pcieport", 1))
			tr.AddPCI(with(gpu, "vfio-pci", 1))
			tr.AddPCI(with(gpuAudio, "snd_hda_intel", 1))
		},
		want: map[string][]Code{
			"0000:00:00.0": {no, HostBridge},
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {no, GroupShared},
			"0000:01:00.1": {HostDriver},
		},
		groups: map[int]string{0: "nothing", 1: "shared with 0000:01:00.1 (snd_hda_intel)"},
		iommu:  true,
	}, {
		name: "GPU on nvidia and its audio on snd_hda_intel",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(rootPort, "pcieport", 1))
			tr.AddPCI(with(gpu, "nvidia", 1))
			tr.AddPCI(with(gpuAudio, "snd_hda_intel", 1))
		},
		want: map[string][]Code{
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {no, GroupShared, HostDriver},
			"0000:01:00.1": {no, GroupShared, HostDriver},
		},
		groups: map[int]string{1: "shared with 0000:01:00.0 (nvidia), 0000:01:00.1 (snd_hda_intel)"},
		iommu:  true,
	}, {
		name: "a group of only vfio-pci, and one with pci-stub and an unbound function",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(rootPort, "pcieport", 1))
			tr.AddPCI(with(gpu, "vfio-pci", 2))
			tr.AddPCI(with(gpuAudio, "vfio-pci", 2))
			tr.AddPCI(with(sata, "pci-stub", 3))
			tr.AddPCI(with(hda, "", 3))
		},
		want: map[string][]Code{
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {},
			"0000:01:00.1": {},
			"0000:00:1f.2": {},
			"0000:00:1f.3": {},
		},
		groups: map[int]string{1: "nothing", 2: "viable", 3: "viable"},
		iommu:  true,
	}, {
		name: "a root port in the group of a GPU on its host driver",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(rootPort, "pcieport", 1))
			tr.AddPCI(with(gpu, "nouveau", 1))
		},
		want: map[string][]Code{
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {HostDriver},
		},
		groups: map[int]string{1: "viable"},
		iommu:  true,
	}, {
		name: "chipset group: ISA bridge, SATA on ahci, audio",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(isaBridge, "", 9))
			tr.AddPCI(with(sata, "ahci", 9))
			tr.AddPCI(with(hda, "vfio-pci", 9))
		},
		want: map[string][]Code{
			"0000:00:1f.0": {no, ISABridge},
			"0000:00:1f.2": {HostDriver}, // the other endpoint is on vfio-pci
			"0000:00:1f.3": {no, GroupShared},
		},
		groups: map[int]string{9: "shared with 0000:00:1f.2 (ahci)"},
		iommu:  true,
	}, {
		name: "no iommu_groups",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(hostBridge)
			tr.AddPCI(with(rootPort, "pcieport", -1))
			tr.AddPCI(with(gpu, "vfio-pci", -1))
			tr.AddPCI(with(gpuAudio, "snd_hda_intel", -1))
		},
		want: map[string][]Code{
			"0000:00:00.0": {no, HostBridge},
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {no, NoIOMMU},
			"0000:01:00.1": {no, NoIOMMU, HostDriver},
		},
		groups: map[int]string{},
	}, {
		name: "one function outside the IOMMU's groups",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(rootPort)
			tr.AddPCI(with(gpu, "vfio-pci", 4))
			tr.AddPCI(with(gpuAudio, "vfio-pci", -1))
		},
		want: map[string][]Code{
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {},
			"0000:01:00.1": {no, NoIOMMU},
		},
		groups: map[int]string{4: "viable"},
		iommu:  true,
	}, {
		name: "a PF with two VFs",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igb", TotalVFs: 7, IOMMUGroup: new(5)})
			tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.0", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igbvf", IOMMUGroup: new(6)})
			tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.4", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "vfio-pci", IOMMUGroup: new(7)})
		},
		want: map[string][]Code{
			"0000:02:00.0": {HostDriver, SRIOVPF},
			"0000:02:10.0": {HostDriver, SRIOVVF},
			"0000:02:10.4": {SRIOVVF},
		},
		groups: map[int]string{5: "viable", 6: "viable", 7: "viable"},
		iommu:  true,
	}, {
		name: "bridges by class and by header type",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(rootPort, "pcieport", 1))
			// Class "other bridge", header type 1 in config: a bridge.
			tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1c.0", Vendor: 0x1b21, Device: 0x1080, Class: 0x068000, HeaderType: &one, Config: true, IOMMUGroup: new(2)})
			// Class "other bridge", header type 0: an endpoint.
			tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1c.1", Vendor: 0x8086, Device: 0x4e68, Class: 0x068000, Config: true, IOMMUGroup: new(3), Driver: "vfio-pci"})
		},
		want: map[string][]Code{
			"0000:00:01.0": {no, Bridge},
			"0000:00:1c.0": {no, Bridge},
			"0000:00:1c.1": {},
		},
		groups: map[int]string{1: "nothing", 2: "nothing", 3: "viable"},
		iommu:  true,
	}, {
		name: "reset_method empty, absent and set; boot_vga 1 and 0",
		build: func(tr *sysfstest.Host) {
			tr.AddPCI(with(rootPort, "pcieport", 1))
			f := with(gpu, "vfio-pci", 2)
			f.Raw = map[string]string{"reset_method": "\n"}
			f.BootVGA = new(false)
			tr.AddPCI(f)
			f = with(gpuAudio, "vfio-pci", 3) // no reset_method: an old kernel
			tr.AddPCI(f)
			f = with(hda, "vfio-pci", 4)
			f.ResetMethod = "flr bus"
			tr.AddPCI(f)
			f = sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, Driver: "i915", BootVGA: new(true), ResetMethod: "flr", IOMMUGroup: new(5)}
			tr.AddPCI(f)
		},
		want: map[string][]Code{
			"0000:00:01.0": {no, Bridge},
			"0000:01:00.0": {NoReset},
			"0000:01:00.1": {},
			"0000:00:1f.3": {},
			"0000:00:02.0": {HostDriver, BootVGA},
		},
		groups: map[int]string{1: "nothing", 2: "viable", 3: "viable", 4: "viable", 5: "viable"},
		iommu:  true,
	}, {
		name: "USB hubs, an unauthorized device, a device with usbhid and usb-storage",
		build: func(tr *sysfstest.Host) {
			tr.AddUSB(sysfstest.RootHub(1, "480"))
			tr.AddUSB(sysfstest.Hub(1, "1"))
			tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1.1", IDVendor: 0x1050, IDProduct: 0x0407, Unauthorized: true})
			tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1.2", IDVendor: 0x0781, IDProduct: 0x5581, Interfaces: []sysfstest.USBInterface{
				{Number: 0, Class: 0x03, Driver: "usbhid"}, {Number: 1, Class: 0x08, SubClass: 0x06, Protocol: 0x50, Driver: "usb-storage"}}})
			tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x0483, IDProduct: 0x2016, Interfaces: []sysfstest.USBInterface{{Class: 0xff}}})
			tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x05e3, IDProduct: 0x0610, DeviceClass: 0x09, MaxChild: 4, Unauthorized: true,
				Interfaces: []sysfstest.USBInterface{}})
		},
		want: map[string][]Code{
			"usb1":         {no, RootHub},
			"1-1":          {no, Hub},
			"1-1.1":        {no, Unauthorized},
			"1-1.2":        {HostDriver},
			"1-2":          {},
			"1-3":          {no, Hub},
			"0000:00:14.0": {no, NoIOMMU, HostDriver}, // the root hub's xHCI
		},
		groups: map[int]string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rep := assess(t, tc.build, Options{})
			got := codes(rep)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("codes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.groups, verdicts(rep)); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			if rep.IOMMU != tc.iommu {
				t.Errorf("IOMMU %v, want %v", rep.IOMMU, tc.iommu)
			}
			for _, cs := range got {
				for _, c := range cs {
					seen[c] = true
				}
			}
		})
	}
	seen[NoAccess] = true                                                // TestNoAccess
	seen[Unmanaged] = true                                               // cmd/hostdev-discover's TestCheckUnmanaged: only check -f gives it
	seen[NamedTwice] = true                                              // cmd/hostdev-discover's TestCheckNamedTwice: only check gives it
	seen[MdevParent], seen[MdevExhausted], seen[Busy] = true, true, true // TestMdevReadiness
	for _, c := range Codes() {
		if !seen[c] {
			t.Errorf("no tree produces %s", c)
		}
	}
}

// TestMessages checks that messages name what they are about and say what
// to do.
func TestMessages(t *testing.T) {
	rep := assess(t, func(tr *sysfstest.Host) {
		tr.AddPCI(hostBridge) // Intel, and no IOMMU
		tr.AddPCI(rootPort)
		tr.AddPCI(with(gpu, "nvidia", -1))
	}, Options{})
	v, _ := rep.Verdict("0000:01:00.0")
	want := map[Code][]string{
		NoIOMMU:    {"intel_iommu=on iommu=pt", "firmware"},
		HostDriver: {"host driver nvidia", "managed='yes'"},
	}
	checkMessages(t, v, want)
	if !slices.Contains(v.Reasons[1].Fix, "virsh nodedev-detach pci_0000_01_00_0") {
		t.Errorf("host-driver fix %q: no virsh nodedev-detach", v.Reasons[1].Fix)
	}

	rep = assess(t, func(tr *sysfstest.Host) {
		tr.AddPCI(with(isaBridge, "", 9))
		tr.AddPCI(with(sata, "ahci", 9))
		tr.AddPCI(with(hda, "snd_hda_intel", 9))
		tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igb", TotalVFs: 7, IOMMUGroup: new(5)})
		tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.0", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, IOMMUGroup: new(6)})
		tr.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.4", PhysFn: "0000:02:00.0", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, IOMMUGroup: new(7)})
		tr.AddUSB(sysfstest.RootHub(1, "480"))
		tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1050, IDProduct: 0x0407, Unauthorized: true})
		tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x0781, IDProduct: 0x5581, Interfaces: []sysfstest.USBInterface{
			{Number: 0, Class: 0x03, Driver: "usbhid"}, {Number: 1, Class: 0x08, Driver: "usb-storage"}}})
	}, Options{})
	for name, want := range map[string]map[Code][]string{
		"0000:00:1f.3": {GroupShared: {"IOMMU group 9 is shared with 0000:00:1f.2 (ahci).", "pcie_acs_override"}, HostDriver: {"snd_hda_intel"}},
		"0000:02:00.0": {HostDriver: {"igb"}, SRIOVPF: {"2 VFs (0000:02:10.0, 0000:02:10.4)"}},
		"0000:02:10.4": {SRIOVVF: {"virtual function of 0000:02:00.0"}},
		"usb1":         {RootHub: {"0000:00:14.0"}},
		"1-1":          {Unauthorized: {"USBGuard"}},
		"1-2":          {HostDriver: {"1-2:1.0 (usbhid), 1-2:1.1 (usb-storage)", "Unmount"}},
	} {
		v, _ := rep.Verdict(name)
		checkMessages(t, v, want)
	}
	v, _ = rep.Verdict("1-1")
	if !slices.Contains(v.Reasons[0].Fix, "echo 1 > /sys/bus/usb/devices/1-1/authorized") {
		t.Errorf("unauthorized fix %q", v.Reasons[0].Fix)
	}
}

func checkMessages(t *testing.T, v Verdict, want map[Code][]string) {
	t.Helper()
	if len(v.Reasons) != len(want) {
		t.Errorf("%s: reasons %v, want %d", v.Device.Name, v.Reasons, len(want))
	}
	for _, r := range v.Reasons {
		for _, s := range want[r.Code] {
			if !strings.Contains(r.Message, s) {
				t.Errorf("%s %s: message %q lacks %q", v.Device.Name, r.Code, r.Message, s)
			}
		}
	}
}

// TestNoAccess checks that devnodes are checked on the host only, and that
// a denied one blocks.
func TestNoAccess(t *testing.T) {
	build := func(tr *sysfstest.Host) {
		tr.AddUSB(sysfstest.RootHub(1, "480"))
		tr.AddUSB(sysfstest.Hub(1, "1"))
		tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", Devnum: 5, IDVendor: 0x0403, IDProduct: 0x6001})
		tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "3", Devnum: 6, IDVendor: 0x0483, IDProduct: 0x2016})
		tr.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "4", Devnum: 7, IDVendor: 0x046d, IDProduct: 0xc52b})
	}
	var asked []string
	access := func(p string) error {
		asked = append(asked, p)
		switch p {
		case "/dev/bus/usb/001/005":
			return unix.EACCES
		case "/dev/bus/usb/001/007":
			return &fs.PathError{Op: "access", Path: p, Err: unix.ENOENT}
		}
		return nil
	}
	t.Run("host", func(t *testing.T) {
		asked = nil
		root := t.TempDir()
		tr := sysfstest.NewHostAt(root)
		build(tr)
		if err := tr.Err(); err != nil {
			t.Fatal(err)
		}
		res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
		if err != nil {
			t.Fatal(err)
		}
		// The devices as scanned on "/": only USB, which reads nothing
		// more from the root than the IOMMU groups.
		var usb []discover.Device
		for _, d := range res.Devices {
			if d.USB != nil {
				usb = append(usb, d)
			}
		}
		rep, err := Assess(usb, Options{Root: "/", access: access})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]Code{
			"usb1": {no, RootHub},
			"1-1":  {no, Hub},
			"1-2":  {no, NoAccess},
			"1-3":  {},
			"1-4":  {no, NoAccess},
		}
		if diff := cmp.Diff(want, codes(rep)); diff != "" {
			t.Errorf("codes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"/dev/bus/usb/001/005", "/dev/bus/usb/001/006", "/dev/bus/usb/001/007"}, asked); diff != "" {
			t.Errorf("devnodes checked (-want +got):\n%s", diff)
		}
		v, _ := rep.Verdict("1-2")
		checkMessages(t, v, map[Code][]string{NoAccess: {"cannot open /dev/bus/usb/001/005 for reading and writing", "udev rule"}})
		v, _ = rep.Verdict("1-4")
		checkMessages(t, v, map[Code][]string{NoAccess: {"/dev/bus/usb/001/007 does not exist"}})
		if !errors.Is(&fs.PathError{Err: unix.ENOENT}, unix.ENOENT) {
			t.Fatal("errors.Is does not see through PathError")
		}
	})
	t.Run("captured tree", func(t *testing.T) {
		asked = nil
		rep := assess(t, build, Options{access: access})
		for name, cs := range codes(rep) {
			if slices.Contains(cs, NoAccess) {
				t.Errorf("%s: no-access on a tree that is not the host", name)
			}
		}
		if len(asked) > 0 {
			t.Errorf("devnodes checked for a captured tree: %v", asked)
		}
	})
}

// On an AMD host the advice is not amd_iommu=on, which the kernel does not
// take: the AMD IOMMU is on once the firmware enables it.
func TestNoIOMMUAdviceAMD(t *testing.T) {
	rep := assess(t, func(tr *sysfstest.Host) {
		tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x1022, Device: 0x1480, Class: 0x060000})
		tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:08.0", Vendor: 0x1002, Device: 0x1638, Class: 0x030000, Driver: "amdgpu"})
	}, Options{})
	if rep.Vendor != "amd" {
		t.Fatalf("vendor %q", rep.Vendor)
	}
	for _, v := range rep.Devices {
		for _, r := range v.Reasons {
			if r.Code != NoIOMMU {
				continue
			}
			text := r.Message + strings.Join(r.Fix, "\n")
			if strings.Contains(text, "amd_iommu=on iommu=pt") || !strings.Contains(text, "without amd_iommu=off") {
				t.Errorf("AMD advice: %s", text)
			}
			return
		}
	}
	t.Fatal("no no-iommu reason")
}

// What a review found: pcieport and the VFIO variant drivers do not keep
// a group from VFIO; a host bridge is no endpoint that a group is judged
// for; a function that does not answer config is no bridge; a garbled
// reset_method is a warning, not a method.
func TestReviewCases(t *testing.T) {
	rcec := sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x7a4f, Class: 0x080700}
	rep := assess(t, func(tr *sysfstest.Host) {
		tr.AddPCI(with(rcec, "pcieport", 1))
		tr.AddPCI(with(sysfstest.PCIFunction{Address: "0000:00:03.0", Vendor: 0x10de, Device: 0x1c82, Class: 0x030000}, "vfio-pci", 1))
		tr.AddPCI(with(sysfstest.PCIFunction{Address: "0000:00:04.0", Vendor: 0x1dd8, Device: 0x1003, Class: 0x020000}, "pds_vfio", 2))
		tr.AddPCI(with(sysfstest.PCIFunction{Address: "0000:00:04.1", Vendor: 0x1dd8, Device: 0x1003, Class: 0x020000}, "", 2))
		tr.AddPCI(with(hostBridge, "", 3))
		tr.AddPCI(with(sysfstest.PCIFunction{Address: "0000:00:05.0", Vendor: 0x10de, Device: 0x1c82, Class: 0x030000}, "nvidia", 3))
	}, Options{})
	if diff := cmp.Diff(map[int]string{1: "viable", 2: "viable", 3: "viable"}, verdicts(rep)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	for _, n := range []string{"0000:00:03.0", "0000:00:04.1", "0000:00:05.0"} {
		if v, _ := rep.Verdict(n); !v.Assignable {
			t.Errorf("%s: %+v", n, v.Reasons)
		}
	}

	root := t.TempDir()
	tr := sysfstest.NewHostAt(root)
	dead := byte(0x7f)
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1c.0", Vendor: 0x8086, Device: 0xa338, Class: 0x060400, HeaderType: &dead, Config: true})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300, ResetMethod: "flr",
		Raw: map[string]string{"reset_method": "fl\x01r zz!\n"}})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	for _, w := range res.Warnings {
		warned = append(warned, w.Error())
	}
	want := []string{
		`0000:00:1c.0: /sys/devices/pci0000:00/0000:00:1c.0/config: invalid value: header type 0x7f at 0x0e is not 0, 1 or 2`,
		`0000:00:1f.3: /sys/devices/pci0000:00/0000:00:1f.3/reset_method: invalid value: "fl\x01r zz!" is not a reset method's name`,
	}
	if diff := cmp.Diff(want, warned); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if len(res.Devices) != 2 || res.Devices[1].PCI.ResetMethod != nil {
		t.Errorf("devices %+v", res.Devices)
	}

	// A tree whose iommu_groups is a file: a warning, and the verdicts.
	bad := t.TempDir()
	btr := sysfstest.NewHostAt(bad)
	btr.AddPCI(with(sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300}, "", 4))
	if err := os.RemoveAll(filepath.Join(bad, "sys", "kernel", "iommu_groups")); err != nil {
		t.Fatal(err)
	}
	btr.WriteFile("sys/kernel/iommu_groups", "")
	res, err = discover.Scan(context.Background(), discover.Options{Root: bad, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	brep, err := Assess(res.Devices, Options{Root: bad})
	if err != nil || len(brep.Warnings) != 1 || !brep.IOMMU || len(brep.Devices) != 1 {
		t.Errorf("Assess on a broken iommu_groups: %v, %+v", err, brep)
	}
}

// Codes gives the caller its own slice: changing it changes nothing here.
func TestCodesIsACopy(t *testing.T) {
	cs := Codes()
	slices.Reverse(cs)
	if got := Codes(); got[0] != NoIOMMU || got[len(got)-1] != NoAccess {
		t.Errorf("changing what Codes returned changed the package's order: %v", got)
	}
	rs := []Reason{{Code: NoAccess}, {Code: NoIOMMU}}
	sortReasons(rs)
	if rs[0].Code != NoIOMMU {
		t.Errorf("sortReasons after a caller reversed Codes(): %v", rs)
	}
}
