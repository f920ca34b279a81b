package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
)

// Exit statuses of resolve, beyond exitOK, exitError and exitUsage.
const (
	exitNoMatch   = 3
	exitAmbiguous = 4
)

// parseSelectors parses every argument before anything is scanned, so a
// typo costs no scan; a bad selector is a usage error.
func parseSelectors(args []string) ([]match.Selector, error) {
	sels := make([]match.Selector, 0, len(args))
	for _, a := range args {
		s, err := match.Parse(a)
		if err != nil {
			return nil, usageError{err}
		}
		sels = append(sels, s)
	}
	return sels, nil
}

// resolved is one selector's answer in resolve's JSON.
type resolved struct {
	Selector string            `json:"selector"`
	Device   *discover.Device  `json:"device,omitempty"`
	Devices  []discover.Device `json:"devices,omitempty"`
	Moved    string            `json:"moved,omitempty"`
}

func resolveCommand(e *env) *cobra.Command {
	var (
		flags  scanFlags
		format string
		asJSON bool
		all    bool
	)
	c := &cobra.Command{
		Use:   "resolve SELECTOR...",
		Short: "Name the device a selector means now",
		Long: `Resolve each selector (host:0483:2016, host:3.1, 00:1f.3, serial=A7022OOP,
vendor=0403,port=1-2.1, ...) into the one device it means on this host now.

Exit status: 0 resolved, 2 bad selector or usage, 3 no device matches,
4 more than one device matches (the error says which term picks each),
1 any other error. With --json, the error also goes to stdout as
{"error": "ambiguous", "candidates": [...]} or {"error": "no-match", "nearest": [...]}.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if asJSON {
				format = "json"
			}
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format %q: want text or json (the QEMU, libvirt and Xen forms are not built yet)", format)}
			}
			sels, err := parseSelectors(args)
			if err != nil {
				return err
			}
			res, cleanup, err := flags.scan(c, e)
			defer cleanup()
			if err != nil {
				return err
			}
			var out []resolved
			for _, s := range sels {
				r := resolved{Selector: s.String()}
				if all {
					r.Devices, err = match.ResolveAll(s, res.Devices)
				} else {
					var d discover.Device
					var moved *match.Moved
					d, moved, err = match.ResolveMoved(s, res.Devices)
					if err == nil {
						r.Device = &d
						r.Devices = []discover.Device{d}
					}
					if moved != nil {
						r.Moved = moved.String()
						fmt.Fprintf(e.stderr, "note: %s\n", moved)
					}
				}
				if err != nil {
					if format == "json" {
						writeResolveError(e.stdout, err)
					}
					return err
				}
				out = append(out, r)
			}
			if format == "json" {
				for i := range out {
					if !all {
						out[i].Devices = nil
					}
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"results": out})
			}
			for _, r := range out {
				for _, d := range r.Devices {
					fmt.Fprintln(e.stdout, textLine(d))
				}
			}
			return nil
		},
	}
	flags.register(c)
	c.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text or json")
	c.Flags().BoolVar(&asJSON, "json", false, "the same as --format json")
	c.Flags().BoolVar(&all, "all", false, "print every matching device instead of insisting on one")
	return c
}

// writeResolveError puts a no-match or ambiguity on stdout as JSON, for
// tools; the text still goes to stderr.
func writeResolveError(w io.Writer, err error) {
	var (
		amb *match.AmbiguousError
		no  *match.NoMatchError
		out any
	)
	switch {
	case errors.As(err, &amb):
		type cand struct {
			Device discover.Device `json:"device"`
			Add    string          `json:"add"`
		}
		cs := []cand{}
		for _, c := range amb.Candidates {
			cs = append(cs, cand{c.Device, c.Pick.String()})
		}
		out = map[string]any{"error": "ambiguous", "message": err.Error(), "candidates": cs}
	case errors.As(err, &no):
		type near struct {
			Device discover.Device `json:"device"`
			Reason string          `json:"reason"`
		}
		ns := []near{}
		for _, n := range no.Nearest {
			ns = append(ns, near{n.Device, n.Reason})
		}
		out = map[string]any{"error": "no-match", "message": err.Error(), "nearest": ns}
	default:
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}
