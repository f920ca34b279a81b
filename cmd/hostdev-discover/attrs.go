package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// fileAttrs is what fill -i keeps of the file it replaces, beyond its
// bytes: a new file would otherwise get the mode, owner and group of
// whoever runs fill, and no extended attributes (which hold SELinux
// labels, ACLs and file capabilities).
type fileAttrs struct {
	mode     fs.FileMode // permissions, setuid, setgid, sticky
	uid, gid int
	xattrs   []xattr // every one, security.*, trusted.* and system.* too
}

type xattr struct {
	name  string
	value []byte
}

// readAttrs reads f's attributes. A filesystem without extended
// attributes has none to keep.
func readAttrs(f *os.File) (*fileAttrs, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: no owner to keep", f.Name())
	}
	a := &fileAttrs{
		mode: st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		uid:  int(sys.Uid), gid: int(sys.Gid),
	}
	names, err := listXattrs(f)
	if err != nil {
		return nil, &fs.PathError{Op: "listxattr", Path: f.Name(), Err: err}
	}
	for _, name := range names {
		v, err := getXattr(f, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read extended attribute %s: %w", f.Name(), name, err)
		}
		a.xattrs = append(a.xattrs, xattr{name, v})
	}
	return a, nil
}

// listXattrs names f's extended attributes, none on a filesystem without
// them.
func listXattrs(f *os.File) ([]string, error) {
	fd := int(f.Fd())
	for {
		n, err := unix.Flistxattr(fd, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = unix.Flistxattr(fd, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // one was added since we asked for the size
		}
		if err != nil {
			return nil, err
		}
		return strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00"), nil
	}
}

func getXattr(f *os.File, name string) ([]byte, error) {
	fd := int(f.Fd())
	for {
		n, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Fgetxattr(fd, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// check says, before anything is written, whether a process like this one
// can give a new file at path a's owner and group: only root gives a file
// to another user, and a user gives it only to a group they are in.
func (a *fileAttrs) check(path string) error {
	euid := os.Geteuid()
	if euid == 0 {
		return nil
	}
	if a.uid != euid {
		return fmt.Errorf("%s belongs to uid %d, and only root can give the rewritten file that owner; run fill -i as root or as its owner, or write the output elsewhere with fill %s > NEW", path, a.uid, path)
	}
	if a.gid == os.Getegid() {
		return nil
	}
	groups, err := os.Getgroups()
	if err != nil {
		return err
	}
	if !slices.Contains(groups, a.gid) {
		return fmt.Errorf("%s has group %d, which you are not in, so the rewritten file could not keep it; run fill -i as root, or write the output elsewhere with fill %s > NEW", path, a.gid, path)
	}
	return nil
}

// apply gives tmp, which will replace path, a's attributes: owner first,
// since chown clears setuid, setgid and file capabilities; then the mode;
// then exactly a's extended attributes.
func (a *fileAttrs) apply(tmp *os.File, path string) error {
	st, err := tmp.Stat()
	if err != nil {
		return outputError("stat", path, err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != a.uid || int(sys.Gid) != a.gid {
		if err := tmp.Chown(a.uid, a.gid); err != nil {
			return fmt.Errorf("%s: cannot keep its owner %d and group %d: %w; it is unchanged", path, a.uid, a.gid, unwrapPath(err))
		}
	}
	if err := tmp.Chmod(a.mode); err != nil {
		return outputError("chmod", path, err)
	}
	fd := int(tmp.Fd())
	for _, x := range a.xattrs {
		if err := unix.Fsetxattr(fd, x.name, x.value, 0); err != nil {
			return fmt.Errorf("%s: cannot keep its extended attribute %s: %w; it is unchanged", path, x.name, err)
		}
	}
	// What the new file got from its folder (a default ACL) and the old
	// one did not have.
	have, err := listXattrs(tmp)
	if err != nil {
		return outputError("listxattr", path, err)
	}
	for _, name := range have {
		if slices.ContainsFunc(a.xattrs, func(x xattr) bool { return x.name == name }) {
			continue
		}
		if err := unix.Fremovexattr(fd, name); err != nil && !errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("%s: the rewritten file got extended attribute %s, which it did not have, and it cannot be removed: %w; it is unchanged", path, name, err)
		}
	}
	return nil
}
