// Command hostdev-discover lists the devices of a Linux host that can be
// given to a virtual machine.
//
//	hostdev-discover list              # every USB device and PCI function
//	hostdev-discover list --json       # the same, for other tools
//	hostdev-discover list --root snap.tar.gz
//	hostdev-discover snapshot -o snap.tar.gz
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command could not do its job
	exitUsage = 2 // the command line was wrong
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks an error in how the command was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// env is what every subcommand writes to.
type env struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
}

// run is the whole program, so tests can call it without a process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{
		stdout: stdout,
		stderr: stderr,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	root := &cobra.Command{
		Use:           "hostdev-discover",
		Short:         "List the USB and PCI devices a VM can be given",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.AddCommand(listCommand(e), snapshotCommand(e))

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "hostdev-discover: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return exitUsage
	}
	return exitError
}

// isCobraUsage recognises the errors cobra returns for unknown commands and
// bad argument counts; it returns them as plain errors.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") ||
		strings.HasPrefix(s, "unknown flag") ||
		strings.Contains(s, "arg(s), received") ||
		strings.HasPrefix(s, "invalid argument")
}

// usageArgs wraps a cobra argument check so its error counts as usage.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
