package sysfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

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

func openFS(t *testing.T, root string, opts ...Option) *FS {
	t.Helper()
	f, err := NewFS(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// bothWays runs a test with openat2 and with the os.Root walk that
// replaces it on kernels without openat2: the two must agree.
func bothWays(t *testing.T, test func(t *testing.T, open func(root string, opts ...Option) *FS)) {
	for _, fallback := range []bool{false, true} {
		name := "openat2"
		if fallback {
			name = "os.Root"
		}
		t.Run(name, func(t *testing.T) {
			test(t, func(root string, opts ...Option) *FS {
				f := openFS(t, root, opts...)
				f.noOpenat2 = fallback
				return f
			})
		})
	}
}

// recorderFunc calls a function on every file read.
type recorderFunc func(path string)

func (r recorderFunc) File(path string, _ []byte) { r(path) }
func (recorderFunc) Symlink(string, string)       {}
func (recorderFunc) Dir(string)                   {}

// testDev is what readTest reads of a USB device: enough to see which
// files were reached, and from where.
type testDev struct {
	Name            string
	Vendor, Product uint64
	Serial          string
	Interfaces      []string
}

// readTest is a small reader built the way discover's are.
func readTest(d *Dir) (testDev, bool) {
	dev := testDev{Name: d.Name()}
	if _, ok := d.Dec("busnum", Required); !ok && d.Gone() {
		return dev, false
	}
	d.Dec("devnum", Required)
	dev.Vendor, _ = d.Hex("idVendor", 16, Required)
	dev.Product, _ = d.Hex("idProduct", 16, Required)
	dev.Serial, _ = d.Attr("serial", Optional)
	d.Attr("product", Optional)
	names, _ := d.List()
	slices.Sort(names)
	for _, n := range names {
		if !strings.Contains(n, ":") {
			continue
		}
		sub, err := d.Sub(n)
		if err != nil {
			continue
		}
		sub.Hex("bInterfaceClass", 8, Required)
		sub.Close()
		dev.Interfaces = append(dev.Interfaces, n)
	}
	return dev, !d.Vanished()
}

func scanTest(f *FS) ([]testDev, []Warning) {
	names, warns := f.ListBus("/sys/bus/usb/devices")
	names = slices.DeleteFunc(names, func(n string) bool { return strings.Contains(n, ":") })
	devs, more, err := ReadEntries(context.Background(), f, "sys/bus/usb/devices", names, readTest)
	if err != nil {
		panic(err)
	}
	return devs, append(warns, more...)
}

func testNames(devs []testDev) []string {
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	return names
}

func TestRoots(t *testing.T) {
	if _, err := NewFS(filepath.Join(t.TempDir(), "nonexistent")); err == nil {
		t.Error("NewFS of a missing root succeeded")
	}
	devs, warns := scanTest(openFS(t, t.TempDir()))
	if len(devs)+len(warns) != 0 {
		t.Errorf("empty root: %v %v, want nothing", devs, warns)
	}
}

// What cannot be read is a warning naming the device and the file, and
// never a read outside the root; with openat2 and without.
func TestDefects(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dev2 := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/"
	all := []string{"1-1", "1-2", "1-3", "usb1"}
	for _, tc := range []struct {
		name   string
		break_ func(tree *sysfstest.Host)
		// want: the warning's device, path and text; the devices that
		// must still be listed.
		wantDev, wantPath, wantErr string
		wantIs                     error
		wantDevices                []string
	}{
		{
			name:    "malformed hex",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"idVendor", "zz\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "idVendor", wantErr: `"zz" is not 4 hex digits`,
			wantIs: ErrInvalid, wantDevices: all,
		},
		{
			name:    "hex wider than its attribute",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"idVendor", "0x10403\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "idVendor", wantErr: `"0x10403" is not 4 hex digits`,
			wantIs: ErrInvalid, wantDevices: all,
		},
		{
			name:    "decimal with a letter",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"devnum", "0x5\n") },
			wantDev: "1-2", wantPath: "/" + dev2 + "devnum", wantErr: `"0x5" is not a decimal number`,
			wantIs: ErrInvalid, wantDevices: all,
		},
		{
			name:    "missing required file",
			break_:  func(tree *sysfstest.Host) { os.Remove(filepath.Join(tree.Root(), dev2+"busnum")) },
			wantDev: "1-2", wantPath: "/" + dev2 + "busnum", wantErr: "missing",
			wantIs: ErrMissing, wantDevices: all,
		},
		{
			name: "dangling link",
			break_: func(tree *sysfstest.Host) {
				tree.Symlink("sys/bus/usb/devices/1-9", "../../../devices/pci0000:00/0000:00:14.0/usb1/1-9")
			},
			wantDev: "1-9", wantPath: "/sys/bus/usb/devices/1-9", wantErr: "dangling link",
			wantIs: ErrDangling, wantDevices: all,
		},
		{
			name:    "symlink loop",
			break_:  func(tree *sysfstest.Host) { tree.Symlink("sys/bus/usb/devices/1-9", "1-9") },
			wantDev: "1-9", wantPath: "/sys/bus/usb/devices/1-9",
			wantDevices: all,
		},
		{
			name: "attribute linked outside the root",
			break_: func(tree *sysfstest.Host) {
				os.Remove(filepath.Join(tree.Root(), dev2+"idProduct"))
				tree.Symlink(dev2+"idProduct", outside)
			},
			wantDev: "1-2", wantPath: "/" + dev2 + "idProduct",
			wantDevices: all,
		},
		{
			name:    "attribute larger than a page",
			break_:  func(tree *sysfstest.Host) { tree.WriteFile(dev2+"product", strings.Repeat("x", 5000)) },
			wantDev: "1-2", wantPath: "/" + dev2 + "product", wantErr: "larger than 4096",
			wantIs: ErrTooLarge, wantDevices: all,
		},
		{
			name: "interface's file, kept with its device",
			break_: func(tree *sysfstest.Host) {
				tree.WriteFile(dev2+"1-2:1.0/bInterfaceClass", "xyz\n")
			},
			wantDev: "1-2", wantPath: "/" + dev2 + "1-2:1.0/bInterfaceClass", wantErr: `"xyz" is not 2 hex digits`,
			wantIs: ErrInvalid, wantDevices: all,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothWays(t, func(t *testing.T, open func(string, ...Option) *FS) {
				root, tree := threeDevices(t)
				tc.break_(tree)
				devs, warns := scanTest(open(root))
				if diff := cmp.Diff(tc.wantDevices, testNames(devs)); diff != "" {
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
					if d.Product == 0x1234 {
						t.Errorf("%s: read a file outside the root", d.Name)
					}
				}
			})
		})
	}
}

// A link with an absolute target, as some captures have, is taken as
// relative to the root, never as the host's /sys; at the end of a path
// and in its middle (captures made with cp -a of a tree with absolute
// links), both ways.
func TestAbsoluteLinksStayInRoot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, root string, tree *sysfstest.Host)
	}{
		{"bus entry", func(t *testing.T, root string, tree *sysfstest.Host) {
			link := "sys/bus/usb/devices/1-2"
			os.Remove(filepath.Join(root, link))
			tree.Symlink(link, "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
		}},
		{"intermediate", func(t *testing.T, root string, tree *sysfstest.Host) {
			real := filepath.Join(root, "sys/devices/real")
			if err := os.Rename(filepath.Join(root, "sys/devices/pci0000:00"), real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/sys/devices/real", filepath.Join(root, "sys/devices/pci0000:00")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothWays(t, func(t *testing.T, open func(string, ...Option) *FS) {
				root, tree := threeDevices(t)
				tc.break_(t, root, tree)
				devs, warns := scanTest(open(root))
				if len(warns) > 0 {
					t.Fatalf("warnings %v", warns)
				}
				if len(devs) != 4 || devs[1].Serial != "B" || devs[2].Serial != "C" || len(devs[2].Interfaces) != 1 {
					t.Errorf("got %+v, want all four read through the link", devs)
				}
			})
		})
	}
}

// A FIFO where a device directory should be is a warning, never a hang.
func TestFIFOInsteadOfDevice(t *testing.T) {
	bothWays(t, func(t *testing.T, open func(string, ...Option) *FS) {
		root, _ := threeDevices(t)
		dir := filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
		os.RemoveAll(dir)
		if err := unix.Mkfifo(dir, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var devs []testDev
		var warns []Warning
		go func() {
			devs, warns = scanTest(open(root))
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("scan hung on a FIFO")
		}
		if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, testNames(devs)); diff != "" {
			t.Errorf("devices (-want +got):\n%s", diff)
		}
		if len(warns) != 1 || warns[0].Device != "1-2" {
			t.Errorf("warnings %v, want one for 1-2", warns)
		}
	})
}

// A bus directory that cannot be listed is a warning for that bus.
func TestBrokenBusDirectory(t *testing.T) {
	root, _ := threeDevices(t)
	bus := filepath.Join(root, "sys/bus/usb/devices")
	os.RemoveAll(bus)
	if err := os.WriteFile(bus, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	devs, warns := scanTest(openFS(t, root))
	if len(devs) != 0 {
		t.Fatalf("devices %v, want none", devs)
	}
	if len(warns) != 1 || warns[0].Path != "/sys/bus/usb/devices" {
		t.Errorf("warnings %v, want one for /sys/bus/usb/devices", warns)
	}
}

// A device unplugged half way through its reads is dropped, not listed
// half read; one replugged at the same path meanwhile is not mixed with the
// old one: Gone compares inodes.
func TestVanishesMidRead(t *testing.T) {
	for _, replug := range []bool{false, true} {
		t.Run(map[bool]string{false: "unplug", true: "replug"}[replug], func(t *testing.T) {
			root, _ := threeDevices(t)
			dir := filepath.Join(root, "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
			rec := recorderFunc(func(p string) {
				if strings.HasSuffix(p, "/1-2/idProduct") {
					os.RemoveAll(dir)
					if replug {
						os.MkdirAll(dir, 0o755)
						os.WriteFile(filepath.Join(dir, "busnum"), []byte("1\n"), 0o644)
					}
				}
			})
			devs, warns := scanTest(openFS(t, root, WithRecorder(rec)))
			if len(warns) > 0 {
				t.Fatalf("warnings %v", warns)
			}
			if diff := cmp.Diff([]string{"1-1", "1-3", "usb1"}, testNames(devs)); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
		})
	}
}

// ReadEntries stops at the next entry once its context is done, however
// many are left.
func TestReadEntriesCancelled(t *testing.T) {
	root, _ := threeDevices(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	read := 0
	devs, warns, err := ReadEntries(ctx, openFS(t, root), "sys/bus/usb/devices", []string{"1-1", "1-2", "1-3", "usb1"},
		func(d *Dir) (string, bool) {
			read++
			cancel()
			return d.Name(), true
		})
	if !errors.Is(err, context.Canceled) || devs != nil || warns != nil || read != 1 {
		t.Errorf("ReadEntries after cancel: %v, %v, %v after %d reads; want context.Canceled after 1", devs, warns, err, read)
	}
	// Names that cannot be one entry are skipped, not followed.
	names, _, err := ReadEntries(context.Background(), openFS(t, root), "sys/bus/usb/devices",
		[]string{"", ".", "..", "../usb1", "1-1"}, func(d *Dir) (string, bool) { return d.Path(), true })
	if err != nil || !slices.Equal(names, []string{"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"}) {
		t.Errorf("ReadEntries of odd names = %v, %v", names, err)
	}
}

// The getters that tell absent from broken: Flag, Target, Attr.
func TestGetters(t *testing.T) {
	root, tree := threeDevices(t)
	dev := "sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/"
	tree.WriteFile(dev+"authorized", "1\n")
	tree.WriteFile(dev+"avoid_reset_quirk", "2\n")
	d, err := openFS(t, root).OpenDir("/" + dev)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Name() != "1-1" || d.Path() != "/"+strings.TrimSuffix(dev, "/") {
		t.Errorf("Name %q, Path %q", d.Name(), d.Path())
	}
	if v, ok := d.Flag("authorized"); !v || !ok {
		t.Errorf("Flag(authorized) = %v, %v", v, ok)
	}
	if _, ok := d.Flag("avoid_reset_quirk"); ok {
		t.Error("Flag read 2")
	}
	if _, ok := d.Flag("nonexistent"); ok {
		t.Error("Flag read a missing file")
	}
	if _, ok := d.Attr("nonexistent", Optional); ok {
		t.Error("Attr read a missing file")
	}
	sub, err := d.Sub("1-1:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := sub.Target("driver"); got != "ftdi_sio" {
		t.Errorf("Target(driver) = %q", got)
	}
	if got := sub.Target("nonexistent"); got != "" {
		t.Errorf("Target(nonexistent) = %q", got)
	}
	sub.Attr("nonexistent", Required)
	sub.Close()
	var got []string
	for _, w := range d.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`1-1: /` + dev + `avoid_reset_quirk: invalid value: "2" is not 0 or 1`,
		`1-1: /` + dev + `1-1:1.0/nonexistent: missing`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if d.Vanished() {
		t.Error("a device still there vanished")
	}
	first, err1 := d.List()
	again, err2 := d.List()
	slices.Sort(first)
	slices.Sort(again)
	if err1 != nil || err2 != nil || len(first) == 0 || !slices.Equal(first, again) {
		t.Errorf("List twice: %v, %v; then %v, %v", first, err1, again, err2)
	}
	if _, err := openFS(t, root).OpenDir("sys/devices/nonexistent"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenDir of a missing directory: %v", err)
	}
}
