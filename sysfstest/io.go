package sysfstest

import (
	"os"
	"path"
)

// The Host's file operations. Trees of many thousand devices are
// syscall-bound; see writeFile. (Writing from several goroutines was tried
// and gained nothing on tmpfs or ext4.)

// mkdir creates rel and its parents, remembering what exists so that the
// many files of one device cost one MkdirAll.
func (h *Host) mkdir(rel string) {
	if rel == "." || rel == "" || h.dirs[rel] {
		return
	}
	h.traceOp("mkdir", rel)
	if err := os.MkdirAll(h.abs(rel), 0o755); err != nil {
		h.fail(err)
		return
	}
	for d := rel; d != "." && !h.dirs[d]; d = path.Dir(d) {
		h.dirs[d] = true
	}
}

func (h *Host) write(rel, data string) {
	h.traceOp("write", rel)
	if err := writeFile(h.abs(rel), data); err != nil {
		h.fail(err)
	}
}

func (h *Host) symlink(rel, target string) {
	h.traceOp("symlink", rel)
	if err := os.Symlink(target, h.abs(rel)); err != nil {
		h.fail(err)
	}
}

// patch overwrites len(b) bytes of the file rel at off.
func (h *Host) patch(rel string, off int, b []byte) {
	f, err := os.OpenFile(h.abs(rel), os.O_WRONLY, 0)
	if err != nil {
		h.fail(err)
		return
	}
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		h.fail(err)
	}
	if err := f.Close(); err != nil {
		h.fail(err)
	}
}

// traceOp tells h.trace, which only the package's tests set, of a change
// to the tree, so that they can check the order of a plug's steps.
func (h *Host) traceOp(op, rel string) {
	if h.trace != nil {
		h.trace(op, rel)
	}
}
