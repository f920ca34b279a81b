package main

import (
	"fmt"
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
the same devices. Device strings such as serial numbers are included.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("snapshot needs -o FILE.tar.gz")}
			}
			dir, cleanup, err := openRoot(root)
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
				fmt.Fprintf(e.stderr, "warning: %v\n", w)
			}
			if err := writeAtomic(out, arc); err != nil {
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

// writeAtomic writes the archive to a temporary file beside path and
// renames it, so a failed capture never leaves half an archive behind.
func writeAtomic(path string, arc *snapshot.Archive) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hostdev-snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := arc.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
