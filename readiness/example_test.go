package readiness_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

// Judge one PCI function: a GPU whose IOMMU group also holds its audio
// function, still bound to a host driver, and an unrelated network card
// alone in its group.
func ExampleAssess() {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x2684,
		Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: new(14), ResetMethod: "flr bus"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Vendor: 0x10de, Device: 0x22ba,
		Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: new(14), ResetMethod: "flr"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:02:00.0", Vendor: 0x8086, Device: 0x1533,
		Class: 0x020000, Driver: "vfio-pci", IOMMUGroup: new(15), ResetMethod: "flr"})
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}

	// Assess needs the whole scan: a group's other members decide.
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"0000:01:00.0", "0000:02:00.0"} {
		v, _ := rep.Verdict(name)
		fmt.Println(name, "assignable:", v.Assignable)
		for _, r := range v.Reasons {
			fmt.Printf("  %s: fix with %q\n", r.Code, r.Fix)
		}
	}
	for _, g := range rep.Groups {
		fmt.Println("group", g.Number, "viable:", g.Viable())
	}
	// Output:
	// 0000:01:00.0 assignable: false
	//   group-shared: fix with ["virsh nodedev-detach pci_0000_01_00_1   # or assign it to the same VM"]
	// 0000:02:00.0 assignable: true
	// group 14 viable: false
	// group 15 viable: true
}
