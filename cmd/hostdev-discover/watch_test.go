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
	"github.com/hostdev/hostdev/internal/sysfstest"
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
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{code: make(chan int, 1), cancel: cancel}
	go func() { r.code <- run(ctx, args, &r.out, &r.err) }()
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
func pluggable(t *testing.T) *sysfstest.Tree {
	t.Helper()
	tr := sysfstest.New(t.TempDir())
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
	all := start(t, "watch", "--json", "-n", "--initial", "--root", tr.Root)
	some := start(t, "watch", "-n", "--root", tr.Root, "host:0483:2016")
	all.waitFor(t, 2) // the root hub and its controller
	tr.Plug(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x046d, IDProduct: 0xc52b})
	tr.Plug(stick("2", "K1"))
	all.waitFor(t, 4)
	tr.Unplug("1-2")
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	lines := all.waitFor(t, 5)
	var ops []string
	for _, l := range lines {
		var ev discover.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ev.Time.IsZero() {
			t.Errorf("no time in %q", l)
		}
		ops = append(ops, ev.Op.String()+" "+ev.Device.Name)
	}
	if got := strings.Join(ops, ", "); got != "add usb1, add 0000:00:14.0, add 1-1, add 1-2, remove 1-2" {
		t.Errorf("watch --json --initial: %s", got)
	}
	lines = some.waitFor(t, 2)
	if len(lines) != 2 || !strings.Contains(lines[0], " add    usb 001.003 1-2 0483:2016 ") ||
		!strings.Contains(lines[1], " remove usb 001.003 1-2 0483:2016 ") {
		t.Errorf("watch with a selector:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0]); err != nil {
		t.Errorf("line starts with no time: %v", err)
	}
}

func TestWaitCommand(t *testing.T) {
	tr := pluggable(t)

	// Nothing there: a timeout is a no-match, with the nearest devices.
	code, _, errs := hostdev(t, "wait", "-n", "--root", tr.Root, "--timeout", "50ms", "serial=K1")
	if code != exitNoMatch || !strings.Contains(errs, "no device came in 50ms: no device matches serial=K1") {
		t.Errorf("timeout: exit %d, stderr %q", code, errs)
	}

	// The device comes while waiting.
	w := start(t, "wait", "-n", "--root", tr.Root, "--timeout", "20s", "--format", "qemu", "host:0483:2016")
	time.Sleep(30 * time.Millisecond)
	if c := len(w.code); c != 0 {
		t.Fatalf("wait ended before the device came: %s", w.err.String())
	}
	tr.Plug(stick("3", "K1"))
	if code := w.exit(t); code != 0 || w.out.String() != "-device usb-host,id=hostdev-usb-0483-2016-K1,hostbus=1,hostaddr=2\n" {
		t.Errorf("wait: exit %d, stdout %q, stderr %q", code, w.out.String(), w.err.String())
	}

	// Already there: at once, in any format resolve has.
	code, out, errs := hostdev(t, "wait", "-n", "--root", tr.Root, "--json", "usb-host,vendorid=0x0483,productid=0x2016")
	if code != 0 || !strings.Contains(out, `"name": "1-3"`) {
		t.Errorf("wait --json: exit %d\n%s%s", code, out, errs)
	}

	// Two: ambiguous at once, with the term that picks each.
	tr.Plug(stick("4", "K2"))
	code, _, errs = hostdev(t, "wait", "-n", "--root", tr.Root, "host:0483:2016")
	if code != exitAmbiguous || !strings.Contains(errs, "2 devices match 0483:2016; add serial=K1 or serial=K2") {
		t.Errorf("ambiguous: exit %d, stderr %q", code, errs)
	}
	code, _, errs = hostdev(t, "wait", "-n", "--root", tr.Root, "host:0483:2016", "serial=K2")
	if code != exitUsage || !strings.Contains(errs, "names 2 devices; give one") {
		t.Errorf("two selectors: exit %d, stderr %q", code, errs)
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
	f := start(t, "follow", "-n", "--root", tr.Root, "serial=K1", "--exec", script)
	f.waitFor(t, 1)
	tr.Unplug("1-1")
	f.waitFor(t, 2)
	tr.Plug(stick("1", "K1"))
	f.waitFor(t, 3)
	tr.Unplug("1-1")
	tr.Plug(stick("2", "K1")) // moved to another port
	// An unrelated device changes nothing.
	tr.Plug(sysfstest.USBDevice{Bus: 1, Port: "3", IDVendor: 0x046d, IDProduct: 0xc52b})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	lines := f.waitFor(t, 5)
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
		got = append(got, fs[1]+" "+fs[3]+" "+fs[4])
	}
	want := []string{"attach 001.002 1-1", "detach 001.002 1-1", "attach 001.003 1-1", "detach 001.003 1-1", "attach 001.004 1-2"}
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
	f := start(t, "follow", "-n", "--root", tr.Root, "serial=K1", "--exec-timeout", "200ms", "--exec",
		fmt.Sprintf(`echo "$HOSTDEV_OP" >> %s; [ "$HOSTDEV_OP" = detach ] || sleep 60`, log))
	f.waitFor(t, 1)
	t0 := time.Now()
	tr.Unplug("1-1")
	f.waitFor(t, 2)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(log); string(b) == "attach\ndetach\n" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("log %q; stderr %s", b, f.err.String())
		}
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the detach ran after %s", d)
	}
	if !strings.Contains(f.err.String(), "--exec on attach: killed after --exec-timeout 200ms") {
		t.Errorf("stderr %q", f.err.String())
	}
}
