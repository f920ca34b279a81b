package match

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
)

// TestNoMatchOtherBus: IDs given in the other bus's form (a PCI function's
// 10de:2684 from lspci -nn typed as host:10de:2684, a USB device's with
// bus=pci) say which bus the device is on and the selector that takes it.
func TestNoMatchOtherBus(t *testing.T) {
	gpu := pciDev("0000:01:00.0", 0x10de, 0x2684, 0x030000, "nvidia", 12)
	audio := pciDev("0000:01:00.1", 0x10de, 0x22ba, 0x040300, "snd_hda_intel", 12)
	far := pciDev("10000:02:00.0", 0x8086, 0x0b60, 0x010802, "nvme", 13)
	fp := usbDev("1-4", 1, 6, "4", 0x0483, 0x2016, 0, "")
	kbd1 := usbDev("1-1", 1, 2, "1", 0x046d, 0xc31c, 0, "")
	kbd2 := usbDev("1-2", 1, 3, "2", 0x046d, 0xc31c, 0, "")
	devs := []discover.Device{fp, kbd1, kbd2, gpu, audio, far}
	for _, tc := range []struct{ sel, want string }{
		{"host:10de:2684", "no device matches 10de:2684; nearest: 0000:01:00.0 (10de:2684) is a PCI function, not a USB device: " +
			"select it with 01:00.0 or vendor=10de,product=2684"},
		{"host:8086:0b60", "no device matches 8086:0b60; nearest: 10000:02:00.0 (8086:0b60) is a PCI function, not a USB device: " +
			"select it with 10000:02:00.0 or vendor=8086,product=0b60"},
		{"bus=pci,vendor=0483,product=2016", "no device matches bus=pci,vendor=0483,product=2016; nearest: 1-4 (0483:2016) is a USB device, not a PCI function: " +
			"select it with host:0483:2016"},
		{"bus=pci,vendor=046d,product=c31c", "no device matches bus=pci,vendor=046d,product=c31c; nearest: " +
			"1-1 (046d:c31c) is a USB device, not a PCI function: select it with port=1-1, " +
			"1-2 (046d:c31c) is a USB device, not a PCI function: select it with port=1-2"},
		// Not IDs: a class on the other bus is no advice.
		{"bus=usb,class=0300", "no device matches bus=usb,class=0300; nearest: 1-4 (0483:2016) class is 000000, " +
			"1-1 (046d:c31c) class is 000000, 1-2 (046d:c31c) class is 000000"},
	} {
		_, err := Resolve(must(Parse(tc.sel)), devs)
		if err == nil {
			t.Errorf("Resolve(%s) succeeded", tc.sel)
			continue
		}
		if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
			t.Errorf("Resolve(%s) (-want +got):\n%s", tc.sel, diff)
		}
	}
	// The advice works.
	for _, sel := range []string{"01:00.0", "vendor=10de,product=2684", "10000:02:00.0", "host:0483:2016"} {
		if _, err := Resolve(must(Parse(sel)), devs); err != nil {
			t.Errorf("Resolve(%s): %v", sel, err)
		}
	}
}

// TestNearestOrder: the nearest come first: a serial one character off
// before one far off, both before a device with no serial, and a hub that
// fails a term last, whatever the order of the scan.
func TestNearestOrder(t *testing.T) {
	hub := usbDev("1-1", 1, 2, "1", 0x0403, 0x6001, 9, "")
	none := usbDev("1-2", 1, 3, "2", 0x0403, 0x6001, 0, "")
	farSerial := usbDev("1-3", 1, 4, "3", 0x0403, 0x6001, 0, "FT9XK2LM")
	nearSerial := usbDev("1-4", 1, 5, "4", 0x0403, 0x6001, 0, "A7022OOQ")
	otherProduct := usbDev("1-5", 1, 6, "5", 0x0403, 0x6015, 0, "A7022OOP")
	devs := []discover.Device{hub, none, farSerial, nearSerial}
	_, err := Resolve(must(Parse("host:0403:6001,serial=A7022OOP")), devs)
	var no *NoMatchError
	if !asNoMatch(err, &no) {
		t.Fatalf("got %v, want a *NoMatchError", err)
	}
	if diff := cmp.Diff([]string{"1-4", "1-3", "1-2", "1-1"}, nearNames(no.Nearest)); diff != "" {
		t.Errorf("nearest (-want +got):\n%s", diff)
	}
	const want = `no device matches bus=usb,vendor=0403,product=6001,serial=A7022OOP; nearest: ` +
		`1-4 (0403:6001) serial is "A7022OOQ", 1-3 (0403:6001) serial is "FT9XK2LM", 1-2 (0403:6001) has no serial, 1-1 (0403:6001) has no serial`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}

	// Only the nearest eight, chosen after ordering: the one device a
	// character off is listed however late the scan finds it.
	var many []discover.Device
	for i := range 12 {
		many = append(many, usbDev("2-"+string(rune('a'+i)), 2, 10+i, "1", 0x0403, 0x6001, 0, ""))
	}
	many = append(many, nearSerial, otherProduct)
	_, err = Resolve(must(Parse("host:0403:6001,serial=A7022OOP")), many)
	if !asNoMatch(err, &no) {
		t.Fatalf("got %v, want a *NoMatchError", err)
	}
	got := nearNames(no.Nearest)
	if len(got) != maxNearest || got[0] != "1-4" || got[1] != "1-5" {
		t.Errorf("nearest = %v; want %d, starting with 1-4 (serial a character off) and 1-5 (product a character off)", got, maxNearest)
	}
}

func asNoMatch(err error, target **NoMatchError) bool { return errors.As(err, target) }
