package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/sysfstest"
)

// readmeHost is a host on which every example of the README's dialect
// table names one device: a 0483:2016 at 1-4, the FTDI adapters at 1-2.1
// and 1-2.2 (devnum 3 and 4), a 3.2 on a USB 3 bus, and a GPU at
// 0000:01:00.0.
func readmeHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	g := 7
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Revision: 0x10, Driver: "xhci_hcd"})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Revision: 0xa1, Driver: "vfio-pci", IOMMUGroup: &g})
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.Hub(1, "2"))
	for _, port := range []string{"2.1", "2.2"} {
		tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0403, IDProduct: 0x6001, Speed: "12", Serial: new("A7022OO" + port[2:])})
	}
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "4", IDVendor: 0x0483, IDProduct: 0x2016, Speed: "12"})
	tree.AddUSB(sysfstest.RootHub(3, "5000"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 3, Port: "1", IDVendor: 0x0781, IDProduct: 0x5581, Speed: "5000"})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestREADMEQEMUExamples runs every example of the QEMU row of the
// README's dialect table: each must resolve, as the README promises.
func TestREADMEQEMUExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for l := range strings.Lines(string(readme)) {
		if strings.HasPrefix(l, "| QEMU |") {
			row = l
		}
	}
	examples := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(row, -1)
	if len(examples) < 8 {
		t.Fatalf("the README's QEMU row has %d examples:\n%s", len(examples), row)
	}
	root := readmeHost(t)
	for _, m := range examples {
		ex := m[1]
		args := []string{ex}
		if rest, ok := strings.CutPrefix(ex, "-- "); ok {
			args = append([]string{"--"}, strings.Fields(rest)...)
		}
		code, out, errs := hostdev(t, append([]string{"resolve", "-n", "--root", root}, args...)...)
		if code != 0 || out == "" {
			t.Errorf("README example %s: exit %d\n%s%s", ex, code, out, errs)
		}
	}
}
