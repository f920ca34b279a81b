// Command hostdev-discover lists the devices of a Linux host that can be
// given to a virtual machine.
//
//	hostdev-discover list              # every USB device and PCI function
//	hostdev-discover list --json       # the same, for other tools
//	hostdev-discover list --root snap.tar.gz
//	hostdev-discover groups            # the IOMMU groups, viable or shared
//	hostdev-discover check 01:00.0     # can it be given to a VM? how to fix it
//	hostdev-discover snapshot -o snap.tar.gz
//	hostdev-discover nfd yubikey=host:1050:0407   # labels for Node Feature Discovery
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command could not do its job
	exitUsage = 2 // the command line was wrong
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{stdout: os.Stdout, stderr: os.Stderr, shield: catchSignals(cancel)}
	os.Exit(runEnv(ctx, os.Args[1:], e))
}

// catchSignals makes the first Ctrl-C or SIGTERM call cancel instead of
// killing the process, so that the command stops, removes an unpacked
// snapshot, and says "interrupted". A second signal kills the process as
// the default would, at once, except while a temporary tree is being
// removed: it waits for that removal to end, so that nothing is left
// behind. The removal is short (the unpack itself stops within an entry),
// and only it is shielded: a command stuck anywhere else still dies at the
// second signal, and nothing shields from SIGKILL. It returns the shield,
// for env.
func catchSignals(cancel context.CancelFunc) func(func()) {
	var removing sync.RWMutex // read-locked by each removal running
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		sig := <-sigs
		removing.Lock()
		defer removing.Unlock() // if sig turns out ignored, as it may be in the background
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Signal(sig)
		}
	}()
	return func(f func()) {
		removing.RLock()
		defer removing.RUnlock()
		f()
	}
}

// usageError marks an error in how the command was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// env is what every subcommand writes to.
type env struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
	ready          func() // tests: called when a watcher's first scan is done
	// shield runs its argument, the removal of a temporary tree, so that
	// a second signal waits for it to end (see catchSignals); nil, in
	// tests, runs it as it is.
	shield func(func())
}

// uninterrupted runs f under e's shield.
func (e *env) uninterrupted(f func()) {
	if e.shield == nil {
		f()
		return
	}
	e.shield(f)
}

// stopWriter is w that fails with ctx's error once ctx is done, so that a
// command interrupted while it prints stops printing.
type stopWriter struct {
	ctx context.Context
	w   io.Writer
}

func (s stopWriter) Write(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.w.Write(p)
}

// run is the whole program, so tests can call it without a process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdout: stdout, stderr: stderr})
}

// runEnv is run with the env a test may have added to.
func runEnv(ctx context.Context, args []string, e *env) int {
	stdout, stderr := e.stdout, e.stderr
	e.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	root := &cobra.Command{
		Use:           "hostdev-discover",
		Short:         "List the USB and PCI devices a VM can be given",
		SilenceUsage:  true,
		SilenceErrors: true,
		// cobra sets this only on its own path for unknown commands.
		SuggestionsMinimumDistance: 2,
		// With Args set, cobra hands an unknown command to this check
		// instead of failing with an untyped error of its own.
		Args: usageArgs(noCommand),
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("missing command; run 'hostdev-discover --help'")}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(qemuArgs(args))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.SetHelpCommand(helpCommand())
	root.AddCommand(listCommand(e), resolveCommand(e), fillCommand(e), snapshotCommand(e),
		watchCommand(e), waitCommand(e), followCommand(e), groupsCommand(e), checkCommand(e), nfdCommand(e), reportCommand(e))

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// Ctrl-C or SIGTERM: the command stopped as asked, which is all
		// there is to say. The status is that of any other failure.
		fmt.Fprintln(stderr, "hostdev-discover: interrupted")
		return exitError
	}
	fmt.Fprintf(stderr, "hostdev-discover: %s\n", errorText(err))
	// A hypervisor.Error quotes its reference itself; the selector inside
	// it may be one hostdev built, which the user never wrote.
	if pe := (*match.ParseError)(nil); errors.As(err, &pe) && !errors.As(err, new(*hypervisor.Error)) && pe.Caret() != "" {
		fmt.Fprintf(stderr, "  %s\n", strings.ReplaceAll(pe.Caret(), "\n", "\n  "))
	}
	var (
		ue  usageError
		he  *hypervisor.Error
		pe  *match.ParseError
		no  *match.NoMatchError
		amb *match.AmbiguousError
	)
	switch {
	case errors.As(err, &ue), errors.As(err, &he), errors.As(err, &pe):
		return exitUsage
	case errors.As(err, &no), errors.As(err, new(*waitTimeout)):
		return exitNoMatch
	case errors.As(err, &amb):
		return exitAmbiguous
	case errors.As(err, new(*notAssignable)):
		return exitNotAssignable
	case errors.As(err, new(*backendsDiffer)):
		return exitBackendsDiffer
	}
	return exitError
}

// noCommand is the root's argument check: any argument is a command that
// does not exist. It keeps the suggestion cobra gives without an Args.
func noCommand(c *cobra.Command, args []string) error {
	err := cobra.NoArgs(c, args)
	if err == nil {
		return nil
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		return fmt.Errorf("%w; did you mean %s?", err, strings.Join(s, " or "))
	}
	return err
}

// helpCommand replaces cobra's, which prints the root's help and succeeds
// for a topic that does not exist.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var names []cobra.Completion
			if cmd, rest, err := c.Root().Find(args); err == nil && len(rest) == 0 {
				for _, sub := range cmd.Commands() {
					if sub.IsAvailableCommand() {
						names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
					}
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("unknown help topic %q; run 'hostdev-discover --help'", strings.Join(args, " "))}
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
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

// qemuArgs lets a QEMU option be pasted as one argument of resolve or
// list: "-device usb-host,..." would otherwise be read as our flags -d,
// -e, ... An argument that starts with -device or -usbdevice and goes on
// with a space or '=' gets a leading space, which makes it an argument
// and not a flag, in its place; the selector readers ignore the space.
func qemuArgs(args []string) []string {
	if len(args) == 0 || (args[0] != "resolve" && args[0] != "list" && args[0] != "check") {
		return args
	}
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		t := strings.TrimLeft(a, "-")
		if n := len(a) - len(t); n >= 1 && n <= 2 && (strings.HasPrefix(t, "device ") || strings.HasPrefix(t, "device=") ||
			strings.HasPrefix(t, "usbdevice ") || strings.HasPrefix(t, "usbdevice=")) {
			out[i] = " " + a
		}
	}
	return out
}

// errorText is err's message with each line quoted by the rule of
// internal/quote. hostdev's own messages already quote what they echo and
// pass unchanged; this is for those that are not ours (cobra echoes an
// unknown flag raw), so that no escape reaches the terminal.
func errorText(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = quote.Safe(l)
	}
	return strings.Join(lines, "\n")
}
