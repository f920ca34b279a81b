package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Default bounds for Extract. Real captures are a few MiB and a few ten
// thousand entries at most; the bounds are far above that but stop a
// gzip bomb from filling the disk or the inode table.
const (
	defaultMaxEntries = 200_000
	defaultMaxTotal   = 1 << 30  // bytes of file data, all files together
	defaultMaxFile    = 64 << 20 // bytes of file data in one file
)

// Modes given to what Extract creates. Stored modes are ignored, so that an
// archive cannot leave behind a tree that its reader cannot read (or that
// cleanup cannot remove).
const (
	dirMode  fs.FileMode = 0o755
	fileMode fs.FileMode = 0o644
)

// Stats counts what Extract did with an archive's entries.
type Stats struct {
	Files    int   // regular files written
	Dirs     int   // directory entries (including ones that already existed)
	Symlinks int   // symlinks created
	Bytes    int64 // file data written
	// Skipped counts hard links, device nodes and FIFOs. They are left out
	// without an error: a sysfs capture has none, and none of them can be
	// recreated safely or usefully by an unprivileged reader.
	Skipped int
}

// Extract unpacks the gzip'd tar read from r into dir, which must exist.
//
// Entry names are relative and slash-separated; a leading "./" is fine.
// Regular files, directories and symlinks are created; hard links, device
// nodes and FIFOs are skipped and counted (see ExtractStats); any other
// type is an error. Symlink targets are written exactly as stored, even
// when absolute or dangling, because the sysfs reader resolves them itself,
// confined to its root. Extract itself never follows a link: an entry whose
// parent path goes through a symlink is an error, as is an entry that would
// turn a symlink into something else or the other way round.
//
// Directories are made 0755 and files 0644 whatever the archive says. A
// later regular file or symlink replaces an earlier one of the same name.
//
// An archive with more than 200,000 entries, more than 1 GiB of file data,
// or a single file over 64 MiB is refused.
//
// Errors name the entry. On error, dir may hold part of the tree.
//
// Extract cannot be stopped; ExtractContext can.
func Extract(r io.Reader, dir string) error {
	_, err := ExtractContext(context.Background(), r, dir)
	return err
}

// ExtractStats is Extract, and also reports what it did, in particular how
// many entries it skipped.
func ExtractStats(r io.Reader, dir string) (Stats, error) {
	return ExtractContext(context.Background(), r, dir)
}

// ExtractContext is ExtractStats that stops when ctx is done: it looks
// before each entry and each read from r, so that an archive of a hundred
// thousand entries stops within one, and it returns an error that
// errors.Is matches with ctx.Err(). dir then holds part of the tree, as
// after any other error.
func ExtractContext(ctx context.Context, r io.Reader, dir string) (Stats, error) {
	return newExtractor().extract(ctx, r, dir)
}

// extractor holds Extract's bounds. It is a value rather than package state
// so that tests can shrink the bounds for one call without affecting others.
type extractor struct {
	maxEntries int
	maxTotal   int64
	maxFile    int64
}

func newExtractor() extractor {
	return extractor{
		maxEntries: defaultMaxEntries,
		maxTotal:   defaultMaxTotal,
		maxFile:    defaultMaxFile,
	}
}

// extraction is the state of one extract call.
type extraction struct {
	x     extractor
	root  *os.Root
	stats Stats
	// dirs holds every path known to be a real directory (not a link to
	// one). Only this extraction writes to the tree and it never removes or
	// replaces a directory, so a path stays a directory once seen as one.
	dirs map[string]bool
}

func (x extractor) extract(ctx context.Context, r io.Reader, dir string) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	// All writes go through root: even if a check below were wrong, the
	// kernel-level confinement keeps them inside dir.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	defer root.Close()

	// Reads stop too, not only entries: one file's data is up to 64 MiB,
	// and gzip reads ahead of the entry being written.
	zr, err := gzip.NewReader(ctxReader{ctx, r})
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot: not a gzip stream: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)

	e := &extraction{x: x, root: root, dirs: map[string]bool{".": true}}
	entries := 0
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			if last == "" {
				return e.stats, fmt.Errorf("snapshot: %w", err)
			}
			return e.stats, fmt.Errorf("snapshot: stopped after entry %q: %w", last, err)
		}
		h, err := tr.Next()
		if err == io.EOF {
			return e.stats, nil
		}
		if err != nil {
			if last == "" {
				return e.stats, fmt.Errorf("snapshot: reading archive: %w", err)
			}
			return e.stats, fmt.Errorf("snapshot: reading archive after entry %q: %w", last, err)
		}
		last = h.Name
		entries++
		if entries > x.maxEntries {
			return e.stats, entryErrorf(h.Name, "is past the limit of %d entries in an archive", x.maxEntries)
		}
		if err := e.entry(h, tr); err != nil {
			return e.stats, err
		}
	}
}

func (e *extraction) entry(h *tar.Header, data io.Reader) error {
	switch h.Typeflag {
	case tar.TypeXGlobalHeader:
		// Archive-wide metadata (git archive writes one), not a file.
		return nil
	case tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		e.stats.Skipped++
		return nil
	}

	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return e.dir(h.Name, name)
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		// A contiguous file is a regular file to everyone but its
		// original OS; tar.Reader expands sparse files into their data.
		return e.file(h, name, data)
	case tar.TypeSymlink:
		return e.symlink(h, name)
	}
	return entryErrorf(h.Name, "has unsupported type %q", h.Typeflag)
}

// cleanName checks an entry name and returns it cleaned.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", entryErrorf(name, "has an empty name")
	}
	if path.IsAbs(name) {
		return "", entryErrorf(name, "has an absolute name")
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", entryErrorf(name, "escapes the destination")
	}
	return c, nil
}

// ensureDir makes sure p and all its parents are real directories, creating
// missing ones, and refuses to go through a symlink. entry is the name to
// blame in errors.
func (e *extraction) ensureDir(p, entry string) error {
	if e.dirs[p] {
		return nil
	}
	parent := path.Dir(p)
	if parent == p {
		// Only "/" gets here, and cleanName keeps it out; this stops the
		// recursion should that ever change.
		return entryErrorf(entry, "escapes the destination")
	}
	// Check from the top down, so that each Lstat below only goes through
	// directories already known to be real.
	if err := e.ensureDir(parent, entry); err != nil {
		return err
	}
	fi, err := e.root.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := e.mkdir(p); err != nil {
			return fmt.Errorf("snapshot: entry %q: %w", entry, err)
		}
	case err != nil:
		return fmt.Errorf("snapshot: entry %q: %w", entry, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return entryErrorf(entry, "goes through symlink %q", p)
	case !fi.IsDir():
		return entryErrorf(entry, "goes through %q, which is not a directory", p)
	}
	e.dirs[p] = true
	return nil
}

func (e *extraction) mkdir(p string) error {
	if err := e.root.Mkdir(p, dirMode); err != nil {
		return err
	}
	// Mkdir's mode is cut by the umask; the tree must be readable anyway.
	return e.root.Chmod(p, dirMode)
}

func (e *extraction) dir(entry, name string) error {
	if name == "." {
		// The destination itself ("./"), which exists.
		e.stats.Dirs++
		return nil
	}
	if err := e.ensureDir(path.Dir(name), entry); err != nil {
		return err
	}
	if !e.dirs[name] {
		fi, err := e.root.Lstat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := e.mkdir(name); err != nil {
				return fmt.Errorf("snapshot: entry %q: %w", entry, err)
			}
		case err != nil:
			return fmt.Errorf("snapshot: entry %q: %w", entry, err)
		case !fi.IsDir():
			return entryErrorf(entry, "would replace %s with a directory", describe(fi))
		}
		e.dirs[name] = true
	}
	e.stats.Dirs++
	return nil
}

// clear readies name for a new file or symlink: it removes an earlier entry
// of the same kind (want), and refuses to replace anything else.
func (e *extraction) clear(entry, name string, want fs.FileMode, what string) error {
	if name == "." {
		return entryErrorf(entry, "would replace the destination with %s", what)
	}
	if err := e.ensureDir(path.Dir(name), entry); err != nil {
		return err
	}
	fi, err := e.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("snapshot: entry %q: %w", entry, err)
	case fi.Mode().Type() != want:
		return entryErrorf(entry, "would replace %s with %s", describe(fi), what)
	}
	// Remove rather than overwrite, so that the new file is created with
	// O_EXCL and a symlink at name can never be written through.
	if err := e.root.Remove(name); err != nil {
		return fmt.Errorf("snapshot: entry %q: %w", entry, err)
	}
	return nil
}

func (e *extraction) file(h *tar.Header, name string, data io.Reader) error {
	x := e.x
	if h.Size > x.maxFile {
		return entryErrorf(h.Name, "has %d bytes, over the limit of %d for one file", h.Size, x.maxFile)
	}
	if h.Size > x.maxTotal-e.stats.Bytes {
		return entryErrorf(h.Name, "takes the archive over the limit of %d bytes in all", x.maxTotal)
	}
	if err := e.clear(h.Name, name, 0, "a file"); err != nil {
		return err
	}
	f, err := e.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return fmt.Errorf("snapshot: entry %q: %w", h.Name, err)
	}
	// The size checks above trust the header; this bound holds even if the
	// data turns out longer (tar.Reader should not allow that, but this
	// is the one place where an archive's size becomes disk usage).
	limit := min(x.maxFile, x.maxTotal-e.stats.Bytes)
	n, err := io.Copy(f, io.LimitReader(data, limit+1))
	e.stats.Bytes += n
	if err == nil && n > limit {
		err = errors.New("has more data than its header says, over the limits")
	}
	if err == nil {
		// OpenFile's mode is cut by the umask; see fileMode.
		err = f.Chmod(fileMode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot: entry %q: %w", h.Name, err)
	}
	e.stats.Files++
	return nil
}

func (e *extraction) symlink(h *tar.Header, name string) error {
	if h.Linkname == "" {
		return entryErrorf(h.Name, "is a symlink with an empty target")
	}
	if err := e.clear(h.Name, name, fs.ModeSymlink, "a symlink"); err != nil {
		return err
	}
	// The target is stored verbatim, whatever it points at: os.Root checks
	// where a link leads only when something goes through it, and nothing
	// here ever does.
	if err := e.root.Symlink(h.Linkname, name); err != nil {
		return fmt.Errorf("snapshot: entry %q: %w", h.Name, err)
	}
	e.stats.Symlinks++
	return nil
}

func describe(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "a file"
	case t == fs.ModeDir:
		return "a directory"
	case t == fs.ModeSymlink:
		return "a symlink"
	default:
		return "a " + t.String() + " file"
	}
}

// ctxReader is r that fails once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// entryErrorf reports a problem with one archive entry.
func entryErrorf(entry, format string, args ...any) error {
	return fmt.Errorf("snapshot: entry %q %s", entry, fmt.Sprintf(format, args...))
}

// Unpack extracts the .tar.gz file at path into a new temporary directory.
// cleanup removes that directory; it is never nil, so it can be deferred
// before err is checked. On error the directory is already gone.
//
// Unpack cannot be stopped; UnpackContext can.
func Unpack(path string) (dir string, cleanup func(), err error) {
	return UnpackContext(context.Background(), path)
}

// UnpackContext is Unpack that stops when ctx is done, as ExtractContext
// does. However it ends (an error, ctx, a panic), the directory is gone
// unless it returns with no error; it is removed before UnpackContext
// returns, so that nothing is left to a caller that exits at once.
func UnpackContext(ctx context.Context, path string) (dir string, cleanup func(), err error) {
	noop := func() {}
	if err := ctx.Err(); err != nil {
		return "", noop, fmt.Errorf("snapshot: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", noop, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	tmp, err := os.MkdirTemp("", "hostdev-snapshot-")
	if err != nil {
		return "", noop, fmt.Errorf("snapshot: %w", err)
	}
	// Deferred, not called on the error path only: a panic unwinds
	// through here too.
	ok := false
	defer func() {
		if !ok {
			removeTree(tmp)
		}
	}()
	if _, err := ExtractContext(ctx, f, tmp); err != nil {
		return "", noop, err
	}
	ok = true
	return tmp, func() { removeTree(tmp) }, nil
}

// removeTree removes dir and everything under it. Extract makes everything
// writable, but whoever used the tree since may have chmod'ed parts of it,
// and a directory without write (or search) permission cannot be emptied.
func removeTree(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	// WalkDir calls fn on a directory before reading it, so fixing the
	// mode there lets the walk go on into it. It does not follow symlinks.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}
