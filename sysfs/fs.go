package sysfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
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

	// Test hooks, set only by this package's tests: called after a bus
	// listing, and after a device directory was opened.
	afterList func(bus string, names []string)
	afterOpen func(name string)
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

// readBus reads every device a bus directory lists (those keep says to
// keep, when keep is set) with read. Devices that vanish are left out,
// their warnings with them. The result is nil only when the bus directory
// is missing or broken.
func readBus[T any](f *FS, rel, bus string, keep func(string) bool, read func(*device) (T, bool)) ([]T, []Warning) {
	dir, names, w := f.openBus(rel)
	if dir == nil {
		if w != nil {
			return nil, []Warning{*w}
		}
		return nil, nil
	}
	defer dir.close()
	if keep != nil {
		names = slices.DeleteFunc(names, func(n string) bool { return !keep(n) })
	}
	if f.afterList != nil {
		f.afterList(bus, names)
	}
	return readEntries(f, dir, names, read)
}

// readEntries reads the named entries of an open bus directory, leaving
// out those that have vanished.
func readEntries[T any](f *FS, dir *device, names []string, read func(*device) (T, bool)) ([]T, []Warning) {
	devs := make([]T, 0, len(names))
	var warns []Warning
	for _, name := range names {
		d, w := f.openDevice(dir, name)
		if w != nil {
			warns = append(warns, *w)
			continue
		}
		if d == nil {
			continue // unplugged since the listing
		}
		dev, ok := read(d)
		d.close()
		if ok {
			devs = append(devs, dev)
			warns = append(warns, d.warn...)
		}
	}
	return devs, warns
}

// openBus opens a bus's device directory ("sys/bus/usb/devices") and lists
// it, sorted. A missing directory is a bus without devices: (nil, nil,
// nil). One that cannot be listed is a warning, so that a broken bus does
// not hide the devices of the others.
func (f *FS) openBus(rel string) (*device, []string, *Warning) {
	bus, err := f.openDir("", rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, &Warning{Path: show(rel), Err: err}
	}
	names, err := bus.list()
	if err != nil {
		bus.close()
		return nil, nil, &Warning{Path: show(rel), Err: err}
	}
	slices.Sort(names)
	return bus, names, nil
}

// resolve follows the link name in directory d by hand, one level, and
// returns the root-relative path it names (see joinLink). A directory that
// is not a link, as some captures have, is returned as it is.
func (d *device) resolve(name string) (string, error) {
	n, err := unix.Readlinkat(d.fd, name, d.f.buf[:])
	if err == unix.EINVAL {
		return d.rel + "/" + name, nil
	}
	if err != nil {
		return "", err
	}
	if n >= len(d.f.buf) {
		return "", ErrTooLarge
	}
	target := string(d.f.buf[:n])
	if d.f.rec != nil {
		d.f.rec.Symlink(d.rel+"/"+name, target)
	}
	return joinLink(d.rel, target), nil
}

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

// device is an open device directory. Its attributes are opened relative
// to the directory's descriptor with O_NOFOLLOW: the directory itself was
// reached through the os.Root, and an attribute that is a symlink (none
// is, in a real sysfs) is refused rather than followed out of the root.
// That is one openat, read and close per attribute, which is most of a
// scan's cost.
type device struct {
	f    *FS
	name string // sysfs name, for warnings
	rel  string // root-relative directory
	dir  *os.File
	fd   int
	warn []Warning
	// sawENOENT: some read found no file. Optional files are often
	// absent, but so are all files of an unplugged device.
	sawENOENT bool
}

// openDevice opens the directory a bus entry points at. It returns
// (nil, nil) when the device has vanished since the listing, and a warning
// when the entry cannot be followed.
func (f *FS) openDevice(bus *device, name string) (*device, *Warning) {
	entry := bus.rel + "/" + name
	rel, err := bus.resolve(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // the entry itself is gone: unplugged
		}
		return nil, &Warning{Device: name, Path: show(entry), Err: unwrapPath(err)}
	}
	d, err := f.openDir(name, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := f.r.Lstat(entry); errors.Is(lerr, fs.ErrNotExist) {
				return nil, nil // link and device went together
			}
			return nil, &Warning{Device: name, Path: show(entry),
				Err: fmt.Errorf("%w to %s", ErrDangling, show(rel))}
		}
		return nil, &Warning{Device: name, Path: show(entry), Err: unwrapPath(err)}
	}
	if f.afterOpen != nil {
		f.afterOpen(name)
	}
	return d, nil
}

// openDir opens a device directory by its root-relative path, never
// leaving the root on the way.
func (f *FS) openDir(name, rel string) (*device, error) {
	fd, err := f.openIn(rel)
	if err != nil {
		return nil, err
	}
	if f.rec != nil {
		f.rec.Dir(rel)
	}
	return &device{f: f, name: name, rel: rel, dir: os.NewFile(uintptr(fd), rel), fd: fd}, nil
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

// sub opens a subdirectory (an interface) of the device.
func (d *device) sub(name string) (*device, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	rel := d.rel + "/" + name
	if d.f.rec != nil {
		d.f.rec.Dir(rel)
	}
	return &device{f: d.f, name: d.name, rel: rel, fd: fd}, nil
}

func (d *device) close() {
	if d.dir != nil {
		d.dir.Close()
	} else {
		unix.Close(d.fd)
	}
}

// gone reports whether the device directory has disappeared, or been
// replaced by another device's at the same path (a replug), since it was
// opened: then a failed or missing read means "unplugged", not "broken".
func (d *device) gone() bool {
	var have, now unix.Stat_t
	if unix.Fstat(d.fd, &have) != nil || have.Nlink == 0 {
		return true
	}
	fd, err := d.f.openIn(d.rel)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	defer unix.Close(fd)
	if unix.Fstat(fd, &now) != nil {
		return true
	}
	return have.Ino != now.Ino || have.Dev != now.Dev
}

// vanished is what a reader asks at the end: did anything suggest the
// device went away, and did it?
func (d *device) vanished() bool {
	return (len(d.warn) > 0 || d.sawENOENT) && d.gone()
}

// read returns an attribute's contents, trimmed. A missing file gives
// fs.ErrNotExist, for the caller to treat as "absent".
func (d *device) read(attr string) (string, error) {
	fd, err := unix.Openat(d.fd, attr, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		d.sawENOENT = d.sawENOENT || err == unix.ENOENT
		return "", err
	}
	defer unix.Close(fd)
	// One read: the kernel hands over a whole attribute at once, and a
	// regular file of up to a page comes whole too. One buffer serves the
	// whole scan, since an FS is used by one goroutine.
	buf := d.f.buf[:]
	var n int
	for {
		n, err = unix.Read(fd, buf)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return "", err
	}
	if n > maxAttrSize {
		return "", ErrTooLarge
	}
	if d.f.rec != nil {
		d.f.rec.File(d.rel+"/"+attr, append([]byte(nil), buf[:n]...))
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// readBytes returns up to max bytes of a binary file, untrimmed.
func (d *device) readBytes(attr string, max int) ([]byte, error) {
	fd, err := unix.Openat(d.fd, attr, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		d.sawENOENT = d.sawENOENT || err == unix.ENOENT
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, max)
	n := 0
	for n < max {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	if d.f.rec != nil {
		d.f.rec.File(d.rel+"/"+attr, append([]byte(nil), buf[:n]...))
	}
	return buf[:n], nil
}

// link returns the base name of a symlink's target ("usbhid" for a driver
// link), without following it.
func (d *device) link(attr string) (string, error) {
	buf := d.f.buf[:]
	n, err := unix.Readlinkat(d.fd, attr, buf)
	if err != nil {
		d.sawENOENT = d.sawENOENT || err == unix.ENOENT
		return "", err
	}
	if n >= len(buf) {
		return "", ErrTooLarge
	}
	target := string(buf[:n])
	if d.f.rec != nil {
		d.f.rec.Symlink(d.rel+"/"+attr, target)
	}
	return path.Base(strings.TrimRight(target, "/")), nil
}

// list returns the names in the device directory.
func (d *device) list() ([]string, error) {
	names, err := d.dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	if d.f.rec != nil {
		d.f.rec.Dir(d.rel)
	}
	return names, nil
}

func (d *device) warnf(attr string, err error) {
	p := d.rel
	if attr != "" {
		p += "/" + attr
	}
	d.warn = append(d.warn, Warning{Device: d.name, Path: show(p), Err: err})
}

// optional reads an attribute that may be absent: it returns ok=false
// without a warning when the file does not exist, and with one when it
// cannot be read.
func (d *device) optional(attr string) (string, bool) {
	s, err := d.read(attr)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.warnf(attr, err)
		}
		return "", false
	}
	return s, true
}

// flag reads an optional 0-or-1 attribute; ok is false when it is absent
// or not 0 or 1, which is a warning.
func (d *device) flag(attr string) (v, ok bool) {
	s, ok := d.optional(attr)
	switch {
	case !ok:
		return false, false
	case s == "0" || s == "1":
		return s == "1", true
	}
	d.warnf(attr, fmt.Errorf("%w: %q is not 0 or 1", ErrInvalid, s))
	return false, false
}

// required reads an attribute every device has; a missing one is a warning.
func (d *device) required(attr string) (string, bool) {
	s, err := d.read(attr)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = ErrMissing
		}
		d.warnf(attr, err)
		return "", false
	}
	return s, true
}

// hex reads a hex attribute of the given width in bits, with or without 0x.
func (d *device) hex(attr string, bits int, need bool) (uint64, bool) {
	s, ok := d.get(attr, need)
	if !ok {
		return 0, false
	}
	v, err := parseHex(s, bits)
	if err != nil {
		d.warnf(attr, err)
		return 0, false
	}
	return v, true
}

// setHex reads a hex attribute of the given width into *dst, and leaves
// *dst alone (with a warning, when one is due) if it cannot.
func setHex[T uint8 | uint16 | uint32](d *device, attr string, bits int, need bool, dst *T) bool {
	v, ok := d.hex(attr, bits, need)
	if ok {
		*dst = T(v)
	}
	return ok
}

// dec reads a decimal attribute. Leading zeros are decimal, never octal.
func (d *device) dec(attr string, need bool) (int, bool) {
	s, ok := d.get(attr, need)
	if !ok {
		return 0, false
	}
	v, err := parseDec(s)
	if err != nil {
		d.warnf(attr, err)
		return 0, false
	}
	return v, true
}

func (d *device) get(attr string, need bool) (string, bool) {
	if need {
		return d.required(attr)
	}
	return d.optional(attr)
}

// optionalLink reads a link's target name; absent links give "".
func (d *device) optionalLink(attr string) string {
	s, err := d.link(attr)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.warnf(attr, err)
		}
		return ""
	}
	return s
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
