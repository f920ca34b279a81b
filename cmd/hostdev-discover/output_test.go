package main

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostdevWithin is hostdev for a command that might block on a FIFO: past
// d the test fails, and the FIFO at fifo is opened for writing and closed
// so that the blocked read ends.
func hostdevWithin(t *testing.T, d time.Duration, fifo string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := hostdev(t, args...)
		done <- result{code, out, errs}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(d):
		t.Errorf("%v: still running after %v (blocked on %s?)", args, d, fifo)
		if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
		r := <-done
		return r.code, r.stdout, r.stderr
	}
}

// special makes a FIFO, a socket or a symlink to a FIFO in a fresh folder
// and returns its path.
func special(t *testing.T, kind string) string {
	t.Helper()
	dir := t.TempDir()
	switch kind {
	case "fifo":
		p := filepath.Join(dir, "out.fifo")
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	case "socket":
		p := filepath.Join(dir, "out.sock")
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		t.Cleanup(func() { l.Close() })
		return p
	case "link to fifo":
		fifo := special(t, "fifo")
		p := filepath.Join(dir, "link")
		if err := os.Symlink(fifo, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Fatalf("no kind %q", kind)
	return ""
}

// snapshot -o and fill -i refuse a target that is not a regular file, a
// symlink to one, or absent, and leave it as it was: renaming over it
// would replace a FIFO, a socket, or as root /dev/null.
func TestOutputNotRegular(t *testing.T) {
	root := smallHost(t)
	for _, tc := range []struct {
		kind string
		want string // in stderr, after the path
	}{
		{"fifo", ": a FIFO (named pipe), not a regular file"},
		{"socket", ": a socket, not a regular file"},
		{"link to fifo", ": a symlink to "},
	} {
		for _, cmd := range []string{"snapshot", "fill"} {
			t.Run(cmd+" "+tc.kind, func(t *testing.T) {
				p := special(t, tc.kind)
				before, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				fifo := p
				if tc.kind == "link to fifo" {
					fifo, _ = filepath.EvalSymlinks(p)
				}
				args := []string{"snapshot", "--root", root, "-o", p}
				if cmd == "fill" {
					args = []string{"fill", "-n", "--root", root, "-i", p}
				}
				code, _, errs := hostdevWithin(t, 10*time.Second, fifo, args...)
				if code != 1 || !strings.Contains(errs, p+tc.want) {
					t.Errorf("exit %d, stderr %q; want 1 and %q", code, errs, p+tc.want)
				}
				after, err := os.Lstat(p)
				if err != nil || after.Mode().Type() != before.Mode().Type() || !os.SameFile(before, after) {
					t.Errorf("%s was replaced: %v, %v", p, after, err)
				}
				if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".hostdev-*")); len(left) > 0 {
					t.Errorf("temporary files left: %v", left)
				}
			})
		}
	}

	// /dev/null is only ever asked for with a root that does not exist: the
	// output is checked first and refused, and were it not, the scan would
	// fail before anything is written, even by a version without the check.
	t.Run("/dev/null", func(t *testing.T) {
		st, err := os.Stat("/dev/null")
		if err != nil || st.Mode()&fs.ModeCharDevice == 0 {
			t.Skipf("/dev/null is not a character device here: %v", err)
		}
		for _, args := range [][]string{
			{"snapshot", "--root", "/nonexistent", "-o", "/dev/null"},
			{"fill", "--root", "/nonexistent", "-i", "/dev/null"},
		} {
			code, _, errs := hostdev(t, args...)
			if code != 1 || !strings.Contains(errs, "/dev/null: a character device, not a regular file") {
				t.Errorf("%v: exit %d, stderr %q; want 1 and a refusal", args, code, errs)
			}
		}
		after, err := os.Stat("/dev/null")
		if err != nil || !os.SameFile(st, after) || after.Sys().(*syscall.Stat_t).Rdev != st.Sys().(*syscall.Stat_t).Rdev {
			t.Errorf("/dev/null changed: %v", err)
		}
	})

	// A regular file, a symlink to one, and nothing are fine.
	t.Run("regular", func(t *testing.T) {
		dir := t.TempDir()
		old := filepath.Join(dir, "old.tar.gz")
		if err := os.WriteFile(old, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link.tar.gz")
		if err := os.Symlink("old.tar.gz", link); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{old, link, filepath.Join(dir, "new.tar.gz")} {
			if code, _, errs := hostdev(t, "snapshot", "--root", root, "-o", p); code != 0 {
				t.Errorf("-o %s: exit %d: %s", p, code, errs)
			}
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("the link was replaced by a file: %v", err)
		}
		if data, _ := os.ReadFile(old); string(data) == "old" {
			t.Errorf("%s was not rewritten", old)
		}
	})
}
