package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// manyFiles is a capture of n small files, 100 to a folder, as a big host's
// would be: unpacking it takes thousands of entries.
func manyFiles(t *testing.T, n int) []byte {
	t.Helper()
	entries := make([]tarEntry, n)
	for i := range entries {
		entries[i] = tfile(fmt.Sprintf("sys/devices/d%d/f%d", i/100, i), fmt.Sprintf("%d\n", i))
	}
	return tarball(t, entries...)
}

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cancelReader reads r, and once more than after bytes have been read, calls
// cancel and counts the reads that come later.
type cancelReader struct {
	r      io.Reader
	after  int
	cancel func()

	read       int
	cancelled  bool
	readsAfter int
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.cancelled {
		c.readsAfter++
	}
	n, err := c.r.Read(p)
	c.read += n
	if !c.cancelled && c.read > c.after {
		c.cancelled = true
		c.cancel()
	}
	return n, err
}

func TestExtractContextStops(t *testing.T) {
	const n = 4_000
	data := manyFiles(t, n)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	atCancel := -1
	r := &cancelReader{r: bytes.NewReader(data), after: len(data) / 4, cancel: func() {
		cancel()
		atCancel = countFiles(t, dir)
	}}

	stats, err := ExtractContext(ctx, r, dir)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ExtractContext error = %v, want context.Canceled", err)
	}
	if atCancel < 0 {
		t.Fatal("the archive was read without reaching the cancel")
	}
	// The entry being written when ctx was cancelled may finish; no other.
	if stats.Files > atCancel+1 {
		t.Errorf("%d files written, %d of them after the cancel; want at most 1 after", stats.Files, stats.Files-atCancel)
	}
	if r.readsAfter > 0 {
		t.Errorf("the archive was read %d times after the cancel; want none", r.readsAfter)
	}
	if got := countFiles(t, dir); got != stats.Files {
		t.Errorf("%d files in the tree, Stats.Files = %d", got, stats.Files)
	}
	if stats.Files >= n {
		t.Errorf("all %d files were written: the cancel was not seen", stats.Files)
	}
}

// checkCtx is a context that is done from the n-th call of its Err on, or
// panics there: a cancel at a known point of the work, without timing.
type checkCtx struct {
	context.Context // Background: no deadline, no values
	n               int
	panics          bool

	mu    sync.Mutex
	calls int
	done  chan struct{}
}

var errCheckPanic = errors.New("checkCtx panics as asked")

func newCheckCtx(n int, panics bool) *checkCtx {
	return &checkCtx{Context: context.Background(), n: n, panics: panics, done: make(chan struct{})}
}

func (c *checkCtx) Done() <-chan struct{} { return c.done }

func (c *checkCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls < c.n {
		return nil
	}
	if c.calls == c.n {
		close(c.done)
	}
	if c.panics {
		panic(errCheckPanic)
	}
	return context.Canceled
}

func TestUnpackContextCancel(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "big.tar.gz")
	if err := os.WriteFile(archive, manyFiles(t, 4_000), 0o644); err != nil {
		t.Fatal(err)
	}
	// TMPDIR is where UnpackContext makes its folder: an empty one shows
	// what is left behind.
	emptyTMPDIR := func(t *testing.T) string {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		return tmp
	}
	leftIn := func(t *testing.T, tmp string) {
		t.Helper()
		left, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("left in TMPDIR: %v", left)
		}
	}

	for _, tc := range []struct {
		name string
		n    int // the Err call that sees the cancel
	}{
		{"before", 1},
		{"early", 100},
		{"midway", 1_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := emptyTMPDIR(t)
			ctx := newCheckCtx(tc.n, false)
			dir, cleanup, err := UnpackContext(ctx, archive)
			cleanup() // never nil
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("UnpackContext error = %v, want context.Canceled", err)
			}
			if dir != "" {
				t.Errorf("dir = %q, want empty on error", dir)
			}
			// It stops at the check that sees the cancel, and asks no more.
			if ctx.calls != tc.n {
				t.Errorf("ctx.Err called %d times, want %d: the unpack went on after the cancel", ctx.calls, tc.n)
			}
			leftIn(t, tmp)
		})
	}

	t.Run("panic", func(t *testing.T) {
		tmp := emptyTMPDIR(t)
		func() {
			defer func() {
				if r := recover(); r != errCheckPanic {
					t.Errorf("recovered %v, want the panic going through", r)
				}
			}()
			UnpackContext(newCheckCtx(1_000, true), archive)
		}()
		leftIn(t, tmp)
	})

}
