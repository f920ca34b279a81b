package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name      string
		entries   []tarEntry
		want      map[string]node
		wantStats Stats
	}{
		{
			name:      "files and dirs",
			entries:   []tarEntry{tdir("sys/"), tdir("sys/a/"), tfile("sys/a/f", "one\n"), tfile("sys/g", "")},
			want:      map[string]node{"sys": dirNode(), "sys/a": dirNode(), "sys/a/f": fileNode("one\n"), "sys/g": fileNode("")},
			wantStats: Stats{Files: 2, Dirs: 2, Bytes: 4},
		},
		{
			name:      "missing parents are created",
			entries:   []tarEntry{tfile("sys/bus/usb/devices/1-1/idVendor", "0403\n")},
			want:      map[string]node{"sys": dirNode(), "sys/bus": dirNode(), "sys/bus/usb": dirNode(), "sys/bus/usb/devices": dirNode(), "sys/bus/usb/devices/1-1": dirNode(), "sys/bus/usb/devices/1-1/idVendor": fileNode("0403\n")},
			wantStats: Stats{Files: 1, Bytes: 5},
		},
		{
			name:      "leading ./ and a ./ root entry",
			entries:   []tarEntry{tdir("./"), tdir("./sys/"), tfile("./sys/f", "x")},
			want:      map[string]node{"sys": dirNode(), "sys/f": fileNode("x")},
			wantStats: Stats{Files: 1, Dirs: 2, Bytes: 1},
		},
		{
			name: "names with colons",
			entries: []tarEntry{
				tfile("sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0/bInterfaceClass", "09\n"),
				tlink("sys/bus/pci/devices/0000:00:14.0", "../../../devices/pci0000:00/0000:00:14.0"),
			},
			want: map[string]node{
				"sys": dirNode(), "sys/devices": dirNode(), "sys/devices/pci0000:00": dirNode(),
				"sys/devices/pci0000:00/0000:00:14.0": dirNode(), "sys/devices/pci0000:00/0000:00:14.0/usb1": dirNode(),
				"sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0":                 dirNode(),
				"sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0/bInterfaceClass": fileNode("09\n"),
				"sys/bus": dirNode(), "sys/bus/pci": dirNode(), "sys/bus/pci/devices": dirNode(),
				"sys/bus/pci/devices/0000:00:14.0": linkNode("../../../devices/pci0000:00/0000:00:14.0"),
			},
			wantStats: Stats{Files: 1, Symlinks: 1, Bytes: 3},
		},
		{
			name: "symlink targets are kept verbatim",
			entries: []tarEntry{
				tlink("rel", "../x/y"),
				tlink("abs", "/sys/devices/pci0000:00"),
				tlink("dangling", "nowhere/at/all"),
				tlink("slash", "../devices/pci10000:00/10000:00:00.0/"),
				tlink("loop", "loop"),
				tlink("ping", "pong"),
				tlink("pong", "ping"),
				tlink("outside", "/etc/passwd"),
			},
			want: map[string]node{
				"rel": linkNode("../x/y"), "abs": linkNode("/sys/devices/pci0000:00"),
				"dangling": linkNode("nowhere/at/all"), "slash": linkNode("../devices/pci10000:00/10000:00:00.0/"),
				"loop": linkNode("loop"), "ping": linkNode("pong"), "pong": linkNode("ping"),
				"outside": linkNode("/etc/passwd"),
			},
			wantStats: Stats{Symlinks: 8},
		},
		{
			name: "stored modes are ignored",
			entries: []tarEntry{
				{hdr: tar.Header{Name: "locked/", Typeflag: tar.TypeDir, Mode: 0}},
				{hdr: tar.Header{Name: "locked/secret", Typeflag: tar.TypeReg, Mode: 0, Size: 2}, body: "hi"},
				{hdr: tar.Header{Name: "setuid", Typeflag: tar.TypeReg, Mode: 0o4777, Size: 1}, body: "x"},
			},
			want:      map[string]node{"locked": dirNode(), "locked/secret": fileNode("hi"), "setuid": fileNode("x")},
			wantStats: Stats{Files: 2, Dirs: 1, Bytes: 3},
		},
		{
			name:      "a later file replaces an earlier one",
			entries:   []tarEntry{tfile("f", "old contents"), tfile("./f", "new")},
			want:      map[string]node{"f": fileNode("new")},
			wantStats: Stats{Files: 2, Bytes: 15},
		},
		{
			name:      "a later symlink replaces an earlier one",
			entries:   []tarEntry{tlink("l", "old"), tlink("l", "new")},
			want:      map[string]node{"l": linkNode("new")},
			wantStats: Stats{Symlinks: 2},
		},
		{
			name:      "a dir entry for an existing dir",
			entries:   []tarEntry{tfile("d/f", "x"), tdir("d/"), tdir("d")},
			want:      map[string]node{"d": dirNode(), "d/f": fileNode("x")},
			wantStats: Stats{Files: 1, Dirs: 2, Bytes: 1},
		},
		{
			name: "hard links, devices and fifos are skipped",
			entries: []tarEntry{
				tfile("f", "x"),
				ttype("hard", tar.TypeLink),
				ttype("char", tar.TypeChar),
				ttype("block", tar.TypeBlock),
				ttype("fifo", tar.TypeFifo),
				// Skipped entries are not created, so their names are never
				// used and need no checking.
				ttype("../../hard", tar.TypeLink),
			},
			want:      map[string]node{"f": fileNode("x")},
			wantStats: Stats{Files: 1, Bytes: 1, Skipped: 5},
		},
		{
			name: "a pax global header is not an entry",
			entries: []tarEntry{
				{hdr: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "abc"}}},
				tfile("f", "x"),
			},
			want:      map[string]node{"f": fileNode("x")},
			wantStats: Stats{Files: 1, Bytes: 1},
		},
		{
			name:      "long names",
			entries:   []tarEntry{tfile(strings.Repeat("d/", 100)+strings.Repeat("n", 200), "x")},
			want:      longTree(),
			wantStats: Stats{Files: 1, Bytes: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			stats, err := ExtractStats(bytes.NewReader(tarball(t, tt.entries...)), dir)
			if err != nil {
				t.Fatalf("ExtractStats: %v", err)
			}
			if diff := cmp.Diff(tt.want, readTree(t, dir)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStats, stats); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func longTree() map[string]node {
	tree := map[string]node{}
	p := ""
	for range 100 {
		p += "d"
		tree[p] = dirNode()
		p += "/"
	}
	tree[p+strings.Repeat("n", 200)] = fileNode("x")
	return tree
}

// TestExtractRejects feeds Extract hostile or contradictory archives. Next
// to the destination sits "outside", holding a file "victim"; whatever the
// archive does, that directory must come out as it went in.
func TestExtractRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries func(outside string) []tarEntry
		wantErr string
	}{
		{
			name:    "absolute name",
			entries: func(outside string) []tarEntry { return []tarEntry{tfile(filepath.Join(outside, "new"), "x")} },
			wantErr: `has an absolute name`,
		},
		{
			name:    "dot-dot escape",
			entries: func(string) []tarEntry { return []tarEntry{tfile("sys/../../etc/passwd", "x")} },
			wantErr: `snapshot: entry "sys/../../etc/passwd" escapes the destination`,
		},
		{
			name:    "dot-dot into the sibling",
			entries: func(string) []tarEntry { return []tarEntry{tfile("../outside/new", "x")} },
			wantErr: `snapshot: entry "../outside/new" escapes the destination`,
		},
		{
			name:    "dot-dot alone",
			entries: func(string) []tarEntry { return []tarEntry{tdir("..")} },
			wantErr: `snapshot: entry ".." escapes the destination`,
		},
		{
			name:    "symlink escape by dot-dot",
			entries: func(string) []tarEntry { return []tarEntry{tlink("../outside/new", "x")} },
			wantErr: `escapes the destination`,
		},
		{
			name:    "empty name",
			entries: func(string) []tarEntry { return []tarEntry{tfile("", "x")} },
			wantErr: `snapshot: entry "" has an empty name`,
		},
		{
			name: "write through an absolute symlink",
			entries: func(outside string) []tarEntry {
				return []tarEntry{tlink("a", outside), tfile("a/new", "x")}
			},
			wantErr: `snapshot: entry "a/new" goes through symlink "a"`,
		},
		{
			name: "write through a symlink to /tmp",
			entries: func(string) []tarEntry {
				return []tarEntry{tlink("a", os.TempDir()), tfile("a/hostdev-snapshot-test-should-not-exist", "x")}
			},
			wantErr: `goes through symlink "a"`,
		},
		{
			name: "write through a relative symlink out",
			entries: func(string) []tarEntry {
				return []tarEntry{tlink("a", "../outside"), tfile("a/new", "x")}
			},
			wantErr: `goes through symlink "a"`,
		},
		{
			name: "mkdir through a symlink",
			entries: func(outside string) []tarEntry {
				return []tarEntry{tdir("d/"), tlink("d/a", outside), tdir("d/a/new/")}
			},
			wantErr: `snapshot: entry "d/a/new/" goes through symlink "d/a"`,
		},
		{
			name: "symlink through a symlink",
			entries: func(outside string) []tarEntry {
				return []tarEntry{tlink("a", outside), tlink("a/new", "/etc/passwd")}
			},
			wantErr: `goes through symlink "a"`,
		},
		{
			name: "write through a symlink that stays inside",
			entries: func(string) []tarEntry {
				// Harmless in itself, but following links at all is what
				// makes the escapes possible, so this is refused too.
				return []tarEntry{tdir("b/"), tlink("a", "b"), tfile("a/f", "x")}
			},
			wantErr: `goes through symlink "a"`,
		},
		{
			name: "write through a symlink reached by dot-dot",
			entries: func(outside string) []tarEntry {
				return []tarEntry{tlink("a", outside), tfile("b/../a/new", "x")}
			},
			wantErr: `snapshot: entry "b/../a/new" goes through symlink "a"`,
		},
		{
			name: "file over a symlink",
			entries: func(outside string) []tarEntry {
				return []tarEntry{tlink("a", filepath.Join(outside, "victim")), tfile("a", "overwritten")}
			},
			wantErr: `snapshot: entry "a" would replace a symlink with a file`,
		},
		{
			name: "file over a relative symlink",
			entries: func(string) []tarEntry {
				return []tarEntry{tlink("a", "../outside/victim"), tfile("a", "overwritten")}
			},
			wantErr: `would replace a symlink with a file`,
		},
		{
			name: "dir over a symlink",
			entries: func(outside string) []tarEntry {
				return []tarEntry{tlink("a", outside), tdir("a/")}
			},
			wantErr: `snapshot: entry "a/" would replace a symlink with a directory`,
		},
		{
			name:    "symlink over a dir",
			entries: func(string) []tarEntry { return []tarEntry{tdir("a/"), tlink("a", "b")} },
			wantErr: `snapshot: entry "a" would replace a directory with a symlink`,
		},
		{
			name:    "file over a dir",
			entries: func(string) []tarEntry { return []tarEntry{tfile("a/f", "x"), tfile("a", "y")} },
			wantErr: `snapshot: entry "a" would replace a directory with a file`,
		},
		{
			name:    "symlink over a file",
			entries: func(string) []tarEntry { return []tarEntry{tfile("a", "x"), tlink("a", "b")} },
			wantErr: `would replace a file with a symlink`,
		},
		{
			name:    "dir over a file",
			entries: func(string) []tarEntry { return []tarEntry{tfile("a", "x"), tdir("a")} },
			wantErr: `would replace a file with a directory`,
		},
		{
			name:    "entry under a file",
			entries: func(string) []tarEntry { return []tarEntry{tfile("a", "x"), tfile("a/b", "y")} },
			wantErr: `snapshot: entry "a/b" goes through "a", which is not a directory`,
		},
		{
			name:    "file as the destination",
			entries: func(string) []tarEntry { return []tarEntry{tfile(".", "x")} },
			wantErr: `would replace the destination with a file`,
		},
		{
			name:    "symlink with no target",
			entries: func(string) []tarEntry { return []tarEntry{tlink("a", "")} },
			wantErr: `snapshot: entry "a" is a symlink with an empty target`,
		},
		{
			name:    "unsupported type",
			entries: func(string) []tarEntry { return []tarEntry{ttype("vol", 'V')} },
			wantErr: `snapshot: entry "vol" has unsupported type 'V'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dest := filepath.Join(base, "dest")
			outside := filepath.Join(base, "outside")
			for _, d := range []string{dest, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("intact"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := readTree(t, base)
			delete(before, "dest")

			err := Extract(bytes.NewReader(tarball(t, tt.entries(outside)...)), dest)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Extract error = %v, want one containing %q", err, tt.wantErr)
			}

			after := readTree(t, base)
			for p := range after {
				if p == "dest" || strings.HasPrefix(p, "dest/") {
					delete(after, p)
				}
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("outside the destination (-want +got):\n%s", diff)
			}
			if _, err := os.Lstat(filepath.Join(os.TempDir(), "hostdev-snapshot-test-should-not-exist")); err == nil {
				t.Errorf("a file was written into %s", os.TempDir())
			}
		})
	}
}

func TestExtractBadStreams(t *testing.T) {
	good := tarball(t, tfile("a", strings.Repeat("x", 1000)), tfile("b", "y"))
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{name: "not gzip", data: []byte("plain text, not an archive"), wantErr: "snapshot: not a gzip stream"},
		{name: "empty", data: nil, wantErr: "snapshot: not a gzip stream"},
		{name: "truncated", data: good[:len(good)/2], wantErr: "snapshot: "},
		{name: "gzip of garbage", data: gzipped(t, []byte(strings.Repeat("garbage!", 200))), wantErr: "snapshot: reading archive: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Extract(bytes.NewReader(tt.data), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Extract error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("destination missing", func(t *testing.T) {
		err := Extract(bytes.NewReader(good), filepath.Join(t.TempDir(), "nope"))
		if err == nil {
			t.Fatal("Extract into a missing directory succeeded")
		}
	})
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractLimits(t *testing.T) {
	small := extractor{maxEntries: 4, maxTotal: 10, maxFile: 6}
	tests := []struct {
		name    string
		entries []tarEntry
		wantErr string // "" for success
	}{
		{
			name:    "at every limit",
			entries: []tarEntry{tfile("a", "123456"), tfile("b", "1234"), tdir("d"), tlink("l", "a")},
		},
		{
			name:    "one entry too many",
			entries: []tarEntry{tdir("a"), tdir("b"), tdir("c"), tdir("d"), tdir("e")},
			wantErr: `snapshot: entry "e" is past the limit of 4 entries in an archive`,
		},
		{
			name:    "skipped entries count",
			entries: []tarEntry{ttype("a", tar.TypeLink), ttype("b", tar.TypeLink), ttype("c", tar.TypeLink), ttype("d", tar.TypeLink), ttype("e", tar.TypeLink)},
			wantErr: `snapshot: entry "e" is past the limit of 4 entries`,
		},
		{
			name:    "one file too big",
			entries: []tarEntry{tfile("big", "1234567")},
			wantErr: `snapshot: entry "big" has 7 bytes, over the limit of 6 for one file`,
		},
		{
			name:    "too much in all",
			entries: []tarEntry{tfile("a", "123456"), tfile("b", "12345")},
			wantErr: `snapshot: entry "b" takes the archive over the limit of 10 bytes in all`,
		},
		{
			name:    "replaced files still count",
			entries: []tarEntry{tfile("a", "123456"), tfile("a", "12345")},
			wantErr: `snapshot: entry "a" takes the archive over the limit of 10 bytes in all`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := small.extract(t.Context(), bytes.NewReader(tarball(t, tt.entries...)), t.TempDir())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("extract: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("extract error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestExtractDefaultLimits(t *testing.T) {
	want := extractor{maxEntries: 200_000, maxTotal: 1 << 30, maxFile: 64 << 20}
	if diff := cmp.Diff(want, newExtractor(), cmp.AllowUnexported(extractor{})); diff != "" {
		t.Errorf("newExtractor() (-want +got):\n%s", diff)
	}

	// Extract itself must use them: a header claiming 64 MiB and a byte is
	// refused before any data is read, so the data need not be there.
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 64<<20 + 1}); err != nil {
		t.Fatal(err)
	}
	err := Extract(bytes.NewReader(gzipped(t, hdr.Bytes())), t.TempDir())
	want64 := `snapshot: entry "big" has 67108865 bytes, over the limit of 67108864 for one file`
	if err == nil || err.Error() != want64 {
		t.Errorf("Extract error = %v, want %q", err, want64)
	}
}

func TestUnpack(t *testing.T) {
	// Unpack makes its directory under TMPDIR; pointing that at an empty
	// directory lets the test see what it leaves behind.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	archive := filepath.Join(t.TempDir(), "capture.tar.gz")
	if err := os.WriteFile(archive, tarball(t, tfile("sys/a/f", "x"), tlink("sys/l", "a")), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.tar.gz")
	if err := os.WriteFile(broken, tarball(t, tfile("sys/f", "x"), tfile("../escape", "y")), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("ok", func(t *testing.T) {
		dir, cleanup, err := Unpack(archive)
		if err != nil {
			t.Fatalf("Unpack: %v", err)
		}
		want := map[string]node{"sys": dirNode(), "sys/a": dirNode(), "sys/a/f": fileNode("x"), "sys/l": linkNode("a")}
		if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
			t.Errorf("tree (-want +got):\n%s", diff)
		}
		if filepath.Dir(dir) != tmp {
			t.Errorf("Unpack made %s, not under TMPDIR %s", dir, tmp)
		}
		cleanup()
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Errorf("after cleanup, Lstat(%s) = %v, want not-exist", dir, err)
		}
	})

	t.Run("read-only tree", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// root removes read-only trees anyway, so this cannot fail.
			t.Log("running as root: this case does not test removeTree's chmod")
		}
		dir, cleanup, err := Unpack(archive)
		if err != nil {
			t.Fatalf("Unpack: %v", err)
		}
		// Deepest first, so that each chmod can still reach its path.
		for _, c := range []struct {
			path string
			mode os.FileMode
		}{{"sys/a/f", 0o400}, {"sys/a", 0o500}, {"sys", 0o000}} {
			if err := os.Chmod(filepath.Join(dir, c.path), c.mode); err != nil {
				t.Fatal(err)
			}
		}
		cleanup()
		if _, err := os.Lstat(dir); !os.IsNotExist(err) {
			t.Errorf("after cleanup, Lstat(%s) = %v, want not-exist", dir, err)
		}
	})

	t.Run("bad archive leaves nothing behind", func(t *testing.T) {
		dir, cleanup, err := Unpack(broken)
		if err == nil || !strings.Contains(err.Error(), `entry "../escape" escapes the destination`) {
			t.Errorf("Unpack error = %v, want an escape error", err)
		}
		if dir != "" {
			t.Errorf("Unpack dir = %q, want empty on error", dir)
		}
		cleanup() // must be callable
		left, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 0 {
			t.Errorf("Unpack left %v in TMPDIR", left)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		_, cleanup, err := Unpack(filepath.Join(t.TempDir(), "nope.tar.gz"))
		if err == nil {
			t.Error("Unpack of a missing file succeeded")
		}
		cleanup()
	})
}
