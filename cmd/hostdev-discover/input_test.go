package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Every config input is read up to 64 MiB and no further: /dev/zero fails
// at once with an error naming the file and the limit, a larger regular
// file is refused before it is read, and a pipe is read only to one byte
// past the limit.
func TestConfigLimit(t *testing.T) {
	const limit = 64 << 20 // what the README and the error promise
	root := smallHost(t)
	want := func(p string) string { return p + ": larger than 64 MiB, the limit for a config file" }

	for _, args := range [][]string{
		{"resolve", "-n", "--root", root, "-f", "/dev/zero"},
		{"fill", "-n", "--root", root, "/dev/zero"},
	} {
		// Without the limit this would not end; how long it takes to reach
		// it is the machine's business (25 s under -race on a busy one).
		code, _, errs := hostdev(t, args...)
		if code != 1 || !strings.Contains(errs, want("/dev/zero")) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", args, code, errs, want("/dev/zero"))
		}
	}

	// A sparse file: refused by its size, without reading 64 MiB of it.
	big := filepath.Join(t.TempDir(), "big.xml")
	if err := os.WriteFile(big, []byte("<domain>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, limit+1); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"resolve", "-n", "--root", root, "-f", big},
		{"fill", "-n", "--root", root, big},
		{"fill", "-n", "--root", root, "-i", big},
	} {
		code, _, errs := hostdev(t, args...)
		if code != 1 || !strings.Contains(errs, want(big)) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", args, code, errs, want(big))
		}
	}

	// A pipe that never ends is read to the limit and closed: the writer
	// gets EPIPE long before it has written all it would.
	fifo := filepath.Join(t.TempDir(), "config")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	const total = limit + 32<<20
	written := make(chan int64, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			written <- -1
			return
		}
		defer f.Close()
		chunk := bytes.Repeat([]byte("# comment\n"), 1<<16)
		var n int64
		for n < total {
			m, err := f.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		written <- n
	}()
	code, _, errs := hostdevWithin(t, 30*time.Second, fifo, "resolve", "-n", "--root", root, "-f", fifo)
	if code != 1 || !strings.Contains(errs, want(fifo)) {
		t.Errorf("resolve -f FIFO of %d bytes: exit %d, stderr %q; want 1 and %q", total, code, errs, want(fifo))
	}
	if n := <-written; n >= total || n > limit+8<<20 {
		t.Errorf("the writer wrote %d bytes of %d: the reader did not stop at the limit", n, total)
	}
}

// resolve -f <(...) and fill <(...) read a pipe as it comes: that is how
// a shell passes a generated config. Only -i needs a regular file.
func TestConfigFromPipe(t *testing.T) {
	root := smallHost(t)
	for _, args := range [][]string{
		{"resolve", "-n", "--root", root, "-f"},
		{"fill", "-n", "--root", root},
	} {
		fifo := filepath.Join(t.TempDir(), "vm.cfg")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				errc <- err
				return
			}
			_, err = fmt.Fprint(f, "usbdevice = [ 'host:0627:0001' ]\n")
			errc <- errors.Join(err, f.Close())
		}()
		code, out, errs := hostdevWithin(t, 10*time.Second, fifo, append(args, fifo)...)
		if err := <-errc; err != nil && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("writing the FIFO: %v", err)
		}
		if code != 0 || !strings.Contains(out, "001.005") && !strings.Contains(out, "host:1.5") {
			t.Errorf("%v FIFO: exit %d\nstdout %q\nstderr %q", args, code, out, errs)
		}
	}
}
