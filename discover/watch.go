package discover

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hostdev/hostdev/sysfs"
	"github.com/hostdev/hostdev/uevent"
)

// Op says what happened to a device.
type Op uint8

// The operations an Event reports.
const (
	// Add: a device appeared, or was read for the first time.
	Add Op = iota + 1
	// Remove: a device is gone. A replugged USB device is a Remove of its
	// old devnum and an Add of its new one.
	Remove
	// Change: the same device (same USB name and devnum, same PCI
	// address) now reads differently: a driver was bound or unbound, an
	// interface appeared; or, at a full rescan after usb.ids or pci.ids
	// changed, it has new names. Event.Old holds it as it was.
	Change
	// Ready: the first scan is done, and has been told. Sent once, after
	// the Adds of the devices present when Initial is set, or as the very
	// first event when it is not. A consumer that builds its view from
	// events alone has seen the whole host when this comes.
	Ready
)

func (o Op) String() string {
	switch o {
	case Add:
		return "add"
	case Remove:
		return "remove"
	case Change:
		return "change"
	case Ready:
		return "ready"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// MarshalText writes "add", "remove", "change" or "ready".
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (o *Op) UnmarshalText(b []byte) error {
	for _, v := range []Op{Add, Remove, Change, Ready} {
		if string(b) == v.String() {
			*o = v
			return nil
		}
	}
	return fmt.Errorf("op %q is not add, remove, change or ready", b)
}

// Event is one change the watcher saw. Device is always as read from sysfs
// after the change; for a Remove it is the device as last read; for Ready
// it is the zero Device (and JSON leaves it out). Old is the device as it
// was before a Change, and nil for every other Op. Both are the
// receiver's own copies (see Device.Clone).
type Event struct {
	Op     Op        `json:"op"`
	Time   time.Time `json:"time"`
	Device Device    `json:"device,omitzero"`
	Old    *Device   `json:"old,omitempty"`
}

// DefaultRescan is how often a watcher rescans everything, as a safety net
// under its event sources.
const DefaultRescan = 30 * time.Second

// NoRescan, as WatchOptions.Rescan, turns the periodic rescan off (any
// negative Rescan does).
const NoRescan time.Duration = -1

// UeventMode says whether a watcher listens to kernel uevents.
type UeventMode uint8

// The uevent modes.
const (
	// UeventsAuto listens when the root is "/", the host itself: a tree
	// elsewhere is not what the kernel's events describe.
	UeventsAuto UeventMode = iota
	// UeventsOff never listens: PCI changes and driver binding are then
	// seen only by the rescan.
	UeventsOff
	// UeventsOn listens whatever the root, for a root that is the host's
	// own sysfs mounted elsewhere (a container given /sys at /host/sys).
	UeventsOn
)

// pollInterval is how often a watcher that lost its event sources (no
// inotify instance or watches left) rescans instead.
const pollInterval = time.Second

// WatchOptions says what to watch. Recorder is ignored. The zero value
// watches the host's every bus, with uevents, a rescan every
// DefaultRescan, and no Adds for the devices already there.
type WatchOptions struct {
	Options
	// Rescan is the period of the full rescan, as a safety net under the
	// event sources: 0 means DefaultRescan, and NoRescan (any negative
	// value, as with net.Dialer's KeepAlive) turns it off.
	Rescan time.Duration
	// Initial sends an Add for every device present when watching starts,
	// before Ready.
	Initial bool
	// Uevents says whether to listen to kernel uevents; see UeventMode.
	Uevents UeventMode
}

// Watcher reports the devices that come, go and change under a root. Read
// both channels: Events, and Errors, which says what the watcher could not
// read or had to recover from. It keeps going after every error.
type Watcher struct {
	Events <-chan Event
	Errors <-chan error

	events chan Event
	errors chan error

	mu   sync.Mutex // guards usb and pci against Devices
	usb  map[string]Device
	pci  map[string]Device
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	w    *watcher
}

// Watch starts watching. It reads every device once before it returns,
// so Devices is at once up to date; it fails only when the root cannot be
// read, or when ctx ends first (it then returns ctx.Err() and leaves
// nothing running). Cancelling ctx later closes the watcher.
func Watch(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	return watch(ctx, opts, nil)
}

func watch(ctx context.Context, opts WatchOptions, hooks *watchHooks) (*Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b, err := opts.usbBackend(); err != nil {
		return nil, err
	} else if b != USBSysfs {
		return nil, fmt.Errorf("watching needs the sysfs USB backend, not %s", b)
	}
	var fsOpts []sysfs.Option
	if hooks != nil && hooks.recorder != nil {
		fsOpts = append(fsOpts, sysfs.WithRecorder(hooks.recorder))
	}
	fs, err := sysfs.NewFS(opts.Root, fsOpts...)
	if err != nil {
		return nil, err
	}
	root := fs.Root()
	ww := &Watcher{
		events: make(chan Event, 64),
		errors: make(chan error, 64),
		usb:    map[string]Device{},
		pci:    map[string]Device{},
		done:   make(chan struct{}),
	}
	ww.Events, ww.Errors = ww.events, ww.errors
	w := &watcher{
		W:        ww,
		ctx:      ctx,
		opts:     opts,
		hooks:    hooks,
		fs:       fs,
		devDir:   filepath.Join(root, "dev", "bus", "usb"),
		root:     root,
		byNode:   map[[2]int]string{},
		warned:   map[string]string{},
		dying:    map[string]bool{},
		late:     map[string]bool{},
		watched:  map[string]bool{},
		rechecks: map[recheckKey]recheck{},
		uevents:  make(chan ueventItem, 256),
		inject:   make(chan error, 1),
	}
	ww.w = w
	// Cancelling ctx stops the watcher as Close does, wherever it is: in
	// its first scan, waiting for events, or blocked sending one nobody
	// reads.
	stopAfter := context.AfterFunc(ctx, ww.stop)
	// Watch first and read second, so that nothing falls between.
	w.startSources()
	var first batch
	w.fullRescan(&first)
	if err := ctx.Err(); err != nil {
		// Ended during the first scan, perhaps half way: nobody has the
		// watcher to close it, so it goes now, with all it started.
		stopAfter()
		ww.stop()
		w.release()
		ww.wg.Wait()
		return nil, err
	}
	now := time.Now()
	if opts.Initial {
		w.queue = first.events(now)
	}
	w.queue = append(w.queue, Event{Op: Ready, Time: now})
	w.started = true

	ww.wg.Add(1)
	go func() {
		defer ww.wg.Done()
		defer stopAfter()
		w.loop()
	}()
	return ww, nil
}

// stop tells every goroutine of the watcher to end; it does not wait for
// them. The goroutine that owns the sources (the loop, or Watch before
// there is one) closes them as it ends, which unblocks the uevent reader.
func (ww *Watcher) stop() {
	ww.once.Do(func() { close(ww.done) })
}

// Close stops the watcher and closes Events and Errors. It does not wait
// for anyone to read them, and it is safe to call more than once.
func (ww *Watcher) Close() error {
	ww.stop()
	ww.wg.Wait()
	return nil
}

// Devices returns the devices as the watcher sees them now, in Scan's
// order: the caller's own copies, to change at will. Once the events are read and the host is quiet, they equal a
// fresh Scan's.
func (ww *Watcher) Devices() []Device {
	ww.mu.Lock()
	out := make([]Device, 0, len(ww.usb)+len(ww.pci))
	for _, d := range ww.usb {
		out = append(out, d.Clone())
	}
	for _, d := range ww.pci {
		out = append(out, d.Clone())
	}
	ww.mu.Unlock()
	slices.SortFunc(out, compareDevices)
	return out
}

// watcher is the state the loop goroutine owns.
type watcher struct {
	W      *Watcher
	ctx    context.Context // Watch's: ended, it stops the watcher as Close does
	opts   WatchOptions
	hooks  *watchHooks // a test's; nil otherwise
	fs     *sysfs.FS
	root   string
	devDir string // <root>/dev/bus/usb

	names       usbNamer
	pciNames    *pciNames
	namesWarned [2]string // the usb.ids and pci.ids warnings last sent

	byNode map[[2]int]string // (busnum, devnum) -> USB name
	warned map[string]string // device name -> the warnings last sent for it
	dying  map[string]bool   // USB devices whose node went
	late   map[string]bool   // USB devices read again for interface files not yet made
	// fedUevents: a test feeds uevents by hand, as if the socket were
	// open, and wants the watcher to rely on them as it would then.
	fedUevents bool

	fsw      *fsnotify.Watcher
	fsEvents <-chan fsnotify.Event // fsw's, until closed
	fsErrors <-chan error
	watched  map[string]bool // the folders watched, some perhaps gone since (see rewatch)
	polling  bool            // the file events are lost: poll instead
	uconn    *uevent.Conn
	uevents  chan ueventItem
	inject   chan error // tests: an error as if a source had sent it
	rechecks map[recheckKey]recheck

	started  bool
	stopOnce sync.Once

	// The loop's timers; a channel is nil while its timer is not armed.
	rescanC, pollC, recheckC <-chan time.Time
	pollT                    *time.Ticker
	recheckT                 *time.Timer

	passes, fulls atomic.Int64 // for tests: passes made, full rescans among them
	// For tests: how many times the loop waited, and how many timers were
	// armed the last time.
	waits, armed atomic.Int64

	queue   []Event // events not yet sent
	dropped int     // errors dropped because nobody read Errors
}

type ueventItem struct {
	ev  uevent.Event
	err error
}

// send delivers an error without ever stalling the watcher: when Errors
// is full, it is counted and said with the next one that fits.
func (w *watcher) send(err error) {
	if w.dropped > 0 {
		err = fmt.Errorf("%w (and %d earlier errors, dropped because Errors was not read)", err, w.dropped)
	}
	select {
	case w.W.errors <- err:
		w.dropped = 0
	default:
		w.dropped++
	}
}

// loadNames fetches the name databases through their caches, at every
// full rescan: a stat of each file, and a parse only when one changed, so
// that a watcher running for weeks names devices as an updated usb.ids or
// pci.ids does. A database's warning is sent when it differs from the
// last one sent for it, not at every rescan.
func (w *watcher) loadNames() {
	if w.opts.Numeric {
		return
	}
	roots := dbRoots(w.root)
	if w.opts.wants(BusUSB) {
		db, warn := usbNames(roots)
		w.names = usbNamer{db}
		w.namesWarning(0, warn)
	}
	if w.opts.wants(BusPCI) {
		var warn *Warning
		w.pciNames, warn = pciNamesSince(roots, w.opts.Logger, w.pciNames)
		w.namesWarning(1, warn)
	}
}

// namesWarning sends a name database's warning (i: 0 for usb.ids, 1 for
// pci.ids) unless it is the one last sent.
func (w *watcher) namesWarning(i int, warn *Warning) {
	var text string
	if warn != nil {
		text = warn.Error()
	}
	if text != w.namesWarned[i] {
		w.namesWarned[i] = text
		if warn != nil {
			w.send(*warn)
		}
	}
}

// stopped says whether the watcher was closed or its context ended. It
// looks at the context itself, not only at what context.AfterFunc does
// with it a moment later, so that a read stops at the next chunk after
// the cancel.
func (w *watcher) stopped() bool {
	select {
	case <-w.W.done:
		return true
	case <-w.ctx.Done():
		return true
	default:
		return false
	}
}

// release closes what the watcher holds: its event sources, the root,
// its timers. It is for the goroutine that owns them, once it ends.
func (w *watcher) release() {
	w.stopSources()
	w.fs.Close()
	if w.pollT != nil {
		w.pollT.Stop()
	}
	if w.recheckT != nil {
		w.recheckT.Stop()
	}
}

func (w *watcher) loop() {
	defer func() {
		w.release()
		close(w.W.events)
		close(w.W.errors)
	}()
	// A timer is armed only while something waits for it: the rescan
	// period, polling (when the file events are lost), a recheck. An idle
	// watcher without them sleeps until an event comes.
	if d := w.rescanEvery(); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		w.rescanC = t.C
	}

	if w.fsw != nil {
		w.fsEvents, w.fsErrors = w.fsw.Events, w.fsw.Errors
	}
	for {
		if !w.flush() {
			return
		}
		w.armRecheck()
		w.blocked(w.rescanC, w.pollC, w.recheckC)
		var b batch
		select {
		case <-w.W.done:
			return
		case ev, ok := <-w.fsEvents:
			w.gotFileEvent(&b, ev, ok)
		case err, ok := <-w.fsErrors:
			w.gotFileError(&b, err, ok)
		case u := <-w.uevents:
			w.kernelEvent(&b, u)
		case err := <-w.inject:
			w.sourceError(&b, err)
		case <-w.rescanC:
			b.full = true
		case <-w.pollC:
			b.full = true
		case <-w.recheckC:
		}
		// Take whatever else is waiting, so that a burst is one pass.
	drain:
		for range 4096 {
			select {
			case ev, ok := <-w.fsEvents:
				w.gotFileEvent(&b, ev, ok)
			case err, ok := <-w.fsErrors:
				w.gotFileError(&b, err, ok)
			case u := <-w.uevents:
				w.kernelEvent(&b, u)
			default:
				break drain
			}
		}
		w.dueRechecks(&b, time.Now())
		w.apply(&b)
		w.followUp(&b)
	}
}

// blocked counts the loop's waits and the timers armed for each.
func (w *watcher) blocked(timers ...<-chan time.Time) {
	var n int64
	for _, c := range timers {
		if c != nil {
			n++
		}
	}
	w.armed.Store(n)
	w.waits.Add(1)
}

func (w *watcher) gotFileEvent(b *batch, ev fsnotify.Event, ok bool) {
	if !ok {
		w.fsEvents = nil
		return
	}
	w.fileEvent(b, ev)
	if w.hooks != nil && w.hooks.seen != nil {
		w.hooks.seen(ev)
	}
}

func (w *watcher) gotFileError(b *batch, err error, ok bool) {
	if !ok {
		w.fsErrors = nil
		return
	}
	w.sourceError(b, err)
}

func (w *watcher) rescanEvery() time.Duration {
	switch {
	case w.opts.Rescan == 0:
		return DefaultRescan
	case w.opts.Rescan < 0:
		return 0
	}
	return w.opts.Rescan
}

// flush sends the queued events; false means the watcher was closed.
func (w *watcher) flush() bool {
	for len(w.queue) > 0 {
		select {
		case w.W.events <- w.queue[0]:
			w.queue[0] = Event{}
			w.queue = w.queue[1:]
		case <-w.W.done:
			return false
		}
	}
	w.queue = nil
	return true
}

// sourceError handles an error from fsnotify or the uevent socket: a lost
// event means a full rescan, and the user hears why. A kernel message that
// does not parse is only told and skipped: the socket lost nothing, and a
// rescan for every odd message would let one repeated bad message cost a
// whole read of the tree each time.
func (w *watcher) sourceError(b *batch, err error) {
	var syn *uevent.SyntaxError
	switch {
	case errors.As(err, &syn):
		w.send(fmt.Errorf("watch: skipped a kernel message: %w", err))
	case errors.Is(err, fsnotify.ErrEventOverflow):
		w.send(fmt.Errorf("watch: the inotify queue overflowed; rescanning everything: %w", err))
		b.full = true
	case errors.Is(err, uevent.ErrOverflow):
		w.send(fmt.Errorf("watch: the kernel dropped uevents; rescanning everything: %w", err))
		b.full = true
	default:
		w.send(fmt.Errorf("watch: %w", err))
		b.full = true
	}
}

// apply reads what the batch names and turns the differences into events.
func (w *watcher) apply(b *batch) {
	w.passes.Add(1)
	if b.full {
		w.fulls.Add(1)
		w.fullRescan(b)
	} else {
		if w.opts.wants(BusUSB) {
			w.usbRescan(b)
		}
		if w.opts.wants(BusPCI) {
			w.pciRescan(b)
		}
	}
	w.queue = append(w.queue, b.events(time.Now())...)
}

type watchStats struct{ passes, full int }

func (ww *Watcher) stats() watchStats {
	return watchStats{int(ww.w.passes.Load()), int(ww.w.fulls.Load())}
}
