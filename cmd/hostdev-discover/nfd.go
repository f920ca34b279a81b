package main

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/readiness"
)

// nfdTemp names the temporary file beside -o's; Node Feature Discovery
// skips files whose names start with a dot, so it never reads one half
// written.
const nfdTemp = ".hostdev-nfd-*"

// nfdName is the NAME of NAME=SELECTOR: it becomes part of a label's
// name, which Kubernetes limits to 63 characters of this form (the
// longest label hostdev makes from it is hostdev-NAME.count).
var nfdName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)

// nfdSelector is one NAME=SELECTOR: the devices matching any reference
// the selector holds.
type nfdSelector struct {
	name string
	refs []hypervisor.Ref
}

func parseNFDArgs(args []string) ([]nfdSelector, error) {
	var sels []nfdSelector
	seen := map[string]bool{}
	for _, a := range args {
		name, sel, ok := strings.Cut(a, "=")
		if !ok || !nfdName.MatchString(name) {
			return nil, usageError{fmt.Errorf("%s: want NAME=SELECTOR, NAME being 1 to 40 lowercase letters, digits and '-', as in yubikey=host:1050:0407", text(a))}
		}
		if seen[name] {
			return nil, usageError{fmt.Errorf("%s is given twice", name)}
		}
		seen[name] = true
		refs, err := hypervisor.ParseSelector(sel)
		if err != nil {
			if _, whole := hypervisor.ParseSelector(a); whole == nil {
				// serial=K1 alone: a selector, given no NAME.
				return nil, usageError{fmt.Errorf("%s is a selector without a NAME; give NAME=SELECTOR, as in mykey=%s", text(a), text(a))}
			}
			return nil, usageError{fmt.Errorf("%s: %w", name, err)}
		}
		sels = append(sels, nfdSelector{name, refs})
	}
	return sels, nil
}

// nfdLabels gives the labels for a host, sorted by name, as NAME=VALUE
// lines. Each name is a label name without a prefix, so Node Feature
// Discovery puts it under feature.node.kubernetes.io/:
//
//	hostdev-iommu=true                 the IOMMU is on (there are groups)
//	hostdev-viable-groups=3            groups whose endpoints can all be assigned
//	hostdev-pci-10de-2684.viable=1     endpoints of that vendor and device in viable groups
//	hostdev-NAME=true                  a device matches NAME's selector
//	hostdev-NAME.count=2               how many do
//
// Nothing a device supplies reaches a label but its numeric IDs, so every
// name and value has the form Kubernetes wants whatever the device says.
func nfdLabels(rep *readiness.Report, sels []nfdSelector) []string {
	labels := []string{fmt.Sprintf("hostdev-iommu=%t", rep.IOMMU)}
	viable := 0
	ids := map[string]int{}
	for _, g := range rep.Groups {
		if !g.Viable() {
			continue
		}
		viable++
		for _, d := range g.Members {
			if d.PCI != nil && readiness.Endpoint(d.PCI) {
				ids[fmt.Sprintf("hostdev-pci-%s-%s.viable", d.VendorID, d.ProductID)]++
			}
		}
	}
	labels = append(labels, fmt.Sprintf("hostdev-viable-groups=%d", viable))
	for k, n := range ids {
		labels = append(labels, fmt.Sprintf("%s=%d", k, n))
	}
	for _, s := range sels {
		n := 0
		for _, v := range rep.Devices {
			if slices.ContainsFunc(s.refs, func(r hypervisor.Ref) bool { return r.Selector.Match(v.Device) }) {
				n++
			}
		}
		if n > 0 {
			labels = append(labels, "hostdev-"+s.name+"=true", fmt.Sprintf("hostdev-%s.count=%d", s.name, n))
		}
	}
	slices.Sort(labels)
	return labels
}

// nfdFile is a feature file for Node Feature Discovery's local source,
// which reads /etc/kubernetes/node-feature-discovery/features.d/. With an
// expiry, NFD drops the labels once it has passed, so that a host whose
// writer stopped does not keep advertising what it may no longer have.
func nfdFile(labels []string, now time.Time, expiry time.Duration) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by hostdev-discover nfd; it is rewritten, do not edit.\n")
	if expiry > 0 {
		fmt.Fprintf(&b, "# +expiry-time=%s\n", now.Add(expiry).UTC().Format(time.RFC3339))
	}
	for _, l := range labels {
		b.WriteString(l + "\n")
	}
	return b.Bytes()
}

func nfdCommand(e *env) *cobra.Command {
	var (
		flags  watchFlags
		out    string
		expiry time.Duration
		follow bool
	)
	c := &cobra.Command{
		Use:   "nfd [NAME=SELECTOR...]",
		Short: "Write node labels for Kubernetes' Node Feature Discovery",
		Long: `Write a feature file for Node Feature Discovery's local source: node labels
that say what this host can give to a VM or a pod, for a cluster that needs
scheduling hints and not a DRA driver. Each label is put under
feature.node.kubernetes.io/ by NFD:

  hostdev-iommu=true               the IOMMU is on
  hostdev-viable-groups=3          IOMMU groups whose endpoints can all be assigned
  hostdev-pci-10de-2684.viable=1   endpoints of that vendor and device in such groups
  hostdev-NAME=true                a device matches NAME's SELECTOR
  hostdev-NAME.count=2             how many devices match it

NAME is 1 to 40 lowercase letters, digits and '-'; SELECTOR is any selector
resolve takes. A NAME whose selector matches nothing gets no label.

Without -o the file goes to stdout. With -o FILE (in NFD's features.d) it is
replaced atomically, through a hidden temporary file that NFD skips. With
--watch, the file is rewritten whenever a device comes, goes or changes
so that the labels change, and again before its --expiry passes.`,
		Example: `  hostdev-discover nfd -o /etc/kubernetes/node-feature-discovery/features.d/hostdev \
      --watch --expiry 10m yubikey=host:1050:0407 gpu=class=0300`,
		RunE: func(c *cobra.Command, args []string) error {
			sels, err := parseNFDArgs(args)
			if err != nil {
				return err
			}
			if expiry < 0 {
				return usageError{errors.New("--expiry must not be negative")}
			}
			write := func(labels []string) error {
				doc := nfdFile(labels, time.Now(), expiry)
				if out == "" || out == "-" {
					_, err := e.stdout.Write(doc)
					return err
				}
				return writeAtomic(out, nfdTemp, nil, 0o644, bytes.NewReader(doc))
			}
			if !follow {
				_, rep, cleanup, err := flags.assess(c, e)
				defer cleanup()
				if err != nil {
					return err
				}
				return write(nfdLabels(rep, sels))
			}
			return watchNFD(c, e, &flags, sels, expiry, write)
		},
	}
	flags.register(c)
	c.Flags().StringVarP(&out, "output", "o", "", "write the feature file to `FILE`, atomically; - or none: stdout")
	c.Flags().DurationVar(&expiry, "expiry", 0, "labels expire after `DURATION` unless rewritten (NFD's +expiry-time); 0: never")
	c.Flags().BoolVar(&follow, "watch", false, "keep running, and rewrite the file when the labels change")
	return c
}

// watchNFD writes the labels, then again each time they change and,
// with an expiry, when half of it has passed, until interrupted.
func watchNFD(c *cobra.Command, e *env, flags *watchFlags, sels []nfdSelector, expiry time.Duration, write func([]string) error) error {
	w, stop, err := flags.start(c, e, false)
	defer stop()
	if errors.Is(err, errInterrupted) {
		return nil
	}
	if err != nil {
		return err
	}
	labels := func() ([]string, error) {
		rep, err := readiness.Assess(w.Devices(), readiness.Options{Root: flags.scannedRoot})
		if err != nil {
			return nil, err
		}
		return nfdLabels(rep, sels), nil
	}
	last, err := labels()
	if err != nil {
		return err
	}
	if err := write(last); err != nil {
		return err
	}
	var refresh <-chan time.Time
	if expiry > 0 {
		t := time.NewTicker(expiry / 2)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return c.Context().Err()
			}
			if ev.Op == discover.Ready {
				continue
			}
			now, err := labels()
			if err != nil {
				return err
			}
			if slices.Equal(now, last) {
				continue
			}
			last = now
		case <-refresh:
		case <-c.Context().Done():
			return nil
		}
		if err := write(last); err != nil {
			return err
		}
	}
}
