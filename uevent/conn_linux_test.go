package uevent

import (
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/internal/testenv"
)

var capture = flag.Bool("capture", false, "rewrite testdata/capture/*.bin from this machine's uevents (needs root); then run -update")

// listen opens a Conn, or skips where the sandbox has no uevent socket
// (fails instead under HOSTDEV_REQUIRE_ALL=1).
func listen(t *testing.T) *Conn {
	t.Helper()
	c, err := Listen()
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES),
		errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EPROTONOSUPPORT):
		testenv.Skip(t, "no uevent socket here: %v", err)
	case err != nil:
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

type result struct {
	ev  Event
	raw []byte // only when read raw
	err error
}

// watch reads c in the background until c is closed. With raw, it reads
// the bytes itself and keeps a copy, as a capture needs.
func watch(c *Conn, raw bool) <-chan result {
	ch := make(chan result, 64)
	go func() {
		defer close(ch)
		for {
			var r result
			if raw {
				c.mu.Lock()
				b, err := c.readMsg()
				r.raw, r.err = slices.Clone(b), err
				c.mu.Unlock()
				if err == nil {
					r.ev, r.err = Parse(r.raw)
				}
			} else {
				r.ev, r.err = c.Read()
			}
			if isClosed(r.err) {
				return
			}
			select {
			case ch <- r:
			default: // the test stopped looking
			}
		}
	}()
	return ch
}

// await returns the first event for devpath with action, within timeout.
func await(t *testing.T, ch <-chan result, action, devpath string, timeout time.Duration) result {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("the Conn closed before %s of %s arrived", action, devpath)
			}
			if r.err != nil {
				t.Logf("meanwhile: %v", r.err)
				continue
			}
			if r.ev.Action == action && r.ev.Devpath == devpath {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within %v", action, devpath, timeout)
		}
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	c := listen(t)
	done := make(chan error, 1)
	go func() {
		for {
			// An event some other process caused is read past.
			if _, err := c.Read(); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let Read block in the poller

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Close blocked for a second")
	}
	select {
	case err := <-done:
		if !isClosed(err) {
			t.Fatalf("pending Read returned %v, want an error wrapping os.ErrClosed or net.ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("pending Read still blocked a second after Close")
	}

	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Read(); !isClosed(err) {
		t.Errorf("Read after Close returned %v, want an error wrapping os.ErrClosed", err)
	}
}

// pciDevice returns a PCI device's name and its devpath as uevents carry
// it, preferring one without a driver; or skips.
func pciDevice(t *testing.T) (name, devpath string) {
	t.Helper()
	const dir = "/sys/bus/pci/devices"
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Skipf("no PCI devices in %s (%v)", dir, err)
	}
	name = ents[0].Name()
	for _, e := range ents {
		if _, err := os.Lstat(filepath.Join(dir, e.Name(), "driver")); err != nil {
			name = e.Name()
			break
		}
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return name, strings.TrimPrefix(real, "/sys")
}

// trigger asks the kernel to send a synthetic uevent for a device (the
// same as `udevadm trigger`; no driver sees it), or skips.
func trigger(t *testing.T, sysdir, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("writing a uevent file needs root")
	}
	// The kernel sends uevents only into network namespaces of the initial
	// user namespace; a socket in a container's gets none.
	if m, err := os.ReadFile("/proc/self/uid_map"); err != nil || !slices.Equal(strings.Fields(string(m)), []string{"0", "0", "4294967295"}) {
		t.Skipf("not in the initial user namespace (uid_map %q, %v): no uevents come here", m, err)
	}
	if err := os.WriteFile(filepath.Join(sysdir, "uevent"), []byte(what), 0); err != nil {
		t.Skipf("cannot trigger a uevent: %v", err)
	}
}

func TestReadKernelEvent(t *testing.T) {
	c := listen(t)
	name, devpath := pciDevice(t)
	ch := watch(c, false)

	start := time.Now()
	trigger(t, filepath.Join("/sys/bus/pci/devices", name), "change")
	r := await(t, ch, "change", devpath, 2*time.Second)
	t.Logf("change of %s arrived after %v", name, time.Since(start))

	if r.ev.Subsystem != "pci" {
		t.Errorf("Subsystem %q, want pci", r.ev.Subsystem)
	}
	if got := r.ev.Env["PCI_SLOT_NAME"]; got != name {
		t.Errorf("PCI_SLOT_NAME %q, want %q", got, name)
	}
	if r.ev.Seqnum == 0 {
		t.Error("Seqnum is 0")
	}
}

func TestRejectsUserSender(t *testing.T) {
	c := listen(t)
	ch := watch(c, false)

	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	// A well-formed message, so that were it not rejected Read would
	// return it. Sent to group 1 it also reaches the kernel's socket, which
	// ignores it: "chan" is no valid netlink header length.
	const fake = "/devices/hostdev-uevent-test"
	m := msg("change@"+fake, "ACTION=change", "DEVPATH="+fake, "SUBSYSTEM=hostdev", "SEQNUM=1")
	before := c.Rejected()
	err = unix.Sendto(s, m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1})
	if errors.Is(err, unix.EPERM) {
		t.Skipf("sending to the uevent group needs CAP_NET_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(2 * time.Second)
	for c.Rejected() == before {
		if time.Now().After(deadline) {
			t.Fatal("Rejected() did not grow within 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	for r := range ch {
		if r.err == nil && r.ev.Devpath == fake {
			t.Fatalf("Read returned the user-space message: %+v", r.ev)
		}
	}
}

func TestFromKernel(t *testing.T) {
	cred := func(pid int32, uid uint32) []byte {
		return unix.UnixCredentials(&unix.Ucred{Pid: pid, Uid: uid, Gid: uid})
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: 0, Groups: 1}
	tests := []struct {
		name string
		from unix.Sockaddr
		oob  []byte
		want bool
	}{
		{"kernel", kernel, cred(0, 0), true},
		{"user-space port", &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: 4242, Groups: 1}, cred(4242, 0), false},
		{"uid 1000", kernel, cred(0, 1000), false},
		{"no credentials", kernel, nil, false},
		{"other control message", kernel, unix.UnixRights(0), false},
		{"cut control message", kernel, cred(0, 0)[:8], false},
		{"no address", nil, cred(0, 0), false},
		{"not netlink", &unix.SockaddrInet4{}, cred(0, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromKernel(tt.from, tt.oob); got != tt.want {
				t.Errorf("fromKernel = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecvError(t *testing.T) {
	err := recvError(unix.ENOBUFS)
	if !errors.Is(err, ErrOverflow) || !errors.Is(err, unix.ENOBUFS) {
		t.Errorf("recvError(ENOBUFS) = %v, want it to wrap ErrOverflow and ENOBUFS", err)
	}
	if want := "uevent: receive buffer overflowed, events were lost: recvmsg: no buffer space available"; err.Error() != want {
		t.Errorf("recvError(ENOBUFS):\n got %v\nwant %s", err, want)
	}
	err = recvError(unix.EBADF)
	if errors.Is(err, ErrOverflow) || !errors.Is(err, unix.EBADF) {
		t.Errorf("recvError(EBADF) = %v, want EBADF and not ErrOverflow", err)
	}
}

func TestReceiveBuffer(t *testing.T) {
	c := listen(t)
	var size int
	var err error
	if cerr := c.rc.Control(func(fd uintptr) {
		size, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SO_RCVBUF is %d", size)
	// The kernel doubles what it was asked for, for its bookkeeping.
	if os.Geteuid() == 0 && size < rcvBuf {
		t.Errorf("as root SO_RCVBUF is %d, want at least %d", size, rcvBuf)
	}
}

// TestCapture writes the real messages that TestCaptured reads. It asks
// for synthetic "change" events (as `udevadm trigger` does): no driver
// sees them.
func TestCapture(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to rewrite testdata/capture from this machine")
	}
	c := listen(t)
	const dir = "/sys/bus/pci/devices"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bare, bound string // a device without a driver, and one with
	for _, e := range ents {
		_, err := os.Lstat(filepath.Join(dir, e.Name(), "driver"))
		if err != nil && bare == "" {
			bare = e.Name()
		} else if err == nil && bound == "" {
			bound = e.Name()
		}
	}
	ch := watch(c, true)
	for _, k := range []struct{ file, dev, write string }{
		{"pci-change-nodriver.bin", bare, "change"},
		{"pci-change-driver.bin", bound, "change"},
		// With a UUID and arguments the kernel adds SYNTH_UUID and
		// SYNTH_ARG_* (Documentation/ABI/testing/sysfs-uevent).
		{"pci-change-synth-args.bin", bare, "change 6c3e0a8e-2b7d-4f43-9d2a-3f1f2a9b8c01 HOSTDEV=capture"},
	} {
		if k.dev == "" {
			t.Logf("%s: no such device here", k.file)
			continue
		}
		real, err := filepath.EvalSymlinks(filepath.Join(dir, k.dev))
		if err != nil {
			t.Fatal(err)
		}
		trigger(t, filepath.Join(dir, k.dev), k.write)
		r := await(t, ch, "change", strings.TrimPrefix(real, "/sys"), 2*time.Second)
		if err := os.WriteFile(filepath.Join("testdata", "capture", k.file), r.raw, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes from %s", k.file, len(r.raw), k.dev)
	}
}
