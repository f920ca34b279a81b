package sysfstest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfstest"
)

// A host with two identical USB sticks behind a hub, told apart by their
// serials, and a GPU with its HD audio function in one IOMMU group, as
// discover.Scan reads it. In a test, NewHost(t) does the first lines:
// the root is in t.TempDir() and a failure ends the test.
func Example() {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)

	h.Plug(sysfstest.RootHub(1, "480")) // and its xHCI, 0000:00:14.0
	h.Plug(sysfstest.Hub(1, "2"))
	stick := sysfstest.USBDevice{Bus: 1, Port: "2.1", IDVendor: 0x0781, IDProduct: 0x5581,
		Product: new("Ultra"), Serial: new("4C530001"),
		Interfaces: []sysfstest.USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, Driver: "usb-storage"}}}
	h.Plug(stick)
	stick.Port, stick.Serial = "2.3", new("4C530002")
	h.Plug(stick)

	group := new(14)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x1e87,
		Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: group})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Vendor: 0x10de, Device: 0x10f8,
		Class: 0x040300, Driver: "vfio-pci", IOMMUGroup: group})
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}

	res, err := discover.Scan(context.Background(), discover.Options{Root: h.Root(), Numeric: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range res.Devices {
		if d.USB != nil {
			serial := "(no serial)"
			if s := d.USB.Serial; s != nil {
				serial = strconv.Quote(*s)
			}
			fmt.Printf("%-12s %s:%s %s\n", d.Name, d.VendorID, d.ProductID, serial)
		} else {
			fmt.Printf("%-12s %s:%s\n", d.Name, d.VendorID, d.ProductID)
		}
	}
	// Output:
	// usb1         1d6b:0002 "0000:00:14.0"
	// 1-2          05e3:0610 (no serial)
	// 1-2.1        0781:5581 "4C530001"
	// 1-2.3        0781:5581 "4C530002"
	// 0000:00:14.0 8086:a36d
	// 0000:01:00.0 10de:1e87
	// 0000:01:00.1 10de:10f8
}

// A consumer of discover.Watch, tested on a fake host: plugging a device
// makes its node in /dev/bus/usb last, as the kernel does, which is what
// the watcher waits for; unplugging removes it.
func Example_watch() {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	h := sysfstest.NewHostAt(root)
	h.CharLinks = true
	h.Plug(sysfstest.RootHub(1, "480"))
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}

	w, err := discover.Watch(context.Background(), discover.WatchOptions{
		Options: discover.Options{Root: h.Root(), Numeric: true},
		Initial: true,
		Rescan:  discover.NoRescan, // the test is the only thing that changes the host
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	go func() {
		for err := range w.Errors {
			log.Print(err)
		}
	}()
	// next waits for the watcher's next event; the bound only stops a
	// broken watcher from hanging the test.
	next := func() {
		select {
		case ev := <-w.Events:
			if ev.Op == discover.Ready {
				fmt.Println(ev.Op)
			} else if u := ev.Device.USB; u != nil {
				serial := "(no serial)"
				if u.Serial != nil {
					serial = strconv.Quote(*u.Serial)
				}
				fmt.Printf("%s %s devnum %d serial %s\n", ev.Op, ev.Device.Name, u.Devnum, serial)
			} else {
				fmt.Println(ev.Op, ev.Device.Name)
			}
		case <-time.After(time.Minute):
			log.Fatal("no event in a minute")
		}
	}

	next() // the initial listing: the root hub,
	next() // and its host controller,
	next() // then ready: that was the whole host
	plugged := h.Plug(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x0483, IDProduct: 0x2016, Serial: new("K1")})
	next()
	h.Unplug(plugged.Name())
	next()
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// add usb1 devnum 1 serial "0000:00:14.0"
	// add 0000:00:14.0
	// ready
	// add 1-3 devnum 2 serial "K1"
	// remove 1-3 devnum 2 serial "K1"
}

// AddUSB writes what a capture of sysfs holds: no /dev node. Paths are
// relative to the root.
func ExampleHost_AddUSB() {
	root, err := os.MkdirTemp("", "sysfs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	h := sysfstest.NewHostAt(root)
	h.AddUSB(sysfstest.RootHub(1, "480"))
	h.AddUSB(sysfstest.Hub(1, "3"))
	dir := h.AddUSB(sysfstest.USBDevice{
		Bus: 1, Port: "3.1", IDVendor: 0x1050, IDProduct: 0x0407,
		Serial:     new("12345678"),
		Interfaces: []sysfstest.USBInterface{{Number: 0, Class: 0x03, Driver: "usbhid"}},
	})
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(dir)
	link, _ := os.Readlink(filepath.Join(root, "sys/bus/usb/devices/1-3.1:1.0"))
	fmt.Println(link)
	v, _ := os.ReadFile(filepath.Join(root, "sys/bus/usb/devices/1-3.1/idVendor"))
	fmt.Printf("%q\n", v)
	// Output:
	// sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1
	// ../../../devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1/1-3.1:1.0
	// "1050\n"
}
