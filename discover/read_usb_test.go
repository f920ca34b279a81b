package discover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/sysfstest"
)

// threeDevices builds a bus with a root hub and three identical FTDI
// adapters on ports 1, 2 and 3.
func threeDevices(t *testing.T) (root string, tree *sysfstest.Host) {
	t.Helper()
	root = t.TempDir()
	tree = sysfstest.NewHostAt(root)
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	for i, serial := range []string{"A", "B", "C"} {
		tree.AddUSB(sysfstest.USBDevice{
			Bus: 1, Port: string(rune('1' + i)), IDVendor: 0x0403, IDProduct: 0x6001,
			Speed: "12", Serial: new(serial),
			Interfaces: []sysfstest.USBInterface{{Class: 0xff, SubClass: 0xff, Protocol: 0xff, Driver: "ftdi_sio"}},
		})
	}
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	return root, tree
}

func openFS(t *testing.T, root string, opts ...sysfs.Option) *sysfs.FS {
	t.Helper()
	f, err := sysfs.NewFS(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// hooks is a Recorder that calls a function on every read, so that a test
// can change the tree at an exact point of a scan.
type hooks struct {
	file, dir, symlink func(path string)
}

func (h hooks) File(path string, _ []byte) {
	if h.file != nil {
		h.file(path)
	}
}

func (h hooks) Symlink(path, _ string) {
	if h.symlink != nil {
		h.symlink(path)
	}
}

func (h hooks) Dir(path string) {
	if h.dir != nil {
		h.dir(path)
	}
}

func namesOf(devs []Device) []string {
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	return names
}

func readUSBAll(f *sysfs.FS) ([]Device, []Warning, error) {
	return usbDevices(context.Background(), f)
}

func TestUSBDevice(t *testing.T) {
	root, _ := threeDevices(t)
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if len(devs) != 4 {
		t.Fatalf("got %v, want usb1 and three devices", namesOf(devs))
	}
	got := devs[2] // sorted by name: 1-1, 1-2, 1-3, usb1
	want := Device{
		Bus: BusUSB, Name: "1-3", SysfsPath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3",
		VendorID: 0x0403, ProductID: 0x6001, Parent: "usb1",
		USB: &USB{
			Busnum: 1, Devnum: got.USB.Devnum, Port: "3", Speed: SpeedFull, Serial: new("C"),
			Devnode: fmt.Sprintf("/dev/bus/usb/001/%03d", got.USB.Devnum), Controller: "0000:00:14.0",
			Interfaces: []Interface{{Name: "1-3:1.0", Class: 0xff, Subclass: 0xff, Protocol: 0xff, Driver: "ftdi_sio"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("1-3 (-want +got):\n%s", diff)
	}
	if got.USB.Devnum == 0 {
		t.Errorf("devnum not read")
	}
}

// A device unplugged between the listing and the reads is simply gone: no
// warning, and the others are all there.
func TestUSBVanishesAfterListing(t *testing.T) {
	root, _ := threeDevices(t)
	// The first link followed comes after the listing.
	once := false
	f := openFS(t, root, sysfs.WithRecorder(hooks{symlink: func(string) {
		if !once {
			once = true
			os.Remove(filepath.Join(root, "sys/bus/usb/devices/1-2"))
			os.RemoveAll(filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"))
		}
	}}))
	devs, warns, err := readUSBAll(f)
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, namesOf(devs)); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
}

// The same when the device goes while its files are being read.
func TestUSBVanishesWhileRead(t *testing.T) {
	root, _ := threeDevices(t)
	f := openFS(t, root, sysfs.WithRecorder(hooks{dir: func(p string) {
		if strings.HasSuffix(p, "/usb1/1-2") {
			os.Remove(filepath.Join(root, "sys/bus/usb/devices/1-2"))
			os.RemoveAll(filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"))
		}
	}}))
	devs, warns, err := readUSBAll(f)
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, namesOf(devs)); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
}

func TestUSBDefects(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dev2 := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/"
	for _, tc := range []struct {
		name   string
		break_ func(tree *sysfstest.Host)
		// want: the warning's device, path suffix and error text; the
		// devices that must still be listed.
		wantDev, wantPath, wantErr string
		wantIs                     error
		wantDevices                []string
	}{
		{
			name:    "malformed idVendor",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"idVendor", "zz\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "idVendor", wantErr: `"zz" is not 4 hex digits`,
			wantIs:      sysfs.ErrInvalid,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "decimal devnum with a letter",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"devnum", "0x5\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "devnum", wantErr: `"0x5" is not a decimal number`,
			wantIs:      sysfs.ErrInvalid,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "missing busnum",
			break_:  func(tree *sysfstest.Host) { os.Remove(filepath.Join(tree.Root(), dev2+"busnum")) },
			wantDev: "1-2", wantPath: "/" + dev2 + "busnum", wantErr: "missing",
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name: "dangling link",
			break_: func(tree *sysfstest.Host) {
				tree.Symlink("sys/bus/usb/devices/1-9", "../../../devices/pci0000:00/0000:00:14.0/usb1/1-9")
			},
			wantDev: "1-9", wantPath: "/sys/bus/usb/devices/1-9", wantErr: "dangling link",
			wantIs:      sysfs.ErrDangling,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "symlink loop",
			break_:  func(tree *sysfstest.Host) { tree.Symlink("sys/bus/usb/devices/1-9", "1-9") },
			wantDev: "1-9", wantPath: "/sys/bus/usb/devices/1-9",
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name: "attribute linked outside the root",
			break_: func(tree *sysfstest.Host) {
				os.Remove(filepath.Join(tree.Root(), dev2+"idProduct"))
				tree.Symlink(dev2+"idProduct", outside)
			},
			wantDev: "1-2", wantPath: "/" + dev2 + "idProduct",
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
		{
			name:    "attribute larger than a page",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"product", strings.Repeat("x", 5000)) },
			wantDev: "1-2", wantPath: "/" + dev2 + "product", wantErr: "larger than 4096",
			wantIs:      sysfs.ErrTooLarge,
			wantDevices: []string{"1-1", "1-2", "1-3", "usb1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			{
				root, tree := threeDevices(t)
				tc.break_(tree)
				devs, warns, err := readUSBAll(openFS(t, root))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.wantDevices, namesOf(devs)); diff != "" {
					t.Errorf("devices (-want +got):\n%s", diff)
				}
				if len(warns) != 1 {
					t.Fatalf("got warnings %v, want one", warns)
				}
				w := warns[0]
				if w.Device != tc.wantDev || w.Path != tc.wantPath || !strings.Contains(w.Error(), tc.wantErr) {
					t.Errorf("warning %q (device %q, path %q): want device %q, path %q, text %q",
						w, w.Device, w.Path, tc.wantDev, tc.wantPath, tc.wantErr)
				}
				if tc.wantIs != nil && !errors.Is(w, tc.wantIs) {
					t.Errorf("warning %v is not %v", w, tc.wantIs)
				}
				for _, d := range devs {
					if d.ProductID == 0x1234 {
						t.Errorf("%s: read a file outside the root", d.Name)
					}
				}
			}
		})
	}
}

// A link with an absolute target, as some captures have, is taken as
// relative to the root, never as the host's /sys.
func TestAbsoluteLinkStaysInRoot(t *testing.T) {
	root, tree := threeDevices(t)
	link := "sys/bus/usb/devices/1-2"
	os.Remove(filepath.Join(root, link))
	tree.Symlink(link, "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	if len(devs) != 4 || devs[1].Name != "1-2" || *devs[1].USB.Serial != "B" {
		t.Errorf("got %+v, want 1-2 read through its absolute link", devs)
	}
}

func TestOldKernelWithoutDevpath(t *testing.T) {
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	hub := sysfstest.RootHub(2, "480")
	hub.Omit = []string{"devpath"}
	tree.AddUSB(hub)
	h := sysfstest.Hub(2, "3")
	h.Omit = []string{"devpath"}
	tree.AddUSB(h)
	tree.AddUSB(sysfstest.USBDevice{Bus: 2, Port: "3.4", IDVendor: 0x0483, IDProduct: 0x2016, Omit: []string{"devpath"}})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil || len(warns) > 0 {
		t.Fatalf("USBDevices: %v, warnings %v", err, warns)
	}
	got := map[string]PortPath{}
	for _, d := range devs {
		got[d.Name] = d.USB.Port
	}
	if diff := cmp.Diff(map[string]PortPath{"usb2": "0", "2-3": "3", "2-3.4": "3.4"}, got); diff != "" {
		t.Errorf("devpaths (-want +got):\n%s", diff)
	}
}

// Interfaces come from the device's own directory: a bus listing without
// interface links must not lose them.
func TestInterfacesWithoutBusLinks(t *testing.T) {
	root, _ := threeDevices(t)
	matches, _ := filepath.Glob(filepath.Join(root, "sys/bus/usb/devices/*:*"))
	for _, m := range matches {
		os.Remove(m)
	}
	devs, _, err := readUSBAll(openFS(t, root))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if len(d.USB.Interfaces) != 1 {
			t.Errorf("%s: interfaces %+v, want one", d.Name, d.USB.Interfaces)
		}
	}
}

func TestRoots(t *testing.T) {
	empty := t.TempDir()
	usb, w1, err1 := readUSBAll(openFS(t, empty))
	pci, w2, err2 := pciFunctions(context.Background(), openFS(t, empty))
	if len(usb)+len(pci)+len(w1)+len(w2) != 0 || err1 != nil || err2 != nil {
		t.Errorf("empty root: %v %v %v %v %v %v, want nothing", usb, w1, err1, pci, w2, err2)
	}
}

// A device unplugged half way through its reads is dropped, not listed
// half read; one replugged at the same path meanwhile is not mixed with the
// old one.
func TestUSBVanishesMidRead(t *testing.T) {
	for _, replug := range []bool{false, true} {
		t.Run(map[bool]string{false: "unplug", true: "replug"}[replug], func(t *testing.T) {
			root, _ := threeDevices(t)
			dir := filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
			rec := hooks{file: func(p string) {
				if strings.HasSuffix(p, "/1-2/idProduct") {
					os.RemoveAll(dir)
					if replug {
						os.MkdirAll(dir, 0o755)
						os.WriteFile(filepath.Join(dir, "busnum"), []byte("1\n"), 0o644)
					}
				}
			}}
			devs, warns, err := readUSBAll(openFS(t, root, sysfs.WithRecorder(rec)))
			if err != nil || len(warns) > 0 {
				t.Fatalf("USBDevices: %v, warnings %v", err, warns)
			}
			if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, namesOf(devs)); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
		})
	}
}

// A bus directory that cannot be listed is a warning for that bus.
func TestBrokenBusDirectory(t *testing.T) {
	root, _ := threeDevices(t)
	bus := filepath.Join(root, "sys/bus/usb/devices")
	os.RemoveAll(bus)
	if err := os.WriteFile(bus, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	devs, warns, err := readUSBAll(openFS(t, root))
	if err != nil || len(devs) != 0 {
		t.Fatalf("USBDevices: %v, %v; want no devices and no error", devs, err)
	}
	if len(warns) != 1 || warns[0].Path != "/sys/bus/usb/devices" {
		t.Errorf("warnings %v, want one for /sys/bus/usb/devices", warns)
	}
}

// A devpath that is not a port path is a warning naming the file, and the
// device keeps the port path its name gives, when that is one.
func TestBadDevpath(t *testing.T) {
	for _, tc := range []struct {
		name, devpath string
		wantPort      PortPath
	}{
		{"1-2", "2\n", "2"},
		{"1-2", "0.2\n", "2"},
		{"1-2", "2.x\n", "2"},
		{"1-2", "1.2.3.4.5.6.7\n", "2"},
		{"1-2", "300\n", "2"},
	} {
		t.Run(strings.TrimSpace(tc.devpath), func(t *testing.T) {
			root, tree := threeDevices(t)
			dev := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/devpath"
			tree.WriteFile(dev, tc.devpath)
			devs, warns, err := readUSBAll(openFS(t, root))
			if err != nil {
				t.Fatal(err)
			}
			if got := devs[1].USB.Port; devs[1].Name != "1-2" || got != tc.wantPort {
				t.Errorf("%s: port %q, want %q", devs[1].Name, got, tc.wantPort)
			}
			valid := tc.devpath == "2\n"
			if valid != (len(warns) == 0) || !valid && (len(warns) != 1 || warns[0].Path != "/"+dev || !errors.Is(warns[0], sysfs.ErrInvalid)) {
				t.Errorf("warnings %v, want one for %s: %v", warns, dev, !valid)
			}
		})
	}
}
