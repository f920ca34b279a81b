package hypervisor

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// cloud-hypervisor and crosvm name a PCI function by its sysfs directory.
//
// cloud-hypervisor (github.com/cloud-hypervisor/cloud-hypervisor, commit
// ae44c297, 2026-08-22): docs/vfio.md passes
// `--device path=/sys/bus/pci/devices/0000:01:00.0/`, and one --device may
// take several values (cloud-hypervisor/src/main.rs: num_args(1..)).
// vmm/src/config.rs, DeviceConfig::parse, reads the value with
// option_parser: comma-separated key=value, where "..." quotes and [...]
// brackets keep commas (split_commas), and the keys are path, fd, id,
// iommu, pci_segment, pci_device_id, x_nv_gpudirect_clique and
// x_exclude_mmap_bars; any other key is an error ("Unknown option").
// ch-remote add-device takes the same value.
//
// crosvm (github.com/google/crosvm, commit f1e797a6, 2026-08-21):
// src/crosvm/cmdline.rs, `--vfio PATH[,guest-address=BUS:DEVICE.FUNCTION]
// [,iommu=viommu|coiommu|pkvm-iommu|off][,dt-symbol=SYMBOL]`, parsed by
// serde_keyvalue into VfioOption (src/crosvm/sys/linux/config.rs: fields
// path, iommu, guest_address, dt_symbol, deny_unknown_fields), whose
// first field may be given without its key; a value may be "..." quoted.
//
// Containers (docker run --device) take device nodes: /dev/bus/usb/BBB/DDD
// for a USB device and /dev/vfio/N, the IOMMU group's node, for PCI.

var (
	// The program's name starting a command, or the option's own shape.
	chvWord    = regexp.MustCompile(`(?m)^\s*(?:sudo\s+)?(?:\S*/)?(?:cloud-hypervisor|ch-remote)(?:\s|$)|(?:^|\s)--device(?:\s+|=)["']?(?:[a-z_]+=[^,\s]*,)*(?:path|fd)=`)
	crosvmWord = regexp.MustCompile(`(?m)^\s*(?:sudo\s+)?(?:\S*/)?crosvm(?:\s|$)|(?:^|\s)--vfio(?:\s|=)`)
	devnodeDoc = regexp.MustCompile(`^(?:\s*/dev/(?:bus/usb/\d+/\d+|vfio/\d+)\s*)+$`)
)

// chvSniff tells cloud-hypervisor, crosvm and device node lists apart from
// QEMU's command lines (whose -device a --device path= also contains).
func chvSniff(doc []byte) Dialect {
	switch {
	case devnodeDoc.Match(doc):
		return DialectDevnode
	case crosvmWord.Match(doc):
		return DialectCrosvm
	case chvWord.Match(doc):
		return DialectCloudHypervisor
	}
	return ""
}

// chvRefs reads every PCI function a cloud-hypervisor or crosvm command
// line names.
func chvRefs(d Dialect, doc string) ([]Ref, error) {
	words, lines, err := shellWordLines(doc)
	if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) {
			e.Dialect = d
		}
		return nil, err
	}
	var refs []Ref
	add := func(v string, line int) error {
		var r Ref
		var err error
		if d == DialectCrosvm {
			r, err = crosvmRef(v)
		} else {
			r, err = chvRef(v)
		}
		if err != nil {
			return atLine(err, line)
		}
		r.Line = line
		refs = append(refs, r)
		return nil
	}
	opt, sub := "--device", "add-device"
	if d == DialectCrosvm {
		opt, sub = "--vfio", ""
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if v, ok := strings.CutPrefix(w, opt+"="); ok {
			if err := add(v, lines[i]); err != nil {
				return nil, err
			}
			continue
		}
		if w == opt && d == DialectCloudHypervisor {
			// --device V [V...]: every value up to the next option.
			n := 0
			for i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				i++
				n++
				if err := add(words[i], lines[i]); err != nil {
					return nil, err
				}
			}
			if n == 0 {
				return nil, errorf(d, lines[i], w, "has no argument")
			}
			continue
		}
		if w == opt || sub != "" && w == sub {
			if i+1 >= len(words) {
				return nil, errorf(d, lines[i], w, "has no argument")
			}
			i++
			if err := add(words[i], lines[i]); err != nil {
				return nil, err
			}
		}
	}
	return refs, nil
}

// chvOptions splits an option_parser value at the commas outside "..." and
// [...], as split_commas does, and takes the quotes out of each value.
func chvOptions(d Dialect, s string) ([][2]string, error) {
	var (
		parts    []string
		cur      strings.Builder
		inQuotes bool
		brackets int
	)
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c == '"':
			inQuotes = !inQuotes
		case inQuotes:
		case c == '[':
			brackets++
		case c == ']':
			if brackets == 0 {
				return nil, errorf(d, 0, s, "a ] with no [ before it")
			}
			brackets--
		case c == ',' && brackets == 0:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(c)
	}
	parts = append(parts, cur.String())
	if inQuotes || brackets != 0 {
		return nil, errorf(d, 0, s, "an unclosed \" or [")
	}
	out := make([][2]string, 0, len(parts))
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		out = append(out, [2]string{k, strings.ReplaceAll(strings.TrimSpace(v), `"`, "")})
	}
	return out, nil
}

var chvKeys = []string{"path", "fd", "id", "iommu", "pci_segment", "pci_device_id", "x_nv_gpudirect_clique", "x_exclude_mmap_bars"}

// chvRef reads one --device value.
func chvRef(s string) (Ref, error) {
	const d = DialectCloudHypervisor
	opts, err := chvOptions(d, s)
	if err != nil {
		return Ref{}, err
	}
	p := ""
	for _, o := range opts {
		switch {
		case !containsStr(chvKeys, o[0]):
			return Ref{}, errorf(d, 0, s, "--device has no option %s; it takes %s", quote.Text(o[0]), strings.Join(chvKeys, ", "))
		case o[0] == "path":
			p = o[1]
		case o[0] == "fd" && p == "":
			p = "\x00fd"
		}
	}
	switch p {
	case "":
		return Ref{}, errorf(d, 0, s, "names no device: write path=/sys/bus/pci/devices/DDDD:BB:SS.F/")
	case "\x00fd":
		return Ref{}, unsupportedf(d, 0, s, "fd= hands over an open VFIO cdev, which names no device hostdev can see; write path=/sys/bus/pci/devices/DDDD:BB:SS.F/")
	}
	return sysfsPathRef(d, s, p)
}

// crosvmRef reads one --vfio value: the path first, with or without path=.
func crosvmRef(s string) (Ref, error) {
	const d = DialectCrosvm
	var (
		opts [][2]string
		cur  strings.Builder
		inQ  bool
	)
	// serde_keyvalue: "..." strings with \ escapes; commas split.
	flush := func() {
		k, v, ok := strings.Cut(cur.String(), "=")
		if !ok && len(opts) == 0 {
			k, v = "path", k
		}
		opts = append(opts, [2]string{k, v})
		cur.Reset()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQ && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	if inQ {
		return Ref{}, errorf(d, 0, s, "an unclosed \"")
	}
	flush()
	p := ""
	for _, o := range opts {
		switch o[0] {
		case "path":
			p = o[1]
		case "iommu", "guest-address", "dt-symbol":
		default:
			return Ref{}, errorf(d, 0, s, "--vfio has no option %s; it takes PATH, guest-address, iommu and dt-symbol", quote.Text(o[0]))
		}
	}
	if strings.HasPrefix(path.Clean(p), "/sys/bus/platform/") {
		return Ref{}, unsupportedf(d, 0, s, "%s is a platform device; hostdev resolves PCI functions and USB devices", quote.Text(p))
	}
	return sysfsPathRef(d, s, p)
}

func containsStr(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

var sysfsPCIHost = regexp.MustCompile(`^pci[0-9a-f]{4,8}:[0-9a-f]{2}$`)

// sysfsPathRef reads a PCI function's sysfs directory:
// /sys/bus/pci/devices/ADDRESS[/] or /sys/devices/pciDDDD:BB/.../ADDRESS[/].
func sysfsPathRef(d Dialect, text, p string) (Ref, error) {
	want := "write /sys/bus/pci/devices/DDDD:BB:SS.F/, the function's directory in sysfs"
	if p == "" || p[0] != '/' {
		return Ref{}, errorf(d, 0, text, "path %s is not absolute; %s", quote.Text(p), want)
	}
	c := path.Clean(p)
	if c != strings.TrimSuffix(p, "/") {
		return Ref{}, errorf(d, 0, text, "path %s is not in its plain form (no //, . or ..); %s", quote.Text(p), want)
	}
	if rest, ok := strings.CutPrefix(c, "/sys/bus/mdev/devices/"); ok && !strings.Contains(rest, "/") {
		return Ref{}, unsupportedf(d, 0, text, "mdev: not yet: hostdev does not resolve mediated devices (%s) yet", quote.Text(rest))
	}
	var addr string
	if rest, ok := strings.CutPrefix(c, "/sys/bus/pci/devices/"); ok && !strings.Contains(rest, "/") {
		addr = rest
	} else if rest, ok := strings.CutPrefix(c, "/sys/devices/"); ok {
		parts := strings.Split(rest, "/")
		if !sysfsPCIHost.MatchString(parts[0]) || len(parts) < 2 {
			return Ref{}, errorf(d, 0, text, "path %s is not a PCI function's directory; %s", quote.Text(p), want)
		}
		for _, q := range parts[1:] {
			if a, err := pciaddr.Parse(q); err != nil || a.String() != q {
				return Ref{}, errorf(d, 0, text, "path %s: %s is not a PCI address; %s", quote.Text(p), quote.Text(q), want)
			}
		}
		addr = parts[len(parts)-1]
	} else {
		return Ref{}, errorf(d, 0, text, "path %s is not a PCI function's directory; %s", quote.Text(p), want)
	}
	a, err := pciaddr.Parse(addr)
	if err != nil || a.String() != addr {
		return Ref{}, errorf(d, 0, text, "path %s: %s is not a PCI address as sysfs names it (DDDD:BB:SS.F, lower case hex); %s", quote.Text(p), quote.Text(addr), want)
	}
	sel, err := match.New(match.Term{Key: match.KeyAddress, Values: []string{addr}})
	if err != nil {
		return Ref{}, selectorError(d, 0, text, err)
	}
	return Ref{Dialect: d, Text: text, Selector: sel}, nil
}

// devnodeRefs reads device nodes, one a line: /dev/bus/usb/BBB/DDD is the
// USB device at that bus and device number, /dev/vfio/N every function of
// IOMMU group N (a container given the node can open them all).
func devnodeRefs(doc string) ([]Ref, error) {
	var refs []Ref
	for i, l := range strings.Split(doc, "\n") {
		for _, w := range strings.Fields(l) {
			r, err := devnodeRef(w)
			if err != nil {
				return nil, atLine(err, i+1)
			}
			r.Line = i + 1
			refs = append(refs, r)
		}
	}
	return refs, nil
}

func devnodeRef(w string) (Ref, error) {
	if g, ok := strings.CutPrefix(w, "/dev/vfio/"); ok {
		n, err := strconv.ParseUint(g, 10, 31)
		if err != nil || strconv.FormatUint(n, 10) != g {
			return Ref{}, errorf(DialectDevnode, 0, w, "is not an IOMMU group's node, /dev/vfio/N")
		}
		sel, err := match.New(match.Term{Key: match.KeyIOMMUGroup, Values: []string{g}})
		if err != nil {
			return Ref{}, selectorError(DialectDevnode, 0, w, err)
		}
		return Ref{Dialect: DialectDevnode, Text: w, Selector: sel, All: true}, nil
	}
	bus, dev, ok := devnodeNumbers(w)
	if !ok {
		return Ref{}, errorf(DialectDevnode, 0, w, "is not a USB device node, /dev/bus/usb/BBB/DDD")
	}
	sel, err := match.New(match.Term{Key: match.KeyBusnum, Values: []string{strconv.FormatUint(bus, 10)}},
		match.Term{Key: match.KeyDevnum, Values: []string{strconv.FormatUint(dev, 10)}})
	if err != nil {
		return Ref{}, selectorError(DialectDevnode, 0, w, err)
	}
	return Ref{Dialect: DialectDevnode, Text: w, Selector: sel}, nil
}

// otherRefs reads a document in one of the dialects of incus.go and
// chv.go.
func otherRefs(d Dialect, doc []byte) ([]Ref, error) {
	switch d {
	case DialectIncus:
		refs, skipped, err := incusRefs(doc)
		if err == nil && len(refs) == 0 && len(skipped) > 0 {
			return nil, skipped[0] // alone, what it names is the error
		}
		return refs, err
	case DialectDevnode:
		return devnodeRefs(string(doc))
	}
	return chvRefs(d, string(doc))
}

// otherSniff gives the dialect of incus.go and chv.go a document is in, or
// "".
func otherSniff(doc []byte) Dialect {
	if looksIncus(doc) {
		return DialectIncus
	}
	return chvSniff(doc)
}

// writeCloudHypervisor writes --device path=/sys/bus/pci/devices/ADDRESS/.
func writeCloudHypervisor(b *strings.Builder, items []Resolved) error {
	for _, it := range items {
		d := it.Device
		if d.Bus != discover.BusPCI {
			return unsupported{fmt.Sprintf("%s: cloud-hypervisor passes PCI functions through only (--device path=...), not USB devices", quote.Text(d.Name))}
		}
		fmt.Fprintf(b, "--device path=/sys/bus/pci/devices/%s/\n", address(d))
	}
	return nil
}

// writeDevnode writes each device's node, one a line, an IOMMU group's
// once.
func writeDevnode(b *strings.Builder, items []Resolved) error {
	seen := map[int]bool{}
	for _, it := range items {
		d := it.Device
		if d.Bus == discover.BusUSB {
			fmt.Fprintf(b, "/dev/bus/usb/%03d/%03d\n", d.USB.Busnum, d.USB.Devnum)
			continue
		}
		var group *int
		if d.Bus == discover.BusMdev {
			group = d.Mdev.IOMMUGroup // writable checked Mdev is there
		} else {
			group = d.PCI.IOMMUGroup
		}
		if group == nil {
			return unsupported{fmt.Sprintf("%s is in no IOMMU group, so it has no /dev/vfio node; turn the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line) and bind it to vfio-pci", quote.Text(d.Name))}
		}
		if g := *group; !seen[g] {
			seen[g] = true
			fmt.Fprintf(b, "/dev/vfio/%d\n", g)
		}
	}
	return nil
}

// shellWordLines is shellWords as texts, and the line each word is on.
func shellWordLines(s string) ([]string, []int, error) {
	ws, err := shellWords(s)
	if err != nil {
		return nil, nil, err
	}
	words, lines := make([]string, len(ws)), make([]int, len(ws))
	for i, w := range ws {
		words[i], lines[i] = w.text, w.line
	}
	return words, lines, nil
}

// ArgsStart is QEMUArgsStart for every command line Args reads: it also
// stops at the programs of the other dialects' command lines (qm,
// cloud-hypervisor, ch-remote, crosvm).
func ArgsStart(args []string) int {
	n := QEMUArgsStart(args)
	for i, a := range args[:n] {
		switch a {
		case "qm", "cloud-hypervisor", "ch-remote", "crosvm":
			return i
		}
	}
	return n
}

// proxmoxOption is a qm set option that names a host device.
var proxmoxOption = regexp.MustCompile(`^--?(?:usb|hostpci)[0-9]+$`)

// Args reads a command line given as the shell split it (the words after
// -- on hostdev-discover's command line): Proxmox's qm set options
// (ParseProxmoxArgs), cloud-hypervisor's or crosvm's, whose --device path=
// and --vfio QEMU's reader would take for QEMU's own --device, or else
// QEMU's (QEMUArgs).
func Args(args []string) ([]Ref, error) {
	if len(args) > 0 && (args[0] == "qm" || proxmoxOption.MatchString(args[0])) {
		refs, err := ParseProxmoxArgs(args)
		for i := range refs {
			refs[i].Line = 0
		}
		return refs, atLine(err, 0)
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = quote.Shell(a)
	}
	line := []byte(strings.Join(quoted, " "))
	switch d := otherSniff(line); d {
	case DialectCloudHypervisor, DialectCrosvm:
		refs, err := otherRefs(d, line)
		for i := range refs {
			refs[i].Line = 0 // given as words, not as a document
		}
		return refs, atLine(err, 0)
	}
	return QEMUArgs(args)
}
