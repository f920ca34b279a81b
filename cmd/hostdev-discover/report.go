package main

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/report"
)

// reportTemp names the temporary file writeAtomic writes the page to.
const reportTemp = ".hostdev-report-*"

func reportCommand(e *env) *cobra.Command {
	var (
		flags scanFlags
		out   string
	)
	c := &cobra.Command{
		Use:   "report -o FILE.html [SELECTOR...]",
		Short: "Write the host's devices, groups and verdicts as one HTML page",
		Long: `Write one self-contained HTML page about the host: the USB tree (buses,
hubs, ports) and the PCI tree (bridges, functions, SR-IOV VFs under their
PF), the IOMMU groups coloured by verdict (viable, shared with whom,
nothing to assign), and for every device why it can or cannot be given to
a VM, the fixes, and references ready to paste in every format resolve
writes.

The page loads nothing from the network, so it can be attached to a bug
report and opened offline. Its filter box takes selectors (vendor=,
product=, serial=, port=, class=, driver=, name=, address=, iommu-group=,
host:VVVV:PPPP, 00:1f.*); clicking a device shows a selector that picks it
alone, to paste into resolve.

With selectors, the page holds only the devices that match at least one
of them, with their ancestors in the trees. --root FILE.tar.gz makes the
page from a snapshot. The file is created readable by its owner only
(mode 0600): it holds serial numbers, like a snapshot.`,
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usageError{fmt.Errorf("report needs -o FILE.html")}
			}
			refs, err := parseSelectors(nil, args, nil)
			if err != nil {
				return err
			}
			// Refuse a device, a FIFO or a folder before paying for a scan.
			if _, _, err := outputTarget(out); err != nil {
				return err
			}
			_, rep, cleanup, err := flags.assess(c, e)
			defer cleanup()
			if err != nil {
				return err
			}
			var only []match.Selector
			for _, r := range refs {
				only = append(only, r.Selector)
			}
			title := "this host"
			if flags.root != "/" {
				title = flags.root
			}
			var page bytes.Buffer
			if err := report.Write(&page, rep, report.Options{Title: title, Only: only}); err != nil {
				return err
			}
			if err := writeAtomic(out, reportTemp, nil, 0, &page); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "wrote %s\n", text(out))
			return nil
		},
	}
	flags.registerRoot(c)
	c.Flags().StringVarP(&out, "output", "o", "", "write the page to `FILE`")
	return c
}
