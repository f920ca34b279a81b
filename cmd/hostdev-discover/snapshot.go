package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	hd "github.com/hostdev/hostdev"
)

func snapshotCommand(e *env) *cobra.Command {
	var (
		root string
		out  string
	)
	c := &cobra.Command{
		Use:   "snapshot -o FILE.tar.gz",
		Short: "Capture the part of sysfs hostdev reads, for a bug report",
		Long: `Capture exactly the files, directories and symlinks of sysfs that a scan
reads into a .tar.gz. 'list --root FILE.tar.gz' reads it back and shows
the same devices. Device strings such as serial numbers are included, so
the archive is created readable by its owner only (mode 0600); share it
knowingly. FILE must be a regular file, a symlink to one, or absent: a
device node, a FIFO or a socket is refused.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("snapshot needs -o FILE.tar.gz")}
			}
			// Refuse a device, a FIFO or a folder before paying for a scan.
			if _, _, err := outputTarget(out); err != nil {
				return err
			}
			dir, cleanup, err := openRoot(c, e, root)
			if err != nil {
				return err
			}
			defer cleanup()
			h, err := hd.Open(dir, hd.WithLogger(e.logger))
			if err != nil {
				return err
			}
			// The archive is whole in memory either way (snapshot.Archive
			// collects it); buffering its gzip lets writeAtomic write it
			// after the scan, as it must.
			var arc bytes.Buffer
			res, err := h.Snapshot(c.Context(), &arc)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(e.stderr, "warning: %s\n", text(w.Error()))
			}
			if err := writeAtomic(out, snapshotTemp, nil, 0, &arc); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "captured %d devices into %s\n", len(res.Devices), out)
			return nil
		},
	}
	c.Flags().StringVar(&root, "root", "/", "capture from `DIR` instead of /")
	c.Flags().StringVarP(&out, "output", "o", "", "write the archive to `FILE`")
	return c
}

// The temporary files writeAtomic creates are named after what they will
// become, so that one found after a crash says where it came from.
const (
	snapshotTemp = ".hostdev-snapshot-*"
	fillTemp     = ".hostdev-fill-*"
)

// writeAtomic writes src to a temporary file beside path, syncs it,
// renames it over path and syncs the folder, so a failure or a crash never
// leaves half a file behind and a rename once done survives a power cut.
// pattern names the temporary file after what it will become. With keep
// nil the file gets mode, or keeps CreateTemp's 0600 (a snapshot holds
// serial numbers) when mode is 0, and its creator as owner; otherwise it
// gets keep's mode, owner, group and extended attributes, and if any of
// them cannot be set nothing is replaced. Errors name path, the file the user asked for; the
// temporary name would mean nothing to them.
//
// path must be a regular file, a symlink to one (the file it points to is
// replaced, as a shell's > would write to it) or absent: renaming over a
// device node, a FIFO or a socket would replace it, and as root
// -o /dev/null would replace /dev/null.
func writeAtomic(path, pattern string, keep *fileAttrs, mode fs.FileMode, src io.WriterTo) (err error) {
	path, _, err = outputTarget(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return outputError("create", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	switch {
	case keep != nil:
		if err := keep.apply(tmp, path); err != nil {
			return err
		}
	case mode != 0:
		if err := tmp.Chmod(mode); err != nil {
			return outputError("chmod", path, err)
		}
	}
	if _, err := src.WriteTo(tmp); err != nil {
		return outputError("write", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return outputError("sync", path, err)
	}
	if err := tmp.Close(); err != nil {
		return outputError("close", path, err)
	}
	// Checked again just before the rename, for a path that became
	// something else while we wrote.
	if _, _, err := outputTarget(path); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return outputError("rename", path, err)
	}
	// The rename is in the folder; without this a crash may undo it.
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil // path is written; only its durability is unknown
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("%s is written, but syncing its folder failed: %w", path, err)
	}
	return nil
}

// outputTarget is the file writeAtomic replaces for path: path itself, or
// the file a symlink at path points to. st is that file's, or nil when
// there is none yet. Anything but a regular file is refused with a
// *notRegularError.
func outputTarget(path string) (target string, st fs.FileInfo, err error) {
	lst, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if lst.Mode()&fs.ModeSymlink == 0 {
		if !lst.Mode().IsRegular() {
			return "", nil, &notRegularError{Path: path, Mode: lst.Mode()}
		}
		return path, lst, nil
	}
	target, err = filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, &notRegularError{Path: path, Mode: lst.Mode(), Dangling: true}
	}
	if err != nil {
		return "", nil, err
	}
	st, err = os.Stat(target)
	if err != nil {
		return "", nil, err
	}
	if !st.Mode().IsRegular() {
		return "", nil, &notRegularError{Path: path, Mode: st.Mode(), Target: target}
	}
	return target, st, nil
}

// notRegularError is a file we will not read or replace as a config or an
// output, because it is not a regular file: a device node, a FIFO, a
// socket, a folder, or a symlink to one of them or to nothing.
type notRegularError struct {
	Path   string
	Mode   fs.FileMode // of Path, or of Target when Path is a symlink
	Target string      // what the symlink at Path points to
	// Dangling says Path is a symlink to nothing, whose target would be
	// created in a place the user did not name.
	Dangling bool
}

func (e *notRegularError) Error() string {
	if e.Dangling {
		return fmt.Sprintf("%s: a symlink to nothing, not a regular file", e.Path)
	}
	if e.Target != "" {
		return fmt.Sprintf("%s: a symlink to %s, %s, not a regular file", e.Path, e.Target, fileKind(e.Mode))
	}
	return fmt.Sprintf("%s: %s, not a regular file", e.Path, fileKind(e.Mode))
}

// fileKind names the type of file mode describes, with an article.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSymlink != 0:
		return "a symlink"
	case mode.IsDir():
		return "a folder"
	case mode&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode.IsRegular():
		return "a regular file"
	}
	return "an irregular file"
}

// outputError is a *fs.PathError for path. The cause of an error from the
// temporary file is kept, and its name, which is in the error text, dropped.
func outputError(op, path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
