package sysfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is an open directory beneath an FS's root: a device's, or a bus's.
// Its attributes are opened relative to the directory's descriptor with
// O_NOFOLLOW: the directory itself was reached without leaving the root,
// and an attribute that is a symlink (none is, in a real sysfs) is refused
// rather than followed out of the root. That is one openat, read and close
// per attribute, which is most of a scan's cost.
//
// The typed getters (Attr, Hex, Dec, Flag, Target) turn a file that is
// present but wrong into a Warning kept by the Dir (see Warnings), so
// that a reader goes on with the next attribute. A Dir is not safe for
// concurrent use, nor is its FS.
type Dir struct {
	f    *FS
	name string // device name, for warnings
	rel  string // root-relative directory
	dir  *os.File
	fd   int
	top  *Dir // where a subdirectory's warnings go; nil for its own
	// listed: List was called, and the directory's offset has moved.
	listed bool
	warn   []Warning
	// sawENOENT: some read found no file. Optional files are often
	// absent, but so are all files of an unplugged device.
	sawENOENT bool
}

// Presence says whether an attribute every device has is being read, so
// that a missing file is a warning (ErrMissing), or one that may be absent.
type Presence bool

// The two Presences.
const (
	Optional Presence = false
	Required Presence = true
)

// Name is the device name the Dir's warnings carry.
func (d *Dir) Name() string { return d.name }

// Path is the directory as warnings print it: "/sys/devices/...".
func (d *Dir) Path() string { return show(d.rel) }

// Close releases the directory.
func (d *Dir) Close() error {
	if d.dir != nil {
		return d.dir.Close()
	}
	return unix.Close(d.fd)
}

// Sub opens a subdirectory (an interface of a USB device) without
// following a link. Its warnings are kept with d's.
func (d *Dir) Sub(name string) (*Dir, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	rel := d.rel + "/" + name
	if d.f.rec != nil {
		d.f.rec.Dir(rel)
	}
	return &Dir{f: d.f, name: d.name, rel: rel, fd: fd, top: d.owner()}, nil
}

func (d *Dir) owner() *Dir {
	if d.top != nil {
		return d.top
	}
	return d
}

// Resolve follows the link name in d by hand, one level, and returns the
// path it names ("/sys/devices/..."), confined to the root: an absolute
// target is taken as relative to the root, and ".." stops there. An entry
// that is a directory rather than a link, as some captures have, is
// returned as it is.
func (d *Dir) Resolve(name string) (string, error) {
	rel, err := d.resolve(name)
	if err != nil {
		return "", err
	}
	return show(rel), nil
}

func (d *Dir) resolve(name string) (string, error) {
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

// Gone reports whether the directory has disappeared, or been replaced by
// another device's at the same path (a replug), since it was opened: then
// a failed or missing read means "unplugged", not "broken". It compares
// inodes, so a replug that reuses the path is seen.
func (d *Dir) Gone() bool {
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

// Vanished is what a reader asks at the end: did anything (a warning, a
// missing file) suggest the device went away, and did it? A reader drops
// a device that vanished, its warnings with it.
func (d *Dir) Vanished() bool {
	return (len(d.owner().warn) > 0 || d.sawENOENT) && d.Gone()
}

// Read returns an attribute's contents, trimmed of surrounding space. A
// missing file gives an error that is fs.ErrNotExist, for the caller to
// treat as "absent"; a file larger than a page gives ErrTooLarge. It keeps
// no warning: the getters below do.
func (d *Dir) Read(attr string) (string, error) {
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

// ReadBytes returns up to max bytes of a binary file (PCI config),
// untrimmed.
func (d *Dir) ReadBytes(attr string, max int) ([]byte, error) {
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

// Link returns the base name of a symlink's target ("usbhid" for a driver
// link), without following it.
func (d *Dir) Link(attr string) (string, error) {
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

// List returns the names in the directory, unsorted.
func (d *Dir) List() ([]string, error) {
	if d.dir == nil {
		d.dir = os.NewFile(uintptr(d.fd), d.rel)
	}
	if d.listed {
		// A second listing starts again from the top.
		if _, err := d.dir.Seek(0, io.SeekStart); err != nil {
			return nil, unwrapPath(err)
		}
	}
	d.listed = true
	names, err := d.dir.Readdirnames(-1)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if d.f.rec != nil {
		d.f.rec.Dir(d.rel)
	}
	return names, nil
}

// Warn keeps a warning about attr ("" for the directory itself).
func (d *Dir) Warn(attr string, err error) {
	p := d.rel
	if attr != "" {
		p += "/" + attr
	}
	o := d.owner()
	o.warn = append(o.warn, Warning{Device: d.name, Path: show(p), Err: err})
}

// Warnings are those kept so far, a subdirectory's included.
func (d *Dir) Warnings() []Warning { return d.owner().warn }

// Attr reads a text attribute. ok is false when it is absent, which is a
// warning only when it is Required, or cannot be read, which always is.
func (d *Dir) Attr(attr string, p Presence) (string, bool) {
	s, err := d.Read(attr)
	if err != nil {
		switch {
		case !errors.Is(err, fs.ErrNotExist):
			d.Warn(attr, err)
		case p == Required:
			d.Warn(attr, ErrMissing)
		}
		return "", false
	}
	return s, true
}

// Flag reads an optional 0-or-1 attribute; ok is false when it is absent
// or not 0 or 1, which is a warning.
func (d *Dir) Flag(attr string) (v, ok bool) {
	s, ok := d.Attr(attr, Optional)
	switch {
	case !ok:
		return false, false
	case s == "0" || s == "1":
		return s == "1", true
	}
	d.Warn(attr, fmt.Errorf("%w: %q is not 0 or 1", ErrInvalid, s))
	return false, false
}

// Hex reads a hex attribute of the given width in bits (16 for an ID, 8
// for a class byte, 24 for a PCI class), with or without 0x. A value with
// more digits than the width allows is invalid, not truncated.
func (d *Dir) Hex(attr string, bits int, p Presence) (uint64, bool) {
	s, ok := d.Attr(attr, p)
	if !ok {
		return 0, false
	}
	v, err := parseHex(s, bits)
	if err != nil {
		d.Warn(attr, err)
		return 0, false
	}
	return v, true
}

// Dec reads a decimal attribute. Leading zeros are decimal, never octal,
// and only a leading '-' is allowed as a sign (numa_node prints -1).
func (d *Dir) Dec(attr string, p Presence) (int, bool) {
	s, ok := d.Attr(attr, p)
	if !ok {
		return 0, false
	}
	v, err := parseDec(s)
	if err != nil {
		d.Warn(attr, err)
		return 0, false
	}
	return v, true
}

// Target reads an optional link's target name, as Link does; an absent
// link gives "", one that cannot be read a warning and "".
func (d *Dir) Target(attr string) string {
	s, err := d.Link(attr)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.Warn(attr, err)
		}
		return ""
	}
	return s
}
