package topology_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
	"github.com/hostdev/hostdev/topology"
)

// A host's USB tree, limited to one device and the hubs above it, each
// node with what keeps it from a VM.
func Example() {
	root, err := os.MkdirTemp("", "topology")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)
	h.AddUSB(sysfstest.RootHub(1, "480"))
	h.AddUSB(sysfstest.Hub(1, "2"))
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2.3", IDVendor: 0x0781, IDProduct: 0x5581, Serial: new("K1")})
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "4", IDVendor: 0x046d, IDProduct: 0xc077})
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}

	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true, Buses: []discover.Bus{discover.BusUSB}})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	sel, err := match.Parse("serial=K1")
	if err != nil {
		log.Fatal(err)
	}
	t := topology.Build(res.Devices, rep).Limit([]match.Selector{sel})
	t.Walk(func(n *topology.Node, depth int) bool {
		fmt.Printf("%s%s port %d %v\n", strings.Repeat("  ", depth), n.Name, n.Port, n.Blocking())
		return true
	})
	// Output:
	// usb1 port 0 [root-hub]
	//   1-2 port 2 [hub]
	//     1-2.3 port 3 []
}
