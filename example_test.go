package hostdev_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hostdev/hostdev"
	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/sysfstest"
)

// fakeHost builds, under a temporary directory, a host with two identical
// USB sticks (serials K1 and K2) and a GPU whose audio function, in the
// same IOMMU group, is still on its host driver. A real program opens "/"
// instead; sysfstest is how its tests get a host they control.
func fakeHost() (*sysfstest.Host, func()) {
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		log.Fatal(err)
	}
	h := sysfstest.NewHostAt(root)
	h.Plug(sysfstest.RootHub(1, "480"))
	for i, serial := range []string{"K1", "K2"} {
		h.Plug(sysfstest.USBDevice{Bus: 1, Port: fmt.Sprint(i + 1),
			IDVendor: 0x0781, IDProduct: 0x5581, Serial: new(serial)})
	}
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x2684,
		Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: new(14), ResetMethod: "flr bus"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Vendor: 0x10de, Device: 0x22ba,
		Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: new(14), ResetMethod: "flr bus"})
	if err := h.Err(); err != nil {
		log.Fatal(err)
	}
	return h, func() { os.RemoveAll(root) }
}

// Scan a host and print the serial number of every USB device that has one.
func Example() {
	fake, done := fakeHost()
	defer done()

	h, err := hostdev.Open(fake.Root(), hostdev.WithoutNames())
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	res, err := h.Scan(context.Background(), discover.BusUSB)
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range res.Warnings {
		log.Print(w) // a device that could not be fully read; it is still listed
	}
	for _, d := range res.Devices {
		if d.USB.Serial != nil && !d.USB.IsRootHub() {
			fmt.Printf("%s %03d.%03d %s:%s serial %s\n", d.Name, d.USB.Busnum, d.USB.Devnum, d.VendorID, d.ProductID, *d.USB.Serial)
		}
	}
	// Output:
	// 1-1 001.002 0781:5581 serial K1
	// 1-2 001.003 0781:5581 serial K2
}

// Resolve the references a libvirt domain and a QEMU command line hold.
// Two sticks fit the vendor and product alone; the error says, in the
// config's own terms, what picks one.
func ExampleHost_Resolve() {
	fake, done := fakeHost()
	defer done()
	h, err := hostdev.Open(fake.Root(), hostdev.WithoutNames())
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()

	for _, ref := range []string{
		`<hostdev mode='subsystem' type='usb'><source><vendor id='0x0781'/><product id='0x5581'/></source></hostdev>`,
		`-device usb-host,vendorid=0x0781,productid=0x5581`,
		`-device usb-host,hostbus=1,hostport=2`,
		`host:0781:5581,serial=K1`,
	} {
		dev, _, err := h.Resolve(ctx, ref)
		var amb *hypervisor.AmbiguousError
		switch {
		case errors.As(err, &amb):
			fmt.Printf("%s: ambiguous; pick one with %q or %q\n", amb.Ref.Dialect, amb.Picks[0], amb.Picks[1])
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("%s is %s, now at bus %d device %d\n", ref, dev.Name, dev.USB.Busnum, dev.USB.Devnum)
		}
	}
	_, _, err = h.Resolve(ctx, "serial=K3")
	var none *match.NoMatchError
	fmt.Println(errors.As(err, &none))
	// Output:
	// libvirt: ambiguous; pick one with "<address bus='1' device='2'/>" or "<address bus='1' device='3'/>"
	// qemu: ambiguous; pick one with "hostbus=1,hostport=1" or "hostbus=1,hostport=2"
	// -device usb-host,hostbus=1,hostport=2 is 1-2, now at bus 1 device 3
	// host:0781:5581,serial=K1 is 1-1, now at bus 1 device 2
	// true
}

// Can this GPU be given to a VM, and if not, what would fix it?
func ExampleHost_Assess() {
	fake, done := fakeHost()
	defer done()
	h, err := hostdev.Open(fake.Root(), hostdev.WithoutNames())
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	rep, err := h.Assess(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	v, ok := rep.Verdict("0000:01:00.0")
	if !ok {
		log.Fatal("no such function")
	}
	fmt.Println("assignable:", v.Assignable)
	for _, r := range v.Reasons {
		fmt.Printf("%s (blocking %v): %s\n", r.Code, r.Code.Blocking(), r.Message)
		for _, fix := range r.Fix {
			fmt.Println("  fix:", fix)
		}
	}
	// Output:
	// assignable: false
	// group-shared (blocking true): IOMMU group 14 is shared with 0000:01:00.1 (snd_hda_intel). VFIO hands out a group whole, so every other endpoint in it must be assigned to the same VM or left without a host driver. Splitting the group needs the ACS override patch (pcie_acs_override=downstream,multifunction), which gives up the isolation the group stands for; another slot may give the card a group of its own.
	//   fix: virsh nodedev-detach pci_0000_01_00_1   # or assign it to the same VM
}

// Follow one device by what it is, whatever bus and device number it gets,
// until the context ends.
func ExampleHost_Watch() {
	fake, done := fakeHost()
	defer done()
	h, err := hostdev.Open(fake.Root(), hostdev.WithoutNames())
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	sel, err := match.Parse("host:0781:5581,serial=K1")
	if err != nil {
		log.Fatal(err) // a *match.ParseError, which says where
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := h.Watch(ctx, discover.WatchOptions{Rescan: discover.NoRescan})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for err := range w.Errors {
			log.Print(err)
		}
	}()
	replugs := 0
	for ev := range w.Events { // closed once ctx is cancelled
		switch {
		case ev.Op == discover.Ready:
			// The first scan is done: Devices() is the whole host. Here
			// the example unplugs K1, as a user would.
			fake.Unplug("1-1")
		case !sel.Match(ev.Device):
		case ev.Op == discover.Remove:
			fmt.Println("K1 gone from", ev.Device.USB.Devnum)
			fake.Plug(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0781, IDProduct: 0x5581, Serial: new("K1")})
		case ev.Op == discover.Add:
			fmt.Println("K1 back at", ev.Device.USB.Devnum)
			if replugs++; replugs == 1 {
				cancel() // stops the watcher, whether or not Events is read
			}
		}
	}
	// Output:
	// K1 gone from 2
	// K1 back at 4
}
