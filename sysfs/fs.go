package sysfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
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

// FS reads sysfs beneath one root directory.
type FS struct {
	root string
	r    *os.Root
	rec  Recorder

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
	f := &FS{root: root, r: r}
	for _, o := range opts {
		o(f)
	}
	return f, nil
}

// Root is the directory the FS reads beneath.
func (f *FS) Root() string { return f.root }

// Close releases the root directory.
func (f *FS) Close() error { return f.r.Close() }

// show turns a root-relative path into the form warnings print: "/sys/...".
func show(rel string) string { return "/" + rel }

// listDir returns the names in a directory, recording it.
func (f *FS) listDir(rel string) ([]string, error) {
	d, err := f.r.Open(rel)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	if f.rec != nil {
		f.rec.Dir(rel)
	}
	return names, nil
}

// resolve follows the link at rel by hand, one level, and returns the
// root-relative path it names. Absolute targets are taken as relative to the
// root, and ".." never climbs above it. A non-link is returned as it is.
func (f *FS) resolve(rel string) (string, error) {
	target, err := f.r.Readlink(rel)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(pe.Err, syscall.EINVAL) {
			return rel, nil // a real directory, as some captures have
		}
		return "", err
	}
	if f.rec != nil {
		f.rec.Symlink(rel, target)
	}
	return joinLink(path.Dir(rel), target), nil
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

// device is an open device directory.
type device struct {
	f    *FS
	name string // sysfs name, for warnings
	rel  string // root-relative directory
	r    *os.Root
	warn []Warning
}

// openDevice opens the directory a bus entry points at. It returns
// (nil, nil) when the device has vanished since the listing, and a warning
// error when the entry cannot be followed.
func (f *FS) openDevice(busDir, name string) (*device, *Warning) {
	entry := busDir + "/" + name
	rel, err := f.resolve(entry)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // the entry itself is gone: unplugged
		}
		return nil, &Warning{Device: name, Path: show(entry), Err: err}
	}
	r, err := f.r.OpenRoot(rel)
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
	if f.rec != nil {
		f.rec.Dir(rel)
	}
	d := &device{f: f, name: name, rel: rel, r: r}
	if f.afterOpen != nil {
		f.afterOpen(name)
	}
	return d, nil
}

// openDir opens a device directory by its root-relative path.
func (f *FS) openDir(name, rel string) (*device, error) {
	r, err := f.r.OpenRoot(rel)
	if err != nil {
		return nil, err
	}
	if f.rec != nil {
		f.rec.Dir(rel)
	}
	return &device{f: f, name: name, rel: rel, r: r}, nil
}

func (d *device) close() { d.r.Close() }

// gone reports whether the device directory has disappeared, which turns
// any read error into "unplugged" rather than "broken".
func (d *device) gone() bool {
	_, err := d.f.r.Lstat(d.rel)
	return errors.Is(err, fs.ErrNotExist)
}

// read returns an attribute's contents, trimmed. A missing file gives
// fs.ErrNotExist, for the caller to treat as "absent".
func (d *device) read(attr string) (string, error) {
	file, err := d.r.Open(attr)
	if err != nil {
		return "", unwrapPath(err)
	}
	defer file.Close()
	var buf [maxAttrSize + 1]byte
	n, err := io.ReadFull(file, buf[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", unwrapPath(err)
	}
	if n > maxAttrSize {
		return "", ErrTooLarge
	}
	if d.f.rec != nil {
		d.f.rec.File(d.rel+"/"+attr, append([]byte(nil), buf[:n]...))
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// link returns the base name of a symlink's target ("usbhid" for a driver
// link), without following it.
func (d *device) link(attr string) (string, error) {
	target, err := d.r.Readlink(attr)
	if err != nil {
		return "", unwrapPath(err)
	}
	if d.f.rec != nil {
		d.f.rec.Symlink(d.rel+"/"+attr, target)
	}
	return path.Base(strings.TrimRight(target, "/")), nil
}

// list returns the names in the device directory.
func (d *device) list() ([]string, error) { return d.f.listDir(d.rel) }

func (d *device) warnf(attr string, err error) {
	d.warn = append(d.warn, Warning{Device: d.name, Path: show(d.rel + "/" + attr), Err: err})
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

// required reads an attribute every device has; a missing one is a warning.
func (d *device) required(attr string) (string, bool) {
	s, err := d.read(attr)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("missing")
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
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if t == "" || len(t) > bits/4 {
		return 0, fmt.Errorf("%w: %q is not %d hex digits", ErrInvalid, s, bits/4)
	}
	v, err := strconv.ParseUint(t, 16, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not %d hex digits", ErrInvalid, s, bits/4)
	}
	return v, nil
}

func parseDec(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a decimal number", ErrInvalid, s)
	}
	return int(v), nil
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
