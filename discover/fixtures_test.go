package discover

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtureWant is what a correct scan of each testdata/sysfs tree lists,
// written from the trees' own headers (revisions from their revision files).
var fixtureWant = map[string][]string{
	"usb-basic": {
		`usb usb1 1.1 port=0 1d6b:0002 class=09 parent=- serial="0000:00:14.0" if=1-0:1.0/09/hub`,
		`usb 1-1 1.2 port=1 05e3:0610 class=09 parent=usb1 if=1-1:1.0/09/hub`,
		`usb 1-1.1 1.3 port=1.1 05e3:0610 class=09 parent=1-1 if=1-1.1:1.0/09/hub`,
		`usb 1-1.1.1 1.5 port=1.1.1 1a86:7523 class=ff parent=1-1.1 if=1-1.1.1:1.0/ff/ch341`,
		`usb 1-1.1.2 1.4 port=1.1.2 0bda:5411 class=09 parent=1-1.1 if=1-1.1.2:1.0/09/hub`,
		`usb 1-1.1.2.3 1.7 port=1.1.2.3 0403:6001 class=00 parent=1-1.1.2 serial="A10K3QKF" if=1-1.1.2.3:1.0/ff/ftdi_sio`,
		`usb 1-1.1.3 1.6 port=1.1.3 1a86:7523 class=ff parent=1-1.1 if=1-1.1.3:1.0/ff/ch341`,
		`usb 1-2 1.8 port=2 1050:0407 class=00 parent=usb1 serial="12345678" if=1-2:1.0/03/usbhid,1-2:1.1/03/usbhid,1-2:1.2/0b/-`,
		`usb 1-3 1.9 port=3 1050:0407 class=00 parent=usb1 serial="23456789" if=1-3:1.0/03/usbhid,1-3:1.1/03/usbhid,1-3:1.2/0b/-`,
		`usb 1-4 1.10 port=4 046d:0825 class=ef parent=usb1 serial="5A8C1E20" if=1-4:1.0/0e/uvcvideo,1-4:1.1/0e/uvcvideo,1-4:1.2/01/snd-usb-audio,1-4:1.3/01/-`,
		`usb 1-5 1.11 port=5 1209:0001 class=00 parent=usb1 serial="" if=1-5:1.0/ff/-`,
		`usb 1-6 1.12 port=6 04d9:1603 class=00 parent=usb1 if=1-6:1.0/03/usbhid`,
		`usb usb2 2.1 port=0 1d6b:0003 class=09 parent=- serial="0000:00:14.0" if=2-0:1.0/09/hub`,
		`usb 2-1 2.2 port=1 0781:5581 class=00 parent=usb2 serial="4C530001230921103052" if=2-1:1.0/08/usb-storage`,
		`pci 0000:00:14.0 8086:a36d class=0c0330 rev=10 driver=xhci_hcd iommu=- parent=-`,
	},
	"usb-defects": {
		`usb usb1 1.1 port=0 1d6b:0002 class=09 parent=- serial="0000:00:14.0" if=1-0:1.0/09/hub`,
		// idVendor is broken: listed, with vendor 0 and a warning.
		`usb 1-1 1.2 port=1 0000:1666 class=00 parent=usb1 serial="E0D55EA574B5F3A0C9870F27" if=1-1:1.0/08/usb-storage`,
		`usb 1-3 1.3 port=3 046d:c52b class=00 parent=usb1 if=1-3:1.0/03/usbhid,1-3:1.1/03/usbhid,1-3:1.2/03/usbhid`,
		`pci 0000:00:14.0 8086:a36d class=0c0330 rev=10 driver=xhci_hcd iommu=- parent=-`,
	},
	"usb-oldkernel": {
		`usb usb1 1.1 port=0 1d6b:0002 class=09 parent=- serial="0000:00:1d.7" if=1-0:1.0/09/hub`,
		`usb 1-1 1.2 port=1 05e3:0608 class=09 parent=usb1 if=1-1:1.0/09/hub`,
		`usb 1-1.2 1.3 port=1.2 0781:5406 class=00 parent=1-1 serial="0774910BAA01ACB2" if=1-1.2:1.0/08/usb-storage`,
		`usb 1-3 1.4 port=3 0bda:0158 class=00 parent=usb1 serial="20071114173400000" if=1-3:1.0/08/usb-storage`,
		`usb usb2 2.1 port=0 1d6b:0001 class=09 parent=- serial="0000:00:1d.0" if=2-0:1.0/09/hub`,
		`usb 2-1 2.2 port=1 046d:c016 class=00 parent=usb2 if=2-1:1.0/03/usbhid`,
		`pci 0000:00:1d.0 8086:2934 class=0c0300 rev=03 driver=uhci_hcd iommu=- parent=-`,
		`pci 0000:00:1d.7 8086:293a class=0c0320 rev=03 driver=ehci_hcd iommu=- parent=-`,
	},
	"pci-basic": {
		`pci 0000:00:00.0 8086:3e0f class=060000 rev=08 driver=- iommu=0 parent=-`,
		`pci 0000:00:01.0 8086:1901 class=060400 rev=07 driver=pcieport iommu=1 parent=-`,
		`pci 0000:00:02.0 8086:3e92 class=030000 rev=00 driver=i915 iommu=3 parent=-`,
		`pci 0000:00:14.0 8086:a36d class=0c0330 rev=10 driver=xhci_hcd iommu=4 parent=-`,
		`pci 0000:00:16.0 8086:a360 class=078000 rev=10 driver=mei_me iommu=5 parent=-`,
		`pci 0000:00:1c.0 8086:a33c class=060400 rev=f0 driver=pcieport iommu=6 parent=-`,
		`pci 0000:00:1f.0 8086:a306 class=060100 rev=10 driver=lpc_ich iommu=10 parent=-`,
		`pci 0000:00:1f.3 8086:a348 class=040300 rev=10 driver=snd_hda_intel iommu=10 parent=-`,
		`pci 0000:00:1f.4 8086:a323 class=0c0500 rev=- driver=i801_smbus iommu=10 parent=-`,
		`pci 0000:00:1f.5 8086:a324 class=0c8000 rev=10 driver=- iommu=10 parent=-`,
		`pci 0000:01:00.0 10de:1e87 class=030000 rev=a1 driver=nouveau iommu=2 parent=0000:00:01.0`,
		`pci 0000:01:00.1 10de:10f8 class=040300 rev=a1 driver=snd_hda_intel iommu=2 parent=0000:00:01.0`,
		`pci 0000:02:00.0 8086:1521 class=020000 rev=01 driver=igb iommu=7 parent=0000:00:1c.0 vfs=0000:02:10.0,0000:02:10.4`,
		`pci 0000:02:10.0 8086:1520 class=020000 rev=01 driver=igbvf iommu=8 parent=0000:00:1c.0 pf=0000:02:00.0`,
		`pci 0000:02:10.4 8086:1520 class=020000 rev=01 driver=vfio-pci iommu=9 parent=0000:00:1c.0 pf=0000:02:00.0`,
		`pci 10000:00:00.0 144d:a808 class=010802 rev=00 driver=nvme iommu=11 parent=-`,
	},
}

// fixtureWarnings: the files each tree's warnings must name, and the error
// each must wrap (nil: any).
var fixtureWarnings = map[string]map[string]error{
	"usb-basic": {},
	"usb-defects": {
		"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/idVendor": sysfs.ErrInvalid,
		"/sys/bus/usb/devices/1-2":                               sysfs.ErrDangling,
		"/sys/bus/usb/devices/1-4":                               nil, // a loop
	},
	"usb-oldkernel": {},
	"pci-basic": {
		"/sys/devices/pci0000:00/0000:00:16.0/modalias": sysfs.ErrInvalid,
		"/sys/devices/pci0000:00/0000:00:1f.4/modalias": nil, // missing
		"/sys/devices/pci0000:00/0000:00:1f.5/modalias": sysfs.ErrInvalid,
	},
}

// TestFixtures scans each of our fake trees, checks the devices and
// warnings against what the tree's header says, and compares the whole JSON
// with a golden file (go test -update rewrites it).
func TestFixtures(t *testing.T) {
	archives, _ := filepath.Glob("../testdata/sysfs/*.txtar")
	if len(archives) != len(fixtureWant) {
		t.Errorf("%d trees in testdata/sysfs, %d in fixtureWant", len(archives), len(fixtureWant))
	}
	for _, a := range archives {
		name := strings.TrimSuffix(filepath.Base(a), ".txtar")
		t.Run(name, func(t *testing.T) {
			root := sysfstest.Unpack(t, a)
			res, err := Scan(context.Background(), Options{Root: root, Numeric: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range res.Devices {
				got = append(got, summary(d))
			}
			if diff := cmp.Diff(fixtureWant[name], got); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
			wantW := fixtureWarnings[name]
			gotW := map[string]bool{}
			for _, w := range res.Warnings {
				gotW[w.Path] = true
				want, ok := wantW[w.Path]
				if !ok {
					t.Errorf("unexpected warning: %v", w)
				} else if want != nil && !errors.Is(w, want) {
					t.Errorf("warning %v: want it to wrap %v", w, want)
				}
			}
			for p := range wantW {
				if !gotW[p] {
					t.Errorf("no warning for %s", p)
				}
			}
			out, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", name+".json"), string(out)+"\n", *update)
		})
	}
}

// Every device read back from its JSON is the device that was written.
func TestJSONRoundTrip(t *testing.T) {
	for _, a := range []string{"usb-basic", "pci-basic"} {
		root := sysfstest.Unpack(t, "../testdata/sysfs/"+a+".txtar")
		res, err := Scan(context.Background(), Options{Root: root, Numeric: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Devices {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back Device
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if diff := cmp.Diff(d, back); diff != "" {
				t.Errorf("%s: round trip (-scanned +read back):\n%s", d.Name, diff)
			}
		}
	}
}

// Scan orders numerically: bus 2 before bus 10, port 1.2 before 1.10,
// domain ffff before 10000.
func TestScanOrder(t *testing.T) {
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	tree.AddPCI(sysfstest.PCIFunction{Address: "10000:00:00.0", Vendor: 0x8086, Device: 0x1237, Class: 0x060000})
	tree.AddPCI(sysfstest.PCIFunction{Address: "ffff:00:00.0", Vendor: 0x8086, Device: 0x1237, Class: 0x060000})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0xa306, Class: 0x060100})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000})
	for _, bus := range []int{10, 2} {
		hub := sysfstest.RootHub(bus, "480")
		hub.MaxChild = 12
		tree.AddUSB(hub)
		h := sysfstest.Hub(bus, "1")
		h.MaxChild = 12
		tree.AddUSB(h)
	}
	for _, port := range []string{"1.10", "1.2", "10", "9"} {
		tree.AddUSB(sysfstest.USBDevice{Bus: 2, Port: port, IDVendor: 0x0403, IDProduct: 0x6001})
	}
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(context.Background(), Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range res.Devices {
		got = append(got, d.Name)
	}
	want := []string{"usb2", "2-1", "2-1.2", "2-1.10", "2-9", "2-10", "usb10", "10-1",
		"0000:00:02.0", "0000:00:14.0", "0000:00:1f.0", "ffff:00:00.0", "10000:00:00.0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// The readiness attributes survive the round trip too, "absent" and
// "empty" reset_method apart.
func TestJSONRoundTripReadiness(t *testing.T) {
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Config: true})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, ResetMethod: "flr", BootVGA: new(true)})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:03.0", Vendor: 0x1002, Device: 0x67df, Class: 0x030000, Raw: map[string]string{"reset_method": "\n"}})
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1050, IDProduct: 0x0407, Unauthorized: true})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(context.Background(), Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range res.Devices {
		switch {
		case d.USB != nil && d.USB.Unauthorized,
			d.PCI != nil && (d.PCI.HeaderType != nil || d.PCI.ResetMethod != nil):
			seen++
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Device
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if diff := cmp.Diff(d, back); diff != "" {
			t.Errorf("%s: round trip (-scanned +read back):\n%s", d.Name, diff)
		}
	}
	if seen != 4 {
		t.Errorf("%d devices carry the attributes, want 4", seen)
	}
	// JSON written before "authorized" existed reads back as authorized.
	var old Device
	if err := json.Unmarshal([]byte(`{"bus":"usb","name":"1-1","vendor_id":"1050","product_id":"0407","busnum":1,"devnum":2}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.USB.Unauthorized {
		t.Error("old JSON without authorized read back as unauthorized")
	}
}
