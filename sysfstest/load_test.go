package sysfstest

import (
	"archive/tar"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// A tree of one interface link and the file behind it, as every loader
// must write it.
const (
	loadLink   = "sys/bus/usb/devices/1-1:1.0"
	loadTarget = "../../../devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0"
	loadFile   = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/bInterfaceClass"
)

// checkLoaded checks that root holds the tree of the constants above.
func checkLoaded(t *testing.T, root string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(root, loadLink))
	if err != nil {
		t.Fatal(err)
	}
	if target != loadTarget {
		t.Errorf("link target %q, want %q", target, loadTarget)
	}
	data, err := os.ReadFile(filepath.Join(root, loadLink, "bInterfaceClass"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("08\n", string(data)); diff != "" {
		t.Errorf("bInterfaceClass through the link (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	txt := "-- " + loadLink + " -> " + loadTarget + " --\n-- " + loadFile + " --\n08\n"
	t.Run("txtar", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "tree.txtar")
		if err := os.WriteFile(file, []byte(txt), 0o644); err != nil {
			t.Fatal(err)
		}
		checkLoaded(t, Unpack(t, file))
	})
	t.Run("txtar in memory", func(t *testing.T) {
		checkLoaded(t, UnpackTxtar(t, []byte(txt)))
	})
	t.Run("tar.gz", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "capture.tar.gz")
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		tw := tar.NewWriter(zw)
		for _, h := range []*tar.Header{
			{Name: loadLink, Typeflag: tar.TypeSymlink, Linkname: loadTarget, Mode: 0o777},
			{Name: loadFile, Typeflag: tar.TypeReg, Size: 3, Mode: 0o644},
		} {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tw.Write([]byte("08\n")); err != nil {
			t.Fatal(err)
		}
		for _, c := range []interface{ Close() error }{tw, zw, f} {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
		checkLoaded(t, Unpack(t, file))
	})
	t.Run("MapFS", func(t *testing.T) {
		checkLoaded(t, CopyFS(t, fstest.MapFS{
			loadLink: {Mode: fs.ModeSymlink | 0o777, Data: []byte(loadTarget)},
			loadFile: {Data: []byte("08\n")},
		}))
	})
	t.Run("DirFS", func(t *testing.T) {
		checkLoaded(t, CopyFS(t, os.DirFS(UnpackTxtar(t, []byte(txt)))))
	})
}
