package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/snapshot"
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
knowingly.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("snapshot needs -o FILE.tar.gz")}
			}
			dir, cleanup, err := openRoot(c, e, root)
			if err != nil {
				return err
			}
			defer cleanup()
			arc := snapshot.NewArchive()
			res, err := discover.Scan(c.Context(), discover.Options{
				Root: dir, Numeric: true, Logger: e.logger, Recorder: arc,
			})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(e.stderr, "warning: %s\n", text(w.Error()))
			}
			if err := writeAtomic(out, 0, arc); err != nil {
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

// writeAtomic writes src to a temporary file beside path, syncs it and
// renames it, so a failure or a crash never leaves half a file behind.
// With mode 0 the file keeps CreateTemp's mode 0600 (a snapshot holds
// serial numbers); otherwise it gets mode. Errors name path, the file the
// user asked for; the temporary name would mean nothing to them.
func writeAtomic(path string, mode fs.FileMode, src io.WriterTo) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hostdev-snapshot-*")
	if err != nil {
		return outputError("create", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if mode != 0 {
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return outputError("rename", path, err)
	}
	return nil
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
