package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/sysfstest"
)

// syncBuffer is a bytes.Buffer that a running command writes while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a command started with start, and its output so far.
type running struct {
	out, err syncBuffer
	code     chan int
	cancel   context.CancelFunc
	ready    chan struct{} // closed when its watcher's first scan is done
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{code: make(chan int, 1), cancel: cancel, ready: make(chan struct{})}
	e := &env{stdout: &r.out, stderr: &r.err, ready: sync.OnceFunc(func() { close(r.ready) })}
	go func() { r.code <- runEnv(ctx, args, e) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.code:
		case <-time.After(10 * time.Second):
			t.Errorf("%v did not stop when cancelled", args)
		}
	})
	return r
}

// waitFor waits until the output holds n lines, and returns them.
func (r *running) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := strings.Split(strings.TrimSuffix(r.out.String(), "\n"), "\n")
		if r.out.String() == "" {
			lines = nil
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines in 10s:\n%s\nstderr:\n%s", len(lines), n, r.out.String(), r.err.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitReady waits for the ready line that watch and follow print after
// their first scan, and returns the lines so far.
func (r *running) waitReady(t *testing.T) []string {
	t.Helper()
	for n := 1; ; n++ {
		lines := r.waitFor(t, n)
		if f := strings.Fields(lines[n-1]); len(f) == 2 && f[1] == "ready" || strings.HasPrefix(lines[n-1], `{"op":"ready",`) {
			return lines
		}
	}
}

// waitWatching waits until the command's watcher has made its first scan:
// wait prints no ready line, so the test hears it from the command.
func (r *running) waitWatching(t *testing.T) {
	t.Helper()
	select {
	case <-r.ready:
	case c := <-r.code:
		r.code <- c
		t.Fatalf("ended with %d before watching: %s", c, r.err.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("not watching after 10s; stderr:\n%s", r.err.String())
	}
}

// exit waits for the command to end by itself.
func (r *running) exit(t *testing.T) int {
	t.Helper()
	select {
	case c := <-r.code:
		r.code <- c // for the cleanup
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("still running after 10s; stdout:\n%s\nstderr:\n%s", r.out.String(), r.err.String())
	}
	return 0
}

// pluggable is a host with a root hub on bus 1, with device nodes, to plug
// devices into while a command watches.
func pluggable(t *testing.T) *sysfstest.Host {
	t.Helper()
	tr := sysfstest.NewHostAt(t.TempDir())
	tr.Plug(sysfstest.RootHub(1, "480"))
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return tr
}

func stick(port, serial string) sysfstest.USBDevice {
	return sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x0483, IDProduct: 0x2016,
		Manufacturer: new("STMicroelectronics"), Product: new("Key"), Serial: &serial,
		Interfaces: []sysfstest.USBInterface{{Class: 8, SubClass: 6, Protocol: 0x50, Driver: "usb-storage"}}}
}

func TestWatchCommand(t *testing.T) {
	tr := pluggable(t)
	all := start(t, "watch", "--json", "-n", "--initial", "--root", tr.Root())
	some := start(t, "watch", "-n", "--root", tr.Root(), "host:0483:2016")
	// Both have made their first scan: what is plugged now is an add.
	all.waitReady(t)
	if lines := some.waitReady(t); len(lines) != 1 {
		t.Errorf("before ready, without --initial: %q", lines)
	}
	tr.Plug(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x046d, IDProduct: 0xc52b})
	tr.Plug(stick("2", "K1"))
	all.waitFor(t, 5)
	some.waitFor(t, 2) // each watcher sees the stick come before it goes
	tr.Unplug("1-2")
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	lines := all.waitFor(t, 6)
	var ops []string
	for _, l := range lines {
		var ev discover.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ev.Time.IsZero() {
			t.Errorf("no time in %q", l)
		}
		if ev.Op == discover.Ready {
			if strings.Contains(l, `"device"`) {
				t.Errorf("ready with a device: %q", l)
			}
			ops = append(ops, "ready")
			continue
		}
		ops = append(ops, ev.Op.String()+" "+ev.Device.Name)
	}
	if got := strings.Join(ops, ", "); got != "add usb1, add 0000:00:14.0, ready, add 1-1, add 1-2, remove 1-2" {
		t.Errorf("watch --json --initial: %s", got)
	}
	lines = some.waitFor(t, 3)
	if len(lines) != 3 || !strings.Contains(lines[1], " add    usb 001.003 1-2 0483:2016 ") ||
		!strings.Contains(lines[2], " remove usb 001.003 1-2 0483:2016 ") {
		t.Errorf("watch with a selector:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if _, err := time.Parse(time.RFC3339Nano, strings.Fields(l)[0]); err != nil {
			t.Errorf("line %q starts with no time: %v", l, err)
		}
	}
}

// A device that stays but stops matching a selector (its driver unbound)
// is an unmatch, and one that starts matching (bound again) a match; a
// change that keeps it matching is a change, with what it was in "old".
func TestWatchCommandMatchUnmatch(t *testing.T) {
	tr := pluggable(t)
	tr.Plug(stick("1", "K1"))
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	w := start(t, "watch", "--json", "-n", "--rescan", "20ms", "--root", tr.Root(), "driver=usb-storage")
	all := start(t, "watch", "-n", "--rescan", "20ms", "--root", tr.Root())
	w.waitReady(t)
	all.waitReady(t)
	res, err := discover.Scan(context.Background(), discover.Options{Root: tr.Root(), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var link string
	for _, d := range res.Devices {
		if d.Name == "1-1" {
			link = filepath.Join(tr.Root(), d.SysfsPath, "1-1:1.0", "driver")
		}
	}
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 2)
	all.waitFor(t, 2) // each watcher sees the unbind before the bind
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	lines := w.waitFor(t, 3)
	var got []string
	for _, l := range lines[1:] {
		var ev struct {
			Op     string          `json:"op"`
			Device discover.Device `json:"device"`
			Old    *discover.Device
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ev.Old == nil {
			t.Errorf("no old in %q", l)
			continue
		}
		got = append(got, fmt.Sprintf("%s %s %q->%q", ev.Op, ev.Device.Name, ev.Old.USB.Interfaces[0].Driver, ev.Device.USB.Interfaces[0].Driver))
	}
	if want := []string{`unmatch 1-1 "usb-storage"->""`, `match 1-1 ""->"usb-storage"`}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("watch driver=usb-storage:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Without a selector, both are changes.
	lines = all.waitFor(t, 3)
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) < 4 || f[1] != "change" || f[4] != "1-1" {
			t.Errorf("watch: %q, want a change of 1-1", l)
		}
	}
}

func TestWaitCommand(t *testing.T) {
	tr := pluggable(t)

	// Nothing there: a timeout is a no-match, with the nearest devices.
	code, _, errs := hostdev(t, "wait", "-n", "--root", tr.Root(), "--timeout", "50ms", "serial=K1")
	if code != exitNoMatch || !strings.Contains(errs, "no device came in 50ms: no device matches serial=K1") {
		t.Errorf("timeout: exit %d, stderr %q", code, errs)
	}

	// The device comes while waiting.
	w := start(t, "wait", "-n", "--root", tr.Root(), "--timeout", "20s", "--format", "qemu", "host:0483:2016")
	w.waitWatching(t)
	if c := len(w.code); c != 0 {
		t.Fatalf("wait ended before the device came: %s", w.err.String())
	}
	tr.Plug(stick("3", "K1"))
	if code := w.exit(t); code != 0 || w.out.String() != "-device usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=2\n" {
		t.Errorf("wait: exit %d, stdout %q, stderr %q", code, w.out.String(), w.err.String())
	}

	// Already there: at once, in any format resolve has.
	code, out, errs := hostdev(t, "wait", "-n", "--root", tr.Root(), "--json", "usb-host,vendorid=0x0483,productid=0x2016")
	if code != 0 || !strings.Contains(out, `"name": "1-3"`) {
		t.Errorf("wait --json: exit %d\n%s%s", code, out, errs)
	}

	// Two: ambiguous at once, with the term that picks each.
	tr.Plug(stick("4", "K2"))
	code, _, errs = hostdev(t, "wait", "-n", "--root", tr.Root(), "host:0483:2016")
	if code != exitAmbiguous || !strings.Contains(errs, "2 devices match 0483:2016; add serial=K1 or serial=K2") {
		t.Errorf("ambiguous: exit %d, stderr %q", code, errs)
	}
	code, _, errs = hostdev(t, "wait", "-n", "--root", tr.Root(), "host:0483:2016", "serial=K2")
	if code != exitUsage || !strings.Contains(errs, "names 2 devices; give one") {
		t.Errorf("two selectors: exit %d, stderr %q", code, errs)
	}
}

// wait --gone: at once when nothing matches, exit 3 while something
// does, and 0 when it goes.
func TestWaitGone(t *testing.T) {
	tr := pluggable(t)
	code, out, errs := hostdev(t, "wait", "--gone", "-n", "--root", tr.Root(), "serial=K1")
	if code != 0 || out != "" || errs != "" {
		t.Errorf("nothing there: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	tr.Plug(stick("1", "K1"))
	tr.Plug(stick("2", "K2"))
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	code, _, errs = hostdev(t, "wait", "--gone", "-n", "--root", tr.Root(), "--timeout", "50ms", "serial=K1")
	if code != exitNoMatch || !strings.Contains(errs, "still there after 50ms: 1-1") {
		t.Errorf("still there: exit %d, stderr %q", code, errs)
	}
	// Two match: both must go.
	code, _, errs = hostdev(t, "wait", "--gone", "-n", "--root", tr.Root(), "--timeout", "50ms", "host:0483:2016")
	if code != exitNoMatch || !strings.Contains(errs, "still there after 50ms: 1-1, 1-2") {
		t.Errorf("two there: exit %d, stderr %q", code, errs)
	}

	// A selector that remembers where the device was (vendor, product,
	// bus and device number, as libvirt fills in) is gone once nothing is
	// there, even though the same model sits at another address: it must
	// not be followed there as resolve would.
	k2 := tr.Plug(stick("3", "K2"))
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	at := fmt.Sprintf("vendor=0483,product=2016,busnum=1,devnum=%d", k2.Devnum)
	tr.Unplug(k2.Name())
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	code, _, errs = hostdev(t, "wait", "--gone", "-n", "--root", tr.Root(), "--timeout", "50ms", at)
	if code != 0 {
		t.Errorf("wait --gone %s, with that device unplugged and the same model elsewhere: exit %d, stderr %q", at, code, errs)
	}

	w := start(t, "wait", "--gone", "-n", "--root", tr.Root(), "--timeout", "20s", "host:0483:2016")
	w.waitWatching(t)
	tr.Unplug("1-1")
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	tr.Unplug("1-2")
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	if code := w.exit(t); code != 0 || w.out.String() != "" {
		t.Errorf("wait --gone: exit %d, stdout %q, stderr %q", code, w.out.String(), w.err.String())
	}
}

// follow, with --exec, through a plug, an unplug, a replug and a move to
// another port, and a command that fails every other time.
func TestFollowCommand(t *testing.T) {
	tr := pluggable(t)
	tr.Plug(stick("1", "K1"))
	log := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`echo "$HOSTDEV_OP $HOSTDEV_NAME $HOSTDEV_BUSNUM.$HOSTDEV_DEVNUM port=$HOSTDEV_PORT $HOSTDEV_VENDOR_ID:$HOSTDEV_PRODUCT_ID serial=$HOSTDEV_SERIAL id=$HOSTDEV_ID qemu=$HOSTDEV_QEMU" >> %s
printf '%%s\n' "$HOSTDEV_JSON" >> %s.json
printf '%%s\n' "$HOSTDEV_LIBVIRT" | grep -q "<address bus='1' device='$HOSTDEV_DEVNUM'/>" || echo bad libvirt >> %s
echo "a line of the command's own"
test "$HOSTDEV_OP" = attach`, log, log, log)
	f := start(t, "follow", "-n", "--root", tr.Root(), "serial=K1", "--exec", script)
	if lines := f.waitReady(t); len(lines) != 2 {
		t.Errorf("before ready: %q, want the attach", lines)
	}
	tr.Unplug("1-1")
	f.waitFor(t, 3)
	tr.Plug(stick("1", "K1"))
	f.waitFor(t, 4)
	tr.Unplug("1-1")
	tr.Plug(stick("2", "K1")) // moved to another port
	// An unrelated device changes nothing.
	tr.Plug(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x046d, IDProduct: 0xc52b})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	lines := f.waitFor(t, 6)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(log); strings.Count(string(b), "\n") >= 5 || time.Now().After(deadline) {
			break
		}
	}
	f.cancel()
	if code := f.exit(t); code != 0 {
		t.Errorf("follow: exit %d: %s", code, f.err.String())
	}
	if strings.Contains(f.out.String(), "own") || strings.Count(f.err.String(), "a line of the command's own") != 5 {
		t.Errorf("the command's output is not on stderr alone:\nstdout %s\nstderr %s", f.out.String(), f.err.String())
	}
	var got []string
	for _, l := range lines {
		fs := strings.Fields(l)
		if fs[1] == "ready" {
			got = append(got, "ready")
			continue
		}
		got = append(got, fs[1]+" "+fs[3]+" "+fs[4])
	}
	want := []string{"attach 001.002 1-1", "ready", "detach 001.002 1-1", "attach 001.003 1-1", "detach 001.003 1-1", "attach 001.004 1-2"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("follow printed\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	wantLog := `attach 1-1 1.2 port=1 0483:2016 serial=K1 id=hostdev-usb-0483-2016-K1 qemu=usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=2
detach 1-1 1.2 port=1 0483:2016 serial=K1 id=hostdev-usb-0483-2016-K1 qemu=usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=2
attach 1-1 1.3 port=1 0483:2016 serial=K1 id=hostdev-usb-0483-2016-K1 qemu=usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=3
detach 1-1 1.3 port=1 0483:2016 serial=K1 id=hostdev-usb-0483-2016-K1 qemu=usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=3
attach 1-2 1.4 port=2 0483:2016 serial=K1 id=hostdev-usb-0483-2016-K1 qemu=usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=4
`
	if string(b) != wantLog {
		t.Errorf("--exec saw\n%swant\n%s", b, wantLog)
	}
	js, _ := os.ReadFile(log + ".json")
	for l := range strings.Lines(string(js)) {
		var d discover.Device
		if err := json.Unmarshal([]byte(l), &d); err != nil || d.USB == nil || d.USB.Serial == nil || *d.USB.Serial != "K1" {
			t.Errorf("HOSTDEV_JSON %q: %v", l, err)
		}
	}
	if n := strings.Count(f.err.String(), "--exec on detach: exit status 1"); n != 2 {
		t.Errorf("%d failed detaches reported, want 2; stderr:\n%s", n, f.err.String())
	}
}

// A device removed and back before follow looked (a PCI function's
// remove and rescan, say) is detached and attached again, even at the
// same address.
func TestFollowRemovedAndBack(t *testing.T) {
	var out, errs bytes.Buffer
	e := &env{stdout: &out, stderr: &errs}
	ref, err := parseOne([]string{"00:1f.3"})
	if err != nil {
		t.Fatal(err)
	}
	f := &follower{e: e, ref: ref}
	res, err := discover.Scan(context.Background(), discover.Options{Root: smallHost(t), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var fn discover.Device
	for _, d := range res.Devices {
		if d.Name == "0000:00:1f.3" {
			fn = d
		}
	}
	now := time.Now()
	if err := f.update(res.Devices, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.update(res.Devices, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.update(res.Devices, now, []discover.Device{fn}); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for l := range strings.Lines(out.String()) {
		ops = append(ops, strings.Fields(l)[1]+" "+strings.Fields(l)[3])
	}
	if got := strings.Join(ops, ", "); got != "attach 0000:00:1f.3, detach 0000:00:1f.3, attach 0000:00:1f.3" {
		t.Errorf("follow said %s", got)
	}
}

// A command that hangs is killed at --exec-timeout, reported, and the
// next one runs.
func TestFollowExecTimeout(t *testing.T) {
	tr := pluggable(t)
	tr.Plug(stick("1", "K1"))
	log := filepath.Join(t.TempDir(), "log")
	// The timeout leaves a loaded machine time to start the detach's
	// shell; the attach's sleep is far longer than the wait below, so the
	// detach runs only if the attach was killed.
	f := start(t, "follow", "-n", "--root", tr.Root(), "serial=K1", "--exec-timeout", "2s", "--exec",
		fmt.Sprintf(`echo "$HOSTDEV_OP" >> %s; [ "$HOSTDEV_OP" = detach ] || sleep 120`, log))
	f.waitReady(t)
	tr.Unplug("1-1")
	f.waitFor(t, 3)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(log); string(b) == "attach\ndetach\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("log %q; stderr %s", b, f.err.String())
		}
	}
	if !strings.Contains(f.err.String(), "--exec on attach: killed after --exec-timeout 2s") {
		t.Errorf("stderr %q", f.err.String())
	}
}

// Interrupted before the watcher's first scan is done, watch and follow
// end as when interrupted later (exit 0, nothing printed), and wait says
// it was interrupted.
func TestWatchInterruptedInFirstScan(t *testing.T) {
	tr := pluggable(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"watch", "-n", "--root", tr.Root()}, exitOK, ""},
		{[]string{"follow", "-n", "--root", tr.Root(), "host:0483:2016"}, exitOK, ""},
		{[]string{"wait", "-n", "--root", tr.Root(), "host:0483:2016"}, exitError, "hostdev-discover: interrupted during the first scan\n"},
	} {
		var out, errs bytes.Buffer
		if code := run(ctx, tc.args, &out, &errs); code != tc.code || out.String() != "" || errs.String() != tc.stderr {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", tc.args, code, out.String(), errs.String(), tc.code, tc.stderr)
		}
	}
}

// A device string that no environment can hold as it is (a NUL, an
// escape, a newline, bytes that are not UTF-8) reaches --exec in the
// quoted form list prints, and the command runs.
func TestFollowExecHostileSerial(t *testing.T) {
	tr := pluggable(t)
	serial := "K\x00\x1b[31m\nx\xff"
	tr.Plug(stick("1", serial))
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`printf '%%s\n' "$HOSTDEV_SERIAL" "$HOSTDEV_NAME" "$HOSTDEV_PORT" > %s.tmp
printf '%%s\n' "$HOSTDEV_JSON" > %s.json
mv %s.tmp %s`, log, log, log, log)
	f := start(t, "follow", "-n", "--root", tr.Root(), "host:0483:2016", "--exec", script)
	f.waitReady(t)
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var err error
		if b, err = os.ReadFile(log); err == nil || time.Now().After(deadline) {
			break
		}
	}
	f.cancel()
	if code := f.exit(t); code != 0 {
		t.Errorf("follow: exit %d: %s", code, f.err.String())
	}
	want := `"K\x00\x1b[31m\nx\xff"` + "\n1-1\n1\n"
	if string(b) != want {
		t.Errorf("--exec saw %q, want %q; stderr:\n%s", b, want, f.err.String())
	}
	js, err := os.ReadFile(log + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var d discover.Device
	if err := json.Unmarshal(js, &d); err != nil || d.USB == nil || d.USB.Serial == nil || *d.USB.Serial != strings.ToValidUTF8(serial, "\uFFFD") {
		t.Errorf("HOSTDEV_JSON %q: %v", js, err)
	}
}
