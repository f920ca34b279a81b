package snapshot

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// epoch is the modification time of every entry WriteTo writes. A fixed
// time (and owner) makes two captures of the same data byte-identical.
var epoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// kind is what a recorded path is. When one path is recorded as more than
// one kind, the higher kind wins (see Archive).
type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindSymlink
)

type entry struct {
	kind   kind
	data   []byte // kindFile
	target string // kindSymlink
}

// Archive collects a sysfs capture in memory and writes it as a .tar.gz.
// It implements sysfs.Recorder, and its methods may be called from several
// goroutines at once.
//
// Recording a path again replaces what was recorded for it, with one rule
// when the kinds differ: a symlink beats a file, and either beats a
// directory, whatever the order of the calls. A reader records Dir for a
// path it lists or enters, which may be a symlink to a directory; the link
// is the truth about that path (the directory lives at the link's target),
// and writing a directory there would break every path through the link.
// Likewise a file read through a link is the target's content, not the
// link's. This also keeps the result independent of goroutine scheduling.
//
// Paths are slash-separated and relative to the root, like
// "sys/bus/usb/devices/1-1"; they are cleaned, so "./sys//bus/" is
// "sys/bus". Dir of the root ("" or ".") is ignored. Any other path that is
// absolute, escapes the root or names the root is kept aside and makes
// WriteTo fail, as the Recorder methods cannot return an error.
type Archive struct {
	mu      sync.Mutex
	entries map[string]entry
	bad     map[string]bool
}

// NewArchive returns an empty Archive.
func NewArchive() *Archive {
	return &Archive{entries: map[string]entry{}, bad: map[string]bool{}}
}

// File records a regular file with contents data. data is copied, so the
// caller may reuse it.
func (a *Archive) File(path string, data []byte) {
	a.record(path, entry{kind: kindFile, data: bytes.Clone(data)})
}

// Symlink records a symlink to target, stored exactly as given.
func (a *Archive) Symlink(path, target string) {
	a.record(path, entry{kind: kindSymlink, target: target})
}

// Dir records a directory.
func (a *Archive) Dir(path string) {
	a.record(path, entry{kind: kindDir})
}

func (a *Archive) record(p string, e entry) {
	c, ok := cleanPath(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !ok:
		a.bad[p] = true
	case c == ".":
		if e.kind != kindDir {
			a.bad[p] = true
		}
	default:
		if old, seen := a.entries[c]; !seen || e.kind >= old.kind {
			a.entries[c] = e
		}
	}
}

// cleanPath cleans a recorded path and reports whether it stays inside the
// root.
func cleanPath(p string) (string, bool) {
	if path.IsAbs(p) {
		return "", false
	}
	c := path.Clean(p) // "" becomes "."
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// WriteTo writes the capture to w as a gzip'd tar and returns the number
// of bytes written.
//
// Every parent directory of every entry is written as a directory entry
// before it, since tar readers (Extract among them) need parents to exist.
// Entries are sorted by path, component by component, so a directory's
// contents follow it directly. Times are fixed and owners are 0, so the
// same recorded content always gives the same bytes, in whatever order it
// was recorded. Modes are 0755 for directories, 0644 for files and 0777
// for symlinks.
//
// It fails if a path was invalid, or if an entry lies under a recorded file
// or symlink: Extract would refuse such an archive, since writing it would
// mean going through a symlink.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	a.mu.Lock()
	entries := make(map[string]entry, len(a.entries))
	for p, e := range a.entries {
		// data is never changed after recording, so sharing it is safe.
		entries[p] = e
	}
	var bad []string
	for p := range a.bad {
		bad = append(bad, p)
	}
	a.mu.Unlock()

	if len(bad) > 0 {
		slices.Sort(bad)
		return 0, fmt.Errorf("snapshot: recorded path %q is not inside the root", bad[0])
	}

	// Add missing parents, and check that no entry is under a non-directory.
	// Ranging over the recorded paths only (not the parents being added) is
	// enough: a parent's own parents are the entry's parents too.
	recorded := make([]string, 0, len(entries))
	for p := range entries {
		recorded = append(recorded, p)
	}
	var under []string
	for _, p := range recorded {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if e, ok := entries[d]; !ok {
				entries[d] = entry{kind: kindDir}
			} else if e.kind != kindDir {
				under = append(under, fmt.Sprintf("%q is under %q, which is not a directory", p, d))
				break
			}
		}
	}
	if len(under) > 0 {
		slices.Sort(under) // the same error every time
		return 0, fmt.Errorf("snapshot: %s", under[0])
	}

	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, comparePaths)

	cw := &countingWriter{w: w}
	zw := gzip.NewWriter(cw) // its header has no name or time: deterministic
	tw := tar.NewWriter(zw)
	for _, p := range paths {
		e := entries[p]
		h := &tar.Header{
			Name:    p,
			ModTime: epoch,
			// PAX holds names of any length; the writer adds extended
			// records only where a plain ustar header cannot.
			Format: tar.FormatPAX,
		}
		switch e.kind {
		case kindDir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
			h.Mode = 0o755
		case kindFile:
			h.Typeflag = tar.TypeReg
			h.Mode = 0o644
			h.Size = int64(len(e.data))
		case kindSymlink:
			h.Typeflag = tar.TypeSymlink
			h.Mode = 0o777
			h.Linkname = e.target
		}
		if err := tw.WriteHeader(h); err != nil {
			return cw.n, fmt.Errorf("snapshot: writing %q: %w", p, err)
		}
		if e.kind == kindFile {
			if _, err := tw.Write(e.data); err != nil {
				return cw.n, fmt.Errorf("snapshot: writing %q: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return cw.n, fmt.Errorf("snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("snapshot: %w", err)
	}
	return cw.n, nil
}

// comparePaths orders slash-separated paths component by component: "/"
// sorts before any other byte, so "a/b" comes right after "a" and before
// "a-b", and every directory comes before its contents.
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		if a[i] == '/' {
			return -1
		}
		if b[i] == '/' {
			return 1
		}
		return cmp.Compare(a[i], b[i])
	}
	return cmp.Compare(len(a), len(b))
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
