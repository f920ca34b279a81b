package discover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hostdev/hostdev/sysfstest"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// settles waits until the goroutines and file descriptors are back to
// at most what they were, and fails with what is left if they are not.
func settles(t *testing.T, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), openFDs(t)
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines %d before, %d after; file descriptors %d before, %d after:\n%s",
				goroutines, g, fds, f, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A watcher blocked sending an event that nobody reads stops when its
// context is cancelled, or when it is closed, all the same: its
// goroutines end and its descriptors (inotify, the root) are closed,
// with Events never read.
func TestWatchStopsWhileBlockedSending(t *testing.T) {
	tr := sysfstest.NewHostAt(t.TempDir())
	tr.Plug(sysfstest.RootHub(1, "480"))
	for i := range 200 { // many more than Events holds
		tr.AddPCI(sysfstest.PCIFunction{Address: fmt.Sprintf("0000:%02x:00.0", i+1), Vendor: 0x8086, Device: 0x1234, Class: 0x020000})
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	opts := WatchOptions{Options: Options{Root: tr.Root(), Numeric: true}, Initial: true, Uevents: UeventsOff}

	// Once first, so that what the runtime opens lazily for the first
	// watcher (its poller) is in the count before.
	w, err := Watch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			goroutines, fds := runtime.NumGoroutine(), openFDs(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := Watch(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Blocked mid-send: Events is full and more are queued.
			for deadline := time.Now().Add(10 * time.Second); len(w.Events) < cap(w.Events); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("Events holds %d of %d", len(w.Events), cap(w.Events))
				}
			}
			if how == "cancel" {
				cancel()
			} else {
				w.Close()
			}
			settles(t, goroutines, fds)
		})
	}
}

// idleTimers waits until the loop waits for events, and returns how many
// timers it armed for that wait.
func idleTimers(t *testing.T, w *Watcher) int64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.w.waits.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the loop never waited")
		}
	}
	return w.w.armed.Load()
}

// An idle watcher arms no timer unless something waits for one: the
// rescan period, polling, a recheck.
func TestWatchIdleArmsNoTimer(t *testing.T) {
	h := newHost(t, false, []int{1}, WatchOptions{}) // no rescan, file events
	if n := idleTimers(t, h.w); n != 0 {
		t.Errorf("an idle watcher without rescan armed %d timers", n)
	}
	h = newHost(t, false, []int{1}, WatchOptions{Rescan: time.Hour})
	if n := idleTimers(t, h.w); n != 1 {
		t.Errorf("an idle watcher with a rescan armed %d timers, want 1", n)
	}
	// A plugged device is read again while it settles (no uevents say
	// when its drivers come): a recheck is armed, and once the rechecks
	// are done, none is.
	h = newHost(t, false, []int{1}, WatchOptions{})
	h.tree.Plug(key(1, "1", "K"))
	h.check()
	h.next(1)
	// Three rechecks (settleSteps), each a wait with its timer armed,
	// then a wait with none.
	w0 := h.w.w.waits.Load()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		waits, armed := h.w.w.waits.Load()-w0, h.w.w.armed.Load()
		if waits >= int64(len(settleSteps)) && armed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waits since the add, %d timers armed at the last", waits, armed)
		}
	}
}

// Close in the middle of a full rescan of many PCI functions returns
// within one chunk of them, not after all: the read stops at the next
// chunk, as a USB one does. Close is called from the watcher's own read of
// the tenth function, so the count needs no timing.
func TestWatchCloseMidPCIRescan(t *testing.T) {
	root := t.TempDir()
	const nPCI, closeAt = 3 * readChunk, 10
	if err := sysfstest.Synthetic(root, 0, nPCI); err != nil {
		t.Fatal(err)
	}
	var (
		ww          atomic.Pointer[Watcher]
		read, after atomic.Int64
		closed      = make(chan struct{})
	)
	rec := hooks{file: func(p string) {
		w := ww.Load()
		if w == nil || !strings.HasSuffix(p, "/modalias") {
			return // the first scan, or not a function's first read
		}
		if w.w.stopped() {
			after.Add(1)
			return
		}
		if read.Add(1) == closeAt {
			go func() {
				w.Close()
				close(closed)
			}()
			<-w.done // Close has begun: it is the caller's now
		}
	}}
	w, err := watch(context.Background(), WatchOptions{Options: Options{Root: root, Buses: []Bus{BusPCI}, Numeric: true},
		Rescan: NoRescan, Uevents: UeventsOff}, &watchHooks{recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev := <-w.Events; ev.Op != Ready {
		t.Fatalf("first event %s, want ready", brief([]Event{ev}))
	}
	ww.Store(w)
	w.w.inject <- fsnotify.ErrEventOverflow // a full rescan
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if n := after.Load(); n > readChunk {
		t.Errorf("%d PCI functions read after Close was called, want at most %d (one chunk)", n, readChunk)
	}
	t.Logf("%d PCI functions read after Close was called", after.Load())
}

// Watch with a context that ends before or during its first scan returns
// the context's error and leaves nothing running: no goroutine, no
// descriptor (inotify, the uevent socket, the root). A context already
// ended reads nothing; one cancelled from the scan's own read of a PCI
// function stops it within a chunk.
func TestWatchContextEndsInFirstScan(t *testing.T) {
	root := t.TempDir()
	const nPCI, cancelAt = 3 * readChunk, 10
	if err := sysfstest.Synthetic(root, 40, nPCI); err != nil {
		t.Fatal(err)
	}
	opts := WatchOptions{Options: Options{Root: root, Numeric: true}, Rescan: NoRescan, Uevents: UeventsOn}
	// Once first, so that what the runtime opens lazily for the first
	// watcher (its poller) is in the count before.
	w, err := Watch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	for _, tc := range []struct {
		name     string
		cancelAt int64 // 0: before Watch
	}{
		{"before", 0},
		{"during", cancelAt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutines, fds := runtime.NumGoroutine(), openFDs(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var files, read, after atomic.Int64
			rec := hooks{file: func(p string) {
				files.Add(1)
				if !strings.HasSuffix(p, "/modalias") { // read once per PCI function
					return
				}
				if ctx.Err() != nil {
					after.Add(1)
				} else if read.Add(1) == tc.cancelAt {
					cancel()
				}
			}}
			if tc.cancelAt == 0 {
				cancel()
			}
			w, err := watch(ctx, opts, &watchHooks{recorder: rec})
			if !errors.Is(err, context.Canceled) || w != nil {
				if w != nil {
					w.Close()
				}
				t.Fatalf("Watch with its context cancelled %s its first scan: a watcher %v, error %v; want only context.Canceled", tc.name, w != nil, err)
			}
			switch {
			case tc.cancelAt == 0 && files.Load() != 0:
				t.Errorf("%d files read with a context cancelled before", files.Load())
			case after.Load() > readChunk:
				t.Errorf("%d PCI functions read after the cancel, want at most %d (one chunk)", after.Load(), readChunk)
			}
			settles(t, goroutines, fds)
		})
	}
}
