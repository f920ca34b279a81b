package hypervisor_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/sysfstest"
)

// A Proxmox VE VM config whose USB device is a cluster resource mapping:
// the mapping's path names the device on this node, and its id checks
// that the device there is still the one mapped.
func ExampleProxmoxMappings_Apply() {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)
	h.Plug(sysfstest.RootHub(1, "480"))
	key := sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1050, IDProduct: 0x0407, Serial: new("K1")}
	h.Plug(key)
	key.Port, key.Serial = "2", new("K2")
	h.Plug(key)
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	res, err := discover.Scan(context.Background(), discover.Options{Root: h.Root(), Numeric: true})
	if err != nil {
		log.Fatal(err)
	}

	conf := "boot: order=scsi0\nusb0: mapping=yubikey\nvmgenid: 54d1c06c\n"
	usbCfg := "yubikey\n\tmap id=1050:0407,node=pve1,path=1-2\n\tmap id=1050:0407,node=pve2,path=3-1\n"

	refs, dialect, err := hypervisor.Refs([]byte(conf))
	if err != nil {
		log.Fatal(err)
	}
	maps := &hypervisor.ProxmoxMappings{Node: "pve1"}
	if err := maps.Add("/etc/pve/mapping/usb.cfg", []byte(usbCfg)); err != nil {
		log.Fatal(err)
	}
	for _, r := range maps.Apply(refs) {
		devs, _, err := r.Resolve(res.Devices)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s line %d: %s -> %s (serial %s)\n", dialect, r.Line, r.Text, devs[0].Name, *devs[0].USB.Serial)
	}
	// Output:
	// proxmox line 2: usb0: mapping=yubikey -> 1-2 (serial K2)
}
