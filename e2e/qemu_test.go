package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// vm is one boot of the guest. The test talks to it over two sockets:
// the guest's ttyS1 (results and the end of the hotplug part) and QMP.
type vm struct {
	t       *testing.T
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	ctl     net.Conn
	qmp     *qmp
	started time.Time

	mu     sync.Mutex
	lines  []string      // from ttyS1, as they come
	notify chan struct{} // closed and replaced on each new line
}

// vmConfig is what a boot runs: QEMU's device options and the guest's
// e2e.* kernel parameters (read by testdata/init.sh).
type vmConfig struct {
	devices []string
	params  []string
	disks   []string // ids of 1 MiB raw drives to create
}

func bootVM(t *testing.T, cfg vmConfig) *vm {
	t.Helper()
	qemu := findQEMU(t)
	k := findKernel(t)
	busybox := findBusybox(t)

	dir := t.TempDir()
	if os.Getenv("HOSTDEV_E2E_KEEP") == "1" {
		var err error
		if dir, err = os.MkdirTemp("", "hostdev-e2e-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("run folder kept: %s", dir)
	}
	t0 := time.Now()
	bin := buildBinary(t, dir)
	lib := buildLibusbBinary(t, dir)
	init, err := os.ReadFile(filepath.Join("testdata", "init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	buildInitramfs(t, initrd, k, busybox, bin, buildStatic(t, dir, "./e2e/vfiotool"), lib, init)
	t.Logf("guest built in %v", time.Since(t0).Round(time.Millisecond))

	args := []string{
		"-machine", "q35,accel=tcg", "-cpu", "max", "-m", "1024", "-smp", "1",
		"-nographic", "-no-reboot", "-nodefaults", "-net", "none",
		"-kernel", k.vmlinuz, "-initrd", initrd,
		// no_timer_check: on a loaded host, TCG's timer can look broken
		// through interrupt remapping, and the guest panicked at boot.
		"-append", "console=ttyS0 intel_iommu=on no_timer_check quiet panic=-1 " + strings.Join(cfg.params, " "),
		"-device", "intel-iommu",
		"-serial", "file:" + filepath.Join(dir, "console.log"),
		"-chardev", "socket,id=ctl,path=" + filepath.Join(dir, "ctl.sock") + ",server=on,wait=on",
		"-serial", "chardev:ctl",
		"-qmp", "unix:" + filepath.Join(dir, "qmp.sock") + ",server=on,wait=off",
	}
	for _, id := range cfg.disks {
		p := filepath.Join(dir, id+".raw")
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-drive", "if=none,format=raw,id="+id+",file="+p)
	}
	for _, d := range cfg.devices {
		args = append(args, "-device", d)
	}
	log, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		t.Fatal(err)
	}
	v := &vm{t: t, dir: dir, exited: make(chan struct{}), notify: make(chan struct{}), started: time.Now()}
	v.cmd = exec.Command(qemu, args...)
	v.cmd.Stdout, v.cmd.Stderr = log, log
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		v.cmd.Wait()
		log.Close()
		close(v.exited)
	}()
	t.Cleanup(v.cleanup)

	v.ctl = dialRetry(t, filepath.Join(dir, "ctl.sock"), v.exited)
	go v.readLines()
	c := dialRetry(t, filepath.Join(dir, "qmp.sock"), v.exited)
	v.qmp = newQMP(t, c)
	return v
}

func dialRetry(t *testing.T, path string, exited chan struct{}) net.Conn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			return c
		}
		select {
		case <-exited:
			t.Fatalf("qemu exited before %s was ready", filepath.Base(path))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (v *vm) readLines() {
	sc := bufio.NewScanner(v.ctl)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		v.mu.Lock()
		v.lines = append(v.lines, strings.TrimRight(sc.Text(), "\r"))
		close(v.notify)
		v.notify = make(chan struct{})
		v.mu.Unlock()
	}
}

// expect waits until a line from index from on matches re, and returns its
// index and submatches.
func (v *vm) expect(from int, timeout time.Duration, re *regexp.Regexp) (int, []string) {
	v.t.Helper()
	deadline := time.After(timeout)
	for {
		v.mu.Lock()
		for i := from; i < len(v.lines); i++ {
			if m := re.FindStringSubmatch(v.lines[i]); m != nil {
				v.mu.Unlock()
				return i, m
			}
		}
		from = len(v.lines)
		ch := v.notify
		v.mu.Unlock()
		select {
		case <-ch:
		case <-v.exited:
			v.t.Fatalf("the guest stopped before a line matching %s", re)
		case <-deadline:
			v.t.Fatalf("no line matching %s after %v", re, timeout)
		}
	}
}

// send writes a line to the guest's ttyS1.
func (v *vm) send(line string) {
	v.t.Helper()
	if _, err := v.ctl.Write([]byte(line + "\n")); err != nil {
		v.t.Fatal(err)
	}
}

// waitExit waits for QEMU to end after the guest's poweroff.
func (v *vm) waitExit(timeout time.Duration) {
	v.t.Helper()
	select {
	case <-v.exited:
		v.t.Logf("boot took %v", time.Since(v.started).Round(time.Millisecond))
	case <-time.After(timeout):
		v.t.Fatalf("qemu still running %v after the end", timeout)
	}
}

// snapshotLines returns the lines read so far.
func (v *vm) snapshotLines() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.lines...)
}

// section returns the text between ==BEGIN NAME== and ==END NAME rc=N==
// and N.
func (v *vm) section(t *testing.T, name string) (string, int) {
	t.Helper()
	lines := v.snapshotLines()
	for i, l := range lines {
		if l != "==BEGIN "+name+"==" {
			continue
		}
		var body []string
		for _, m := range lines[i+1:] {
			var rc int
			if _, err := fmt.Sscanf(strings.TrimPrefix(m, "==END "+name+" "), "rc=%d==", &rc); err == nil && strings.HasPrefix(m, "==END "+name+" ") {
				return strings.Join(body, "\n"), rc
			}
			body = append(body, m)
		}
		t.Fatalf("section %s has no end", name)
	}
	t.Fatalf("no section %s", name)
	return "", 0
}

func (v *vm) cleanup() {
	select {
	case <-v.exited:
	default:
		v.cmd.Process.Kill()
		<-v.exited
	}
	if v.ctl != nil {
		v.ctl.Close()
	}
	if !v.t.Failed() {
		return
	}
	for _, f := range []string{"console.log", "qemu.log"} {
		b, _ := os.ReadFile(filepath.Join(v.dir, f))
		v.t.Logf("---- %s ----\n%s", f, b)
	}
	v.t.Logf("---- ttyS1 ----\n%s", strings.Join(v.snapshotLines(), "\n"))
}

// qmp is a minimal QMP client: one command at a time, events kept.
type qmp struct {
	t      *testing.T
	c      net.Conn
	r      *bufio.Reader
	events []map[string]any
}

func newQMP(t *testing.T, c net.Conn) *qmp {
	q := &qmp{t: t, c: c, r: bufio.NewReader(c)}
	if _, err := q.read(10 * time.Second); err != nil { // the greeting
		t.Fatalf("qmp greeting: %v", err)
	}
	q.do("qmp_capabilities", nil)
	return q
}

func (q *qmp) read(timeout time.Duration) (map[string]any, error) {
	q.c.SetReadDeadline(time.Now().Add(timeout))
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("qmp: %q: %v", line, err)
	}
	return m, nil
}

// do runs a command and fails the test on an error reply.
func (q *qmp) do(cmd string, args map[string]any) map[string]any {
	q.t.Helper()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		q.t.Fatalf("qmp %s: %v", cmd, err)
	}
	for {
		m, err := q.read(30 * time.Second)
		if err != nil {
			q.t.Fatalf("qmp %s: %v", b, err)
		}
		if _, ok := m["event"]; ok {
			q.events = append(q.events, m)
			continue
		}
		if e, ok := m["error"]; ok {
			q.t.Fatalf("qmp %s: %v", b, e)
		}
		return m
	}
}

// waitEvent waits for an event with the given name and data.device.
func (q *qmp) waitEvent(name, device string, timeout time.Duration) {
	q.t.Helper()
	match := func(m map[string]any) bool {
		if m["event"] != name {
			return false
		}
		data, _ := m["data"].(map[string]any)
		return device == "" || data["device"] == device
	}
	for i, m := range q.events {
		if match(m) {
			q.events = append(q.events[:i], q.events[i+1:]...)
			return
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		m, err := q.read(time.Until(deadline))
		if err != nil {
			q.t.Fatalf("qmp: no %s for %s: %v", name, device, err)
		}
		if match(m) {
			return
		}
		if _, ok := m["event"]; ok {
			q.events = append(q.events, m)
		}
	}
}
