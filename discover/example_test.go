package discover_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfstest"
)

// twoSticks makes a fake host with two identical sticks told apart only by
// serial; a real program scans "/".
func twoSticks() (*sysfstest.Host, func()) {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	h := sysfstest.NewHostAt(root)
	h.Plug(sysfstest.RootHub(1, "480"))
	h.Plug(sysfstest.Hub(1, "4"))
	for i, serial := range []string{"K1", "K2"} {
		h.Plug(sysfstest.USBDevice{Bus: 1, Port: fmt.Sprintf("4.%d", i+1),
			IDVendor: 0x0781, IDProduct: 0x5581, Serial: new(serial)})
	}
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	return h, func() { os.RemoveAll(root) }
}

// Print every USB device's port path and serial number. Optional values
// are pointers: a device that gives no serial has a nil Serial, which is
// not the same as an empty one.
func ExampleScan() {
	h, done := twoSticks()
	defer done()

	res, err := discover.Scan(context.Background(), discover.Options{
		Root:  h.Root(),
		Buses: []discover.Bus{discover.BusUSB},
	})
	if err != nil {
		log.Fatal(err) // only when the root cannot be read at all
	}
	for _, d := range res.Devices {
		u := d.USB
		serial := "-"
		if u.Serial != nil {
			serial = *u.Serial
		}
		fmt.Printf("%-6s port %-4s class %s speed %s serial %s\n", d.Name, u.Port, u.Class, u.Speed, serial)
	}
	// Output:
	// usb1   port 0    class 09 speed 480 serial 0000:00:14.0
	// 1-4    port 4    class 09 speed 480 serial -
	// 1-4.1  port 4.1  class 00 speed 480 serial K1
	// 1-4.2  port 4.2  class 00 speed 480 serial K2
}

// Watch until the context ends. Cancelling it stops the watcher and closes
// Events, whether or not anybody is still reading them.
func ExampleWatch() {
	h, done := twoSticks()
	defer done()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := discover.Watch(ctx, discover.WatchOptions{
		Options: discover.Options{Root: h.Root(), Numeric: true},
		Rescan:  discover.NoRescan, // only this example changes the host
	})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for err := range w.Errors {
			log.Print(err)
		}
	}()
	fmt.Println(len(w.Devices()), "devices at the start")
	for ev := range w.Events {
		switch ev.Op {
		case discover.Ready:
			h.Unplug("1-4.2")
		case discover.Remove:
			fmt.Println(ev.Op, ev.Device.Name, *ev.Device.USB.Serial)
			cancel()
		}
	}
	fmt.Println("stopped")
	// Output:
	// 5 devices at the start
	// remove 1-4.2 K2
	// stopped
}
