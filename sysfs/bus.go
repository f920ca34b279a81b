package sysfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// ListBus lists a bus's device directory ("/sys/bus/usb/devices"), sorted.
// A missing directory is a bus without devices: nil, and no warning.
// One that cannot be listed is a warning, so that a broken bus does not
// hide the devices of the others.
func (f *FS) ListBus(bus string) ([]string, []Warning) {
	rel := clean(bus)
	dir, err := f.openDir("", rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, []Warning{{Path: show(rel), Err: err}}
	}
	defer dir.Close()
	names, err := dir.List()
	if err != nil {
		return nil, []Warning{{Path: show(rel), Err: err}}
	}
	slices.Sort(names)
	if names == nil {
		names = []string{} // listed, and empty
	}
	return names, nil
}

// ReadEntries reads the named entries of a bus directory with read, in
// the order given, and returns what read returned for each, with the
// warnings read kept in each entry's Dir. An entry that is not there, or
// whose device vanished (read returns false), is left out, its warnings
// with it; one that cannot be followed is a warning. Names that cannot be
// a directory entry ("", "..", "a/b") are skipped.
//
// ctx is checked before every entry: once it is done, ReadEntries
// returns ctx.Err() and nothing else, after at most the entry being read.
func ReadEntries[T any](ctx context.Context, f *FS, bus string, names []string, read func(*Dir) (T, bool)) ([]T, []Warning, error) {
	rel := clean(bus)
	if len(names) == 0 {
		return nil, nil, ctx.Err()
	}
	dir, err := f.openDir("", rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, ctx.Err()
		}
		return nil, []Warning{{Path: show(rel), Err: err}}, ctx.Err()
	}
	defer dir.Close()
	devs := make([]T, 0, len(names))
	var warns []Warning
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if !validEntry(name) {
			continue
		}
		d, w := f.openEntry(dir, name)
		if w != nil {
			warns = append(warns, *w)
			continue
		}
		if d == nil {
			continue // unplugged since the listing
		}
		dev, ok := read(d)
		d.Close()
		if ok {
			devs = append(devs, dev)
			warns = append(warns, d.warn...)
		}
	}
	return devs, warns, nil
}

// validEntry says whether name can be a single directory entry.
func validEntry(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// openEntry opens the directory a bus entry points at. It returns
// (nil, nil) when the device has vanished since the listing, and a warning
// when the entry cannot be followed.
func (f *FS) openEntry(bus *Dir, name string) (*Dir, *Warning) {
	entry := bus.rel + "/" + name
	rel, err := bus.resolve(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // the entry itself is gone: unplugged
		}
		return nil, &Warning{Device: name, Path: show(entry), Err: unwrapPath(err)}
	}
	d, err := f.openDir(name, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := f.r.Lstat(entry); errors.Is(lerr, fs.ErrNotExist) {
				return nil, nil // link and device went together
			}
			return nil, &Warning{Device: name, Path: show(entry),
				Err: fmt.Errorf("%w to %s", ErrDangling, show(rel))}
		}
		return nil, &Warning{Device: name, Path: show(entry), Err: unwrapPath(err)}
	}
	return d, nil
}
