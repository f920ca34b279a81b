// Package cpio writes cpio archives in the "newc" format (SVR4 with no
// CRC), the format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Each entry is a 110-byte ASCII header ("070701" and thirteen 8-digit
// hex fields), the name with its NUL, padding to 4 bytes, the data, and
// padding to 4 bytes again. The archive ends with an entry named
// TRAILER!!!. Wrap the writer in a gzip.Writer for a compressed initramfs.
package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Magic is the newc header's magic number.
const Magic = "070701"

// Trailer is the name of the entry that ends an archive.
const Trailer = "TRAILER!!!"

// HeaderSize is the size of a newc header, without name and padding.
const HeaderSize = 110

// Mode bits of the file type, as in <sys/stat.h>.
const (
	TypeDir     = 0o040000
	TypeRegular = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeMask    = 0o170000
)

// Header is one entry's metadata. Size is taken from the data written.
type Header struct {
	Name  string
	Mode  uint32 // type bits and permissions, as st_mode
	UID   uint32
	GID   uint32
	Mtime uint32
	// Major and Minor are the device number of a character or block
	// device (rdevmajor, rdevminor).
	Major, Minor uint32
}

// Writer writes a newc archive entry by entry.
type Writer struct {
	w      *bufio.Writer
	ino    uint32
	off    int64
	closed bool
}

// NewWriter returns a Writer that writes to w. Close writes the trailer.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriter(w), ino: 1}
}

// WriteEntry writes one entry with data as its contents (a symlink's
// contents are its target).
func (w *Writer) WriteEntry(h Header, data []byte) error {
	if w.closed {
		return errors.New("cpio: write after close")
	}
	if h.Name == "" || strings.ContainsRune(h.Name, 0) {
		return fmt.Errorf("cpio: bad name %q", h.Name)
	}
	if h.Mode&TypeMask == TypeDir && len(data) != 0 {
		return fmt.Errorf("cpio: directory %s with data", h.Name)
	}
	name := strings.TrimPrefix(h.Name, "/")
	if name == "" {
		name = "."
	}
	nlink := 1
	if h.Mode&TypeMask == TypeDir {
		nlink = 2
	}
	ino := w.ino
	w.ino++
	if name == Trailer {
		ino, nlink = 0, 1
	}
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("cpio: %s is larger than 4 GiB", name)
	}
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		Magic, ino, h.Mode, h.UID, h.GID, nlink, h.Mtime, len(data),
		0, 0, h.Major, h.Minor, len(name)+1, 0)
	if err := w.write([]byte(hdr)); err != nil {
		return err
	}
	if err := w.write(append([]byte(name), 0)); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if err := w.write(data); err != nil {
		return err
	}
	return w.pad()
}

// Dir writes a directory.
func (w *Writer) Dir(name string, perm fs.FileMode) error {
	return w.WriteEntry(Header{Name: name, Mode: TypeDir | uint32(perm.Perm())}, nil)
}

// File writes a regular file.
func (w *Writer) File(name string, perm fs.FileMode, data []byte) error {
	return w.WriteEntry(Header{Name: name, Mode: TypeRegular | uint32(perm.Perm())}, data)
}

// Symlink writes a symbolic link to target.
func (w *Writer) Symlink(name, target string) error {
	return w.WriteEntry(Header{Name: name, Mode: TypeSymlink | 0o777}, []byte(target))
}

// CharDev writes a character device node.
func (w *Writer) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	return w.WriteEntry(Header{Name: name, Mode: TypeChar | uint32(perm.Perm()), Major: major, Minor: minor}, nil)
}

// Close writes the trailer and flushes. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if err := w.WriteEntry(Header{Name: Trailer}, nil); err != nil {
		return err
	}
	w.closed = true
	return w.w.Flush()
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.off += int64(n)
	return err
}

func (w *Writer) pad() error {
	if r := w.off % 4; r != 0 {
		return w.write(make([]byte, 4-r))
	}
	return nil
}
