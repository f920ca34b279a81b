package sysfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxAttrSize bounds one attribute read. The kernel never prints more than a
// page into a sysfs attribute, and the ones we read are far smaller.
const maxAttrSize = 4096

// Errors a Warning may wrap; match them with errors.Is.
var (
	// ErrInvalid: a file's contents are not in the kernel's format.
	ErrInvalid = errors.New("invalid value")
	// ErrDangling: a bus entry points at a directory that does not exist.
	ErrDangling = errors.New("dangling link")
	// ErrMissing: a file every device has is not there.
	ErrMissing = errors.New("missing")
	// ErrTooLarge: a file is larger than any sysfs attribute can be.
	ErrTooLarge = errors.New("larger than 4096 bytes")
)

// Warning is a problem with one device that did not stop the scan.
type Warning struct {
	Device string // the sysfs name of the device, if one is concerned
	Path   string // the file, relative to the root, as "/sys/..."
	Err    error
}

func (w Warning) Error() string {
	switch {
	case w.Device != "" && w.Path != "":
		return fmt.Sprintf("%s: %s: %v", w.Device, w.Path, w.Err)
	case w.Path != "":
		return fmt.Sprintf("%s: %v", w.Path, w.Err)
	case w.Device != "":
		return fmt.Sprintf("%s: %v", w.Device, w.Err)
	}
	return fmt.Sprint(w.Err)
}

func (w Warning) Unwrap() error { return w.Err }

// MarshalJSON writes {"device","path","message"}.
func (w Warning) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Device  string `json:"device,omitempty"`
		Path    string `json:"path,omitempty"`
		Message string `json:"message"`
	}{w.Device, w.Path, fmt.Sprint(w.Err)})
}

// FS reads sysfs beneath one root directory. It is not safe for
// concurrent use.
type FS struct {
	root string
	r    *os.Root
	rec  Recorder
	buf  [maxAttrSize + 1]byte // read buffer; an FS is not for concurrent use

	rootFD    int  // O_PATH descriptor of root for openat2, or -1
	noOpenat2 bool // set once openat2 turned out to be missing
}

// Option configures an FS.
type Option func(*FS)

// WithRecorder has the FS report every read to rec.
func WithRecorder(rec Recorder) Option { return func(f *FS) { f.rec = rec } }

// NewFS opens root ("" means "/"). It fails when root is not a directory.
func NewFS(root string, opts ...Option) (*FS, error) {
	if root == "" {
		root = "/"
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("sysfs root: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("sysfs root %s: not a directory", root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("sysfs root: %w", err)
	}
	f := &FS{root: root, r: r, rootFD: -1}
	if fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		f.rootFD = fd
	}
	for _, o := range opts {
		o(f)
	}
	return f, nil
}

// Root is the directory the FS reads beneath.
func (f *FS) Root() string { return f.root }

// Close releases the root directory.
func (f *FS) Close() error {
	if f.rootFD >= 0 {
		unix.Close(f.rootFD)
		f.rootFD = -1
	}
	return f.r.Close()
}

// show turns a root-relative path into the form warnings print: "/sys/...".
func show(rel string) string { return "/" + rel }

// joinLink resolves a link target against the link's directory, confined to
// the root.
func joinLink(dir, target string) string {
	var p string
	if path.IsAbs(target) {
		p = path.Clean(target)
	} else {
		p = path.Clean("/" + dir + "/" + target)
	}
	return strings.TrimPrefix(p, "/")
}

// OpenDir opens the directory p, taken as relative to the root
// ("/sys/bus/usb/devices" and "sys/bus/usb/devices" are the same), never
// leaving the root on the way. Warnings about what is read through it
// name p's last element as their device.
func (f *FS) OpenDir(p string) (*Dir, error) {
	rel := clean(p)
	d, err := f.openDir(path.Base(rel), rel)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", show(rel), unwrapPath(err))
	}
	return d, nil
}

// clean turns a path into the root-relative form: "sys/bus/usb".
func clean(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// openDir opens a directory by its root-relative path, never leaving the
// root on the way.
func (f *FS) openDir(name, rel string) (*Dir, error) {
	fd, err := f.openIn(rel)
	if err != nil {
		return nil, err
	}
	if f.rec != nil {
		f.rec.Dir(rel)
	}
	return &Dir{f: f, name: name, rel: rel, dir: os.NewFile(uintptr(fd), rel), fd: fd}, nil
}

// openIn opens a directory beneath the root. Where the kernel has it
// (Linux 5.6+), openat2 with RESOLVE_IN_ROOT resolves the whole path in
// one call, with the semantics we want: absolute links are taken as
// relative to the root and ".." stops there. Elsewhere the os.Root walks
// the path a component at a time, which costs an openat per component.
func (f *FS) openIn(rel string) (int, error) {
	if f.rootFD >= 0 && !f.noOpenat2 {
		how := unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NONBLOCK | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		}
		for try := 0; ; try++ {
			fd, err := unix.Openat2(f.rootFD, rel, &how)
			switch {
			case err == nil:
				return fd, nil
			case (err == unix.EAGAIN || err == unix.EINTR) && try < 8:
				continue // a rename raced the lookup
			case err == unix.ENOSYS || err == unix.EPERM || err == unix.EINVAL:
				f.noOpenat2 = true // old kernel, or a seccomp filter
			case err == unix.EAGAIN:
				// Renames keep racing; the walk below does not care.
			default:
				return -1, err
			}
			break
		}
	}
	resolved, err := f.resolveInRoot(rel)
	if err != nil {
		return -1, err
	}
	// O_NONBLOCK: a FIFO where a directory should be must not hang us.
	dir, err := f.r.OpenFile(resolved, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, unwrapPath(err)
	}
	defer dir.Close()
	// Keep a descriptor of our own: dir's belongs to dir.
	fd := -1
	var derr error
	if rc, err := dir.SyscallConn(); err == nil {
		rc.Control(func(v uintptr) { fd, derr = unix.FcntlInt(v, unix.F_DUPFD_CLOEXEC, 0) })
	}
	if fd < 0 {
		return -1, fmt.Errorf("open %s: %v", show(rel), derr)
	}
	return fd, nil
}

// resolveInRoot does by hand what openat2's RESOLVE_IN_ROOT does, for
// kernels without it: it follows every link in rel, taking absolute targets
// as relative to the root and stopping ".." there, and returns a path with
// no links in it. Without this, the os.Root would refuse an absolute link
// that RESOLVE_IN_ROOT follows, and the two would list different devices.
func (f *FS) resolveInRoot(rel string) (string, error) {
	todo := strings.Split(rel, "/")
	cur := ""
	for links := 0; len(todo) > 0; {
		part := todo[0]
		todo = todo[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = strings.TrimPrefix(path.Dir("/"+cur), "/")
			continue
		}
		next := path.Join(cur, part)
		target, err := f.r.Readlink(next)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && pe.Err == unix.EINVAL {
				cur = next // not a link
				continue
			}
			return "", unwrapPath(err)
		}
		if links++; links > 40 {
			return "", unix.ELOOP
		}
		todo = append(strings.Split(joinLink(cur, target), "/"), todo...)
		cur = ""
	}
	if cur == "" {
		return ".", nil
	}
	return cur, nil
}

func parseHex(s string, bits int) (uint64, error) {
	t := s
	if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	}
	if t == "" || len(t) > bits/4 || !isHexDigits(t) {
		return 0, fmt.Errorf("%w: %q is not %d hex digits", ErrInvalid, s, bits/4)
	}
	v, err := strconv.ParseUint(t, 16, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not %d hex digits", ErrInvalid, s, bits/4)
	}
	return v, nil
}

func isHexDigits(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseDec reads a decimal number; only a leading '-' is allowed as a sign
// (numa_node prints -1), and leading zeros are decimal, never octal.
func parseDec(s string) (int, error) {
	t := strings.TrimPrefix(s, "-")
	if !isDigits(t) || len(t) > 9 {
		return 0, fmt.Errorf("%w: %q is not a decimal number", ErrInvalid, s)
	}
	v, _ := strconv.Atoi(s)
	return v, nil
}

// unwrapPath drops the *PathError around an os.Root error: the path it
// names is relative to the device directory, and our warnings say the
// full path themselves.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
