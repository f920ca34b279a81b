package discover

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

// TestReadinessAttributes checks the files that say whether a function or
// device can be passed through: reset_method, boot_vga, the header type in
// config, and USB authorized.
func TestReadinessAttributes(t *testing.T) {
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	one, cardbus := byte(1), byte(2)
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", Config: true})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000, Driver: "i915", ResetMethod: "flr  bus", BootVGA: new(true), Config: true})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:03.0", Vendor: 0x1002, Device: 0x67df, Class: 0x030000, BootVGA: new(false), Raw: map[string]string{"reset_method": "\n"}})
	// A bridge whose class says "other bridge", and its header type 1.
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:04.0", Vendor: 0x1b21, Device: 0x1080, Class: 0x068000, HeaderType: &one, Config: true})
	// A CardBus bridge whose power is off: config is not read.
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:05.0", Vendor: 0x1180, Device: 0x0476, Class: 0x060700, HeaderType: &cardbus, Config: true,
		Raw: map[string]string{"power_state": "D3cold\n"}})
	// A host bridge without config, as in every shared corpus.
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x3e30, Class: 0x060000})
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1050, IDProduct: 0x0407, Unauthorized: true})
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x046d, IDProduct: 0xc52b, Omit: []string{"authorized"}})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	fsys := openFS(t, root)
	fns, warns, err := pciFunctions(context.Background(), fsys)
	if err != nil || len(warns) > 0 {
		t.Fatalf("PCIFunctions: %v, warnings %v", err, warns)
	}
	type pciAttrs struct {
		Name        string
		ResetMethod *string
		BootVGA     bool
		HeaderType  *uint8
	}
	var got []pciAttrs
	for _, f := range fns {
		got = append(got, pciAttrs{f.Name, f.PCI.ResetMethod, f.PCI.BootVGA, f.PCI.HeaderType})
	}
	want := []pciAttrs{
		{Name: "0000:00:00.0"},
		{Name: "0000:00:01.0", HeaderType: new(uint8(1))},
		{Name: "0000:00:02.0", ResetMethod: new("flr bus"), BootVGA: true},
		{Name: "0000:00:03.0", ResetMethod: new("")},
		{Name: "0000:00:04.0", HeaderType: new(uint8(1))},
		{Name: "0000:00:05.0"},
		{Name: "0000:00:14.0"}, // the xHCI AddUSB adds
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PCI (-want +got):\n%s", diff)
	}

	devs, warns, err := usbDevices(context.Background(), fsys)
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	unauthorized := map[string]bool{}
	for _, d := range devs {
		unauthorized[d.Name] = d.USB.Unauthorized
	}
	if diff := cmp.Diff(map[string]bool{"usb1": false, "1-1": true, "1-2": false}, unauthorized); diff != "" {
		t.Errorf("Unauthorized (-want +got):\n%s", diff)
	}
}

// TestReadinessAttributeDefects checks that bad values are warnings naming
// the file, and leave the field at its safe value.
func TestReadinessAttributeDefects(t *testing.T) {
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400,
		Raw: map[string]string{"config": "\x86\x80\x01\x19", "boot_vga": "yes\n"}})
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1050, IDProduct: 0x0407, Raw: map[string]string{"authorized": "2\n"}})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	fsys := openFS(t, root)
	fns, pw, err := pciFunctions(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	devs, uw, err := usbDevices(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range append(pw, uw...) {
		if !errors.Is(w, sysfs.ErrInvalid) {
			t.Errorf("%v: not ErrInvalid", w)
		}
		got = append(got, w.Error())
	}
	want := []string{
		`0000:00:01.0: /sys/devices/pci0000:00/0000:00:01.0/boot_vga: invalid value: "yes" is not 0 or 1`,
		`0000:00:01.0: /sys/devices/pci0000:00/0000:00:01.0/config: invalid value: 4 bytes, too short for the header type at 0x0e`,
		`1-1: /sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/authorized: invalid value: "2" is not 0 or 1`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if fns[0].PCI.BootVGA || fns[0].PCI.HeaderType != nil {
		t.Errorf("%+v: bad values were used", fns[0])
	}
	for _, d := range devs {
		if d.USB.Unauthorized {
			t.Errorf("%s: authorized 2 taken as 0", d.Name)
		}
	}
}
