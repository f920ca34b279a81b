package hypervisor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/sysfstest"
)

// A libvirt <hostdev> and a QEMU usb-host option that name a vendor and
// product, on a host with two such sticks: the ambiguity says, in each
// config's own terms, what picks one.
func ExampleRef_Resolve() {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)
	h.Plug(sysfstest.RootHub(1, "480"))
	stick := sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0781, IDProduct: 0x5581, Serial: new("K1")}
	h.Plug(stick)
	stick.Port, stick.Serial = "2", new("K2")
	h.Plug(stick)
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	res, err := discover.Scan(context.Background(), discover.Options{Root: h.Root(), Numeric: true})
	if err != nil {
		log.Fatal(err)
	}

	for _, ref := range []string{
		"<hostdev mode='subsystem' type='usb'><source><vendor id='0x0781'/><product id='0x5581'/></source></hostdev>",
		"-device usb-host,vendorid=0x0781,productid=0x5581",
	} {
		refs, err := hypervisor.ParseSelector(ref)
		if err != nil {
			log.Fatal(err) // a *hypervisor.Error, or a *match.ParseError
		}
		_, _, err = refs[0].Resolve(res.Devices)
		var amb *hypervisor.AmbiguousError
		if errors.As(err, &amb) {
			fmt.Println(amb.Ref.Dialect, amb.Picks)
			var m *match.AmbiguousError // the same ambiguity, in hostdev's terms
			if errors.As(err, &m) {
				fmt.Println(len(m.Candidates), "candidates")
			}
			fmt.Println(err)
		}
	}
	// Output:
	// libvirt [<address bus='1' device='2'/> <address bus='1' device='3'/>]
	// 2 candidates
	// 2 devices match 0781:5581; add serial=K1 or serial=K2
	// hint: libvirt cannot select by serial; to pick one now, add <address bus='1' device='2'/> or <address bus='1' device='3'/> to <source> (hostdev fill keeps it current only while vendor and product are unique)
	// qemu [hostbus=1,hostport=1 hostbus=1,hostport=2]
	// 2 candidates
	// 2 devices match 0781:5581; add serial=K1 or serial=K2
	// hint: QEMU's usb-host cannot select by serial; to pick by port, use hostbus=1,hostport=1 or hostbus=1,hostport=2
}

// A QEMU command line as the shell splits it: each option is read with
// its value, and only the host devices are taken.
func ExampleQEMUArgs() {
	refs, err := hypervisor.QEMUArgs([]string{
		"qemu-system-x86_64", "-machine", "q35", "-m", "4G", "-name", "usb-host",
		"-device", "qemu-xhci,id=xhci",
		"-device", "usb-host,bus=xhci.0,vendorid=0x0483,productid=0x2016,bootindex=1",
		"-device", `{"driver":"vfio-pci","host":"0000:01:00.0","x-vga":true}`,
		"-usbdevice", "host:3.2",
	})
	if err != nil {
		log.Fatal(err) // a *hypervisor.Error
	}
	for _, r := range refs {
		fmt.Println(r.Selector)
	}
	// Output:
	// bus=usb,vendor=0483,product=2016
	// bus=pci,address=0000:01:00.0
	// bus=usb,busnum=3,devnum=2
}
