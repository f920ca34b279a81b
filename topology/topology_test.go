package topology_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
	"github.com/hostdev/hostdev/topology"
)

// shape is a tree as nested names, with ports and blocking codes, for
// comparing whole trees.
func shape(t *topology.Tree) []string {
	var out []string
	t.Walk(func(n *topology.Node, depth int) bool {
		s := strings.Repeat("  ", depth) + n.Name
		if n.Port != 0 {
			s += fmt.Sprintf(" port=%d", n.Port)
		}
		if n.Device == nil {
			s += " (root bus)"
		}
		if cs := n.Blocking(); len(cs) > 0 {
			s += fmt.Sprint(" ", cs)
		}
		out = append(out, s)
		return true
	})
	return out
}

func build(t *testing.T, root string) *topology.Tree {
	t.Helper()
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return topology.Build(res.Devices, rep)
}

// exampleHost has a hub chain, an SR-IOV PF with two VFs behind a root
// port, an Intel VMD domain, and the xHCI controller sysfstest adds for
// the USB bus, each laid out as the kernel lays it out.
func exampleHost(t *testing.T) *sysfstest.Host {
	h := sysfstest.NewHost(t)
	h.Plug(sysfstest.RootHub(1, "480"))
	h.Plug(sysfstest.Hub(1, "2"))
	h.Plug(sysfstest.USBDevice{Bus: 1, Port: "2.4", IDVendor: 0x0781, IDProduct: 0x5581, Speed: "480",
		Serial: new("K1"), Interfaces: []sysfstest.USBInterface{{Class: 0x08, Driver: "usb-storage"}}})
	h.Plug(sysfstest.USBDevice{Bus: 1, Port: "2.1", IDVendor: 0x046d, IDProduct: 0xc077, Speed: "1.5",
		Interfaces: []sysfstest.USBInterface{{Class: 0x03, Driver: "usbhid"}}})
	h.Plug(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1050, IDProduct: 0x0407, Speed: "12", Unauthorized: true})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x4660, Class: 0x060000, IOMMUGroup: new(0)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x460d, Class: 0x060400, IOMMUGroup: new(1)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x8086, Device: 0x1572,
		Class: 0x020000, Driver: "i40e", TotalVFs: 4, IOMMUGroup: new(1)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:02.0", PhysFn: "0000:01:00.0", Vendor: 0x8086, Device: 0x154c,
		Class: 0x020000, Driver: "vfio-pci", IOMMUGroup: new(20)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:02.1", PhysFn: "0000:01:00.0", Vendor: 0x8086, Device: 0x154c,
		Class: 0x020000, Driver: "iavf", IOMMUGroup: new(21)})
	addVMD(t, h)
	return h
}

// addVMD adds an Intel VMD endpoint, 0000:00:0e.0, and behind it the
// domain it makes, 10000:e0, with a root port and an NVMe drive, where the
// kernel puts them: the VMD driver creates the root bus "pci10000:e0" as a
// child of the endpoint's device, so its functions live in
// .../0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0. The IOMMU
// sees only the endpoint (the domain's DMA carries its requester ID), so
// the functions behind it have no iommu_group of their own.
//
// sysfstest puts a function with a Parent straight in its parent's
// directory, so the functions are added there and moved into the root bus
// directory.
func addVMD(t *testing.T, h *sysfstest.Host) {
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:0e.0", Vendor: 0x8086, Device: 0x467f, Class: 0x010400,
		Driver: "vmd", IOMMUGroup: new(2)})
	h.AddPCI(sysfstest.PCIFunction{Address: "10000:e0:06.0", Parent: "0000:00:0e.0", Vendor: 0x8086, Device: 0x464d,
		Class: 0x060400, Driver: "pcieport"})
	h.AddPCI(sysfstest.PCIFunction{Address: "10000:e1:00.0", Parent: "10000:e0:06.0", Vendor: 0x144d, Device: 0xa80a,
		Class: 0x010802, Driver: "nvme"})
	ep := filepath.Join(h.Root(), "sys/devices/pci0000:00/0000:00:0e.0")
	if err := os.Mkdir(filepath.Join(ep, "pci10000:e0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(ep, "10000:e0:06.0"), filepath.Join(ep, "pci10000:e0/10000:e0:06.0")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"10000:e0:06.0", "10000:e0:06.0/10000:e1:00.0"} {
		link := "sys/bus/pci/devices/" + filepath.Base(f)
		if err := os.Remove(filepath.Join(h.Root(), link)); err != nil {
			t.Fatal(err)
		}
		h.Link(link, "sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/"+f)
	}
}

func TestBuild(t *testing.T) {
	got := shape(build(t, exampleHost(t).Root()))
	want := []string{
		"usb1 [root-hub]",
		"  1-1 port=1 [unauthorized]",
		"  1-2 port=2 [hub]",
		"    1-2.1 port=1",
		"    1-2.4 port=4",
		"0000:00 (root bus)",
		"  0000:00:00.0 [host-bridge]",
		"  0000:00:01.0 [bridge]",
		"    0000:01:00.0",
		"      0000:01:02.0",
		"      0000:01:02.1",
		"  0000:00:0e.0",
		"    10000:e0 (root bus)",
		"      10000:e0:06.0 [bridge]",
		"        10000:e1:00.0 [no-iommu]",
		"  0000:00:14.0 [no-iommu]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestLimit(t *testing.T) {
	tree := build(t, exampleHost(t).Root())
	var sels []match.Selector
	for _, s := range []string{"serial=K1", "address=0000:01:02.1", "vendor=144d"} {
		sel, err := match.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		sels = append(sels, sel)
	}
	got := shape(tree.Limit(sels))
	want := []string{
		"usb1 [root-hub]",
		"  1-2 port=2 [hub]",
		"    1-2.4 port=4",
		"0000:00 (root bus)",
		"  0000:00:01.0 [bridge]",
		"    0000:01:00.0",
		"      0000:01:02.1",
		"  0000:00:0e.0",
		"    10000:e0 (root bus)",
		"      10000:e0:06.0 [bridge]",
		"        10000:e1:00.0 [no-iommu]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("limited tree (-want +got):\n%s", diff)
	}
	if got := shape(tree.Limit(nil)); len(got) != 0 {
		t.Errorf("no selectors: got %q, want an empty tree", got)
	}
	// Limit copies: the whole tree is still whole.
	if n := len(shape(tree)); n != 16 {
		t.Errorf("after Limit the tree has %d nodes, want 16", n)
	}
}
