package discover

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
	"github.com/hostdev/hostdev/uevent"
)

// A fake host for watcher tests: a tree to plug into, and a watcher on it.
type fakeHost struct {
	t     *testing.T
	tree  *sysfstest.Host
	w     *Watcher
	hooks *watchHooks // for the next start

	mu   sync.Mutex
	errs []error
}

// newHost makes a tree with root hubs on the given buses (16 ports each),
// whatever setup adds, and a watcher on it that relies on file events
// alone: no rescan, no uevents.
func newHost(t *testing.T, charLinks bool, buses []int, opts WatchOptions) *fakeHost {
	t.Helper()
	h := newTree(t, charLinks, buses)
	h.start(opts)
	return h
}

// newTree is newHost without the watcher.
func newTree(t *testing.T, charLinks bool, buses []int) *fakeHost {
	t.Helper()
	tr := sysfstest.NewHostAt(t.TempDir())
	tr.CharLinks = charLinks
	for _, b := range buses {
		rh := sysfstest.RootHub(b, "480")
		rh.MaxChild = 16
		rh.Controller = fmt.Sprintf("0000:00:%02x.0", 0x10+b)
		tr.Plug(rh)
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return &fakeHost{t: t, tree: tr}
}

func (h *fakeHost) start(opts WatchOptions) {
	h.t.Helper()
	opts.Root = h.tree.Root()
	opts.Numeric = true
	opts.Uevents = UeventsOff
	if opts.Rescan == 0 {
		opts.Rescan = NoRescan
	}
	w, err := watch(context.Background(), opts, h.hooks)
	if err != nil {
		h.t.Fatal(err)
	}
	h.w = w
	h.t.Cleanup(func() { w.Close() })
	go func() {
		for err := range w.Errors {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
		}
	}()
	if !opts.Initial {
		// Ready comes first; a test with Initial sees it after the adds.
		want(h.t, h.next(1), "ready")
	}
}

func (h *fakeHost) errors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.errs)
}

func (h *fakeHost) check() {
	h.t.Helper()
	if err := h.tree.Err(); err != nil {
		h.t.Fatal(err)
	}
}

// next waits for n events.
func (h *fakeHost) next(n int) []Event {
	h.t.Helper()
	var out []Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-h.w.Events:
			if !ok {
				h.t.Fatalf("Events closed after %d of %d events: %s", len(out), n, brief(out))
			}
			out = append(out, ev)
		case <-timeout:
			h.t.Fatalf("got %d of %d events in 10s: %s; errors %v", len(out), n, brief(out), h.errors())
		}
	}
	return out
}

// quiet checks that no event comes for a while.
func (h *fakeHost) quiet(d time.Duration) {
	h.t.Helper()
	select {
	case ev := <-h.w.Events:
		h.t.Fatalf("unexpected event %s", brief([]Event{ev}))
	case <-time.After(d):
	}
}

// same checks the watcher's view against a fresh Scan.
func (h *fakeHost) same() {
	h.t.Helper()
	res, err := Scan(context.Background(), Options{Root: h.tree.Root(), Numeric: true})
	if err != nil {
		h.t.Fatal(err)
	}
	got := h.w.Devices()
	if !reflect.DeepEqual(got, res.Devices) {
		h.t.Fatalf("the watcher sees %d devices, a scan %d:\nwatcher %s\nscan    %s",
			len(got), len(res.Devices), names(got), names(res.Devices))
	}
}

func names(ds []Device) string {
	var s []string
	for _, d := range ds {
		if d.USB != nil {
			s = append(s, fmt.Sprintf("%s@%d", d.Name, d.USB.Devnum))
		} else {
			s = append(s, d.Name)
		}
	}
	return strings.Join(s, " ")
}

// op says what an event is: "add 1-1@2", "ready".
func op(e Event) string {
	if e.Op == Ready {
		return "ready"
	}
	return e.Op.String() + " " + names([]Device{e.Device})
}

func brief(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, op(e))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func want(t *testing.T, evs []Event, ops ...string) {
	t.Helper()
	var got []string
	for _, e := range evs {
		got = append(got, op(e))
	}
	if !slices.Equal(got, ops) {
		t.Fatalf("events %q, want %q", got, ops)
	}
}

func key(bus int, port string, serial string) sysfstest.USBDevice {
	return sysfstest.USBDevice{Bus: bus, Port: port, IDVendor: 0x0483, IDProduct: 0x2016,
		Serial:     &serial,
		Interfaces: []sysfstest.USBInterface{{Class: 8, SubClass: 6, Protocol: 0x50, Driver: "usb-storage"}}}
}

// Add, remove and replug, with and without the kernel's /sys/dev/char
// links, which let the watcher go from a node straight to its device.
func TestWatchPlugUnplugReplug(t *testing.T) {
	for _, char := range []bool{true, false} {
		t.Run(fmt.Sprintf("charlinks=%v", char), func(t *testing.T) {
			h := newHost(t, char, []int{1}, WatchOptions{})
			h.tree.Plug(key(1, "3", "K1"))
			h.check()
			evs := h.next(1)
			want(t, evs, "add 1-3@2")
			if d := evs[0].Device; d.USB.Serial == nil || *d.USB.Serial != "K1" || len(d.USB.Interfaces) != 1 || d.USB.Interfaces[0].Driver != "usb-storage" {
				t.Errorf("added device %+v", d.USB)
			}
			h.same()

			h.tree.Unplug("1-3")
			want(t, h.next(1), "remove 1-3@2")
			h.same()

			h.tree.Plug(key(1, "3", "K1"))
			want(t, h.next(1), "add 1-3@3")
			h.same()

			// Replugged faster than the watcher looks: the same name with
			// a new devnum is a remove and an add, never a change. The
			// settle looks at 1-3@3 are done first, so that none lands in
			// the middle.
			h.idle()
			h.tree.Unplug("1-3")
			h.tree.Plug(key(1, "3", "K1"))
			h.check()
			evs = h.next(2)
			want(t, evs, "remove 1-3@3", "add 1-3@4")
			h.quiet(50 * time.Millisecond)
			h.same()
		})
	}
}

// A hub plugged with devices behind it, and unplugged with them.
func TestWatchBehindNewHub(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	hub := sysfstest.Hub(1, "2")
	h.tree.Plug(hub)
	for _, p := range []string{"2.1", "2.4", "2.3"} {
		h.tree.Plug(key(1, p, "S"+p))
	}
	h.check()
	evs := h.next(4)
	slices.SortFunc(evs, func(a, b Event) int { return compareDevices(a.Device, b.Device) })
	want(t, evs, "add 1-2@2", "add 1-2.1@3", "add 1-2.3@5", "add 1-2.4@4")
	h.same()
	h.tree.Unplug("1-2")
	evs = h.next(4)
	for _, e := range evs {
		if e.Op != Remove {
			t.Errorf("after the hub went: %s", brief(evs))
		}
	}
	h.same()
}

// A bus whose folder, and the folders above it, did not exist when the
// watch began.
func TestWatchNewBus(t *testing.T) {
	tr := sysfstest.NewHostAt(t.TempDir())
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000})
	h := &fakeHost{t: t, tree: tr}
	h.check()
	h.start(WatchOptions{})
	if _, err := os.Stat(filepath.Join(tr.Root(), "dev")); !os.IsNotExist(err) {
		t.Fatalf("the tree has a dev folder already: %v", err)
	}
	tr.Plug(sysfstest.RootHub(4, "5000"))
	h.check()
	// The root hub's controller, new too, is read with it.
	want(t, h.next(2), "add usb4@1", "add 0000:00:14.0")
	tr.Plug(key(4, "1", "K4"))
	h.check()
	want(t, h.next(1), "add 4-1@2")
	h.same()

	// The bus goes, and devtmpfs takes the empty folders with it; then it
	// comes back.
	tr.Unplug("usb4")
	h.check()
	if _, err := os.Stat(filepath.Join(tr.Root(), "dev", "bus")); !os.IsNotExist(err) {
		t.Fatalf("dev/bus is still there: %v", err)
	}
	evs := h.next(2)
	slices.SortFunc(evs, func(a, b Event) int { return compareDevices(a.Device, b.Device) })
	want(t, evs, "remove usb4@1", "remove 4-1@2") // the controller stays
	h.same()
	tr.Plug(sysfstest.RootHub(4, "5000"))
	tr.Plug(key(4, "2", "K4"))
	h.check()
	// The watcher may still be busy with the unplug (a listing for the
	// folders that went) as the bus comes back, and read the root hub
	// while it is made. The two adds, and at most changes of those two
	// (settle looks that find them whole), once the watcher is done.
	evs = nil
	for _, n := range []string{"usb4", "4-2"} {
		for !slices.ContainsFunc(evs, func(e Event) bool { return e.Op == Add && e.Device.Name == n }) {
			evs = append(evs, h.next(1)...)
		}
	}
	h.idle() // the pass's events are in Events before the loop waits
	for more := true; more; {
		select {
		case ev := <-h.w.Events:
			evs = append(evs, ev)
		default:
			more = false
		}
	}
	var added []string
	for _, e := range evs {
		switch {
		case e.Op == Add:
			added = append(added, names([]Device{e.Device}))
		case e.Op == Change && (e.Device.Name == "usb4" || e.Device.Name == "4-2"):
		default:
			t.Errorf("after the bus came back: %s", brief(evs))
		}
	}
	if slices.Sort(added); !slices.Equal(added, []string{"4-2@2", "usb4@1"}) {
		t.Errorf("after the bus came back: %s", brief(evs))
	}
	h.same()
}

// A folder above the bus folders removed just after the watcher watched
// it, and its parent watched only then (the watcher looked again and found
// the parent the deepest folder there): inotify tells nothing of that
// removal, as fsnotify leaves out a watched folder's own removal when it
// watches the parent, and the parent's watch came too late to see it. The
// folder made again is a new one, which the watcher must watch rather
// than take for the one it watched: what is made in it next, a bus and
// its root hub, is seen at once. Under load, an unplug and replug of a
// host's last bus can go this way.
func TestWatchFolderReplacedUnseen(t *testing.T) {
	tr := sysfstest.NewHostAt(t.TempDir())
	h := &fakeHost{t: t, tree: tr}
	root := tr.Root()
	bus := filepath.Join(root, "dev", "bus")
	poke := filepath.Join(root, "poke")
	var (
		mu     sync.Mutex
		seen   []string
		gone   bool
		hookEr error
	)
	h.hooks = &watchHooks{
		// Unbuffered, so that fsnotify hands the poke over before it reads
		// what follows it.
		noEventBuffer: true,
		addWatch: func(fsw *fsnotify.Watcher, dir string) error {
			if err := fsw.Add(dir); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if dir == bus && !gone {
				// Watched, then removed at once. fsnotify reads the removal
				// after the poke, which the loop takes only when this pass
				// is over: by then the parent, dev, is watched too.
				gone = true
				hookEr = errors.Join(os.WriteFile(poke, nil, 0o644), os.Remove(bus))
			}
			return nil
		},
		seen: func(ev fsnotify.Event) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Has(fsnotify.Create) {
				seen = append(seen, ev.Name)
			}
		},
	}
	h.start(WatchOptions{})
	// waitSeen waits until the loop has taken in the creation of name.
	waitSeen := func(name string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			ok, err := slices.Contains(seen, name), hookEr
			mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the watcher did not take in %s in 10s", name)
			}
		}
	}
	if err := os.MkdirAll(bus, 0o755); err != nil {
		t.Fatal(err)
	}
	waitSeen(poke)
	if _, err := os.Stat(bus); !os.IsNotExist(err) {
		t.Fatalf("dev/bus is there: %v", err)
	}
	// dev/bus again, alone: the deepest folder, for the watcher to watch.
	if err := os.Mkdir(bus, 0o755); err != nil {
		t.Fatal(err)
	}
	waitSeen(bus)
	rh := sysfstest.RootHub(2, "480")
	rh.Controller = "0000:00:12.0"
	tr.Plug(rh)
	tr.Plug(key(2, "1", "AGAIN"))
	h.check()
	evs := h.next(3) // in one pass or more: sorted
	slices.SortFunc(evs, func(a, b Event) int { return compareDevices(a.Device, b.Device) })
	want(t, evs, "add usb2@1", "add 2-1@2", "add 0000:00:12.0")
	h.same()
}

// funcRecorder is a sysfs.Recorder that calls file with the path of each
// file read.
type funcRecorder func(path string)

func (f funcRecorder) File(path string, _ []byte) { f(path) }
func (funcRecorder) Symlink(string, string)       {}
func (funcRecorder) Dir(string)                   {}

// A device read while the kernel is still making it, its node made just
// after the read and before the watcher compares: it is not added half
// made, to change a moment later, but once whole, when its node's event
// brings it back. The watcher reads it in a listing that another
// device's node (which no /sys/dev/char link names) calls for, and the
// test finishes it, driver link and node, as the watcher reads the other.
func TestWatchReadBeforeNode(t *testing.T) {
	h := newTree(t, false, []int{1})
	root := h.tree.Root()
	var (
		mu      sync.Mutex
		armed   bool
		hookErr error
	)
	var half, other sysfstest.USBDevice
	var ifDir, target string
	h.hooks = &watchHooks{recorder: funcRecorder(func(p string) {
		mu.Lock()
		defer mu.Unlock()
		if !armed || !strings.HasSuffix(p, "/1-4/busnum") {
			return
		}
		// 1-3, read just before, half made: the kernel finishes it now.
		armed = false
		hookErr = errors.Join(os.Symlink(target, filepath.Join(ifDir, "driver")),
			os.WriteFile(filepath.Join(root, fmt.Sprintf("dev/bus/usb/001/%03d", half.Devnum)), nil, 0o644))
	})}
	h.start(WatchOptions{})
	mu.Lock()
	half, other = key(1, "3", "HALF"), key(1, "4", "OTHER")
	half.Devnum, other.Devnum = 2, 3
	dir := filepath.Join(root, h.tree.AddUSB(half)) // no node yet
	h.tree.AddUSB(other)
	h.check()
	ifDir = filepath.Join(dir, "1-3:1.0")
	var err error
	if target, err = os.Readlink(filepath.Join(ifDir, "driver")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(ifDir, "driver")); err != nil { // not bound yet
		t.Fatal(err)
	}
	armed = true
	mu.Unlock()
	h.tree.AddDevNode(1, other.Devnum)
	h.check()
	var evs []Event
	for _, n := range []string{"1-3", "1-4"} {
		for !slices.ContainsFunc(evs, func(e Event) bool { return e.Op == Add && e.Device.Name == n }) {
			evs = append(evs, h.next(1)...)
		}
	}
	mu.Lock()
	if armed || hookErr != nil {
		t.Fatalf("the hook did not finish 1-3: %v", hookErr)
	}
	mu.Unlock()
	h.idle()
	for more := true; more; {
		select {
		case ev := <-h.w.Events:
			evs = append(evs, ev)
		default:
			more = false
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return compareDevices(a.Device, b.Device) })
	want(t, evs, fmt.Sprintf("add 1-3@%d", half.Devnum), fmt.Sprintf("add 1-4@%d", other.Devnum))
	if ifs := evs[0].Device.USB.Interfaces; len(ifs) != 1 || ifs[0].Driver != "usb-storage" {
		t.Errorf("1-3 added with interfaces %+v", ifs)
	}
	h.same()
}

// A device whose sysfs entries show up after its node: the node alone
// names nothing, and the watcher looks again until it does.
func TestWatchSysfsAfterNode(t *testing.T) {
	h := newHost(t, false, []int{2}, WatchOptions{})
	h.tree.AddDevNode(2, 2)
	h.quiet(30 * time.Millisecond)
	d := key(2, "1", "LATE")
	d.Devnum = 2
	h.tree.AddUSB(d)
	h.check()
	want(t, h.next(1), "add 2-1@2")
	h.same()
}

// The node goes first and the sysfs entries a little later: no file
// event marks the second step, and the device must still be removed.
func TestWatchNodeBeforeSysfs(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	n := h.tree.Plug(key(1, "1", "K")).Devnum
	want(t, h.next(1), "add 1-1@2")
	h.tree.RemoveDevNode(1, n)
	h.quiet(30 * time.Millisecond)
	h.tree.RemoveUSBEntries("1-1")
	h.check()
	want(t, h.next(1), "remove 1-1@2")
	h.same()
}

// An interface and its driver arrive after the device, with no event of
// their own: the watcher's second looks at a new device see them.
func TestWatchChangeAfterAdd(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	d := key(1, "2", "C")
	d.Interfaces = []sysfstest.USBInterface{}
	h.tree.Plug(d)
	want(t, h.next(1), "add 1-2@2")
	if ifs := h.w.Devices()[1].USB.Interfaces; len(ifs) != 0 {
		t.Fatalf("interfaces before they came: %+v", ifs)
	}
	dir := h.w.Devices()[1].SysfsPath
	ifDir := filepath.Join(h.tree.Root(), dir, "1-2:1.0")
	for name, val := range map[string]string{"bInterfaceNumber": "00\n", "bInterfaceClass": "08\n",
		"bInterfaceSubClass": "06\n", "bInterfaceProtocol": "50\n"} {
		h.tree.WriteFile(filepath.Join(dir, "1-2:1.0", name)[1:], val)
	}
	h.tree.Symlink("sys/bus/usb/devices/1-2:1.0", "../../.."+dir+"/1-2:1.0")
	h.check()
	if _, err := os.Stat(ifDir); err != nil {
		t.Fatal(err)
	}
	evs := h.next(1)
	want(t, evs, "change 1-2@2")
	if ifs := evs[0].Device.USB.Interfaces; len(ifs) != 1 || ifs[0].Class != 8 {
		t.Errorf("changed device's interfaces %+v", ifs)
	}
	h.same()
}

// Every device of a burst is reported exactly once, in far fewer passes
// than devices, and without a full rescan.
func TestWatchBurst(t *testing.T) {
	h := newHost(t, true, []int{1, 2, 3, 4, 5}, WatchOptions{})
	var plugged []string
	for b := 1; b <= 5; b++ {
		for hub := 1; hub <= 10; hub++ {
			hd := sysfstest.Hub(b, fmt.Sprint(hub))
			hd.MaxChild = 9
			h.tree.Plug(hd)
			plugged = append(plugged, fmt.Sprintf("%d-%d", b, hub))
			for p := 1; p <= 9; p++ {
				port := fmt.Sprintf("%d.%d", hub, p)
				h.tree.Plug(key(b, port, port))
				plugged = append(plugged, fmt.Sprintf("%d-%s", b, port))
			}
		}
	}
	h.check()
	evs := h.next(len(plugged))
	var got []string
	for _, e := range evs {
		if e.Op != Add {
			t.Fatalf("a burst of plugs gave %s", brief([]Event{e}))
		}
		got = append(got, e.Device.Name)
	}
	slices.Sort(got)
	slices.Sort(plugged)
	if !slices.Equal(got, plugged) {
		t.Fatalf("%d adds for %d plugs", len(got), len(plugged))
	}
	h.quiet(50 * time.Millisecond)
	h.same()
	if st := h.w.stats(); st.full != 1 {
		t.Errorf("%d plugs took %d full rescans, want only the first", len(plugged), st.full)
	}

	// A hub with 7 devices, plugged while the watcher is busy: not one
	// pass per device, and no full rescan.
	hd := sysfstest.Hub(1, "11")
	hd.MaxChild = 7
	h.w.mu.Lock()
	before := h.w.stats()
	h.tree.Plug(hd)
	for p := 1; p <= 7; p++ {
		h.tree.Plug(key(1, fmt.Sprintf("11.%d", p), fmt.Sprint(p)))
	}
	h.check()
	time.Sleep(20 * time.Millisecond)
	h.w.mu.Unlock()
	h.next(8)
	after := h.w.stats()
	if after.full != before.full || after.passes-before.passes > 4 {
		t.Errorf("a hub with 7 devices took %d passes and %d full rescans", after.passes-before.passes, after.full-before.full)
	}
	t.Logf("a hub with 7 devices: %d passes", after.passes-before.passes)
}

// An inotify overflow (here injected) means a full rescan, and the user
// is told; changes nobody announced are found by it.
func TestWatchOverflowInjected(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	d := key(1, "4", "QUIET")
	h.tree.AddUSB(d) // no node: no file event
	h.check()
	h.quiet(30 * time.Millisecond)
	h.w.w.inject <- fsnotify.ErrEventOverflow
	want(t, h.next(1), "add 1-4@2")
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(h.errors(), func(e error) bool { return errors.Is(e, fsnotify.ErrEventOverflow) }) {
		if time.Now().After(deadline) {
			t.Fatalf("no overflow error; errors %v", h.errors())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := h.w.stats(); st.full != 2 {
		t.Errorf("%d full rescans, want the first and one for the overflow", st.full)
	}
	h.same()
}

// A real overflow: the kernel's inotify queue made tiny, which needs root.
func TestWatchOverflowReal(t *testing.T) {
	const knob = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(knob)
	if err == nil && os.Geteuid() == 0 {
		err = os.WriteFile(knob, []byte("4\n"), 0)
	} else if err == nil {
		err = errors.New("not root")
	}
	if err != nil {
		testenv.Skip(t, "cannot shrink the inotify queue: %v", err)
	}
	// The limit is taken when an inotify instance is made.
	var h *fakeHost
	func() {
		defer os.WriteFile(knob, old, 0)
		h = newTree(t, false, []int{1})
		h.hooks = &watchHooks{noEventBuffer: true}
		h.start(WatchOptions{})
	}()
	var want []string
	h.w.mu.Lock() // hold the watcher in its first pass's update
	for p := 1; p <= 12; p++ {
		h.tree.Plug(key(1, fmt.Sprint(p), fmt.Sprint(p)))
		want = append(want, fmt.Sprintf("1-%d", p))
	}
	h.check()
	h.w.mu.Unlock()
	// The rescan the overflow calls for may read a device between its bus
	// link and its interfaces, as it could on a real kernel; that device
	// then changes once more. Only the adds are counted.
	var got []string
	var evs []Event
	for len(got) < len(want) && len(evs) < 3*len(want) {
		ev := h.next(1)[0]
		evs = append(evs, ev)
		switch {
		case ev.Op == Add:
			got = append(got, ev.Device.Name)
		case ev.Op != Change || !slices.Contains(got, ev.Device.Name):
			t.Errorf("event %s: want only adds, and changes of what was added", brief([]Event{ev}))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("adds %v, want %v (events %s)", got, want, brief(evs))
	}
	h.quiet(50 * time.Millisecond)
	h.same()
	if !slices.ContainsFunc(h.errors(), func(e error) bool { return errors.Is(e, fsnotify.ErrEventOverflow) }) {
		t.Errorf("no overflow reported: %v", h.errors())
	}
}

// Whatever order plugs and unplugs come in, once the host is quiet the
// watcher sees what a scan sees, and its events add up to it.
func TestWatchRandomSequences(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			h := newHost(t, seed%2 == 0, []int{1, 2}, WatchOptions{})
			rng := rand.New(rand.NewPCG(seed, 7))
			present := map[string]bool{}
			view := map[string]Device{}
			for _, d := range h.w.Devices() {
				view[d.Name] = d
			}
			for range 120 {
				bus := 1 + rng.IntN(2)
				port := fmt.Sprint(1 + rng.IntN(6))
				name := fmt.Sprintf("%d-%s", bus, port)
				if present[name] {
					h.tree.Unplug(name)
					delete(present, name)
				} else {
					h.tree.Plug(key(bus, port, name))
					present[name] = true
				}
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				}
			}
			h.check()
			// Apply the events to the first view until it matches.
			deadline := time.After(10 * time.Second)
			for {
				res, err := Scan(context.Background(), Options{Root: h.tree.Root(), Numeric: true})
				if err != nil {
					t.Fatal(err)
				}
				got := make([]Device, 0, len(view))
				for _, d := range view {
					got = append(got, d)
				}
				slices.SortFunc(got, compareDevices)
				if reflect.DeepEqual(got, res.Devices) {
					break
				}
				select {
				case ev := <-h.w.Events:
					switch ev.Op {
					case Add:
						if _, dup := view[ev.Device.Name]; dup {
							t.Fatalf("add of %s, which is there", ev.Device.Name)
						}
						view[ev.Device.Name] = ev.Device
					case Remove:
						if old, ok := view[ev.Device.Name]; !ok || old.USB.Devnum != ev.Device.USB.Devnum {
							t.Fatalf("remove of %s@%d, which is not there", ev.Device.Name, ev.Device.USB.Devnum)
						}
						delete(view, ev.Device.Name)
					case Change:
						view[ev.Device.Name] = ev.Device
					}
				case <-deadline:
					t.Fatalf("events add up to %s\nscan %s", names(got), names(res.Devices))
				}
			}
			h.quiet(30 * time.Millisecond)
			h.same()
		})
	}
}

// The periodic rescan finds what no source announces: here a PCI function.
func TestWatchPeriodicRescan(t *testing.T) {
	tr := sysfstest.NewHostAt(t.TempDir())
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000})
	h := &fakeHost{t: t, tree: tr}
	h.check()
	h.start(WatchOptions{Rescan: 20 * time.Millisecond, Initial: true})
	want(t, h.next(2), "add 0000:00:02.0", "ready")
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1f.3", Vendor: 0x8086, Device: 0xa348, Class: 0x040300, Driver: "snd_hda_intel"})
	h.check()
	want(t, h.next(1), "add 0000:00:1f.3")
	// Unbind the driver: a change.
	if err := os.Remove(filepath.Join(tr.Root(), h.w.Devices()[1].SysfsPath, "driver")); err != nil {
		t.Fatal(err)
	}
	evs := h.next(1)
	want(t, evs, "change 0000:00:1f.3")
	if evs[0].Device.PCI.Driver != "" {
		t.Errorf("driver %q after unbind", evs[0].Device.PCI.Driver)
	}
	// The change carries the device as it was.
	if o := evs[0].Old; o == nil || o.Name != "0000:00:1f.3" || o.PCI.Driver != "snd_hda_intel" {
		t.Errorf("Old %+v, want 0000:00:1f.3 with snd_hda_intel", o)
	}
	h.same()
}

// Initial sends the devices present first, in Scan's order, and Ready
// after them.
func TestWatchInitial(t *testing.T) {
	h := newHost(t, false, []int{1, 2}, WatchOptions{Initial: true})
	want(t, h.next(5), "add usb1@1", "add usb2@1", "add 0000:00:11.0", "add 0000:00:12.0", "ready")
	h.quiet(50 * time.Millisecond) // once only
}

// Close with events nobody reads: it returns at once, Events is closed,
// and no goroutine is left behind.
func TestWatchCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		tr := sysfstest.NewHostAt(t.TempDir())
		tr.Plug(sysfstest.RootHub(1, "480"))
		w, err := Watch(context.Background(), WatchOptions{Options: Options{Root: tr.Root(), Numeric: true}, Uevents: UeventsOff, Initial: true})
		if err != nil {
			t.Fatal(err)
		}
		for p := 1; p <= 4; p++ {
			tr.Plug(key(1, fmt.Sprint(p), "x"))
		}
		time.Sleep(20 * time.Millisecond) // let events queue up unread
		start := time.Now()
		w.Close()
		w.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close took %s", d)
		}
		for range w.Events {
		}
		for range w.Errors {
		}
	}
	// A cancelled context closes too.
	ctx, cancel := context.WithCancel(context.Background())
	tr := sysfstest.NewHostAt(t.TempDir())
	w, err := Watch(ctx, WatchOptions{Options: Options{Root: tr.Root()}, Uevents: UeventsOff})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range w.Events {
	}
	w.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Out of inotify watches: the watcher says so and polls instead, and
// still sees a plug on the bus it could not watch.
func TestWatchOutOfWatches(t *testing.T) {
	h := newTree(t, false, []int{1, 2})
	h.hooks = &watchHooks{addWatch: func(w *fsnotify.Watcher, dir string) error {
		if filepath.Base(dir) == "002" {
			return fmt.Errorf("inotify_add_watch %s: %w", dir, unix.ENOSPC)
		}
		return w.Add(dir)
	}}
	h.start(WatchOptions{})
	h.tree.Plug(key(2, "1", "P"))
	h.check()
	want(t, h.next(1), "add 2-1@2")
	errs := h.errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "out of inotify watches (fs.inotify.max_user_watches)") ||
		!strings.Contains(errs[0].Error(), "rescanning every 1s instead") {
		t.Errorf("errors %v", errs)
	}
	// A caller can tell it from the rest, and why it happened.
	var pe *PollingError
	if len(errs) == 0 || !errors.As(errs[0], &pe) || pe.Interval != time.Second || !errors.Is(errs[0], unix.ENOSPC) {
		t.Errorf("not a *PollingError wrapping ENOSPC: %#v", errs)
	}
	h.same()
}

// A device with sysfs entries but no node, on a bus that has nodes (what
// a container given one node of a bus sees of the others): its changes
// are held back while events come, but a full rescan tells them.
func TestWatchNodelessDeviceChanges(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	h.tree.AddUSB(key(1, "2", "NOLINK")) // no node
	h.check()
	h.w.w.inject <- fsnotify.ErrEventOverflow
	want(t, h.next(1), "add 1-2@2")
	drv := filepath.Join(h.tree.Root(), h.w.Devices()[1].SysfsPath, "1-2:1.0", "driver")
	if err := os.Remove(drv); err != nil {
		t.Fatal(err)
	}
	h.w.w.inject <- fsnotify.ErrEventOverflow
	evs := h.next(1)
	want(t, evs, "change 1-2@2")
	if d := evs[0].Device.USB.Interfaces[0].Driver; d != "" {
		t.Errorf("driver %q after unbind", d)
	}
	h.same()
}

// A node removed and made again in one pass (the watcher was busy): the
// device is not left marked as on its way out, and its changes are told.
func TestWatchNodeBackInOnePass(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	n := h.tree.Plug(key(1, "1", "BACK")).Devnum
	want(t, h.next(1), "add 1-1@2")
	h.w.mu.Lock()
	h.tree.RemoveDevNode(1, n)
	h.tree.AddDevNode(1, n)
	h.check()
	time.Sleep(20 * time.Millisecond)
	h.w.mu.Unlock()
	h.quiet(50 * time.Millisecond)
	if err := os.Remove(filepath.Join(h.tree.Root(), h.w.Devices()[1].SysfsPath, "1-1:1.0", "driver")); err != nil {
		t.Fatal(err)
	}
	h.tree.AddDevNode(1, 9) // any node event makes the watcher look
	h.tree.RemoveDevNode(1, 9)
	h.w.w.inject <- fsnotify.ErrEventOverflow
	want(t, h.next(1), "change 1-1@2")
	h.same()
}

// An overflow that swallowed a new bus folder's events, and the watch of
// dev/bus/usb with them: the rescan it causes watches both again, so the
// next plug on that bus, and the next bus, are seen at once.
func TestWatchOverflowNewBusFolder(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	devDir := filepath.Join(h.tree.Root(), "dev", "bus", "usb")
	if err := h.w.w.fsw.Remove(devDir); err != nil { // fsnotify's methods are safe to call from here
		t.Fatal(err)
	}
	rh := sysfstest.RootHub(3, "480")
	rh.Controller = "0000:00:11.0"
	h.tree.Plug(rh)
	h.check()
	h.quiet(30 * time.Millisecond) // nothing watches dev/bus/usb: unseen
	h.w.w.inject <- fsnotify.ErrEventOverflow
	want(t, h.next(1), "add usb3@1")
	h.tree.Plug(key(3, "1", "ON3"))
	h.check()
	want(t, h.next(1), "add 3-1@2")
	rh = sysfstest.RootHub(5, "480")
	rh.Controller = "0000:00:11.0"
	h.tree.Plug(rh)
	h.check()
	want(t, h.next(1), "add usb5@1")
	h.same()
}

// With uevents, an unplug takes the interfaces first: no change is told
// for that, only the remove. A driver unbound from a device that stays is
// a change, told a little later.
func TestWatchInterfaceUevents(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	h.w.mu.Lock() // the loop reads it only in a pass, which takes mu
	h.w.w.fedUevents = true
	h.w.mu.Unlock()
	n := h.tree.Plug(key(1, "1", "U")).Devnum
	want(t, h.next(1), "add 1-1@2")
	dev := h.w.Devices()[1]
	uev := func(action, devpath string) {
		h.w.w.uevents <- ueventItem{ev: uevent.Event{Action: action, Devpath: devpath, Subsystem: "usb", Devtype: "usb_interface"}}
	}
	ifPath := strings.TrimPrefix(dev.SysfsPath, "/sys") + "/1-1:1.0"

	// Unbind, the device stays.
	if err := os.Remove(filepath.Join(h.tree.Root(), dev.SysfsPath, "1-1:1.0", "driver")); err != nil {
		t.Fatal(err)
	}
	uev("unbind", ifPath)
	evs := h.next(1)
	want(t, evs, "change 1-1@2")

	// Unplug: the interface goes, then the node, then the rest.
	if err := os.RemoveAll(filepath.Join(h.tree.Root(), dev.SysfsPath, "1-1:1.0")); err != nil {
		t.Fatal(err)
	}
	uev("remove", ifPath)
	time.Sleep(2 * time.Millisecond)
	h.tree.RemoveDevNode(1, n)
	time.Sleep(2 * time.Millisecond)
	h.tree.RemoveUSBEntries("1-1")
	h.check()
	want(t, h.next(1), "remove 1-1@2")
	h.quiet(50 * time.Millisecond)
	h.same()
}

// A PCI function removed and back at its address before the watcher
// reads it: the kernel's remove says it is a new instance, so it is a
// remove and an add, not nothing.
func TestWatchPCIRemovedAndBack(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	pci := func(action string) {
		h.w.w.uevents <- ueventItem{ev: uevent.Event{Action: action, Devpath: "/devices/pci0000:00/0000:00:11.0", Subsystem: "pci"}}
	}
	// The plug's pass waits on mu, which the test holds, so that both
	// uevents wait for the pass after it and make one batch. Sent before
	// that pass has begun, they could make it with the plug's node event
	// (the order of the events is then another), or come before it.
	h.w.mu.Lock()
	passes := h.w.w.passes.Load()
	h.tree.Plug(key(1, "1", "X"))
	h.check()
	for deadline := time.Now().Add(10 * time.Second); h.w.w.passes.Load() == passes; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			h.w.mu.Unlock()
			t.Fatal("no pass for the plug in 10s")
		}
	}
	pci("remove")
	pci("add")
	h.w.mu.Unlock()
	want(t, h.next(3), "add 1-1@2", "remove 0000:00:11.0", "add 0000:00:11.0")
	h.same()
}

// A device read while it is being taken apart, its devnum file already
// gone: that is no new device (a bench run once saw "remove 81-71@5, add
// 81-71@0"), only the remove when it is gone.
func TestWatchHalfGoneDevice(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	n := h.tree.Plug(key(1, "1", "HALF")).Devnum
	want(t, h.next(1), "add 1-1@2")
	dir := filepath.Join(h.tree.Root(), h.w.Devices()[1].SysfsPath)
	h.tree.RemoveDevNode(1, n)
	if err := os.Remove(filepath.Join(dir, "devnum")); err != nil {
		t.Fatal(err)
	}
	h.quiet(150 * time.Millisecond) // the rechecks read it, half gone
	h.tree.RemoveUSBEntries("1-1")
	h.check()
	want(t, h.next(1), "remove 1-1@2")
	h.quiet(50 * time.Millisecond)
	h.same()
}

// An interface folder read before its files are made is no warning: the
// watcher looks again, and warns only if a file is still missing then.
func TestWatchInterfaceBeingMade(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	d := key(1, "3", "MAKING")
	d.Interfaces = []sysfstest.USBInterface{}
	h.tree.Plug(d)
	want(t, h.next(1), "add 1-3@2")
	dir := h.w.Devices()[1].SysfsPath
	h.tree.WriteFile(dir[1:]+"/1-3:1.0/bInterfaceNumber", "00\n") // the rest comes later
	h.tree.Symlink("sys/bus/usb/devices/1-3:1.0", "../../.."+dir+"/1-3:1.0")
	h.check()
	h.w.w.uevents <- ueventItem{ev: uevent.Event{Action: "add", Devpath: strings.TrimPrefix(dir, "/sys") + "/1-3:1.0", Subsystem: "usb", Devtype: "usb_interface"}}
	time.Sleep(5 * time.Millisecond)
	for name, val := range map[string]string{"bInterfaceClass": "08\n", "bInterfaceSubClass": "06\n", "bInterfaceProtocol": "50\n"} {
		h.tree.WriteFile(dir[1:]+"/1-3:1.0/"+name, val)
	}
	h.check()
	deadline := time.After(5 * time.Second)
	for {
		evs := h.next(1)
		if ifs := evs[0].Device.USB.Interfaces; evs[0].Op == Change && len(ifs) == 1 && ifs[0].Class == 8 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("no change with the interface whole")
		default:
		}
	}
	h.quiet(50 * time.Millisecond)
	if errs := h.errors(); len(errs) != 0 {
		t.Errorf("warnings about an interface being made: %v", errs)
	}
	h.same()

	// One that stays broken is told, once.
	h.tree.WriteFile(dir[1:]+"/1-3:1.1/bInterfaceNumber", "01\n")
	h.tree.Symlink("sys/bus/usb/devices/1-3:1.1", "../../.."+dir+"/1-3:1.1")
	h.check()
	h.w.w.uevents <- ueventItem{ev: uevent.Event{Action: "add", Devpath: strings.TrimPrefix(dir, "/sys") + "/1-3:1.1", Subsystem: "usb", Devtype: "usb_interface"}}
	for deadline := time.Now().Add(5 * time.Second); len(h.errors()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if errs := h.errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "1-3:1.1/bInterfaceClass: missing") {
		t.Errorf("errors %v", errs)
	}
}

// idle waits until the loop waits for events with no timer armed (no
// recheck pending, no rescan or poll), and no pass has begun since, and
// returns how many times it has waited. A test calls it where the host is
// quiet, to let the watcher's rechecks finish.
func (h *fakeHost) idle() int64 {
	h.t.Helper()
	w := h.w.w
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		// Each turn of the loop counts a wait (after storing the timers it
		// armed) and then a pass: waits is passes+1 while it waits.
		p := w.passes.Load()
		waits := w.waits.Load()
		armed := w.armed.Load()
		if waits == p+1 && armed == 0 && w.passes.Load() == p {
			return waits
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the watcher is not idle: %d waits, %d passes, %d timers armed", waits, p, armed)
		}
	}
}

// A kernel message that does not parse is told on Errors and skipped: it
// says nothing was lost, so it is no reason for a full rescan.
func TestWatchUeventSyntaxErrorSkipped(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{})
	h.w.mu.Lock() // the loop reads it only in a pass, which takes mu
	h.w.w.fedUevents = true
	h.w.mu.Unlock()
	h.tree.AddUSB(key(1, "4", "QUIET")) // no node, so only a full rescan sees it
	h.check()
	waits := h.idle()
	h.w.w.uevents <- ueventItem{err: &uevent.SyntaxError{Offset: 7, Msg: "no '=' in field"}}
	for deadline := time.Now().Add(10 * time.Second); h.w.w.waits.Load() == waits; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher made no pass for the message")
		}
	}
	// The pass's events, had it any, are in Events before the loop waits
	// again.
	select {
	case ev := <-h.w.Events:
		t.Errorf("a bad message gave %s", brief([]Event{ev}))
	default:
	}
	if st := h.w.stats(); st.full != 1 {
		t.Errorf("%d full rescans, want only the first", st.full)
	}
	for deadline := time.Now().Add(10 * time.Second); len(h.errors()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the bad message was not told")
		}
	}
	var syn *uevent.SyntaxError
	if errs := h.errors(); len(errs) != 1 || !errors.As(errs[0], &syn) || syn.Offset != 7 {
		t.Errorf("errors %v, want one *uevent.SyntaxError", errs)
	}
}

// Without uevents, a new device is read again while it settles. A look
// that lands in the middle of an unplug is no change: the kernel has
// unbound the interfaces' drivers or taken the interfaces, not yet the
// node, or the node too, its event not yet read (and with it the bus
// folder, for a bus's last node, so that no folder says a node is
// missing). The watcher looks again a little later, and by then the
// device is gone, which is a remove and nothing else. A device that is
// still there without its interfaces or drivers then was deconfigured or
// unbound, and that is a change. The unplug happens from the watcher's
// own rechecks, so the test needs no timing.
func TestWatchUnplugHalfWayIsNoChange(t *testing.T) {
	rootHub := sysfstest.RootHub(2, "480")
	rootHub.Controller = "0000:00:11.0"
	for _, tc := range []struct {
		name   string
		dev    sysfstest.USBDevice
		take   string // at the first settle look: "interfaces", "drivers", or "interfaces+node"
		unplug bool   // at the late look, the node and the device are gone
		want   string
	}{
		{"unplugged", key(1, "3", "K"), "interfaces", true, "remove 1-3@2"},
		{"deconfigured", key(1, "3", "K"), "interfaces", false, "change 1-3@2"},
		{"unbinding, unplugged", key(1, "3", "K"), "drivers", true, "remove 1-3@2"},
		{"unbound", key(1, "3", "K"), "drivers", false, "change 1-3@2"},
		{"root hub, node and folder gone", rootHub, "interfaces+node", true, "remove usb2@1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTree(t, false, []int{1})
			root := h.tree.Root()
			var (
				mu      sync.Mutex // the tree, between the test and the hook
				plugged sysfstest.USBDevice
				name    string
				settled bool
			)
			h.hooks = &watchHooks{due: func(k recheckKey) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case k == recheckKey{name: name} && !settled:
					// The first settle look: the kernel has just unbound the
					// interface, or taken it with its bus link and its
					// driver's, and perhaps the node.
					settled = true
					ifName := strings.TrimPrefix(name, "usb") + ":1.0"
					if plugged.Port == "" {
						ifName = strings.TrimPrefix(name, "usb") + "-0:1.0"
					}
					link := filepath.Join(root, "sys/bus/usb/devices", ifName)
					dir, err := filepath.EvalSymlinks(link)
					if err != nil {
						t.Error(err)
						return
					}
					drv, err := filepath.EvalSymlinks(filepath.Join(dir, "driver"))
					if err != nil {
						t.Error(err)
						return
					}
					gone := []string{filepath.Join(dir, "driver"), filepath.Join(drv, ifName)}
					if tc.take != "drivers" {
						gone = append(gone, dir, link)
					}
					for _, p := range gone {
						if err := os.RemoveAll(p); err != nil {
							t.Error(err)
						}
					}
					if tc.take == "interfaces+node" {
						h.tree.RemoveDevNode(plugged.Bus, plugged.Devnum)
					}
				case k == recheckKey{name: name, late: true} && tc.unplug:
					if tc.take != "interfaces+node" {
						h.tree.RemoveDevNode(plugged.Bus, plugged.Devnum)
					}
					h.tree.RemoveUSBEntries(name)
				}
			}}
			h.start(WatchOptions{})
			mu.Lock()
			plugged = h.tree.Plug(tc.dev)
			name = "usb2"
			if plugged.Port != "" {
				name = fmt.Sprintf("%d-%s", plugged.Bus, plugged.Port)
			}
			h.check()
			mu.Unlock()
			want(t, h.next(1), fmt.Sprintf("add %s@%d", name, plugged.Devnum))
			evs := h.next(1)
			want(t, evs, tc.want)
			mu.Lock()
			h.check()
			if !settled {
				t.Error("no settle look")
			}
			if tc.take == "interfaces+node" {
				if _, err := os.Stat(filepath.Join(root, "dev/bus/usb/002")); !os.IsNotExist(err) {
					t.Errorf("the bus folder is still there: %v", err)
				}
			}
			mu.Unlock()
			if !tc.unplug {
				ifs := evs[0].Device.USB.Interfaces
				if tc.take == "drivers" && (len(ifs) != 1 || ifs[0].Driver != "") {
					t.Errorf("unbound, with interfaces %+v", ifs)
				} else if tc.take == "interfaces" && len(ifs) != 0 {
					t.Errorf("deconfigured, with interfaces %+v", ifs)
				}
			}
			h.idle()
			select {
			case ev := <-h.w.Events:
				t.Errorf("then %s", brief([]Event{ev}))
			default:
			}
			h.same()
		})
	}
}
