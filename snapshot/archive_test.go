package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Archive must stay usable as a sysfs.Recorder; that interface is not
// imported here to keep this package free of the reader, but the method
// set is the same.
var _ interface {
	File(path string, data []byte)
	Symlink(path, target string)
	Dir(path string)
} = (*Archive)(nil)

func writeArchive(t *testing.T, a *Archive) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := a.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

func TestArchiveRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		record func(a *Archive)
		want   map[string]node
	}{
		{
			name:   "empty",
			record: func(a *Archive) {},
			want:   map[string]node{},
		},
		{
			name: "files and nested dirs",
			record: func(a *Archive) {
				a.Dir("sys/bus/usb/devices")
				a.File("sys/bus/usb/devices/1-1/idVendor", []byte("0403\n"))
				a.File("sys/bus/usb/devices/1-1/empty", nil)
				a.File("sys/class/x", []byte("\x00\xff binary"))
			},
			want: map[string]node{
				"sys": dirNode(), "sys/bus": dirNode(), "sys/bus/usb": dirNode(), "sys/bus/usb/devices": dirNode(),
				"sys/bus/usb/devices/1-1":          dirNode(),
				"sys/bus/usb/devices/1-1/idVendor": fileNode("0403\n"),
				"sys/bus/usb/devices/1-1/empty":    fileNode(""),
				"sys/class":                        dirNode(), "sys/class/x": fileNode("\x00\xff binary"),
			},
		},
		{
			name: "symlinks of every sort",
			record: func(a *Archive) {
				a.Symlink("sys/rel", "../devices/pci0000:00")
				a.Symlink("sys/abs", "/sys/devices/pci0000:00")
				a.Symlink("sys/dangling", "nowhere")
				a.Symlink("sys/slash", "../devices/x/")
				a.Symlink("sys/loop", "loop")
				a.Symlink("sys/dot", ".")
			},
			want: map[string]node{
				"sys": dirNode(), "sys/rel": linkNode("../devices/pci0000:00"), "sys/abs": linkNode("/sys/devices/pci0000:00"),
				"sys/dangling": linkNode("nowhere"), "sys/slash": linkNode("../devices/x/"), "sys/loop": linkNode("loop"),
				"sys/dot": linkNode("."),
			},
		},
		{
			name: "names with colons, spaces and non-ASCII",
			record: func(a *Archive) {
				a.File("sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0/bInterfaceClass", []byte("09\n"))
				a.Symlink("sys/bus/pci/drivers/HDA Intel/0000:00:1b.0", "../../../../devices/pci0000:00/0000:00:1b.0")
				a.File("sys/naïve #1", []byte("é"))
			},
			want: map[string]node{
				"sys": dirNode(), "sys/devices": dirNode(), "sys/devices/pci0000:00": dirNode(),
				"sys/devices/pci0000:00/0000:00:14.0": dirNode(), "sys/devices/pci0000:00/0000:00:14.0/usb1": dirNode(),
				"sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0":                 dirNode(),
				"sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0/bInterfaceClass": fileNode("09\n"),
				"sys/bus": dirNode(), "sys/bus/pci": dirNode(), "sys/bus/pci/drivers": dirNode(),
				"sys/bus/pci/drivers/HDA Intel":              dirNode(),
				"sys/bus/pci/drivers/HDA Intel/0000:00:1b.0": linkNode("../../../../devices/pci0000:00/0000:00:1b.0"),
				"sys/naïve #1":                               fileNode("é"),
			},
		},
		{
			name:   "a path too long for ustar",
			record: func(a *Archive) { a.File(strings.Repeat("d/", 100)+strings.Repeat("n", 200), []byte("x")) },
			want:   longTree(),
		},
		{
			name: "paths are cleaned",
			record: func(a *Archive) {
				a.File("./sys//a/", []byte("x"))
				a.Dir("")
				a.Dir(".")
				a.Dir("sys/b/../c")
			},
			want: map[string]node{"sys": dirNode(), "sys/a": fileNode("x"), "sys/c": dirNode()},
		},
		{
			name: "the same path twice is one entry, the last one",
			record: func(a *Archive) {
				a.File("f", []byte("first"))
				a.File("f", []byte("second"))
				a.Symlink("l", "first")
				a.Symlink("l", "second")
				a.Dir("d")
				a.Dir("d")
			},
			want: map[string]node{"f": fileNode("second"), "l": linkNode("second"), "d": dirNode()},
		},
		{
			name: "file and symlink beat dir, in either order",
			record: func(a *Archive) {
				a.Dir("f1")
				a.File("f1", []byte("x"))
				a.File("f2", []byte("y"))
				a.Dir("f2")
				a.Dir("l1")
				a.Symlink("l1", "t")
				a.Symlink("l2", "t")
				a.Dir("l2")
			},
			want: map[string]node{"f1": fileNode("x"), "f2": fileNode("y"), "l1": linkNode("t"), "l2": linkNode("t")},
		},
		{
			name: "symlink beats file, in either order",
			record: func(a *Archive) {
				a.File("a", []byte("x"))
				a.Symlink("a", "t")
				a.Symlink("b", "t")
				a.File("b", []byte("y"))
			},
			want: map[string]node{"a": linkNode("t"), "b": linkNode("t")},
		},
		{
			name: "file data is copied",
			record: func(a *Archive) {
				buf := []byte("abc")
				a.File("f", buf)
				copy(buf, "XYZ")
			},
			want: map[string]node{"f": fileNode("abc")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewArchive()
			tt.record(a)
			data := writeArchive(t, a)

			listed, skipped := listArchive(t, bytes.NewReader(data))
			if diff := cmp.Diff(tt.want, listed); diff != "" {
				t.Errorf("archive/tar listing (-want +got):\n%s", diff)
			}
			if skipped != 0 {
				t.Errorf("archive has %d hard links, devices or fifos", skipped)
			}

			dir := t.TempDir()
			if err := Extract(bytes.NewReader(data), dir); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if diff := cmp.Diff(tt.want, readTree(t, dir)); diff != "" {
				t.Errorf("extracted tree (-want +got):\n%s", diff)
			}
		})
	}
}

type header struct {
	Name     string
	Type     byte
	Mode     int64
	Uid, Gid int
	Uname    string
	Gname    string
	ModTime  time.Time
	Linkname string
	Size     int64
}

// TestArchiveHeaders checks what WriteTo puts in each header, and the order.
func TestArchiveHeaders(t *testing.T) {
	a := NewArchive()
	a.File("z", nil)
	a.File("sys/b/x", []byte("1"))
	a.Symlink("sys/a-b", "t")
	a.Dir("sys/a")
	a.File("sys/a/x", nil)
	a.File("sys/a.txt", []byte("22"))
	data := writeArchive(t, a)

	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gzip.Header{OS: 255}, zr.Header); diff != "" {
		t.Errorf("gzip header (-want +got):\n%s", diff)
	}
	var got []header
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, header{
			Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid,
			Uname: h.Uname, Gname: h.Gname, ModTime: h.ModTime.UTC(), Linkname: h.Linkname, Size: h.Size,
		})
	}
	y2k := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	want := []header{
		// Parents first; "/" sorts before every other byte, so a
		// directory's contents come right after it.
		{Name: "sys/", Type: tar.TypeDir, Mode: 0o755, ModTime: y2k},
		{Name: "sys/a/", Type: tar.TypeDir, Mode: 0o755, ModTime: y2k},
		{Name: "sys/a/x", Type: tar.TypeReg, Mode: 0o644, ModTime: y2k},
		{Name: "sys/a-b", Type: tar.TypeSymlink, Mode: 0o777, ModTime: y2k, Linkname: "t"},
		{Name: "sys/a.txt", Type: tar.TypeReg, Mode: 0o644, ModTime: y2k, Size: 2},
		{Name: "sys/b/", Type: tar.TypeDir, Mode: 0o755, ModTime: y2k},
		{Name: "sys/b/x", Type: tar.TypeReg, Mode: 0o644, ModTime: y2k, Size: 1},
		{Name: "z", Type: tar.TypeReg, Mode: 0o644, ModTime: y2k},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

type op struct {
	kind         string
	path, target string
}

func (o op) apply(a *Archive) {
	switch o.kind {
	case "file":
		a.File(o.path, []byte(o.target))
	case "symlink":
		a.Symlink(o.path, o.target)
	case "dir":
		a.Dir(o.path)
	}
}

// captureOps is a small capture, with the repeats and kind clashes a real
// recording has, whose result does not depend on the order of the calls.
func captureOps() []op {
	var ops []op
	for i := range 20 {
		dev := fmt.Sprintf("sys/devices/pci0000:00/0000:00:%02x.0", i)
		ops = append(ops,
			op{"dir", dev, ""},
			op{"file", dev + "/vendor", "0x8086\n"},
			op{"file", dev + "/vendor", "0x8086\n"},
			op{"file", dev + "/device", fmt.Sprintf("0x%04x\n", i)},
			op{"symlink", dev + "/driver", "../../../bus/pci/drivers/x"},
			op{"dir", dev + "/driver", ""},
			op{"dir", fmt.Sprintf("sys/bus/pci/devices/0000:00:%02x.0", i), ""},
			op{"symlink", fmt.Sprintf("sys/bus/pci/devices/0000:00:%02x.0", i), "../../../" + dev[4:]},
			op{"dir", "sys/bus/pci/devices", ""},
		)
	}
	return ops
}

func TestArchiveDeterministic(t *testing.T) {
	ops := captureOps()
	base := NewArchive()
	for _, o := range ops {
		o.apply(base)
	}
	want := writeArchive(t, base)
	if again := writeArchive(t, base); !bytes.Equal(want, again) {
		t.Error("writing the same Archive twice gave different bytes")
	}

	tests := []struct {
		name  string
		order func([]op)
	}{
		{name: "reversed", order: func(o []op) {
			for i, j := 0, len(o)-1; i < j; i, j = i+1, j-1 {
				o[i], o[j] = o[j], o[i]
			}
		}},
		{name: "shuffled 1", order: shuffle(1)},
		{name: "shuffled 2", order: shuffle(2)},
		{name: "shuffled 3", order: shuffle(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := captureOps()
			tt.order(o)
			a := NewArchive()
			for _, op := range o {
				op.apply(a)
			}
			if got := writeArchive(t, a); !bytes.Equal(want, got) {
				wantTree, _ := listArchive(t, bytes.NewReader(want))
				gotTree, _ := listArchive(t, bytes.NewReader(got))
				t.Errorf("bytes differ from the in-order recording; trees (-want +got):\n%s", cmp.Diff(wantTree, gotTree))
			}
		})
	}
}

func shuffle(seed uint64) func([]op) {
	return func(o []op) {
		r := rand.New(rand.NewPCG(seed, seed))
		r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
	}
}

// TestArchiveConcurrent records from several goroutines at once, as a
// parallel scan would; run it with -race.
func TestArchiveConcurrent(t *testing.T) {
	ops := captureOps()
	serial := NewArchive()
	for _, o := range ops {
		o.apply(serial)
	}
	want := writeArchive(t, serial)

	a := NewArchive()
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			// Every worker records everything, each in its own order, so
			// that the same paths are hit from several goroutines.
			o := captureOps()
			shuffle(uint64(w))(o)
			for _, op := range o {
				op.apply(a)
			}
		})
	}
	// WriteTo may run while recording goes on; what it writes then is
	// some prefix of the recording, but it must not race.
	wg.Go(func() {
		if _, err := a.WriteTo(io.Discard); err != nil {
			t.Errorf("WriteTo during recording: %v", err)
		}
	})
	wg.Wait()
	if got := writeArchive(t, a); !bytes.Equal(want, got) {
		t.Error("concurrent recording gave different bytes from serial recording")
	}
}

func TestArchiveErrors(t *testing.T) {
	tests := []struct {
		name    string
		record  func(a *Archive)
		wantErr string
	}{
		{
			name:    "absolute path",
			record:  func(a *Archive) { a.File("/sys/x", nil) },
			wantErr: `snapshot: recorded path "/sys/x" is not inside the root`,
		},
		{
			name:    "dot-dot",
			record:  func(a *Archive) { a.Dir("sys/../../x") },
			wantErr: `snapshot: recorded path "sys/../../x" is not inside the root`,
		},
		{
			name:    "file at the root",
			record:  func(a *Archive) { a.File(".", nil) },
			wantErr: `snapshot: recorded path "." is not inside the root`,
		},
		{
			name:    "symlink at the root",
			record:  func(a *Archive) { a.Symlink("", "x") },
			wantErr: `snapshot: recorded path "" is not inside the root`,
		},
		{
			name: "entry under a symlink",
			record: func(a *Archive) {
				a.Symlink("sys/a", "b")
				a.File("sys/a/x/y", nil)
				a.File("sys/a/z", nil)
			},
			wantErr: `snapshot: "sys/a/x/y" is under "sys/a", which is not a directory`,
		},
		{
			name: "entry under a file",
			record: func(a *Archive) {
				a.File("f", nil)
				a.Dir("f/d")
			},
			wantErr: `snapshot: "f/d" is under "f", which is not a directory`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewArchive()
			a.File("sys/ok", []byte("fine")) // good entries do not hide bad ones
			tt.record(a)
			var buf bytes.Buffer
			_, err := a.WriteTo(&buf)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("WriteTo error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		n := f.after
		f.after = 0
		return n, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestArchiveWriteError(t *testing.T) {
	a := NewArchive()
	for _, o := range captureOps() {
		o.apply(a)
	}
	a.File("big", bytes.Repeat([]byte("incompressible?"), 1<<16))
	w := &failingWriter{after: 100}
	n, err := a.WriteTo(w)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteTo error = %v, want disk full", err)
	}
	if n != 100 {
		t.Errorf("WriteTo = %d bytes, want the 100 the writer took", n)
	}
}
