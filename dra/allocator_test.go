package dra

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/dynamic-resource-allocation/structured"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra/draattr"
	"github.com/hostdev/hostdev/sysfstest"
)

// The DeviceClasses the allocator tests use, as a cluster would define them.
// Each first picks a bus: an expression that reads an attribute a device
// lacks fails, and fails the whole allocation, and USB and PCI devices have
// different attributes.
var testClasses = map[string]string{
	// What the driver can prepare, by bus.
	"usb.hostdev.io": `device.attributes["hostdev.io"].busType == "usb" && device.attributes["hostdev.io"].preparable`,
	"pci.hostdev.io": `device.attributes["hostdev.io"].busType == "pci" && device.attributes["hostdev.io"].preparable`,
	// Stricter: PCI functions whose whole IOMMU group is free of host
	// drivers, as `hostdev-discover groups` calls viable.
	"viable-pci.hostdev.io": `device.attributes["hostdev.io"].busType == "pci" && device.attributes["hostdev.io"].iommuGroupViable`,
	// Everything the driver publishes, preparable or not.
	"any.hostdev.io": `true`,
}

type classes map[string]*resourceapi.DeviceClass

func (c classes) List() ([]*resourceapi.DeviceClass, error) {
	var out []*resourceapi.DeviceClass
	for _, dc := range c {
		out = append(out, dc)
	}
	return out, nil
}

func (c classes) Get(name string) (*resourceapi.DeviceClass, error) {
	if dc, ok := c[name]; ok {
		return dc, nil
	}
	return nil, fmt.Errorf("no DeviceClass %q", name)
}

func testClassLister() classes {
	c := classes{}
	for name, expr := range testClasses {
		c[name] = &resourceapi.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: resourceapi.DeviceClassSpec{Selectors: []resourceapi.DeviceSelector{
				{CEL: &resourceapi.CELDeviceSelector{Expression: `device.driver == "hostdev.io"`}},
				{CEL: &resourceapi.CELDeviceSelector{Expression: expr}},
			}}}
	}
	return c
}

type allocation struct {
	class, expr string
	tolerate    bool     // the request tolerates every taint
	taints      bool     // the allocator honours device taints
	allocated   []string // devices already allocated
	slices      []*resourceapi.ResourceSlice
	node        string
}

// allocate runs the scheduler's own allocator, with real CEL, on one claim
// with one request for one device, and returns the device it got, "" when
// none fits.
func allocate(t *testing.T, a allocation) (string, error) {
	t.Helper()
	ctx := context.Background()
	done := sets.New[structured.DeviceID]()
	for _, name := range a.allocated {
		done.Insert(structured.MakeDeviceID(DriverName, a.node, name))
	}
	alloc, err := structured.NewAllocator(ctx, structured.Features{DeviceTaints: a.taints},
		structured.AllocatedState{AllocatedDevices: done}, testClassLister(), a.slices, cel.NewCache(10, cel.Features{}))
	if err != nil {
		t.Fatal(err)
	}
	req := &resourceapi.ExactDeviceRequest{DeviceClassName: a.class,
		AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 1}
	if a.expr != "" {
		req.Selectors = []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: a.expr}}}
	}
	if a.tolerate {
		req.Tolerations = []resourceapi.DeviceToleration{{Operator: resourceapi.DeviceTolerationOpExists}}
	}
	claim := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim", Namespace: "default", UID: "0a0b0c0d"},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{
			Requests: []resourceapi.DeviceRequest{{Name: "dev", Exactly: req}}}},
	}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.node}}
	res, err := alloc.Allocate(ctx, node, []*resourceapi.ResourceClaim{claim})
	if err != nil || len(res) == 0 {
		return "", err
	}
	got := res[0].Devices.Results
	if len(got) != 1 || got[0].Driver != DriverName || got[0].Pool != a.node {
		t.Fatalf("allocation %+v, want one device of %s in pool %s", got, DriverName, a.node)
	}
	return got[0].Device, nil
}

func TestAllocator(t *testing.T) {
	const node = "node-1"
	inv := inventory(t, workstation(t).Root())
	slices := inv.Slices(node, 1)
	attr := func(name, op, value string) string {
		return fmt.Sprintf(`device.attributes["hostdev.io"].%s %s %s`, name, op, value)
	}
	for _, tc := range []struct {
		name string
		allocation
		want string
	}{
		// Two identical FTDI adapters: the serial picks one.
		{"serial picks the first twin", allocation{class: "usb.hostdev.io", expr: attr("serial", "==", `"A7022OOQ"`)},
			"usb-0403-6001-sn-a7022ooq"},
		{"serial picks the second twin", allocation{class: "usb.hostdev.io", expr: attr("serial", "==", `"A7022OOR"`)},
			"usb-0403-6001-sn-a7022oor"},
		{"vendor:product takes whichever is free", allocation{class: "usb.hostdev.io",
			expr:      attr("vendorID", "==", `"0403"`) + " && " + attr("productID", "==", `"6001"`),
			allocated: []string{"usb-0403-6001-sn-a7022ooq"}},
			"usb-0403-6001-sn-a7022oor"},
		{"the serial's twin is taken", allocation{class: "usb.hostdev.io", expr: attr("serial", "==", `"A7022OOQ"`),
			allocated: []string{"usb-0403-6001-sn-a7022ooq"}},
			""},
		{"bus and device number, as deckhouse publishes them", allocation{class: "usb.hostdev.io",
			expr: attr("bus", "==", `"001"`) + " && " + attr("deviceNumber", "==", `"004"`)},
			"usb-0403-6001-sn-a7022oor"},
		{"by port", allocation{class: "usb.hostdev.io", expr: attr("port", "==", `"2.4"`)},
			"usb-0781-5581-port-1-2-4"},
		{"the USBGuard-blocked key is not preparable", allocation{class: "usb.hostdev.io", expr: attr("serial", "==", `"12345678"`)},
			""},

		// 0000:03:00.0 shares its IOMMU group with 0000:04:00.0 on ahci, in
		// another slot: not preparable, tainted.
		{"a function of a non-viable group is never allocated", allocation{class: "pci.hostdev.io",
			expr: attr("vendorID", "==", `"10ec"`)}, ""},
		{"nor by the taint alone", allocation{class: "any.hostdev.io", taints: true,
			expr: attr("vendorID", "==", `"10ec"`)}, ""},
		{"without taints, only the class keeps it out", allocation{class: "any.hostdev.io",
			expr: attr("vendorID", "==", `"10ec"`)}, "pci-0000-03-00-0"},
		{"a request that tolerates the taint gets it", allocation{class: "any.hostdev.io", taints: true, tolerate: true,
			expr: attr("vendorID", "==", `"10ec"`)}, "pci-0000-03-00-0"},

		// The GPU's group holds its audio function on a host driver, in
		// its own slot: a prepare takes both, so it is preparable, but the
		// strict class refuses a group that is not viable as it is.
		{"the GPU, with its audio function", allocation{class: "pci.hostdev.io", taints: true,
			expr: attr("productID", "==", `"1e87"`)}, "pci-0000-01-00-0"},
		{"the GPU, by its PCI address", allocation{class: "pci.hostdev.io", taints: true,
			expr: `device.attributes["resource.kubernetes.io"].pciBusID == "0000:01:00.0"`}, "pci-0000-01-00-0"},
		{"not with a viable group required", allocation{class: "viable-pci.hostdev.io", taints: true,
			expr: attr("productID", "==", `"1e87"`)}, ""},
		{"the VF's group is viable", allocation{class: "viable-pci.hostdev.io", taints: true,
			expr: `device.attributes["hostdev.io"].?sriovPhysFn.orValue("") == "0000:05:00.0"`}, "pci-0000-05-10-0"},

		// Without a bus in the class, an optional attribute needs .? or
		// has(): PCI functions have no serial.
		{"optional serial over every device", allocation{class: "any.hostdev.io",
			expr: `device.attributes["hostdev.io"].?serial.orValue("") == "nothing has this"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.slices, tc.node = slices, node
			got, err := allocate(t, tc.allocation)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("allocated %q, want %q", got, tc.want)
			}
		})
	}

	// Why the classes pick a bus first: a device without the attribute
	// fails the expression, and the allocation with it.
	_, err := allocate(t, allocation{class: "any.hostdev.io", slices: slices, node: node,
		expr: attr("serial", "==", `"nothing has this"`)})
	if err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("serial over PCI functions too: %v, want a CEL runtime error", err)
	}
}

// TestAllocatorSplitPool: the allocator sees the whole pool across its
// slices, the last of which holds a tainted device.
func TestAllocatorSplitPool(t *testing.T) {
	const node = "node-1"
	inv := &Inventory{}
	for i := range 300 {
		serial := fmt.Sprintf("S%03d", i)
		d := resourceapi.Device{Name: fmt.Sprintf("usb-1234-5678-sn-s%03d", i), Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
			AttrBusType:    {StringValue: new("usb")},
			AttrSerial:     {StringValue: &serial},
			AttrPreparable: {BoolValue: new(i != 299)},
		}}
		if i == 299 {
			d.Taints = []resourceapi.DeviceTaint{{Key: "hostdev.io/unauthorized", Effect: resourceapi.DeviceTaintEffectNoSchedule}}
		}
		inv.Devices = append(inv.Devices, Device{API: d})
	}
	slices := inv.Slices(node, 3)
	if len(slices) != 4 {
		t.Fatalf("%d slices, want 4", len(slices))
	}
	for _, tc := range []struct{ serial, want string }{
		{"S000", "usb-1234-5678-sn-s000"},
		{"S200", "usb-1234-5678-sn-s200"},
		{"S298", "usb-1234-5678-sn-s298"},
		{"S299", ""},
	} {
		got, err := allocate(t, allocation{class: "usb.hostdev.io", slices: slices, node: node, taints: true,
			expr: fmt.Sprintf(`device.attributes["hostdev.io"].serial == %q`, tc.serial)})
		if err != nil || got != tc.want {
			t.Errorf("serial %s: %q, %v; want %q", tc.serial, got, err, tc.want)
		}
	}
	// A pool that lacks one of its slices is incomplete: nothing is
	// allocated from it.
	got, err := allocate(t, allocation{class: "usb.hostdev.io", slices: slices[:3], node: node,
		expr: `device.attributes["hostdev.io"].serial == "S000"`})
	if err != nil || got != "" {
		t.Errorf("from 3 slices of 4: %q, %v; want nothing", got, err)
	}
}

// TestAllocatorHostileSerials: a selector written with draattr (the value
// as the driver publishes it, as a CEL literal) picks each device by its
// serial, whatever the serial holds.
func TestAllocatorHostileSerials(t *testing.T) {
	const node = "node-1"
	serials := []string{`"quoted"`, `back\slash`, "K\x00\x1b[31m\nx\xff", "Ünïcödé-序列号", "a\u202eb",
		strings.Repeat("0123456789ABCDEFGHIJ", 10), strings.Repeat("0123456789ABCDEFGHIJ", 9) + "x", "ab", "AB"}
	h := sysfstest.NewHost(t)
	rh := sysfstest.RootHub(1, "480")
	rh.MaxChild = 15
	h.Plug(rh)
	for i, s := range serials {
		h.Plug(sysfstest.USBDevice{Bus: 1, Port: fmt.Sprint(i + 1), IDVendor: 0x1234, IDProduct: 0x5678, Serial: new(s)})
	}
	inv := inventory(t, h.Root())
	slices := inv.Slices(node, 1)
	for i, s := range serials {
		want, ok := bySource(inv, fmt.Sprintf("1-%d", i+1))
		if !ok {
			t.Fatalf("%q: not published", s)
		}
		expr := fmt.Sprintf(`device.attributes[%s].%s == %s`, draattr.CEL(draattr.DriverName), draattr.Serial, draattr.CEL(draattr.Value(s)))
		got, err := allocate(t, allocation{class: "usb.hostdev.io", slices: slices, node: node, expr: expr})
		if err != nil || got != want.API.Name {
			t.Errorf("%q with %s: %q, %v; want %q", s, expr, got, err, want.API.Name)
		}
	}
}

// draattr.Selector, what `hostdev-discover resolve --format cel` prints,
// picks each published device, through the real allocator, and nothing
// else: with that device taken, no other fits. Twins with one serial are
// told apart by port, a device without a serial too, and a PCI function
// by its address.
func TestSelectorPicksOne(t *testing.T) {
	const node = "node-1"
	h := sysfstest.NewHost(t)
	rh := sysfstest.RootHub(1, "480")
	rh.MaxChild = 8
	h.Plug(rh)
	for i, s := range []*string{new("TWIN"), new("TWIN"), new("K1"), nil, new("")} {
		h.Plug(sysfstest.USBDevice{Bus: 1, Port: fmt.Sprint(i + 1), IDVendor: 0x1234, IDProduct: 0x5678, Serial: s})
	}
	g := 1
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: &g})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: &g})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x22ba, Class: 0x040300, Driver: "vfio-pci", IOMMUGroup: &g})
	rep := assess(t, h.Root())
	inv := Build(rep)
	var all []discover.Device
	for _, v := range rep.Devices {
		all = append(all, v.Device)
	}
	slices := inv.Slices(node, 1)
	for _, d := range inv.Devices {
		expr := draattr.Selector(d.Source, all)
		got, err := allocate(t, allocation{class: "any.hostdev.io", slices: slices, node: node, expr: expr})
		if err != nil || got != d.API.Name {
			t.Errorf("%s: %s picks %q (%v), want %q", d.Source.Name, expr, got, err, d.API.Name)
		}
		got, err = allocate(t, allocation{class: "any.hostdev.io", slices: slices, node: node, expr: expr, allocated: []string{d.API.Name}})
		if err != nil || got != "" {
			t.Errorf("%s: with it taken, %s picks %q (%v), want nothing", d.Source.Name, expr, got, err)
		}
	}
	if len(inv.Devices) != 8 {
		t.Errorf("%d devices published, want 5 USB and 3 PCI (the root hub's controller too)", len(inv.Devices))
	}
}
