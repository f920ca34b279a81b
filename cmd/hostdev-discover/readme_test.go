package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/sysfstest"
)

// readmeHost is a host on which every example of the README's dialect
// table names what it means: on bus 1 a hub at 1-2 with FTDI adapters at
// 1-2.1 and 1-2.2 (devnum 3 and 4), a 0483:2016 at 1-4, a QEMU tablet
// 0627:0001 at 1-1 and an FTDI with serial A10K3QKF at 1-3 (devnum 8); a
// USB 3 bus 3 with a disk at 3-1 (devnum 2); a GPU at 0000:01:00.0, an
// SR-IOV VF at 0000:02:10.4 in IOMMU group 2, the chipset's slot 00:1f
// (ISA bridge and audio); and an instance of the mtty sample's mediated
// device type.
func readmeHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Revision: 0x10, Driver: "xhci_hcd", IOMMUGroup: new(5)})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.0", Vendor: 0x8086, Device: 0xa306, Class: 0x060100, IOMMUGroup: new(9)})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: new(9)})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Revision: 0xa1, Driver: "vfio-pci", IOMMUGroup: new(7)})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:02:10.4", Vendor: 0x8086, Device: 0x1520, Class: 0x020000, Driver: "igbvf", IOMMUGroup: new(2)})
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.Hub(1, "2"))
	for _, port := range []string{"2.1", "2.2"} {
		tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0403, IDProduct: 0x6001, Speed: "12", Serial: new("A7022OO" + port[2:])})
	}
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "4", IDVendor: 0x0483, IDProduct: 0x2016, Speed: "12"})
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0627, IDProduct: 0x0001, Speed: "480"})
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "3", Devnum: 8, IDVendor: 0x0403, IDProduct: 0x6001, Speed: "12", Serial: new("A10K3QKF")})
	tree.AddUSB(sysfstest.RootHub(3, "5000"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 3, Port: "1", IDVendor: 0x0781, IDProduct: 0x5581, Speed: "5000"})
	tree.AddMdevType(sysfstest.MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-2", Name: "Dual port serial", AvailableInstances: 12})
	tree.AddMdev(sysfstest.Mdev{UUID: "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", Parent: "sys/devices/virtual/mtty/mtty", Type: "mtty-2", Driver: "mtty", IOMMUGroup: new(13)})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	return root
}

// readmeProse are the words in backquotes in the README's dialect table
// that are prose around the examples, not examples.
var readmeProse = map[string]bool{"devices:": true, "incus config show": true, "-f": true}

// TestREADMEDialectTable runs every example of every row of the README's
// dialect table through resolve, as a user would type it (an example that
// starts with -- as the shell splits it, any other as one quoted
// argument): each must name a device of readmeHost, as the README
// promises.
func TestREADMEDialectTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "| dialect | examples |\n|---|---|\n")
	if !ok {
		t.Fatal("README has no dialect table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	root := readmeHost(t)
	rows := 0
	for row := range strings.Lines(table) {
		cells := strings.Split(row, " | ")
		if len(cells) != 2 {
			t.Fatalf("dialect table row %q", row)
		}
		rows++
		name := strings.TrimPrefix(cells[0], "| ")
		n := 0
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			ex := m[1]
			if readmeProse[ex] {
				continue
			}
			n++
			args := []string{ex}
			if rest, ok := strings.CutPrefix(ex, "-- "); ok {
				args = append([]string{"--"}, strings.Fields(rest)...)
			}
			code, out, errs := hostdev(t, append([]string{"resolve", "-n", "--root", root}, args...)...)
			if code != 0 || out == "" {
				t.Errorf("%s: README example %s: exit %d\n%s%s", name, ex, code, out, errs)
			}
		}
		if n == 0 {
			t.Errorf("%s: the row has no example", name)
		}
	}
	if rows < 11 {
		t.Errorf("the dialect table has %d rows; it lists every dialect", rows)
	}
}
