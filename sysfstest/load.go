package sysfstest

import (
	"bytes"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/snapshot"
)

// Unpack writes the tree in the archive file under a fresh tb.TempDir and
// returns that directory, ending the test on any error. file is a txtar
// archive in this package's convention (a name ending in .txtar; see
// "Archive convention") or a gzip'd tar such as `hostdev-discover
// snapshot` captures (.tar.gz or .tgz, read by snapshot.Extract). A
// relative file is found from the test's working directory, its package's
// folder.
func Unpack(tb testing.TB, file string) string {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("sysfstest: %v", err)
	}
	dir := tb.TempDir()
	switch {
	case strings.HasSuffix(file, ".txtar"):
		err = writeTxtar(dir, data)
	case strings.HasSuffix(file, ".tar.gz"), strings.HasSuffix(file, ".tgz"):
		err = snapshot.Extract(bytes.NewReader(data), dir)
	default:
		tb.Fatalf("sysfstest: unpack %s: not a .txtar, .tar.gz or .tgz file", file)
	}
	if err != nil {
		tb.Fatalf("sysfstest: unpack %s: %v", file, err)
	}
	return dir
}

// UnpackTxtar is Unpack for a txtar archive held in memory, such as one
// embedded with //go:embed.
func UnpackTxtar(tb testing.TB, data []byte) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := writeTxtar(dir, data); err != nil {
		tb.Fatalf("sysfstest: unpack txtar: %v", err)
	}
	return dir
}

// CopyFS copies the tree fsys under a fresh tb.TempDir and returns that
// directory, ending the test on any error. A symlink in fsys is copied as
// a symlink, with its target as written, when fsys implements
// fs.ReadLinkFS: in a testing/fstest.MapFS, a MapFile whose Mode has
// fs.ModeSymlink and whose Data is the target; in an os.DirFS, a symlink.
// Any other entry that is not a regular file or a directory is an error.
//
// An embed.FS cannot hold a sysfs tree: it has no symlinks, and the Go
// module zip refuses the colons of sysfs names ("1-3:1.0",
// "0000:00:1f.3"). Embed a txtar archive and call UnpackTxtar instead.
func CopyFS(tb testing.TB, fsys fs.FS) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.CopyFS(dir, fsys); err != nil {
		tb.Fatalf("sysfstest: copy tree: %v", err)
	}
	return dir
}
