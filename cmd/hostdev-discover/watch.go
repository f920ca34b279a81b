package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
)

// watchFlags are the flags of the commands that watch.
type watchFlags struct {
	scanFlags
	rescan time.Duration
	// scannedRoot is the folder start's watcher reads: --root, or the
	// folder a snapshot was unpacked into.
	scannedRoot string
}

func (f *watchFlags) register(c *cobra.Command) {
	f.scanFlags.register(c)
	c.Flags().DurationVar(&f.rescan, "rescan", discover.DefaultRescan,
		"rescan everything this often, as a safety net under the events; 0 turns it off")
}

// errInterrupted: the command was interrupted before its watcher's first
// scan was done.
var errInterrupted = errors.New("interrupted during the first scan")

// start opens a watcher as the flags say. Its errors go to stderr as
// warnings until it is closed; stop closes it and removes an unpacked
// snapshot.
func (f *watchFlags) start(c *cobra.Command, e *env, initial bool) (w *discover.Watcher, stop func(), err error) {
	opts, cleanup, err := f.options(c, e)
	if err != nil {
		return nil, func() {}, err
	}
	f.scannedRoot = opts.Root
	wo := discover.WatchOptions{Options: opts, Initial: initial, Rescan: f.rescan}
	if f.rescan <= 0 {
		wo.Rescan = discover.NoRescan
	}
	w, err = discover.Watch(c.Context(), wo)
	if err != nil {
		cleanup()
		if c.Context().Err() != nil {
			err = errInterrupted
		}
		return nil, func() {}, err
	}
	if e.ready != nil {
		e.ready() // the first scan is done: Watch made it
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for err := range w.Errors {
			fmt.Fprintf(e.stderr, "warning: %s\n", text(err.Error()))
		}
	})
	return w, func() {
		w.Close()
		wg.Wait()
		cleanup()
	}, nil
}

// parseOne reads the single selector wait and follow take.
func parseOne(args []string) (named, error) {
	refs, err := parseSelectors(nil, args, nil)
	if err != nil {
		return named{}, err
	}
	if len(refs) != 1 {
		return named{}, usageError{fmt.Errorf("%q names %d devices; give one", strings.Join(args, " "), len(refs))}
	}
	return refs[0], nil
}

func watchCommand(e *env) *cobra.Command {
	var (
		flags   watchFlags
		asJSON  bool
		initial bool
	)
	c := &cobra.Command{
		Use:   "watch [SELECTOR...]",
		Short: "Print devices as they come, go and change",
		Long: `Print one line for every device that is added, removed or changed, as it
happens, until interrupted. A change is the same device (same USB devnum,
same PCI address) reading differently: a driver bound or unbound, an
interface added. A replugged USB device is a remove and an add.

Lines are "TIME OP DEVICE", DEVICE as list prints it; with --json they are
JSON lines: {"op":"add","time":"...","device":{...as list --json...}}, and
a change also has "old", the device as it was before.

Once the first scan is done (after the adds of --initial), a line
"TIME ready" ({"op":"ready","time":"..."} with --json) says so: from then
on, nothing that happens is missed.

With selectors, only the devices matching one of them are printed. A
device that stays but changes so that it starts or stops matching (a driver
bound or unbound, say) is a "match" or "unmatch" line, its DEVICE as it is
now ("old" has it as it was, with --json): to keep the set of matching
devices, take match as add and unmatch as remove.

Device nodes in /dev/bus/usb and, on the host itself, kernel uevents say
when to look; every device is read again from sysfs when they do.`,
		RunE: func(c *cobra.Command, args []string) error {
			refs, err := parseSelectors(nil, args, nil)
			if err != nil {
				return err
			}
			w, stop, err := flags.start(c, e, initial)
			defer stop()
			if errors.Is(err, errInterrupted) {
				return nil // as an interrupt after the first scan
			}
			if err != nil {
				return err
			}
			enc := json.NewEncoder(e.stdout)
			matches := func(d *discover.Device) bool {
				return d != nil && (len(refs) == 0 || slices.ContainsFunc(refs, func(r named) bool { return r.Selector.Match(*d) }))
			}
			for ev := range w.Events {
				var op string
				switch {
				case ev.Op == discover.Ready:
					op = "ready"
				case ev.Op != discover.Change:
					if !matches(&ev.Device) {
						continue
					}
					op = ev.Op.String()
				default:
					was, is := matches(ev.Old), matches(&ev.Device)
					switch {
					case was && is:
						op = "change"
					case is:
						op = "match"
					case was:
						op = "unmatch"
					default:
						continue
					}
				}
				if err := writeWatchEvent(e, enc, asJSON, op, ev); err != nil {
					return err // stdout closed: nobody is listening
				}
			}
			return nil
		},
	}
	flags.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON lines")
	c.Flags().BoolVar(&initial, "initial", false, "first print an add for every device present")
	return c
}

// watchEvent is a line of watch --json, and follow's ready line.
type watchEvent struct {
	Op     string           `json:"op"`
	Time   time.Time        `json:"time"`
	Device discover.Device  `json:"device,omitzero"`
	Old    *discover.Device `json:"old,omitempty"`
}

// writeWatchEvent prints one line of watch: "TIME OP DEVICE", "TIME ready",
// or JSON.
func writeWatchEvent(e *env, enc *json.Encoder, asJSON bool, op string, ev discover.Event) error {
	if asJSON {
		return enc.Encode(watchEvent{op, ev.Time, ev.Device, ev.Old})
	}
	if ev.Op == discover.Ready {
		_, err := fmt.Fprintf(e.stdout, "%s ready\n", ev.Time.Format(time.RFC3339Nano))
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "%s %-6s %s\n", ev.Time.Format(time.RFC3339Nano), op, textLine(ev.Device))
	return err
}

// waitTimeout is wait's no-match (or, with --gone, its match), told as a
// timeout.
type waitTimeout struct {
	after time.Duration
	err   error
	gone  []discover.Device // --gone: the devices still there
}

func (t *waitTimeout) Error() string {
	if t.gone != nil {
		var names []string
		for _, d := range t.gone {
			names = append(names, d.Name)
		}
		return fmt.Sprintf("still there after %s: %s", t.after, strings.Join(names, ", "))
	}
	return fmt.Sprintf("no device came in %s: %v", t.after, t.err)
}

func (t *waitTimeout) Unwrap() error { return t.err }

func waitCommand(e *env) *cobra.Command {
	var (
		flags   watchFlags
		format  string
		asJSON  bool
		timeout time.Duration
		gone    bool
	)
	c := &cobra.Command{
		Use:   "wait SELECTOR",
		Short: "Wait until exactly one device matches, and print it",
		Long: `Block until exactly one device matches SELECTOR, then print it as resolve
does (same --format choices) and exit 0. A selector is any that resolve
takes.

Exit status: 0 the device is there, 3 none came before --timeout (the error
lists the nearest devices), 4 more than one device matches (the error says
which term picks each), 2 bad selector or usage, 1 any other error.
--timeout 0 waits for ever.

With --gone, wait instead until no device matches SELECTOR (at once if none
does), print nothing and exit 0; exit 3 if one still matches at --timeout.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if asJSON {
				format = "json"
			}
			hvFormat, err := parseFormat(format)
			if err != nil {
				return err
			}
			if timeout < 0 {
				return usageError{fmt.Errorf("--timeout %s: want 0 (for ever) or more", timeout)}
			}
			ref, err := parseOne(args)
			if err != nil {
				return err
			}
			ctx := c.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			w, stop, err := flags.start(c, e, false)
			defer stop()
			if err != nil {
				return err
			}
			if gone {
				return waitGone(c.Context(), ctx, w, ref, timeout)
			}
			for {
				devs := w.Devices()
				found, moved, err := ref.Resolve(devs)
				var no *match.NoMatchError
				switch {
				case err == nil:
					if moved != nil {
						fmt.Fprintf(e.stderr, "note: %s\n", moved)
					}
					r := resolved{Selector: ref.Selector.String(), Device: &found[0], Devices: found}
					item := hypervisor.Resolved{Device: found[0], Ref: &ref.Ref, SerialShared: hypervisor.SharedSerial(found[0], devs)}
					return writeResults(e.stdout, format, hvFormat, []resolved{r}, []hypervisor.Resolved{item}, false)
				case !errors.As(err, &no):
					if format == "json" {
						writeResolveError(e.stdout, err)
					}
					return err
				}
				select {
				case _, ok := <-w.Events:
					if !ok {
						return errors.New("the watcher stopped")
					}
				case <-ctx.Done():
					if c.Context().Err() != nil {
						return errors.New("interrupted before a device came")
					}
					if format == "json" {
						writeResolveError(e.stdout, err)
					}
					return &waitTimeout{after: timeout, err: err}
				}
			}
		},
	}
	flags.register(c)
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after `DURATION` (exit 3); 0 waits for ever")
	c.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text, json, qemu, qmp, libvirt, xen, xen-legacy or seed")
	c.Flags().BoolVar(&asJSON, "json", false, "the same as --format json")
	c.Flags().BoolVar(&gone, "gone", false, "wait until no device matches, instead")
	return c
}

// waitGone is wait --gone: it returns once no device matches ref. ctx
// carries the timeout; parent is the command's own context.
func waitGone(parent, ctx context.Context, w *discover.Watcher, ref named, timeout time.Duration) error {
	for {
		// Match, not Resolve: a selector that remembers a bus and device
		// number would otherwise follow the device to its new address
		// after a replug, and the device at the old one never "goes".
		var found []discover.Device
		for _, d := range w.Devices() {
			if ref.Selector.Match(d) {
				found = append(found, d)
			}
		}
		if len(found) == 0 {
			return nil
		}
		select {
		case _, ok := <-w.Events:
			if !ok {
				return errors.New("the watcher stopped")
			}
		case <-ctx.Done():
			if parent.Err() != nil {
				return errors.New("interrupted before the device went")
			}
			return &waitTimeout{after: timeout, gone: found}
		}
	}
}

// followState is what follow last said: the device the selector means,
// or none.
type followState struct {
	dev       *discover.Device
	env       []string // --exec's environment at the attach, minus HOSTDEV_OP
	ambiguous string   // the ambiguity last told, so it is told once
}

// same says whether two readings are of one device instance: a USB
// device that kept its devnum, a PCI function at its address.
func same(a, b discover.Device) bool {
	if a.Name != b.Name || a.Bus != b.Bus {
		return false
	}
	if a.USB != nil && b.USB != nil {
		return a.USB.Busnum == b.USB.Busnum && a.USB.Devnum == b.USB.Devnum
	}
	return true
}

func followCommand(e *env) *cobra.Command {
	var (
		flags       watchFlags
		asJSON      bool
		command     string
		execTimeout time.Duration
	)
	c := &cobra.Command{
		Use:   "follow SELECTOR [--exec CMD]",
		Short: "Keep a selector resolved, and run a command when its device comes or goes",
		Long: `Keep SELECTOR resolved for as long as this runs. Each time the device it
means appears, disappears or moves (a replug gives a USB device a new
devnum), print "TIME attach DEVICE" or "TIME detach DEVICE" (JSON lines
with --json). A device present at the start is an attach; then a line
"TIME ready" ({"op":"ready","time":"..."} with --json) says that the first
scan is told. A move is a detach of the old instance and an attach of the
new one.

When several devices match, nothing is attached and stderr says which term
picks each; a device already attached stays attached while it is one of
them.

--exec runs CMD with sh -c for each attach and detach, one at a time, in
order; its output goes to stderr. A command that fails is reported on
stderr and the follow goes on.
The device is in its environment:

  HOSTDEV_OP          attach or detach
  HOSTDEV_SELECTOR    the selector, in hostdev's form
  HOSTDEV_NAME        the sysfs name: 3-1.2, 0000:01:00.0
  HOSTDEV_BUSNUM      USB bus, decimal            (USB)
  HOSTDEV_DEVNUM      USB device number, decimal  (USB)
  HOSTDEV_PORT        port path below the root hub, as QEMU's hostport (USB)
  HOSTDEV_VENDOR_ID   4 hex digits
  HOSTDEV_PRODUCT_ID  4 hex digits
  HOSTDEV_SERIAL      the serial, when the device has one (USB)
  HOSTDEV_ADDRESS     0000:01:00.0                 (PCI)
  HOSTDEV_ID          a stable device id, for QEMU's device_del
  HOSTDEV_QEMU        usb-host,id=...,hostbus=3,hostaddr=9 or vfio-pci,id=...,host=...
  HOSTDEV_LIBVIRT     the <hostdev> element, for virsh attach-device/detach-device
  HOSTDEV_JSON        the device as list --json prints it

For a detach, they describe the device as it was when attached, so that
HOSTDEV_ID is the id its attach used.

A value read from the device is as the device gives it when every
character of it prints as itself and it does not start with '"'; else it
is a double-quoted string with Go's escapes, as list prints it:
"K\x00\x1b[31m\nx\xff" for a serial holding a NUL, an ESC, a newline and
a byte that is not UTF-8. So a value starting with '"' is quoted, and the
environment never holds a NUL. HOSTDEV_LIBVIRT and HOSTDEV_JSON are
escaped as XML and JSON instead (U+FFFD for what those cannot hold).`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			ref, err := parseOne(args)
			if err != nil {
				return err
			}
			w, stop, err := flags.start(c, e, false)
			defer stop()
			if errors.Is(err, errInterrupted) {
				return nil // as an interrupt after the first scan
			}
			if err != nil {
				return err
			}
			run := newRunner(e, command, execTimeout)
			defer func() { run.close(c.Context().Err() != nil) }()
			f := &follower{e: e, ref: ref, asJSON: asJSON, run: run}
			now := time.Now()
			if err := f.update(w.Devices(), now, nil); err != nil {
				return err
			}
			// The first scan is told: from here on, nothing is missed.
			if err := writeWatchEvent(e, json.NewEncoder(e.stdout), asJSON, "ready", discover.Event{Op: discover.Ready, Time: now}); err != nil {
				return err
			}
			for ev := range w.Events {
				// Take every event already waiting, then look once; but
				// a device removed and back meanwhile is a detach and an
				// attach, even at the same address.
				t := ev.Time
				var removed []discover.Device
				if ev.Op == discover.Remove {
					removed = append(removed, ev.Device)
				}
			more:
				for {
					select {
					case ev, ok := <-w.Events:
						if !ok {
							break more
						}
						t = ev.Time
						if ev.Op == discover.Remove {
							removed = append(removed, ev.Device)
						}
					default:
						break more
					}
				}
				if err := f.update(w.Devices(), t, removed); err != nil {
					return err
				}
			}
			return nil
		},
	}
	flags.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON lines: {\"op\":\"attach\",\"time\":...,\"device\":{...}}")
	c.Flags().StringVar(&command, "exec", "", "run `CMD` (with sh -c) on each attach and detach")
	c.Flags().DurationVar(&execTimeout, "exec-timeout", 0, "kill a command still running after `DURATION`, so the next can run; 0 waits for ever")
	return c
}

type follower struct {
	e      *env
	ref    named
	asJSON bool
	run    *runner
	state  followState
}

// update resolves the selector against devs and says what changed;
// removed are devices that went since the last update.
func (f *follower) update(devs []discover.Device, t time.Time, removed []discover.Device) error {
	if cur := f.state.dev; cur != nil && slices.ContainsFunc(removed, func(d discover.Device) bool { return same(d, *cur) }) {
		if err := f.say("detach", *cur, devs, t); err != nil {
			return err
		}
		f.state.dev = nil
	}
	found, _, err := f.ref.Resolve(devs)
	var (
		amb *match.AmbiguousError
		no  *match.NoMatchError
		now *discover.Device
	)
	switch {
	case err == nil:
		now = &found[0]
		f.state.ambiguous = ""
	case errors.As(err, &amb):
		if msg := err.Error(); msg != f.state.ambiguous {
			f.state.ambiguous = msg
			fmt.Fprintf(f.e.stderr, "hostdev-discover: follow: %s\n", msg)
		}
		// The device attached stays, while it is one of those matching.
		if cur := f.state.dev; cur != nil {
			for _, c := range amb.Candidates {
				if same(c.Device, *cur) {
					d := c.Device
					now = &d
				}
			}
		}
	case errors.As(err, &no):
		f.state.ambiguous = ""
	default:
		return err
	}
	cur := f.state.dev
	switch {
	case cur != nil && now != nil && same(*cur, *now):
		f.state.dev = now // keep the latest reading for a later detach
		return nil
	case cur == nil && now == nil:
		return nil
	}
	if cur != nil {
		if err := f.say("detach", *cur, devs, t); err != nil {
			return err
		}
	}
	f.state.dev = now
	if now != nil {
		return f.say("attach", *now, devs, t)
	}
	return nil
}

func (f *follower) say(op string, d discover.Device, devs []discover.Device, t time.Time) error {
	var err error
	if f.asJSON {
		err = json.NewEncoder(f.e.stdout).Encode(struct {
			Op     string          `json:"op"`
			Time   time.Time       `json:"time"`
			Device discover.Device `json:"device"`
		}{op, t, d})
	} else {
		_, err = fmt.Fprintf(f.e.stdout, "%s %-6s %s\n", t.Format(time.RFC3339Nano), op, textLine(d))
	}
	if err != nil {
		return err
	}
	if f.run != nil {
		// A detach describes the device as it was attached, so that its
		// id is the one given to device_add even if another device with
		// its serial has come meanwhile.
		if op == "attach" || f.state.env == nil {
			f.state.env = followEnv(f.ref, d, devs)
		}
		f.run.queue(op, append([]string{"HOSTDEV_OP=" + op}, f.state.env...))
	}
	return nil
}

// followEnv is the environment --exec's command gets. Every value built
// from a string goes through text, as list prints it, so that a NUL (which
// no environment can hold), an escape or a newline from a device reaches
// the command quoted instead of stopping it or hiding in it. The XML and
// JSON are escaped by their own rules, which leave no NUL either.
func followEnv(ref named, d discover.Device, devs []discover.Device) []string {
	env := []string{
		"HOSTDEV_SELECTOR=" + text(ref.Selector.String()),
		"HOSTDEV_NAME=" + text(d.Name),
		"HOSTDEV_VENDOR_ID=" + d.VendorID.String(),
		"HOSTDEV_PRODUCT_ID=" + d.ProductID.String(),
	}
	if u := d.USB; u != nil {
		env = append(env,
			"HOSTDEV_BUSNUM="+strconv.Itoa(u.Busnum),
			"HOSTDEV_DEVNUM="+strconv.Itoa(u.Devnum),
			"HOSTDEV_PORT="+text(string(u.Port)))
		if u.Serial != nil {
			env = append(env, "HOSTDEV_SERIAL="+text(*u.Serial))
		}
	}
	if p := d.PCI; p != nil && p.Address != nil {
		env = append(env, "HOSTDEV_ADDRESS="+p.Address.String())
	}
	item := []hypervisor.Resolved{{Device: d, Ref: &ref.Ref, SerialShared: hypervisor.SharedSerial(d, devs)}}
	var q, x strings.Builder
	if hypervisor.Write(&q, hypervisor.FormatQEMU, item) == nil {
		opt := strings.TrimSpace(strings.TrimPrefix(q.String(), "-device "))
		env = append(env, "HOSTDEV_QEMU="+text(opt))
		for kv := range strings.SplitSeq(opt, ",") {
			if id, ok := strings.CutPrefix(kv, "id="); ok {
				env = append(env, "HOSTDEV_ID="+text(id))
			}
		}
	}
	if hypervisor.Write(&x, hypervisor.FormatLibvirt, item) == nil {
		// Several lines of XML, as virsh wants them; encoding/xml writes
		// what XML cannot hold (a NUL among them) as U+FFFD.
		env = append(env, "HOSTDEV_LIBVIRT="+strings.TrimSpace(x.String()))
	}
	// encoding/json escapes every control character and writes bytes that
	// are not UTF-8 as U+FFFD.
	if j, err := json.Marshal(d); err == nil {
		env = append(env, "HOSTDEV_JSON="+string(j))
	}
	return env
}

// runner runs --exec's commands one at a time, in the order queued,
// without holding up the follow.
type runner struct {
	e       *env
	command string
	timeout time.Duration // 0: none

	mu      sync.Mutex
	pending []job
	drop    bool // stop without running what is pending
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

type job struct {
	op  string
	env []string
}

func newRunner(e *env, command string, timeout time.Duration) *runner {
	if command == "" {
		return nil
	}
	r := &runner{e: e, command: command, timeout: timeout,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *runner) queue(op string, env []string) {
	r.mu.Lock()
	r.pending = append(r.pending, job{op, env})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) loop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		if r.drop {
			r.mu.Unlock()
			return
		}
		if len(r.pending) == 0 {
			r.mu.Unlock()
			select {
			case <-r.wake:
				continue
			case <-r.stop:
				return
			}
		}
		j := r.pending[0]
		r.pending = r.pending[1:]
		r.mu.Unlock()
		r.exec(j)
	}
}

func (r *runner) exec(j job) {
	ctx := context.Background()
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", r.command)
	// Killed at the timeout, with whatever it started: a new process
	// group, and its pipes not waited for past a second.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "HOSTDEV_") }), j.env...)
	// Its output goes to stderr, so that follow's own stays one line per
	// attach or detach, JSON with --json.
	cmd.Stdout, cmd.Stderr = r.e.stderr, r.e.stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("killed after --exec-timeout %s", r.timeout)
		}
		fmt.Fprintf(r.e.stderr, "hostdev-discover: follow: --exec on %s: %v\n", j.op, err)
	}
}

// close runs the commands still queued and returns when they are done;
// when interrupted, it waits only for the one running.
func (r *runner) close(interrupted bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if interrupted && len(r.pending) > 0 {
		fmt.Fprintf(r.e.stderr, "hostdev-discover: follow: interrupted; %d commands not run\n", len(r.pending))
		r.drop = true
	}
	r.mu.Unlock()
	close(r.stop)
	<-r.done
}
