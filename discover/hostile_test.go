package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

// hostileNames are bus entry names the kernel never makes, each built to
// carry something into a QEMU option, a QMP command or a shell command.
var hostileNames = []string{
	"1-2,hostdevice=.dev.sda",
	`1-2"},{"execute":"quit`,
	"1-2$(reboot)",
	"usb1\nwarning: forged",
	"1-2 ; rm -rf ~",
}

// A bus entry whose name is not a USB device's name is left out with a
// warning that names it quoted; the real devices are all still there.
func TestUSBEntryNamesValidated(t *testing.T) {
	root, _ := threeDevices(t)
	bus := filepath.Join(root, "sys/bus/usb/devices")
	for _, n := range hostileNames {
		if err := os.Symlink("../../../devices/pci0000:00/0000:00:14.0/usb1/1-2", filepath.Join(bus, n)); err != nil {
			t.Fatal(err)
		}
	}
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1-1", "1-2", "1-3", "usb1"}, namesOf(devs)); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if len(warns) != len(hostileNames) {
		t.Fatalf("warnings %q, want one per hostile entry", warns)
	}
	for _, w := range warns {
		if !errors.Is(w, sysfs.ErrInvalid) || w.Path != "/sys/bus/usb/devices" || strings.Contains(w.Error(), "\n") {
			t.Errorf("warning %q: want an invalid-value warning on the bus directory, on one line", w.Error())
		}
	}
	// The watcher reads names it is told of; it must refuse them too.
	if got, _ := usbDevicesNamed(openFS(t, root), hostileNames); len(got) != 0 {
		t.Errorf("usbDevicesNamed read %v, want none of the hostile names", namesOf(got))
	}
}

// The same for PCI, and for the names PCI links point to.
func TestPCIEntryNamesValidated(t *testing.T) {
	root, tree := pciTree(t)
	bus := filepath.Join(root, "sys/bus/pci/devices")
	for _, n := range []string{"0000:00:1f.3,x-vga=on", "0000:01:00.0;reboot", "0000:01:00.0 x"} {
		if err := os.Symlink("../../../devices/pci0000:00/0000:00:01.0", filepath.Join(bus, n)); err != nil {
			t.Fatal(err)
		}
	}
	pf := "sys/devices/pci0000:02/0000:02:00.0"
	os.Remove(filepath.Join(root, pf, "virtfn1"))
	tree.WriteFile("sys/devices/pci0000:02/0000:02:10.4,x/vendor", "0x8086\n")
	tree.WriteFile("sys/devices/pci0000:02/$(reboot)/vendor", "0x8086\n")
	tree.Symlink(pf+"/virtfn1", "../0000:02:10.4,x")
	os.Remove(filepath.Join(root, "sys/devices/pci0000:02/0000:02:10.0/physfn"))
	tree.Symlink("sys/devices/pci0000:02/0000:02:10.0/physfn", "../$(reboot)")
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	fns, warns, err := pciFunctions(context.Background(), openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0000:00:01.0", "0000:01:00.0", "0000:01:00.1", "0000:02:00.0", "0000:02:10.0", "0000:02:10.4", "10000:00:00.0"}
	if diff := cmp.Diff(want, namesOf(fns)); diff != "" {
		t.Errorf("functions (-want +got):\n%s", diff)
	}
	for _, f := range fns {
		for _, n := range append([]string{f.PCI.PhysFn}, f.PCI.VirtFns...) {
			if n != "" && !isPCIName(n) {
				t.Errorf("%s links to %q", f.Name, n)
			}
		}
	}
	var got []string
	for _, w := range warns {
		if !errors.Is(w, sysfs.ErrInvalid) {
			t.Errorf("warning %q is not an invalid value", w)
		}
		got = append(got, w.Path)
	}
	slices.Sort(got)
	wantPaths := []string{"/sys/bus/pci/devices", "/sys/bus/pci/devices", "/sys/bus/pci/devices", "/" + pf + "/virtfn1", "/sys/devices/pci0000:02/0000:02:10.0/physfn"}
	if diff := cmp.Diff(wantPaths, got); diff != "" {
		t.Errorf("warnings %q (-want +got paths):\n%s", warns, diff)
	}
	if got, _ := pciFunctionsNamed(openFS(t, root), []string{"0000:01:00.0;reboot"}); len(got) != 0 {
		t.Errorf("pciFunctionsNamed read %v, want nothing", namesOf(got))
	}
}

// An interface directory and a speed that do not fit the kernel's forms
// are warnings, and left out.
func TestUSBInterfaceAndSpeedValidated(t *testing.T) {
	root, tree := threeDevices(t)
	dev := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"
	tree.WriteFile(dev+"/1-2:1.0,hostdevice=x/bInterfaceClass", "ff\n")
	tree.WriteFile(dev+"/1-2:1.0,hostdevice=x/bInterfaceNumber", "00\n")
	tree.WriteFile(dev+"/speed", "12,hostdevice=x\n")
	tree.WriteFile("sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/speed", "53.3-480\n")
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	d := devs[1]
	if d.Name != "1-2" || len(d.USB.Interfaces) != 1 || d.USB.Interfaces[0].Name != "1-2:1.0" || d.USB.Speed != "" {
		t.Errorf("1-2: interfaces %+v speed %q, want 1-2:1.0 alone and no speed", d.USB.Interfaces, d.USB.Speed)
	}
	if devs[2].USB.Speed != "53.3-480" {
		t.Errorf("1-3: speed %q, want wireless USB's 53.3-480 kept", devs[2].USB.Speed)
	}
	if len(warns) != 2 {
		t.Fatalf("warnings %q, want two", warns)
	}
	for _, w := range warns {
		if !errors.Is(w, sysfs.ErrInvalid) || w.Device != "1-2" {
			t.Errorf("warning %q, want an invalid value of 1-2", w)
		}
	}
}

// FuzzUSBEntry reads a device whose bus entry name, devpath, speed and
// interface directory are anything a forged capture may hold. Whatever
// they are, what the scan gives back is in the kernel's forms, and the
// three real devices beside it are all still there.
func FuzzUSBEntry(f *testing.F) {
	f.Add("1-4", "4", "480", "1-4:1.0")
	f.Add("1-2,hostdevice=x", "2,hostdevice=/dev/sda", "12,x", "1-2:1.0,x")
	f.Add(`1-4"},{"execute":"quit`, "4\n", "53.3-480", "1-4:1.0\n")
	f.Add("usb9", "0", "unknown", "9-0:1.0")
	f.Add("1-4.1.2", "4.1.2", "1.5", "1-4.1.2:2.10")
	// One tree per fuzzing process; each input adds its device, and takes
	// it away again.
	root := f.TempDir()
	tree := sysfstest.NewHostAt(root)
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	for _, port := range []string{"1", "2", "3"} {
		tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0403, IDProduct: 0x6001})
	}
	if err := tree.Err(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, devpath, speed, ifname string) {
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." ||
			strings.ContainsAny(ifname, "/\x00") || ifname == "" || ifname == "." || ifname == ".." ||
			slices.Contains([]string{"1-1", "1-2", "1-3", "usb1"}, name) {
			return // not a directory entry, or a real device's
		}
		tree := sysfstest.NewHostAt(root)
		dir := "sys/devices/pci0000:00/0000:00:14.0/usb1/fuzzed"
		link := filepath.Join(root, "sys/bus/usb/devices", name)
		defer func() {
			os.RemoveAll(filepath.Join(root, dir))
			os.Remove(link)
		}()
		tree.WriteFile(dir+"/busnum", "1\n")
		tree.WriteFile(dir+"/devnum", "9\n")
		tree.WriteFile(dir+"/idVendor", "0483\n")
		tree.WriteFile(dir+"/idProduct", "2016\n")
		tree.WriteFile(dir+"/devpath", devpath)
		tree.WriteFile(dir+"/speed", speed)
		tree.WriteFile(dir+"/"+ifname+"/bInterfaceClass", "08\n")
		tree.WriteFile(dir+"/"+ifname+"/bInterfaceNumber", "00\n")
		tree.Symlink("sys/bus/usb/devices/"+name, "/"+dir)
		if err := tree.Err(); err != nil {
			return // a name the file system refuses
		}
		devs, _, err := readUSBAll(openFS(t, root))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, d := range devs {
			seen[d.Name] = true
			u := d.USB
			if !isUSBDeviceName(d.Name) {
				t.Errorf("device named %q", d.Name)
			}
			if _, err := ParsePortPath(string(u.Port)); u.Port != "" && err != nil {
				t.Errorf("%q: port %q: %v", d.Name, u.Port, err)
			}
			if u.Speed != "" && !validSpeed(string(u.Speed)) {
				t.Errorf("%q: speed %q", d.Name, u.Speed)
			}
			for _, in := range u.Interfaces {
				if !isUSBInterfaceName(in.Name) {
					t.Errorf("%q: interface %q", d.Name, in.Name)
				}
			}
		}
		for _, n := range []string{"1-1", "1-2", "1-3", "usb1"} {
			if !seen[n] {
				t.Errorf("%s is gone; devices %q", n, namesOf(devs))
			}
		}
	})
}
