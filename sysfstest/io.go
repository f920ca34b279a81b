package sysfstest

import (
	"os"
	"path"
)

// The Tree's file operations. Trees of many thousand devices are
// syscall-bound; see writeFile. (Writing from several goroutines was tried
// and gained nothing on tmpfs or ext4.)

// mkdir creates rel and its parents, remembering what exists so that the
// many files of one device cost one MkdirAll.
func (t *Tree) mkdir(rel string) {
	if rel == "." || rel == "" || t.dirs[rel] {
		return
	}
	if err := os.MkdirAll(t.abs(rel), 0o755); err != nil {
		t.fail(err)
		return
	}
	for d := rel; d != "." && !t.dirs[d]; d = path.Dir(d) {
		t.dirs[d] = true
	}
}

func (t *Tree) write(rel, data string) {
	if err := writeFile(t.abs(rel), data); err != nil {
		t.fail(err)
	}
}

func (t *Tree) symlink(rel, target string) {
	if err := os.Symlink(target, t.abs(rel)); err != nil {
		t.fail(err)
	}
}

// patch overwrites len(b) bytes of the file rel at off.
func (t *Tree) patch(rel string, off int, b []byte) {
	f, err := os.OpenFile(t.abs(rel), os.O_WRONLY, 0)
	if err != nil {
		t.fail(err)
		return
	}
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		t.fail(err)
	}
	if err := f.Close(); err != nil {
		t.fail(err)
	}
}
