package discover

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/internal/usbnum"
	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/uevent"
)

// The watcher's event sources. inotify sees nothing in sysfs, but it sees
// device nodes come and go in devtmpfs: <root>/dev/bus/usb/BBB/DDD. Kernel
// uevents add what has no node: PCI functions and driver binding.

func nodePath(devDir string, bus, dev int) string {
	return filepath.Join(devDir, fmt.Sprintf("%03d", bus), fmt.Sprintf("%03d", dev))
}

// fileEventBuffer is the length of fsnotify's event channel.
const fileEventBuffer = 1024

// watchHooks is what a test changes in a watcher: nil in Watch.
type watchHooks struct {
	// noEventBuffer leaves fsnotify's event channel unbuffered, so that
	// a stalled watcher overflows the kernel's queue.
	noEventBuffer bool
	// addWatch replaces fsnotify's Add, to fail as a host out of inotify
	// watches does.
	addWatch func(fsw *fsnotify.Watcher, dir string) error
	// recorder is told of every file the watcher reads.
	recorder sysfs.Recorder
	// due is called, in the loop, with each recheck that fell due, before
	// the device it names is read.
	due func(recheckKey)
	// seen is called, in the loop, with each file event once the watcher
	// has taken it in (and watched what it calls for).
	seen func(fsnotify.Event)
}

func (w *watcher) startSources() {
	if w.opts.wants(BusUSB) {
		var buf uint = fileEventBuffer
		if w.hooks != nil && w.hooks.noEventBuffer {
			buf = 0
		}
		fsw, err := fsnotify.NewBufferedWatcher(buf)
		if err != nil {
			w.startPolling(fmt.Errorf("inotify: %w", err))
		} else {
			w.fsw = fsw
			w.ensureWatches(&batch{})
		}
	}
	if w.opts.Uevents == UeventsOn || w.opts.Uevents == UeventsAuto && w.root == "/" {
		c, err := uevent.Listen()
		if err != nil {
			w.send(fmt.Errorf("watch: kernel uevents are unavailable, so PCI changes and driver binding show only at the rescan (every %s): %w",
				w.rescanEvery(), err))
			return
		}
		w.uconn = c
		w.W.wg.Add(1)
		go w.readUevents(c)
	}
}

func (w *watcher) stopSources() {
	w.stopOnce.Do(func() {
		if w.uconn != nil {
			w.uconn.Close()
		}
		if w.fsw != nil {
			w.fsw.Close()
		}
	})
}

func (w *watcher) readUevents(c *uevent.Conn) {
	defer w.W.wg.Done()
	for {
		ev, err := c.Read()
		if err != nil && w.stopped() {
			return
		}
		select {
		case w.uevents <- ueventItem{ev, err}:
		case <-w.W.done:
			return
		}
	}
}

// PollingError comes on Errors, once, when the watcher loses its file
// events for good: the host is out of inotify instances
// (fs.inotify.max_user_instances) or watches (fs.inotify.max_user_watches).
// The watcher goes on, rescanning everything every Interval instead.
type PollingError struct {
	Interval time.Duration
	Err      error // why; it wraps the system's error (unix.ENOSPC, unix.EMFILE)
}

func (e *PollingError) Error() string {
	return fmt.Sprintf("watch: %v; rescanning every %s instead", e.Err, e.Interval)
}

func (e *PollingError) Unwrap() error { return e.Err }

// startPolling is the fallback when file events are lost for good.
func (w *watcher) startPolling(why error) {
	if w.polling {
		return
	}
	w.polling = true
	w.pollT = time.NewTicker(pollInterval)
	w.pollC = w.pollT.C
	w.send(&PollingError{Interval: pollInterval, Err: why})
}

// ensureWatches watches <root>/dev/bus/usb and every bus folder in it, or,
// while it does not exist, the deepest of its parents that does, so that
// it is seen when it comes. A bus folder newly watched may hold nodes made
// before the watch: the batch compares the listing.
//
// It adds every watch again, even one it has already for that path: the
// folder there now may be a new one, made after the one it watched was
// removed, and inotify need not have told that removal (fsnotify leaves
// out a watched folder's own removal when it watches the parent, and a
// parent watched only after the removal saw nothing). Adding a watch that
// inotify has already is harmless, and ensureWatches runs only when a
// folder comes or goes, or at a full rescan.
func (w *watcher) ensureWatches(b *batch) {
	if w.fsw == nil {
		return
	}
	for {
		dir, ok := w.deepestDir()
		if !ok {
			return
		}
		w.addWatch(dir)
		if dir == w.devDir {
			break
		}
		// A folder made below dir between the look and the watch sends
		// no event: look again, and go down if one came.
		if again, _ := w.deepestDir(); again == dir {
			return
		}
	}
	ents, err := os.ReadDir(w.devDir)
	if err != nil {
		w.send(fmt.Errorf("watch: %w", err))
		return
	}
	for _, e := range ents {
		if _, ok := busNumber(e.Name()); ok && e.IsDir() {
			if w.addWatch(filepath.Join(w.devDir, e.Name())) {
				// New, or perhaps new: nodes made before the watch are
				// seen only in the listing.
				b.listUSB = true
			}
		}
	}
}

// deepestDir is <root>/dev/bus/usb or the deepest of its parents that
// exists, up to the root.
func (w *watcher) deepestDir() (string, bool) {
	dir := w.devDir
	for {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, true
		}
		if dir == w.root || dir == filepath.Dir(dir) {
			return "", false
		}
		dir = filepath.Dir(dir)
	}
}

// rewatch watches again what is there now, as ensureWatches always does,
// and first drops from fsnotify the watches of folders that are gone: the
// events lost may have been their removal, which fsnotify needs to forget
// them.
func (w *watcher) rewatch(b *batch) {
	if w.fsw == nil {
		return
	}
	for d := range w.watched {
		if _, err := os.Stat(d); err != nil {
			w.fsw.Remove(d)
		}
	}
	clear(w.watched)
	w.ensureWatches(b)
}

// addWatch watches dir, through fsnotify's Add or the test's, and reports
// whether it could.
func (w *watcher) addWatch(dir string) bool {
	if w.stopped() {
		return false
	}
	var err error
	if w.hooks != nil && w.hooks.addWatch != nil {
		err = w.hooks.addWatch(w.fsw, dir)
	} else {
		err = w.fsw.Add(dir)
	}
	if err != nil {
		if w.stopped() {
			return false // closed meanwhile: fsnotify says so, and it does not matter
		}
		if errors.Is(err, unix.ENOSPC) {
			w.startPolling(fmt.Errorf("out of inotify watches (fs.inotify.max_user_watches) at %s: %w", dir, err))
		} else if !errors.Is(err, os.ErrNotExist) {
			w.send(fmt.Errorf("watch: %w", err))
		}
		return false
	}
	w.watched[dir] = true
	return true
}

// busNumber parses a bus folder's name, "003".
func busNumber(s string) (int, bool) {
	if s == "" || len(s) > 4 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// nodeNumber parses a device node's name, "005": a device number the
// kernel can give. Anything else in a bus folder is not a device's node.
func nodeNumber(s string) (int, bool) {
	n, ok := busNumber(s)
	return n, ok && usbnum.ValidDevnum(n)
}

// fileEvent turns a file event into work for the batch.
func (w *watcher) fileEvent(b *batch, ev fsnotify.Event) {
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return // permissions and contents say nothing about devices
	}
	gone := !ev.Has(fsnotify.Create)
	rel, err := filepath.Rel(w.devDir, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		// A parent of dev/bus/usb: the folder may just have come or gone.
		if ev.Name == w.devDir || strings.HasPrefix(w.devDir, ev.Name+string(filepath.Separator)) {
			if gone {
				w.unwatch(ev.Name)
				b.listUSB = true
			}
			w.ensureWatches(b)
		}
		return
	}
	bus, node, _ := strings.Cut(filepath.ToSlash(rel), "/")
	bn, ok := busNumber(bus)
	if !ok {
		return
	}
	if node == "" {
		if gone {
			w.unwatch(ev.Name)
			b.listUSB = true
		} else {
			w.ensureWatches(b)
			b.listUSB = true
		}
		return
	}
	dn, ok := nodeNumber(node)
	if !ok {
		return
	}
	b.nodes = append(b.nodes, nodeEvent{bus: bn, dev: dn, created: !gone})
}

// unwatch forgets the watches at and below dir, which is gone (inotify
// drops them itself). The list is only for rewatch: ensureWatches never
// trusts it.
func (w *watcher) unwatch(dir string) {
	for d := range w.watched {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			delete(w.watched, d)
		}
	}
}

// kernelEvent turns a uevent into work: never trusting its fields beyond
// the device they name, which is read again.
func (w *watcher) kernelEvent(b *batch, u ueventItem) {
	if u.err != nil {
		w.sourceError(b, u.err)
		return
	}
	ev := u.ev
	name := path.Base(ev.Devpath)
	switch ev.Subsystem {
	case "usb":
		if !w.opts.wants(BusUSB) {
			return
		}
		iface := strings.Contains(name, ":")
		if iface { // an interface: read its device
			name = path.Base(path.Dir(ev.Devpath))
		}
		if !isUSBDeviceName(name) {
			return
		}
		if iface && (ev.Action == "remove" || ev.Action == "unbind") {
			// An unplug takes the interfaces away before the device and
			// its node: look a little later, when the node will have
			// said whether the device goes too.
			w.schedule(recheckKey{name: name, late: true}, 0)
			return
		}
		b.readUSB(name)
	case "pci":
		if !w.opts.wants(BusPCI) {
			return
		}
		switch ev.Action {
		case "add", "remove", "move":
			b.listPCI = true
			if ev.Action == "remove" {
				// Gone, even if it is back at the same address by the
				// time it is read: that is a new instance.
				if b.pciGone == nil {
					b.pciGone = map[string]bool{}
				}
				b.pciGone[name] = true
			}
		default:
			b.readPCI(name)
		}
	}
}
