package hostdev_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hostdev/hostdev"
	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

// twoSticks builds a host with two identical FTDI adapters (serials K1 and
// K2) on bus 1, and a GPU with its audio function in IOMMU group 1.
func twoSticks(t *testing.T) string {
	root, _ := twoSticksTree(t)
	return root
}

func twoSticksTree(t *testing.T) (string, *sysfstest.Host) {
	t.Helper()
	tr := sysfstest.NewHost(t)
	root := tr.Root()
	tr.Plug(sysfstest.RootHub(1, "480"))
	for i, serial := range []string{"K1", "K2"} {
		tr.Plug(sysfstest.USBDevice{Bus: 1, Port: string(rune('1' + i)), IDVendor: 0x0403, IDProduct: 0x6001,
			Serial: new(serial)})
	}
	tr.AddIOMMUGroup(1)
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: new(1)})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Vendor: 0x10de, Device: 0x22ba, Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: new(1)})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return root, tr
}

func TestOpenDirectory(t *testing.T) {
	root := twoSticks(t)
	h, err := hostdev.Open(root, hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Root() != root {
		t.Errorf("Root() = %q, want %q", h.Root(), root)
	}
	res, err := h.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range res.Devices {
		names = append(names, d.Name)
	}
	want := []string{"usb1", "1-1", "1-2", "0000:00:14.0", "0000:01:00.0", "0000:01:00.1"}
	if !equal(names, want) {
		t.Errorf("Scan lists %q, want %q", names, want)
	}
	usb, err := h.Scan(context.Background(), discover.BusUSB)
	if err != nil {
		t.Fatal(err)
	}
	if len(usb.Devices) != 3 {
		t.Errorf("Scan(BusUSB) lists %d devices, want 3", len(usb.Devices))
	}
}

func TestOpenDefaultRoot(t *testing.T) {
	h, err := hostdev.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Root() != "/" {
		t.Errorf(`Open("").Root() = %q, want "/"`, h.Root())
	}
}

// TestOpenCapture opens a .tar.gz written by Snapshot, which the library
// could not read before there was a Host (only the CLI unpacked captures),
// and checks that Close removes the unpacked tree.
func TestOpenCapture(t *testing.T) {
	src, err := hostdev.Open(twoSticks(t), hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	want, err := src.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var capture bytes.Buffer
	if _, err := src.Snapshot(context.Background(), &capture); err != nil {
		t.Fatal(err)
	}
	// No .tar.gz suffix: a capture is known by its content.
	path := filepath.Join(t.TempDir(), "capture")
	if err := os.WriteFile(path, capture.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := hostdev.Open(path, hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	unpacked := h.Root()
	if unpacked == path {
		t.Fatalf("Root() is the capture file itself")
	}
	got, err := h.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Devices) != len(want.Devices) {
		t.Errorf("the capture lists %d devices, the tree %d", len(got.Devices), len(want.Devices))
	}
	for i := range min(len(got.Devices), len(want.Devices)) {
		g, w := got.Devices[i], want.Devices[i]
		if g.Name != w.Name || g.VendorID != w.VendorID || g.ProductID != w.ProductID {
			t.Errorf("device %d: capture has %s %s:%s, tree %s %s:%s", i, g.Name, g.VendorID, g.ProductID, w.Name, w.VendorID, w.ProductID)
		}
	}
	h.Close()
	if _, err := os.Stat(unpacked); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Close, the unpacked capture %s: %v, want it gone", unpacked, err)
	}
	h.Close() // twice is fine
}

// doneAt is a context that is done from the n-th call of its Err on: a
// cancel at a known point of an unpack, without timing.
type doneAt struct {
	context.Context
	n, calls int
	done     chan struct{}
}

func (c *doneAt) Done() <-chan struct{} { return c.done }

func (c *doneAt) Err() error {
	if c.calls++; c.calls < c.n {
		return nil
	}
	if c.calls == c.n {
		close(c.done)
	}
	return context.Canceled
}

func TestOpenContextCancelled(t *testing.T) {
	src, err := hostdev.Open(twoSticks(t), hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "capture.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Snapshot(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 10} { // before the unpack, and in it
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			tmp := t.TempDir() // where the capture would be unpacked
			t.Setenv("TMPDIR", tmp)
			ctx := &doneAt{Context: context.Background(), n: n, done: make(chan struct{})}
			h, err := hostdev.OpenContext(ctx, path)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("OpenContext = %v, %v; want context.Canceled", h, err)
			}
			if ctx.calls != n {
				t.Errorf("ctx.Err called %d times, want %d: the unpack went on after the cancel", ctx.calls, n)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notGzip := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notGzip, []byte("not a capture"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hostdev.Open(notGzip); !errors.Is(err, hostdev.ErrNotATree) {
		t.Errorf("Open(a text file) = %v, want ErrNotATree", err)
	}
	if _, err := hostdev.Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(a missing path) = %v, want fs.ErrNotExist", err)
	}
}

// TestResolveErrors checks that every failure a caller branches on comes
// back as a type errors.As finds, through the handle.
func TestResolveErrors(t *testing.T) {
	h, err := hostdev.Open(twoSticks(t), hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()

	d, _, err := h.Resolve(ctx, "host:0403:6001,serial=K2")
	if err != nil || d.Name != "1-2" {
		t.Errorf("Resolve(serial=K2) = %s, %v; want 1-2", d.Name, err)
	}
	d, _, err = h.Resolve(ctx, "-device usb-host,hostbus=1,hostport=1")
	if err != nil || d.Name != "1-1" {
		t.Errorf("Resolve(QEMU hostport=1) = %s, %v; want 1-1", d.Name, err)
	}
	d, _, err = h.Resolve(ctx, `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/></source></hostdev>`)
	if err != nil || d.Name != "0000:01:00.1" {
		t.Errorf("Resolve(libvirt PCI) = %s, %v; want 0000:01:00.1", d.Name, err)
	}

	var amb *match.AmbiguousError
	if _, _, err := h.Resolve(ctx, "host:0403:6001"); !errors.As(err, &amb) || len(amb.Candidates) != 2 {
		t.Errorf("Resolve(host:0403:6001) = %v, want an *AmbiguousError with 2 candidates", err)
	}
	var none *match.NoMatchError
	if _, _, err := h.Resolve(ctx, "serial=K3"); !errors.As(err, &none) {
		t.Errorf("Resolve(serial=K3) = %v, want a *NoMatchError", err)
	}
	var bad *match.ParseError
	if _, _, err := h.Resolve(ctx, "vendor=xyz"); !errors.As(err, &bad) {
		t.Errorf("Resolve(vendor=xyz) = %v, want a *ParseError", err)
	}
	var hv *hypervisor.Error
	if _, _, err := h.Resolve(ctx, "-device usb-host,vendorid=0403"); !errors.As(err, &hv) {
		t.Errorf("Resolve(octal vendorid) = %v, want a *hypervisor.Error", err)
	}
	if _, _, err := h.Resolve(ctx, "pci=['01:00.*']"); !errors.Is(err, hostdev.ErrSeveralReferences) {
		t.Errorf("Resolve of an xl entry for every function = %v, want ErrSeveralReferences", err)
	}
}

func TestAssess(t *testing.T) {
	h, err := hostdev.Open(twoSticks(t), hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rep, err := h.Assess(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, ok := rep.Verdict("0000:01:00.0")
	if !ok {
		t.Fatal("no verdict for 0000:01:00.0")
	}
	// Its audio function is on a host driver: the group is shared.
	if v.Assignable || !v.Has(readiness.GroupShared) {
		t.Errorf("0000:01:00.0: assignable=%v reasons=%v; want blocked by group-shared", v.Assignable, v.Reasons)
	}
}

// TestWatch plugs a device into a tree the Host reads and waits for its Add.
func TestWatch(t *testing.T) {
	root, tr := twoSticksTree(t)
	h, err := hostdev.Open(root, hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := h.Watch(ctx, discover.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n := len(w.Devices()); n != 6 {
		t.Errorf("the watcher starts with %d devices, want 6", n)
	}
	tr.Plug(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x0627, IDProduct: 0x0001})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-w.Events:
			if ev.Op == discover.Add && ev.Device.Name == "1-3" {
				return
			}
		case err := <-w.Errors:
			t.Logf("watcher: %v", err)
		case <-timeout:
			t.Fatal("no Add for 1-3 within 30 s")
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResolveMoved: a reference that remembers a bus and device number
// where its device no longer is finds the device again, and says so.
func TestResolveMoved(t *testing.T) {
	h, err := hostdev.Open(twoSticks(t), hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	k2, _, err := h.Resolve(ctx, "serial=K2")
	if err != nil {
		t.Fatal(err)
	}
	// libvirt's form after a replug: the old address is stale.
	ref := fmt.Sprintf(`<hostdev mode='subsystem' type='usb'><source><vendor id='0x0403'/><product id='0x6001'/><address bus='1' device='%d'/></source></hostdev>`, k2.USB.Devnum+50)
	d, moved, err := h.Resolve(ctx, ref)
	var amb *match.AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("Resolve(two sticks at a stale address) = %s, %v, %v; want ambiguous", d.Name, moved, err)
	}
	// Told apart by serial, the move is followed and reported.
	d, moved, err = h.Resolve(ctx, fmt.Sprintf("vendor=0403,product=6001,busnum=1,devnum=%d,serial=K2", k2.USB.Devnum+50))
	if err != nil || d.Name != "1-2" {
		t.Fatalf("Resolve(moved K2) = %s, %v; want 1-2", d.Name, err)
	}
	if moved == nil || moved.ToDev != k2.USB.Devnum || moved.FromDev != k2.USB.Devnum+50 {
		t.Errorf("Resolve(moved K2): moved = %v, want from devnum %d to %d", moved, k2.USB.Devnum+50, k2.USB.Devnum)
	}
	if _, moved, err := h.Resolve(ctx, "serial=K2"); err != nil || moved != nil {
		t.Errorf("Resolve(serial=K2): moved = %v, err = %v; want neither", moved, err)
	}
}

// TestClosed: a closed Host refuses work instead of reading a tree that
// Close removed.
func TestClosed(t *testing.T) {
	src, err := hostdev.Open(twoSticks(t), hostdev.WithoutNames())
	if err != nil {
		t.Fatal(err)
	}
	var capture bytes.Buffer
	if _, err := src.Snapshot(context.Background(), &capture); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if _, err := src.Scan(context.Background()); !errors.Is(err, hostdev.ErrClosed) {
		t.Errorf("Scan after Close = %v, want ErrClosed", err)
	}
	path := filepath.Join(t.TempDir(), "capture.tar.gz")
	if err := os.WriteFile(path, capture.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := hostdev.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Scan":     func() error { _, err := h.Scan(ctx); return err },
		"Assess":   func() error { _, err := h.Assess(ctx); return err },
		"Resolve":  func() error { _, _, err := h.Resolve(ctx, "serial=K1"); return err },
		"Watch":    func() error { _, err := h.Watch(ctx, discover.WatchOptions{}); return err },
		"Snapshot": func() error { _, err := h.Snapshot(ctx, io.Discard); return err },
	} {
		if err := call(); !errors.Is(err, hostdev.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
