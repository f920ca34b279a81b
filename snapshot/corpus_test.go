package snapshot

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
)

// corpusFiles returns the real sysfs captures kept next to the module, in
// ../shared/corpora (or $HOSTDEV_SHARED/corpora). They are read in place,
// never copied into the repo. Without any, testenv skips the test, or
// fails it under HOSTDEV_REQUIRE_ALL=1.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(testenv.Shared(t), "corpora")
	files, err := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		testenv.Skip(t, "no captures (*.tar.gz) in %s", dir)
	}
	return files
}

// TestCorpora extracts every real capture and checks the tree against what
// archive/tar alone says is in the archive: the same paths, kinds, file
// contents and symlink targets. It then records the tree into an Archive,
// saves it, Unpacks that, and expects the same tree again.
func TestCorpora(t *testing.T) {
	for _, file := range corpusFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".tar.gz"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want, wantSkipped := listArchive(t, bytes.NewReader(data))

			dir := t.TempDir()
			stats, err := ExtractStats(bytes.NewReader(data), dir)
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			got := readTree(t, dir)
			// maps.Equal first: cmp.Diff is slow on trees this size.
			if !maps.Equal(want, got) {
				t.Fatalf("extracted tree (-archive/tar +Extract):\n%s", cmp.Diff(want, got))
			}
			if stats.Skipped != wantSkipped {
				t.Errorf("Skipped = %d, want %d", stats.Skipped, wantSkipped)
			}

			var abs, slash []string
			a := NewArchive()
			for p, n := range got {
				switch n.Kind {
				case "dir":
					a.Dir(p)
				case "file":
					a.File(p, []byte(n.Data))
				case "symlink":
					a.Symlink(p, n.Target)
					if filepath.IsAbs(n.Target) {
						abs = append(abs, p)
					}
					if strings.HasSuffix(n.Target, "/") {
						slash = append(slash, p)
					}
				}
			}
			slices.Sort(abs)
			slices.Sort(slash)
			t.Logf("%d entries: %d files (%d bytes), %d dirs, %d symlinks, %d skipped; absolute targets %q; targets ending in / %q",
				len(got), stats.Files, stats.Bytes, stats.Dirs, stats.Symlinks, stats.Skipped, abs, slash)

			// Unpack the re-recorded capture from a file, as a scan of a
			// saved capture would.
			saved := filepath.Join(t.TempDir(), "again.tar.gz")
			f, err := os.Create(saved)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.WriteTo(f); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			again, cleanup, err := Unpack(saved)
			if err != nil {
				t.Fatalf("Unpack of the re-recorded capture: %v", err)
			}
			if got := readTree(t, again); !maps.Equal(want, got) {
				t.Errorf("re-recorded tree (-original +round trip):\n%s", cmp.Diff(want, got))
			}
			cleanup()
			if _, err := os.Lstat(again); !os.IsNotExist(err) {
				t.Errorf("after cleanup, Lstat(%s) = %v, want not-exist", again, err)
			}
		})
	}
}
