//go:build linux

// Command watchmem measures the memory of `hostdev-discover watch`: its
// resident set with many USB devices present, and again after many plug
// and unplug events, to show that it does not grow with the number of
// events. It is run by bench/watch-rss.sh:
//
//	bench/watch-rss.sh -devices 10000 -events 100000
//
// It builds a fake sysfs tree (sysfstest) of -devices USB devices,
// root hubs included, on buses of at most 126 devices, plus a pool of
// -pool free ports on buses of their own. It starts
//
//	hostdev-discover watch --json -n --initial --rescan 0 --root DIR
//
// waits for the initial adds, and reads VmRSS and VmHWM from
// /proc/PID/status. Then it plugs a device into every pool port, waits for
// all the adds, unplugs them all, waits for all the removes, and so on
// until -events events are made, sampling the memory every -sample events.
// Each plug has a serial never used before. Devnums are taken from a free
// list per bus, so they stay in 1..127 and are reused as the kernel reuses
// them.
//
// As the peer, it runs `hostdev-discover list -n --root DIR` on the same
// tree and takes its peak RSS from wait4's rusage: what one scan costs.
//
// It exits 1 when the watcher's RSS after the events exceeds its RSS
// before them by more than -growth (20%), when the watcher's events do not
// add up (one add per plug, one remove per unplug, nothing else), and on
// any error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hostdev/hostdev/sysfstest"
)

// Tree layout.
const (
	perBus      = 126 // devices on a bus of the initial set, root hub included
	rootPorts   = 126 // maxchild of every root hub
	poolPerBus  = 100 // pool ports on one pool bus: 26 of its 126 devnums stay free
	busesPerHCI = 2   // root hubs on one xHCI, as on real hosts
)

type config struct {
	bin       string
	devices   int
	events    int
	pool      int
	sample    int
	dir       string
	growth    float64
	settle    time.Duration
	stall     time.Duration
	charLinks bool
}

func main() {
	var c config
	flag.StringVar(&c.bin, "bin", "", "path to the hostdev-discover binary (required)")
	flag.IntVar(&c.devices, "devices", 10000, "USB devices present, root hubs included")
	flag.IntVar(&c.events, "events", 100000, "plug and unplug events to make (even)")
	flag.IntVar(&c.pool, "pool", 200, "pool ports the events plug into and unplug from")
	flag.IntVar(&c.sample, "sample", 10000, "sample the watcher's memory every this many events")
	flag.StringVar(&c.dir, "dir", "", "write the tree here (kept afterwards); default a temporary directory under $TMPDIR, removed afterwards")
	flag.Float64Var(&c.growth, "growth", 0.20, "fail when RSS after the events exceeds RSS before them by more than this fraction")
	flag.DurationVar(&c.settle, "settle", time.Second, "wait this long before the before and after readings")
	flag.DurationVar(&c.stall, "stall", 60*time.Second, "fail when the watcher prints nothing for this long while events are due")
	flag.BoolVar(&c.charLinks, "charlinks", true, "write sys/dev/char/189:N links, as the kernel does")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: watchmem -bin PATH [flags]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 || c.bin == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchmem:", err)
		os.Exit(1)
	}
}

func (c config) check() error {
	switch {
	case c.pool < 1:
		return fmt.Errorf("-pool %d: want 1 or more", c.pool)
	case c.devices < poolBuses(c.pool)+1:
		return fmt.Errorf("-devices %d: want at least %d (a root hub for the initial set and each pool bus)", c.devices, poolBuses(c.pool)+1)
	case c.events < 0 || c.events%2 != 0:
		return fmt.Errorf("-events %d: want an even number, 0 or more", c.events)
	case c.sample < 1:
		return fmt.Errorf("-sample %d: want 1 or more", c.sample)
	case c.growth < 0:
		return fmt.Errorf("-growth %g: want 0 or more", c.growth)
	}
	return nil
}

func poolBuses(pool int) int { return (pool + poolPerBus - 1) / poolPerBus }

func run(ctx context.Context, c config) (err error) {
	if err := c.check(); err != nil {
		return err
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return err
	}
	start := time.Now()

	dir := c.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "watchmem-"); err != nil {
			return err
		}
		defer func() {
			t := time.Now()
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
			fmt.Printf("removed the tree in %s; total %s\n", since(t), since(start))
		}()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	} else if ents, err := os.ReadDir(dir); err != nil {
		return err
	} else if len(ents) > 0 {
		return fmt.Errorf("-dir %s is not empty", dir)
	}

	// The tree.
	t := time.Now()
	b, err := build(dir, c)
	if err != nil {
		return err
	}
	fmt.Printf("tree: %d USB devices (%d buses, %d of them for the pool of %d ports), %d xHCI functions, in %s under %s\n",
		c.devices, b.buses, poolBuses(c.pool), c.pool, b.hcis, since(t), dir)

	// The peer: one scan of the same tree.
	peer, err := listRSS(ctx, bin, dir)
	if err != nil {
		return err
	}
	want := c.devices + b.hcis
	fmt.Printf("list -n: %d devices, max RSS %s MiB, %s\n", peer.lines, mib(peer.maxRSS), peer.wall.Round(time.Millisecond))
	if peer.lines != want {
		return fmt.Errorf("list -n printed %d devices, want %d USB devices + %d xHCI functions = %d", peer.lines, c.devices, b.hcis, want)
	}

	// The watcher.
	w, err := startWatch(bin, dir)
	if err != nil {
		return err
	}
	defer func() {
		if serr := w.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	t = time.Now()
	if err := w.waitFor(ctx, "the initial adds", c.stall+2*time.Minute, func(s *state) bool { return s.lines >= want }); err != nil {
		return err
	}
	fmt.Printf("watch: %d initial adds in %s (pid %d)\n", want, since(t), w.cmd.Process.Pid)
	if err := sleep(ctx, c.settle); err != nil {
		return err
	}
	base, err := w.sample(0)
	if err != nil {
		return err
	}
	base.label = fmt.Sprintf("0 (%d devices, +%s)", c.devices, c.settle)
	rows := []row{base}

	// The events.
	var made, plugs, unplugs int
	last, lastMade, nextSample := time.Now(), 0, c.sample
	t = time.Now()
	for made < c.events {
		n := min(c.pool, (c.events-made)/2)
		names := make([]string, n)
		for i := range n {
			names[i] = b.plug(i)
		}
		if err := b.tr.Err(); err != nil {
			return err
		}
		plugs += n
		made += n
		if err := w.waitFor(ctx, fmt.Sprintf("%d adds", want+plugs), c.stall, func(s *state) bool { return s.adds >= want+plugs }); err != nil {
			return err
		}
		for i := range n {
			b.unplug(i)
		}
		if err := b.tr.Err(); err != nil {
			return err
		}
		unplugs += n
		made += n
		if err := w.waitFor(ctx, fmt.Sprintf("%d removes", unplugs), c.stall, func(s *state) bool { return s.removes >= unplugs }); err != nil {
			return err
		}
		if made >= nextSample || made == c.events {
			r, err := w.sample(made)
			if err != nil {
				return err
			}
			r.rate = float64(made-lastMade) / time.Since(last).Seconds()
			rows = append(rows, r)
			last, lastMade = time.Now(), made
			for nextSample <= made {
				nextSample += c.sample
			}
		}
	}
	eventsTook := time.Since(t)
	if err := sleep(ctx, c.settle); err != nil {
		return err
	}
	final, err := w.sample(made)
	if err != nil {
		return err
	}
	final.label = fmt.Sprintf("%d (+%s)", made, c.settle)
	rows = append(rows, final)

	// The report.
	fmt.Println()
	fmt.Printf("%-26s %10s %10s %10s %10s\n", "events", "VmRSS MiB", "VmHWM MiB", "events/s", "CPU s")
	for _, r := range rows {
		label := r.label
		if label == "" {
			label = strconv.Itoa(r.events)
		}
		rate := "-"
		if r.rate > 0 {
			rate = fmt.Sprintf("%.0f", r.rate)
		}
		fmt.Printf("%-26s %10s %10s %10s %10.2f\n", label, mib(r.rss), mib(r.hwm), rate, r.cpu)
	}
	fmt.Println()
	if made > 0 {
		fmt.Printf("%d events (%d plugs, %d unplugs) in %s: %.0f events/s, watcher CPU %.1f µs/event\n",
			made, plugs, unplugs, eventsTook.Round(time.Millisecond), float64(made)/eventsTook.Seconds(),
			(final.cpu-base.cpu)*1e6/float64(made))
	}
	fmt.Printf("peer, list -n on the same tree: max RSS %s MiB\n", mib(peer.maxRSS))
	fmt.Printf("watch/list RSS: %.2f with %d devices, %.2f after %d events; watch VmHWM/list: %.2f\n",
		float64(base.rss)/float64(peer.maxRSS), c.devices, float64(final.rss)/float64(peer.maxRSS), made,
		float64(final.hwm)/float64(peer.maxRSS))

	// The watcher's account of the events.
	problems := w.account(want, plugs, unplugs)
	growth := float64(final.rss)/float64(base.rss) - 1
	verdict := "PASS"
	if growth > c.growth {
		verdict = "FAIL"
	}
	fmt.Printf("verdict: %s: RSS after %d events is %s MiB, %+.1f%% of %s MiB before them (limit +%.0f%%)\n",
		verdict, made, mib(final.rss), growth*100, mib(base.rss), c.growth*100)

	// The reading right after the initial scan holds that scan's garbage
	// until the runtime returns it, so also compare with the first sample
	// taken after events: growth from there is growth with the events.
	if len(rows) > 3 {
		first := rows[1]
		fmt.Printf("from the first sample after events (%d) to the last (%d): %s to %s MiB, %+.1f%%\n",
			first.events, final.events, mib(first.rss), mib(final.rss), (float64(final.rss)/float64(first.rss)-1)*100)
	}

	if err := w.stop(); err != nil {
		return err
	}
	if s := w.stderr.String(); s != "" {
		fmt.Printf("\nwatch stderr (%d bytes):\n%s", w.stderr.total, s)
		if w.stderr.total > len(s) {
			fmt.Println("...")
		}
	}
	if verdict == "FAIL" {
		return fmt.Errorf("RSS grew by %.1f%% over the events, more than %.0f%%", growth*100, c.growth*100)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the watcher's events do not add up: %s", strings.Join(problems, "; "))
	}
	return nil
}

// bench is the tree and the state of its pool.
type bench struct {
	tr    *sysfstest.Host
	buses int // root hubs
	hcis  int // xHCI functions

	pool   []poolPort
	free   map[int][]int // per pool bus, free devnums, oldest first
	serial int           // serials handed out to pool devices
}

type poolPort struct {
	bus    int
	port   string
	devnum int // 0 while empty
}

// controller is the PCI address of the c-th xHCI.
func controller(c int) string {
	return fmt.Sprintf("%04x:00:%02x.%d", c/256, c%256/8, c%8)
}

func build(dir string, c config) (*bench, error) {
	tr := sysfstest.NewHostAt(dir)
	tr.CharLinks = c.charLinks
	b := &bench{tr: tr, free: map[int][]int{}}
	rootHub := func() int {
		b.buses++
		bus := b.buses
		rh := sysfstest.RootHub(bus, "480")
		rh.MaxChild = rootPorts
		rh.Controller = controller((bus - 1) / busesPerHCI)
		rh.Serial = new(rh.Controller)
		tr.Plug(rh)
		b.hcis = (bus + busesPerHCI - 1) / busesPerHCI
		return bus
	}
	initial := c.devices - poolBuses(c.pool)
	for placed := 0; placed < initial; {
		bus := rootHub()
		placed++
		for port := 1; port < perBus && placed < initial; port++ {
			b.serial++
			tr.Plug(storage(bus, strconv.Itoa(port), 0, b.serial))
			placed++
		}
		if err := tr.Err(); err != nil {
			return nil, err
		}
	}
	for i := range c.pool {
		if i%poolPerBus == 0 {
			bus := rootHub()
			for d := 2; d <= 127; d++ {
				b.free[bus] = append(b.free[bus], d)
			}
		}
		b.pool = append(b.pool, poolPort{bus: b.buses, port: strconv.Itoa(i%poolPerBus + 1)})
	}
	return b, tr.Err()
}

// storage is a USB flash drive.
func storage(bus int, port string, devnum, serial int) sysfstest.USBDevice {
	return sysfstest.USBDevice{
		Bus: bus, Port: port, Devnum: devnum,
		IDVendor: 0x0483, IDProduct: 0x2016, BCDDevice: 0x0100,
		MaxPower:     "200mA",
		Manufacturer: new("STMicroelectronics"),
		Product:      new("Mass Storage"),
		Serial:       new(fmt.Sprintf("WM%08d", serial)),
		Interfaces: []sysfstest.USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50,
			NumEndpoints: 2, Driver: "usb-storage"}},
	}
}

// plug plugs a new device into pool port i and returns its name.
func (b *bench) plug(i int) string {
	p := &b.pool[i]
	free := b.free[p.bus]
	p.devnum, b.free[p.bus] = free[0], free[1:]
	b.serial++
	d := storage(p.bus, p.port, p.devnum, b.serial)
	if got := b.tr.Plug(d).Devnum; got != p.devnum && b.tr.Err() == nil {
		panic(fmt.Sprintf("plugged %s as devnum %d, want %d", d.Name(), got, p.devnum))
	}
	return d.Name()
}

// unplug unplugs the device in pool port i.
func (b *bench) unplug(i int) {
	p := &b.pool[i]
	b.tr.Unplug(strconv.Itoa(p.bus) + "-" + p.port)
	b.free[p.bus] = append(b.free[p.bus], p.devnum)
	p.devnum = 0
}

// The peer.

type peerRun struct {
	lines  int
	maxRSS int64 // KiB
	wall   time.Duration
}

type lineCounter struct{ n int }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

func listRSS(ctx context.Context, bin, dir string) (peerRun, error) {
	var out lineCounter
	var errb capped
	cmd := exec.CommandContext(ctx, bin, "list", "-n", "--root", dir)
	cmd.Stdout, cmd.Stderr = &out, &errb
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return peerRun{}, fmt.Errorf("%s: %w\n%s", cmd, err, errb.String())
	}
	wall := time.Since(t)
	if errb.total > 0 {
		fmt.Printf("list stderr:\n%s\n", errb.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return peerRun{}, errors.New("no rusage for list")
	}
	return peerRun{lines: out.n, maxRSS: ru.Maxrss, wall: wall}, nil
}

// The watcher.

type watch struct {
	cmd    *exec.Cmd
	stderr *capped
	eof    chan struct{} // closed when stdout is at its end
	kick   chan struct{} // a line was read
	once   sync.Once
	stopEr error

	mu sync.Mutex
	st state
}

// state is the watcher's output so far.
type state struct {
	lines, adds, removes, changes, others int
	dupAdds, strayRemoves, bad            int
	present                               map[string]bool
	notes                                 []string // the first oddities, to show
	readErr                               error
}

func (s *state) note(format string, args ...any) {
	if len(s.notes) < 20 {
		s.notes = append(s.notes, fmt.Sprintf(format, args...))
	}
}

func startWatch(bin, dir string) (*watch, error) {
	w := &watch{
		cmd:    exec.Command(bin, "watch", "--json", "-n", "--initial", "--rescan", "0", "--root", dir),
		stderr: &capped{},
		eof:    make(chan struct{}),
		kick:   make(chan struct{}, 1),
		st:     state{present: map[string]bool{}},
	}
	w.cmd.Stderr = w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go w.read(out)
	return w, nil
}

var (
	opPrefix   = []byte(`{"op":"`)
	namePrefix = []byte(`"name":"`)
	readyLine  = []byte(`{"op":"ready",`)
)

// read counts the watcher's JSON lines. It takes the op and the device
// name from their fixed places rather than decoding each line, and falls
// back to decoding when a line is not as expected.
func (w *watch) read(r io.Reader) {
	defer close(w.eof)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), readyLine) {
			continue // the end of the first scan: no device
		}
		op, name, ok := cheapParse(sc.Bytes())
		if !ok {
			var ev struct {
				Op     string `json:"op"`
				Device struct {
					Name string `json:"name"`
				} `json:"device"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Op != "" && ev.Device.Name != "" {
				op, name, ok = ev.Op, ev.Device.Name, true
			}
		}
		w.mu.Lock()
		s := &w.st
		s.lines++
		switch {
		case !ok:
			s.bad++
			s.note("unparsed line: %.200s", sc.Text())
		case op == "add":
			s.adds++
			if s.present[name] {
				s.dupAdds++
				s.note("line %d: add of %s, which is present", s.lines, name)
			}
			s.present[name] = true
		case op == "remove":
			s.removes++
			if !s.present[name] {
				s.strayRemoves++
				s.note("line %d: remove of %s, which is not present", s.lines, name)
			}
			delete(s.present, name)
		case op == "change":
			s.changes++
			s.note("line %d: change of %s: %.300s", s.lines, name, sc.Text())
		default:
			s.others++
			s.note("line %d: op %q", s.lines, op)
		}
		w.mu.Unlock()
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	w.mu.Lock()
	w.st.readErr = sc.Err()
	w.mu.Unlock()
}

func cheapParse(line []byte) (op, name string, ok bool) {
	rest, ok := bytes.CutPrefix(line, opPrefix)
	if !ok {
		return "", "", false
	}
	o, rest, ok := bytes.Cut(rest, []byte{'"'})
	if !ok {
		return "", "", false
	}
	i := bytes.Index(rest, namePrefix)
	if i < 0 {
		return "", "", false
	}
	n, _, ok := bytes.Cut(rest[i+len(namePrefix):], []byte{'"'})
	if !ok || bytes.IndexByte(n, '\\') >= 0 {
		return "", "", false
	}
	return string(o), string(n), true
}

// waitFor waits until done says the state is what is wanted. It fails
// when the watcher prints nothing for stall, or stops.
func (w *watch) waitFor(ctx context.Context, what string, stall time.Duration, done func(*state) bool) error {
	timer := time.NewTimer(stall)
	defer timer.Stop()
	lines := -1
	for {
		w.mu.Lock()
		ok, n := done(&w.st), w.st.lines
		w.mu.Unlock()
		if ok {
			return nil
		}
		if n != lines {
			lines = n
			timer.Reset(stall)
		}
		select {
		case <-w.kick:
		case <-w.eof:
			w.mu.Lock()
			ok = done(&w.st)
			w.mu.Unlock()
			if ok {
				return nil
			}
			return fmt.Errorf("waiting for %s: the watcher's output ended after %d lines (%s)", what, n, w.summary())
		case <-timer.C:
			return fmt.Errorf("waiting for %s: the watcher printed nothing for %s (%s)", what, stall, w.summary())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *watch) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.st
	return fmt.Sprintf("%d lines: %d adds, %d removes, %d changes", s.lines, s.adds, s.removes, s.changes)
}

// account checks the watcher's events against those made, prints what it
// found, and returns the problems.
func (w *watch) account(initial, plugs, unplugs int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.st
	fmt.Printf("watcher output: %d lines: %d adds (%d initial + %d for %d plugs), %d removes (for %d unplugs), %d changes, %d other, %d unparsed; %d devices present at the end (want %d)\n",
		s.lines, s.adds, initial, s.adds-initial, plugs, s.removes, unplugs, s.changes, s.others, s.bad, len(s.present), initial)
	var p []string
	if s.adds != initial+plugs {
		p = append(p, fmt.Sprintf("%d adds, want %d", s.adds, initial+plugs))
	}
	if s.removes != unplugs {
		p = append(p, fmt.Sprintf("%d removes, want %d", s.removes, unplugs))
	}
	if s.changes+s.others+s.bad > 0 {
		p = append(p, fmt.Sprintf("%d changes, %d other ops, %d unparsed lines", s.changes, s.others, s.bad))
	}
	if s.dupAdds+s.strayRemoves > 0 {
		p = append(p, fmt.Sprintf("%d adds of present devices, %d removes of absent ones", s.dupAdds, s.strayRemoves))
	}
	if len(s.present) != initial {
		p = append(p, fmt.Sprintf("%d devices present at the end, want %d", len(s.present), initial))
	}
	if s.readErr != nil {
		p = append(p, "reading its output: "+s.readErr.Error())
	}
	for _, n := range s.notes {
		fmt.Println("  " + n)
	}
	return p
}

// stop interrupts the watcher and waits for it; it is safe to call more
// than once.
func (w *watch) stop() error {
	w.once.Do(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Signal(os.Interrupt)
			select {
			case <-w.eof:
			case <-time.After(10 * time.Second):
				w.cmd.Process.Kill()
				<-w.eof
			}
		}
		err := w.cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			// Interrupted as asked: an exit status of its own, or the signal.
			if st, ok := exit.Sys().(syscall.WaitStatus); ok && (st.Signaled() && st.Signal() == os.Interrupt || st.Exited() && st.ExitStatus() == 130) {
				err = nil
			}
		}
		if err != nil {
			w.stopEr = fmt.Errorf("watch: %w", err)
		}
	})
	return w.stopEr
}

type row struct {
	label    string
	events   int
	rss, hwm int64 // KiB
	cpu      float64
	rate     float64 // events/s since the previous row
}

func (w *watch) sample(events int) (row, error) {
	pid := w.cmd.Process.Pid
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return row{}, err
	}
	r := row{events: events}
	for line := range strings.SplitSeq(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return row{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, line, err)
		}
		if k == "VmRSS" {
			r.rss = n
		} else {
			r.hwm = n
		}
	}
	if r.rss == 0 || r.hwm == 0 {
		return row{}, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	if r.cpu, err = cpuSeconds(pid); err != nil {
		return row{}, err
	}
	return r, nil
}

// cpuSeconds is the process's user and system time. Linux reports it in
// clock ticks, USER_HZ, which is 100 on every architecture Go runs on.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	// After the command: state is field 3, utime 14 and stime 15.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(u+s) / 100, nil
}

// capped keeps the first 64 KiB written to it and counts the rest.
type capped struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	total int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += len(p)
	if room := 64<<10 - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
