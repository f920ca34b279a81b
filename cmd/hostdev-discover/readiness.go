package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
)

// exitNotAssignable is check's status when a device cannot be assigned.
const exitNotAssignable = 5

// notAssignable is check's error when some device cannot be assigned.
type notAssignable struct{ n, of int }

func (e *notAssignable) Error() string {
	if e.of == 1 {
		return "the device is not assignable"
	}
	verb := "are"
	if e.n == 1 {
		verb = "is"
	}
	return fmt.Sprintf("%d of %d devices %s not assignable", e.n, e.of, verb)
}

// wrapWidth is where reports wrap their prose, to paste well anywhere.
const wrapWidth = 80

func groupsCommand(e *env) *cobra.Command {
	var (
		flags  scanFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "groups",
		Short: "List the IOMMU groups, their members and whether each can be assigned",
		Long: `List the IOMMU groups, each with its PCI functions, their drivers and
names, and a verdict: "viable" when any endpoint of the group can be given to
a VM without taking another from a host driver, or "shared with ADDRESS
(DRIVER), ..." naming the endpoints that host drivers hold, or "nothing to
assign" for a group of bridges alone. VFIO hands out a group whole; bridges
in it do not count.

When the IOMMU is off there are no groups, and groups says how to turn it on.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			_, rep, cleanup, err := flags.assess(c, e)
			defer cleanup()
			if err != nil {
				return err
			}
			if asJSON {
				return writeGroupsJSON(e.stdout, rep)
			}
			return writeGroups(e.stdout, rep)
		},
	}
	flags.registerRoot(c)
	c.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"iommu": true, "groups": [{"group": 1, "viable": true, "verdict": "viable", "members": [...]}]}`)
	return c
}

// verdict is a group's verdict as groups prints it.
func verdict(g readiness.Group) string {
	if g.Nothing {
		return "nothing to assign (bridges only)"
	}
	if g.Viable() {
		return "viable"
	}
	parts := make([]string, len(g.Shared))
	for i, d := range g.Shared {
		parts[i] = fmt.Sprintf("%s (%s)", text(d.Name), text(d.PCI.Driver))
	}
	return "shared with " + strings.Join(parts, ", ")
}

// memberLine is a PCI function in a group:
//
//	0000:01:00.1 10de:0fb9 Audio device: NVIDIA Corporation GP107GL High Definition Audio Controller driver=snd_hda_intel
func memberLine(d discover.Device) string {
	var b strings.Builder
	p := d.PCI
	fmt.Fprintf(&b, "%s %s:%s", text(d.Name), d.VendorID, d.ProductID)
	if p.ClassName != "" {
		name := p.ClassName
		if p.SubclassName != "" {
			name = p.SubclassName
		}
		b.WriteString(" " + text(name) + ":")
	} else {
		fmt.Fprintf(&b, " %s", p.Class)
	}
	for _, s := range nonEmpty(d.VendorName, d.ProductName) {
		b.WriteString(" " + text(s))
	}
	if p.Driver != "" {
		b.WriteString(" driver=" + value(p.Driver))
	} else {
		b.WriteString(" no driver")
	}
	if readiness.IsBridge(p) {
		b.WriteString(" (bridge: does not count)")
	}
	return b.String()
}

func writeGroups(w io.Writer, rep *readiness.Report) error {
	bw := bufio.NewWriter(w)
	if !rep.IOMMU {
		writeIOMMUOff(bw, rep)
		return bw.Flush()
	}
	viable := 0
	for _, g := range rep.Groups {
		fmt.Fprintf(bw, "IOMMU group %d: %s\n", g.Number, verdict(g))
		for _, m := range g.Members {
			fmt.Fprintf(bw, "    %s\n", memberLine(m))
		}
		if g.Viable() {
			viable++
		}
	}
	var outside []string
	for _, v := range rep.Devices {
		if v.Device.PCI != nil && v.Device.PCI.IOMMUGroup == nil {
			outside = append(outside, text(v.Device.Name))
		}
	}
	if len(outside) > 0 {
		fmt.Fprintf(bw, "In no group, so not assignable: %s\n", strings.Join(outside, ", "))
	}
	fmt.Fprintf(bw, "%d groups, %d viable.\n", len(rep.Groups), viable)
	return bw.Flush()
}

// writeIOMMUOff says that there are no groups, and what to do about it.
func writeIOMMUOff(w io.Writer, rep *readiness.Report) {
	var r readiness.Reason
	for _, v := range rep.Devices {
		for _, x := range v.Reasons {
			if x.Code == readiness.NoIOMMU {
				r = x
				break
			}
		}
		if r.Code != "" {
			break
		}
	}
	if r.Code == "" {
		fmt.Fprintln(w, "The IOMMU is off: there are no IOMMU groups.")
		return
	}
	writeWrapped(w, "", r.Message)
	for _, f := range r.Fix {
		fmt.Fprintf(w, "    %s\n", f)
	}
}

type groupJSON struct {
	Group   int                 `json:"group"`
	Viable  bool                `json:"viable"`
	Verdict string              `json:"verdict"`
	Members []readiness.Verdict `json:"members"`
}

func writeGroupsJSON(w io.Writer, rep *readiness.Report) error {
	out := struct {
		IOMMU  bool        `json:"iommu"`
		Groups []groupJSON `json:"groups"`
	}{rep.IOMMU, []groupJSON{}}
	for _, g := range rep.Groups {
		j := groupJSON{Group: g.Number, Viable: g.Viable(), Verdict: verdict(g)}
		for _, m := range g.Members {
			v, _ := rep.Verdict(m.Name)
			j.Members = append(j.Members, v)
		}
		out.Groups = append(out.Groups, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func checkCommand(e *env) *cobra.Command {
	var (
		flags  scanFlags
		asJSON bool
		files  []string
		pve    pveFlags
	)
	c := &cobra.Command{
		Use:   "check SELECTOR... | -f FILE",
		Short: "Say whether the devices selectors mean can be given to a VM, and how to fix what stops them",
		Long: `Resolve each selector as 'resolve' does, and print a readiness report for
the device it means: every reason it cannot be given to a VM, or should not
be without knowing, with the command or config change that fixes it.
-f FILE checks every device a libvirt domain, an xl config, a file of QEMU
options, an Incus config or a cloud-hypervisor or crosvm command line names;
an Incus usb entry that more than one device matches is warned about (Incus
attaches them all).

Reasons that block: no-iommu, bridge, host-bridge, isa-bridge, group-shared
(not counting the functions of the group that the same file names: one VM
takes them together), unmanaged (a libvirt <hostdev> without managed='yes' for a function on a
host driver), named-twice (one file, or the arguments in a hypervisor's
dialect, name the device more than once), hub, root-hub, unauthorized,
no-access. Notes: host-driver
(libvirt's managed='yes' and QEMU detach it), no-reset, boot-vga, sriov-pf,
sriov-vf.

Exit status: 0 every device is assignable, 5 one is not; as for resolve,
2 bad selector or usage, 3 no device matches, 4 more than one matches, 1
any other error.`,
		Args: usageArgs(func(c *cobra.Command, args []string) error {
			if len(args) == 0 && len(files) == 0 {
				return errors.New("check needs a SELECTOR or -f FILE")
			}
			return nil
		}),
		RunE: func(c *cobra.Command, args []string) error {
			refs, err := parseSelectors(e.stderr, args, files)
			if err != nil {
				return err
			}
			if refs, err = pve.apply(refs); err != nil {
				return err
			}
			res, rep, cleanup, err := flags.assess(c, e)
			defer cleanup()
			if err != nil {
				return err
			}
			devs := res.Devices
			type result struct {
				Selector string            `json:"selector"`
				Device   readiness.Verdict `json:"device"`
			}
			var (
				out []result
				// Where each result's device is named, by VM: a file, or
				// the arguments in a hypervisor's dialect (a pasted
				// command line or domain).
				names, vm, at []string
			)
			for _, ref := range refs {
				found, moved, err := ref.Resolve(devs)
				if no := (*match.NoMatchError)(nil); ref.Optional && errors.As(err, &no) {
					fmt.Fprintf(e.stderr, "note: %s\n", where(ref, fmt.Errorf("not plugged in; startupPolicy='optional' allows that: %w", err)))
					continue
				}
				if err != nil {
					return where(ref, err)
				}
				if moved != nil {
					fmt.Fprintf(e.stderr, "note: %s\n", where(ref, errors.New(moved.String())))
				}
				if n := ref.AttachNote(found); n != "" && len(found) > 1 {
					fmt.Fprintf(e.stderr, "warning: %s\n", where(ref, errors.New(text(n))))
				}
				for _, d := range found {
					v, _ := rep.Verdict(d.Name)
					switch {
					case ref.Unmanaged() && ref.Element() == "interface":
						v = readiness.UnmanagedInterface(v)
					case ref.Unmanaged():
						v = readiness.UnmanagedHostdev(v)
					}
					// A parent asked for an instance of a type is judged
					// for that, not for being given whole.
					if typ := ref.MDevType(); typ != "" && d.PCI != nil {
						v = readiness.MdevTypeVerdict(v, typ)
					}
					out = append(out, result{ref.Selector.String(), v})
					names, vm, at = append(names, d.Name), append(vm, vmOf(ref)), append(at, refPlace(ref))
				}
			}
			// The functions one VM's config names go to it together: a
			// group they fill is that VM's whole.
			for i := range out {
				if vm[i] == "" {
					continue
				}
				var taken []string
				for j := range out {
					if vm[j] == vm[i] {
						taken = append(taken, names[j])
					}
				}
				out[i].Device = rep.TakenTogether(out[i].Device, taken)
			}
			for i, places := range namedTwice(names, vm, at) {
				out[i].Device = readiness.Duplicate(out[i].Device, places)
			}
			bad := 0
			for _, r := range out {
				if !r.Device.Assignable {
					bad++
				}
			}
			if asJSON {
				if out == nil {
					out = []result{}
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"iommu": rep.IOMMU, "results": out}); err != nil {
					return err
				}
			} else {
				bw := bufio.NewWriter(e.stdout)
				for i, r := range out {
					if i > 0 {
						bw.WriteByte('\n')
					}
					writeCheck(bw, rep, r.Device)
				}
				if err := bw.Flush(); err != nil {
					return err
				}
			}
			if bad > 0 {
				return &notAssignable{bad, len(out)}
			}
			return nil
		},
	}
	flags.register(c)
	pve.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"iommu": true, "results": [{"selector": "...", "device": {..., "assignable": false, "reasons": [...]}}]}`)
	c.Flags().StringArrayVarP(&files, "file", "f", nil, "check every device named in `FILE` (libvirt XML, xl config, <host> document, QEMU options)")
	return c
}

// vmOf says which VM's config a reference belongs to: its file, or, for
// an argument in a hypervisor's dialect, the arguments together; "" for a
// hostdev selector, which belongs to none.
func vmOf(r named) string {
	switch {
	case r.file != "":
		return "file " + r.file
	case r.Dialect != hypervisor.DialectSelector:
		return "arguments"
	}
	return ""
}

// refPlace names a reference in a named-twice message: FILE:LINE, or the
// argument, shortened.
func refPlace(r named) string {
	if r.file != "" {
		return fmt.Sprintf("%s:%d", r.file, r.Line)
	}
	s := strings.Join(strings.Fields(r.Text), " ")
	if rs := []rune(s); len(rs) > 60 {
		s = string(rs[:59]) + "…"
	}
	return s
}

// namedTwice finds the devices one VM names more than once: for each
// index into devs whose device is so named, the places of every reference
// to it in that VM, in order.
func namedTwice(devs, vm, at []string) map[int][]string {
	type key struct{ vm, dev string }
	seen := map[key][]int{}
	for i, d := range devs {
		if vm[i] != "" {
			k := key{vm[i], d}
			seen[k] = append(seen[k], i)
		}
	}
	dup := map[int][]string{}
	for _, is := range seen {
		if len(is) < 2 {
			continue
		}
		var places []string
		for _, i := range is {
			places = append(places, at[i])
		}
		for _, i := range is {
			dup[i] = places
		}
	}
	return dup
}

// writeCheck prints one device's report:
//
//	pci 0000:01:00.0 10de:1c82 030000 driver=vfio-pci iommu_group=1
//	  NOT ASSIGNABLE
//	  IOMMU group 1: 0000:00:01.0 (pcieport, bridge), 0000:01:00.0 (vfio-pci), 0000:01:00.1 (snd_hda_intel)
//	  [blocks] group-shared
//	    IOMMU group 1 is shared with 0000:01:00.1 (snd_hda_intel). ...
//	      virsh nodedev-detach pci_0000_01_00_1   # or assign it to the same VM
func writeCheck(w io.Writer, rep *readiness.Report, v readiness.Verdict) {
	fmt.Fprintln(w, textLine(v.Device))
	if v.Assignable {
		fmt.Fprintln(w, "  assignable")
	} else {
		fmt.Fprintln(w, "  NOT ASSIGNABLE")
	}
	if p := v.Device.PCI; p != nil && p.IOMMUGroup != nil {
		for _, g := range rep.Groups {
			if g.Number != *p.IOMMUGroup {
				continue
			}
			var ms []string
			for _, m := range g.Members {
				drv := m.PCI.Driver
				if drv == "" {
					drv = "no driver"
				}
				if readiness.IsBridge(m.PCI) {
					drv += ", bridge"
				}
				ms = append(ms, fmt.Sprintf("%s (%s)", text(m.Name), text(drv)))
			}
			for i := range ms[:len(ms)-1] {
				ms[i] += ","
			}
			writeWords(w, fmt.Sprintf("  IOMMU group %d: ", g.Number), ms)
		}
	}
	for _, r := range v.Reasons {
		tag := "[note]"
		if r.Code.Blocking() {
			tag = "[blocks]"
		}
		fmt.Fprintf(w, "  %s %s\n", tag, r.Code)
		writeWrapped(w, "    ", text(r.Message))
		for _, f := range r.Fix {
			fmt.Fprintf(w, "      %s\n", text(f))
		}
	}
}

// writeWrapped writes s in lines of at most wrapWidth columns where its
// words allow, the first starting with prefix and the rest indented as
// far.
func writeWrapped(w io.Writer, prefix, s string) { writeWords(w, prefix, strings.Fields(s)) }

// writeWords is writeWrapped for words that may hold spaces of their own.
func writeWords(w io.Writer, prefix string, words []string) {
	indent := strings.Repeat(" ", len(prefix))
	line := prefix
	empty := true
	for _, word := range words {
		if !empty && len(line)+1+len(word) > wrapWidth {
			fmt.Fprintln(w, line)
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	fmt.Fprintln(w, line)
}
