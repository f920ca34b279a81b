package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// node is one path of an unpacked tree, in a form go-cmp can diff.
type node struct {
	Kind   string // "dir", "file", "symlink"
	Data   string
	Target string
	Mode   fs.FileMode // permission bits; 0 for symlinks, whose mode means nothing
}

func dirNode() node               { return node{Kind: "dir", Mode: 0o755} }
func fileNode(data string) node   { return node{Kind: "file", Data: data, Mode: 0o644} }
func linkNode(target string) node { return node{Kind: "symlink", Target: target} }

// readTree lists everything under dir, without following symlinks, keyed
// by slash-separated path relative to dir.
func readTree(t *testing.T, dir string) map[string]node {
	t.Helper()
	tree := map[string]node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch d.Type() {
		case fs.ModeDir:
			tree[rel] = node{Kind: "dir", Mode: info.Mode().Perm()}
		case fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tree[rel] = linkNode(target)
		case 0:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree[rel] = node{Kind: "file", Data: string(data), Mode: info.Mode().Perm()}
		default:
			tree[rel] = node{Kind: d.Type().String()}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading tree %s: %v", dir, err)
	}
	return tree
}

// listArchive reads a .tar.gz with archive/tar alone and says what tree
// extracting it should give: entries by cleaned name (a later entry
// replacing an earlier one), parents as directories, and no hard links,
// devices or FIFOs. skipped counts those.
func listArchive(t *testing.T, r io.Reader) (tree map[string]node, skipped int) {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	tree = map[string]node{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := path.Clean(h.Name)
		var n node
		switch h.Typeflag {
		case tar.TypeDir:
			n = dirNode()
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			n = fileNode(string(data))
		case tar.TypeSymlink:
			n = linkNode(h.Linkname)
		case tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			skipped++
			continue
		default:
			t.Fatalf("entry %q: unexpected type %q", h.Name, h.Typeflag)
		}
		if name == "." {
			continue
		}
		tree[name] = n
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := tree[d]; !ok {
				tree[d] = dirNode()
			}
		}
	}
	return tree, skipped
}

// tarEntry is one entry of an archive built by a test.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func tfile(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func tdir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func tlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func ttype(name string, typ byte) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: typ, Linkname: "other", Mode: 0o644}}
}

// tarball builds a .tar.gz holding entries, in order, as given.
func tarball(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing header %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("writing %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
