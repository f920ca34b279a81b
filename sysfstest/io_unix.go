//go:build unix

package sysfstest

import (
	"errors"
	"io/fs"
	"syscall"
)

// writeFile is os.WriteFile with mode 0644 and three syscalls instead of
// four: an os.File also registers with the poller, which fails for regular
// files.
func writeFile(name, data string) error {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	for b := []byte(data); len(b) > 0 && err == nil; {
		var n int
		n, err = syscall.Write(fd, b)
		if err == nil && n == 0 {
			err = syscall.EIO
		}
		b = b[max(n, 0):]
	}
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}
