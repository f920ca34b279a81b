package cpio

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type entry struct {
	Name         string
	Mode         uint32
	Nlink        uint32
	Major, Minor uint32
	Data         string
}

// read is an independent newc reader: it checks magic, alignment and the
// trailer, and returns the entries before the trailer.
func read(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	off := 0
	field := func(i int) uint32 {
		s := string(b[off+6+8*i : off+6+8*i+8])
		v, err := strconv.ParseUint(s, 16, 32)
		if err != nil {
			t.Fatalf("offset %d field %d: %q: %v", off, i, s, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off%4 != 0 {
			t.Fatalf("header at %d is not 4-aligned", off)
		}
		if off+HeaderSize > len(b) {
			t.Fatalf("archive ends at %d with no trailer", len(b))
		}
		if string(b[off:off+6]) != Magic {
			t.Fatalf("offset %d: magic %q", off, b[off:off+6])
		}
		mode, nlink, size := field(1), field(4), int(field(6))
		rmaj, rmin, namesize := field(9), field(10), int(field(11))
		nameStart := off + HeaderSize
		name := string(b[nameStart : nameStart+namesize])
		if !strings.HasSuffix(name, "\x00") {
			t.Fatalf("name %q has no NUL", name)
		}
		name = strings.TrimSuffix(name, "\x00")
		dataStart := align(nameStart + namesize)
		data := string(b[dataStart : dataStart+size])
		off = align(dataStart + size)
		if name == Trailer {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, entry{name, mode, nlink, rmaj, rmin, data})
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Dir("bin", 0o755))
	must(w.File("/bin/busybox", 0o755, []byte("0123456789")))
	must(w.Symlink("bin/sh", "busybox"))
	must(w.File("init", 0o700, nil))
	must(w.File("abc", 0o644, []byte("x")))
	must(w.CharDev("dev/console", 0o600, 5, 1))
	must(w.Close())
	must(w.Close())
	if err := w.File("late", 0o644, nil); err == nil {
		t.Error("write after close: no error")
	}

	got := read(t, buf.Bytes())
	want := []entry{
		{"bin", TypeDir | 0o755, 2, 0, 0, ""},
		{"bin/busybox", TypeRegular | 0o755, 1, 0, 0, "0123456789"},
		{"bin/sh", TypeSymlink | 0o777, 1, 0, 0, "busybox"},
		{"init", TypeRegular | 0o700, 1, 0, 0, ""},
		{"abc", TypeRegular | 0o644, 1, 0, 0, "x"},
		{"dev/console", TypeChar | 0o600, 1, 5, 1, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	// The first header, byte for byte: inode 1, mode 040755, nlink 2,
	// namesize 4 ("bin\0"), then 110+4 = 114 bytes padded to 116.
	first := buf.String()[:116]
	wantFirst := "070701" + "00000001" + "000041ed" + "00000000" + "00000000" + "00000002" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000000" +
		"00000004" + "00000000" + "bin\x00\x00\x00"
	if first != wantFirst {
		t.Errorf("first entry\n got %q\nwant %q", first, wantFirst)
	}

	// GNU cpio, where it is installed, reads the same names.
	if path, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command(path, "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		if got, want := string(out), "bin\nbin/busybox\nbin/sh\ninit\nabc\ndev/console\n"; got != want {
			t.Errorf("cpio -t: got %q, want %q", got, want)
		}
	}
}

func TestBadEntries(t *testing.T) {
	w := NewWriter(io.Discard)
	for _, h := range []Header{{Name: ""}, {Name: "a\x00b"}} {
		if err := w.WriteEntry(h, nil); err == nil {
			t.Errorf("%q: no error", h.Name)
		}
	}
	if err := w.WriteEntry(Header{Name: "d", Mode: TypeDir | 0o755}, []byte("x")); err == nil {
		t.Error("directory with data: no error")
	}
}

func TestPadding(t *testing.T) {
	// Every length of name and data keeps every header 4-aligned.
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var want []entry
	for n := 1; n <= 9; n++ {
		for d := 0; d <= 5; d++ {
			name := fmt.Sprintf("%s%d", strings.Repeat("n", n), d)
			data := strings.Repeat("d", d)
			if err := w.File(name, 0o644, []byte(data)); err != nil {
				t.Fatal(err)
			}
			want = append(want, entry{name, TypeRegular | 0o644, 1, 0, 0, data})
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, read(t, buf.Bytes())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
