package discover

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

// Every place that reads a device number agrees with the kernel, which
// gives 1 to 127: the devnum file, a /dev/bus/usb/BBB/DDD node's name,
// and the /sys/dev/char/189:M link (M leaves room for 128 per bus, so
// devnum 128 has a minor, but no device ever has it).
func TestDevnumRange(t *testing.T) {
	const dev = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"
	for _, tc := range []struct {
		devnum int
		valid  bool
	}{
		{0, false},
		{1, true},
		{5, true},
		{127, true},
		{128, false},
		{255, false},
	} {
		t.Run(strconv.Itoa(tc.devnum), func(t *testing.T) {
			root := t.TempDir()
			tree := sysfstest.NewHostAt(root)
			tree.AddUSB(sysfstest.RootHub(1, "480"))
			tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", Devnum: 5, IDVendor: 0x0483, IDProduct: 0x2016})
			tree.WriteFile(dev+"/devnum", fmt.Sprintf("%d\n", tc.devnum))
			if tc.devnum >= 1 && tc.devnum <= 128 {
				tree.Symlink(fmt.Sprintf("sys/dev/char/189:%d", tc.devnum-1), "/"+dev)
			}
			if err := tree.Err(); err != nil {
				t.Fatal(err)
			}
			f := openFS(t, root)

			devs, warns, err := readUSBAll(f)
			if err != nil || len(devs) != 2 {
				t.Fatalf("read %v, %v; want usb1 and 1-1", devs, err)
			}
			want := 0
			if tc.valid {
				want = tc.devnum
			}
			if got := devs[0].USB.Devnum; got != want {
				t.Errorf("devnum file %d: Devnum %d, want %d", tc.devnum, got, want)
			}
			warned := len(warns) == 1 && warns[0].Path == "/"+dev+"/devnum" && errors.Is(warns[0], sysfs.ErrInvalid)
			if warned == tc.valid || len(warns) > 1 {
				t.Errorf("devnum file %d: warnings %v", tc.devnum, warns)
			}

			name, ok := usbDeviceNameAt(f, 1, tc.devnum)
			if ok != tc.valid || (ok && name != "1-1") {
				t.Errorf("usbDeviceNameAt(1, %d) = %q, %v; want a device %v", tc.devnum, name, ok, tc.valid)
			}

			node := fmt.Sprintf("%03d", tc.devnum)
			if n, ok := nodeNumber(node); ok != tc.valid || (ok && n != tc.devnum) {
				t.Errorf("nodeNumber(%q) = %d, %v; want a device number %v", node, n, ok, tc.valid)
			}
		})
	}
}
