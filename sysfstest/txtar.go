package sysfstest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/tools/txtar"
)

// Markers of the archive convention; see the package documentation.
const (
	linkSep   = " -> "
	hexSuffix = " (hex)"
)

// writeTxtar writes the tree described by the txtar archive data under dir,
// creating dir if needed. Nothing is written outside dir, and no entry may
// lie beneath a symlink of the same archive.
func writeTxtar(dir string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()

	a := txtar.Parse(data)
	seen := make(map[string]bool, len(a.Files))
	links := make(map[string]bool)
	for _, f := range a.Files {
		e, err := parseEntry(f)
		if err != nil {
			return err
		}
		if seen[e.name] {
			return fmt.Errorf("%q: duplicate entry", f.Name)
		}
		seen[e.name] = true
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			if links[p] {
				return fmt.Errorf("%q: beneath the symlink %q", f.Name, p)
			}
		}
		if dir := path.Dir(e.name); dir != "." {
			if err := r.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("%q: %w", f.Name, err)
			}
		}
		switch e.kind {
		case kindDir:
			err = r.MkdirAll(e.name, 0o755)
		case kindLink:
			links[e.name] = true
			err = r.Symlink(e.target, e.name)
		case kindFile:
			err = r.WriteFile(e.name, e.data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", f.Name, err)
		}
	}
	return nil
}

type entryKind int

const (
	kindFile entryKind = iota
	kindDir
	kindLink
)

type entry struct {
	kind   entryKind
	name   string // slash-separated, relative, clean
	target string // kindLink
	data   []byte // kindFile
}

func parseEntry(f txtar.File) (entry, error) {
	name := f.Name
	var e entry
	switch {
	case strings.Contains(name, linkSep):
		name, e.target, _ = strings.Cut(name, linkSep)
		e.kind = kindLink
		if e.target == "" {
			return e, fmt.Errorf("%q: empty symlink target", f.Name)
		}
		if len(f.Data) != 0 {
			return e, fmt.Errorf("%q: a symlink entry must have no content", f.Name)
		}
	case strings.HasSuffix(name, "/"):
		name = strings.TrimSuffix(name, "/")
		e.kind = kindDir
		if len(f.Data) != 0 {
			return e, fmt.Errorf("%q: a directory entry must have no content", f.Name)
		}
	case strings.HasSuffix(name, hexSuffix):
		name = strings.TrimSuffix(name, hexSuffix)
		data, err := hex.DecodeString(strings.Join(strings.Fields(string(f.Data)), ""))
		if err != nil {
			return e, fmt.Errorf("%q: %w", f.Name, err)
		}
		e.data = data
	default:
		e.data = f.Data
	}
	if !fs.ValidPath(name) || name == "." {
		return e, fmt.Errorf("%q: not a clean relative path", f.Name)
	}
	e.name = name
	return e, nil
}

// dump walks the tree under root without following symlinks and returns it
// as a txtar archive in the package's convention, with entries sorted by
// path. Only empty directories get an entry of their own. It fails on
// special files and on names the convention cannot carry.
func dump(root string) ([]byte, error) {
	var files []txtar.File
	nonEmpty := map[string]bool{}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		nonEmpty[path.Dir(rel)] = true
		if err := checkName(rel); err != nil {
			return err
		}
		switch t := d.Type(); {
		case t.IsDir():
			dirs = append(dirs, rel)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if target == "" || strings.TrimSpace(target) != target || strings.ContainsAny(target, "\n\r") {
				return fmt.Errorf("%s: symlink target %q cannot be written to txtar", rel, target)
			}
			files = append(files, txtar.File{Name: rel + linkSep + target})
		case t.IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if needsHex(data) {
				files = append(files, txtar.File{Name: rel + hexSuffix, Data: hexLines(data)})
			} else {
				files = append(files, txtar.File{Name: rel, Data: data})
			}
		default:
			return fmt.Errorf("%s: %v is not a regular file, directory or symlink", rel, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !nonEmpty[d] {
			files = append(files, txtar.File{Name: d + "/"})
		}
	}
	slices.SortFunc(files, func(a, b txtar.File) int { return strings.Compare(a.Name, b.Name) })
	return txtar.Format(&txtar.Archive{Files: files}), nil
}

// checkName rejects names that the convention would read back differently.
func checkName(rel string) error {
	switch {
	case strings.ContainsAny(rel, "\n\r"),
		strings.TrimSpace(rel) != rel,
		strings.Contains(rel, linkSep),
		strings.HasSuffix(rel, hexSuffix):
		return fmt.Errorf("%q: name cannot be written to txtar", rel)
	}
	return nil
}

// needsHex reports whether data would not survive a txtar round trip as
// text: binary data, a missing final newline, or a line that could be
// taken for a file marker.
func needsHex(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	if data[len(data)-1] != '\n' || !utf8.Valid(data) {
		return true
	}
	if bytes.HasPrefix(data, []byte("-- ")) || bytes.Contains(data, []byte("\n-- ")) {
		return true
	}
	for _, c := range data {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// hexLines prints data as 16 space-separated bytes a line.
func hexLines(data []byte) []byte {
	var b bytes.Buffer
	for i := 0; i < len(data); i += 16 {
		line := data[i:min(i+16, len(data))]
		for j, c := range line {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%02x", c)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
