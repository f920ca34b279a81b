package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	hd "github.com/hostdev/hostdev" // the handle; "hostdev" is the tests' helper
	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/readiness"
)

// scanFlags are the flags every command that scans shares.
type scanFlags struct {
	root    string
	bus     string
	numeric bool
	// usbBackend is --usb-backend, which only list registers.
	usbBackend string
}

func (f *scanFlags) register(c *cobra.Command) {
	f.registerRoot(c)
	c.Flags().StringVar(&f.bus, "bus", "", "only this bus: usb, pci or mdev (mediated device instances)")
}

// registerRoot registers the flags but --bus, for a command that needs
// every bus.
func (f *scanFlags) registerRoot(c *cobra.Command) {
	c.Flags().StringVar(&f.root, "root", "/", "read sysfs under `DIR` instead of /; a .tar.gz snapshot is unpacked first")
	c.Flags().BoolVarP(&f.numeric, "numeric", "n", false, "show IDs only, without looking up names")
}

// options turns the flags of c into scan options; cleanup removes an
// unpacked snapshot.
func (f *scanFlags) options(c *cobra.Command, e *env) (opts discover.Options, cleanup func(), err error) {
	opts = discover.Options{Numeric: f.numeric, Logger: e.logger}
	switch f.bus {
	case "usb", "pci", "mdev":
		opts.Buses = []discover.Bus{discover.Bus(f.bus)}
	case "":
		// Unset means every bus; --bus= typed out is more likely a script
		// whose variable came out empty than a wish for every bus.
		if c.Flags().Changed("bus") {
			return opts, nil, usageError{errors.New(`--bus "": want usb, pci or mdev`)}
		}
	default:
		return opts, nil, usageError{fmt.Errorf("--bus %q: want usb, pci or mdev", f.bus)}
	}
	if opts.USBBackend, err = f.usbBackendFor(c); err != nil {
		return opts, nil, err
	}
	opts.Root, cleanup, err = openRoot(c, e, f.root)
	return opts, cleanup, err
}

// scan runs the scan the flags describe and prints its warnings to
// stderr. cleanup removes an unpacked snapshot; it is never nil.
func (f *scanFlags) scan(c *cobra.Command, e *env) (res *discover.Result, cleanup func(), err error) {
	res, _, cleanup, err = f.scanRoot(c, e)
	return res, cleanup, err
}

// scanRoot is scan, also returning the directory that was scanned: an
// unpacked snapshot's temporary folder, for one.
func (f *scanFlags) scanRoot(c *cobra.Command, e *env) (res *discover.Result, root string, cleanup func(), err error) {
	opts, cleanup, err := f.options(c, e)
	if err != nil {
		return nil, "", func() {}, err
	}
	res, err = discover.Scan(c.Context(), opts)
	if err != nil {
		return nil, "", cleanup, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", text(w.Error()))
	}
	return res, opts.Root, cleanup, nil
}

// assess is scan followed by readiness.Assess over every device scanned.
func (f *scanFlags) assess(c *cobra.Command, e *env) (*discover.Result, *readiness.Report, func(), error) {
	res, root, cleanup, err := f.scanRoot(c, e)
	if err != nil {
		return nil, nil, cleanup, err
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
	if err != nil {
		return nil, nil, cleanup, err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", text(w.Error()))
	}
	res.Warnings = append(res.Warnings, rep.Warnings...)
	return res, rep, cleanup, nil
}

// openRoot returns the directory to scan: root itself, or a snapshot
// archive unpacked to a temporary folder (see hostdev.Open, which knows an
// archive by its gzip magic, not its name, so `snapshot -o snap` reads back
// as `--root snap`). The unpack stops at c's context, leaving nothing behind.
func openRoot(c *cobra.Command, e *env, root string) (string, func(), error) {
	if root == "" {
		return "", nil, usageError{errors.New(`--root "": want a directory or a .tar.gz snapshot`)}
	}
	if st, err := os.Stat(root); err != nil || st.IsDir() {
		// The scan reports a root it cannot read, as for any directory.
		return root, func() {}, nil
	}
	var (
		h   *hd.Host
		err error
	)
	// Once interrupted, all that is left of the unpack is to remove what
	// it made (it stops at its next entry or read): shielded from a second
	// signal, like Close below.
	e.uninterrupted(func() { h, err = hd.OpenContext(c.Context(), root) })
	if errors.Is(err, hd.ErrNotATree) {
		return "", nil, fmt.Errorf("--root %s: not a directory or a .tar.gz snapshot", root)
	}
	if err != nil {
		return "", nil, fmt.Errorf("--root %s: %w", root, errors.Unwrap(err))
	}
	return h.Root(), func() { e.uninterrupted(func() { h.Close() }) }, nil
}

func listCommand(e *env) *cobra.Command {
	var (
		flags      scanFlags
		asJSON     bool
		assignable bool
		verbose    bool
		tf         treeFlags
	)
	c := &cobra.Command{
		Use:   "list [SELECTOR...]",
		Short: "List USB devices, PCI functions and mediated devices",
		Long: `List every USB device and PCI function, one line each: USB devices by bus
and port path, then PCI functions by address, then mediated device (mdev)
instances by UUID. A PCI function that is an mdev parent shows the types it
offers as mdev_types=TYPE:LEFT,..., LEFT being how many more instances of
the type it can make (available_instances). Warnings about devices that
could not be fully read go to stderr; the devices are still listed.
With selectors, only the devices matching at least one of them are listed.

--assignable lists only the devices that can be given to a VM now, and -v
says under each device whether it can and why (see 'check' for the fixes).
In JSON every device has "assignable" and "reasons".

--usb-backend libusb lists USB devices as libusb (and so QEMU's usb-host)
sees them, without strings or drivers; it needs a build with -tags libusb
and reads only the live host. --usb-backend both lists the sysfs view and
compares it with libusb's device by device: each difference goes to
stderr, and the exit status is 6 when there is any.

--tree draws USB buses, hubs and ports as lsusb -t does, and PCI root
buses, bridges and functions as lspci -tv does, each device with its
verdict; selectors keep the devices they match and the way down to them.
It draws with line-drawing characters, or ASCII with --ascii or when the
locale (LC_ALL, LC_CTYPE, LANG) is not UTF-8.`,
		RunE: func(c *cobra.Command, args []string) error {
			refs, err := parseSelectors(nil, args, nil)
			if err != nil {
				return err
			}
			if err := tf.check(c); err != nil {
				return err
			}
			if tf.tree {
				return listTree(c, e, &flags, refs, tf)
			}
			// Plain text shows no readiness: it is not worked out for it.
			var (
				res     *discover.Result
				verdict []readiness.Verdict
				cleanup func()
			)
			if asJSON || verbose || assignable {
				var rep *readiness.Report
				res, rep, cleanup, err = flags.assess(c, e)
				if rep != nil {
					verdict = rep.Devices
				}
			} else {
				res, cleanup, err = flags.scan(c, e)
				if res != nil {
					for _, d := range res.Devices {
						verdict = append(verdict, readiness.Verdict{Device: d})
					}
				}
			}
			defer cleanup()
			if err != nil {
				return err
			}
			var differ error
			if flags.usbBackend == usbBoth {
				// The list is printed either way; the status says whether
				// the views agree.
				if differ = compareUSB(c, e, res.Devices); differ != nil && !errors.As(differ, new(*backendsDiffer)) {
					return differ
				}
			}
			// Readiness is judged on the whole scan (a group's other
			// members count), and only then are devices left out.
			vs := slices.DeleteFunc(verdict, func(v readiness.Verdict) bool {
				if assignable && !v.Assignable {
					return true
				}
				return len(refs) > 0 && !slices.ContainsFunc(refs, func(r named) bool { return r.Selector.Match(v.Device) })
			})
			// Interrupted, it stops printing: a long list to a slow reader
			// would otherwise keep an unpacked snapshot on disk.
			out := stopWriter{c.Context(), e.stdout}
			if asJSON {
				err = writeJSON(out, vs, res.Warnings)
			} else {
				err = writeText(out, vs, verbose)
			}
			return cmp.Or(err, differ)
		},
	}
	flags.register(c)
	flags.registerUSBBackend(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"devices\": [...], \"warnings\": [...]}")
	c.Flags().BoolVar(&assignable, "assignable", false, "only the devices that can be given to a VM now")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "say under each device whether it can be given to a VM, and why")
	tf.register(c)
	return c
}

// writeJSON writes {"devices": [...], "warnings": [...]} as an indented
// json.Encoder would, byte for byte, but one element at a time: a host of
// 10,000 functions is never held in memory as one document.
func writeJSON(w io.Writer, devs []readiness.Verdict, warns []discover.Warning) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("{\n  \"devices\": ")
	if err := writeJSONArray(bw, devs); err != nil {
		return err
	}
	bw.WriteString(",\n  \"warnings\": ")
	if err := writeJSONArray(bw, warns); err != nil {
		return err
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// writeJSONArray writes the elements of vs as a JSON array nested one level
// in an object indented by two spaces. An empty or nil list is [], which
// tools iterate over more easily than null.
func writeJSONArray[T any](bw *bufio.Writer, vs []T) error {
	if len(vs) == 0 {
		_, err := bw.WriteString("[]")
		return err
	}
	bw.WriteString("[")
	var ind bytes.Buffer
	for i := range vs {
		// A Marshaler is called directly: json.Marshal would only check
		// and compact its output once more, which Indent does anyway.
		var raw []byte
		var err error
		if m, ok := any(vs[i]).(json.Marshaler); ok {
			raw, err = m.MarshalJSON()
		} else {
			raw, err = json.Marshal(vs[i])
		}
		if err != nil {
			return err
		}
		ind.Reset()
		ind.Write(indentJSON(ind.AvailableBuffer(), raw, "    ", "  "))
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(ind.Bytes())
	}
	_, err := bw.WriteString("\n  ]")
	return err
}

// indentJSON appends src, compact JSON that encoding/json wrote, to dst
// laid out as json.Indent lays it out, byte for byte. It does not check
// src, which is what makes it several times faster than json.Indent: src
// never comes from outside the process.
func indentJSON(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			dst = append(dst, c)
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				// An empty object or array stays on its line.
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func writeText(w io.Writer, vs []readiness.Verdict, verbose bool) error {
	bw := bufio.NewWriter(w)
	for _, v := range vs {
		bw.WriteString(textLine(v.Device))
		bw.WriteByte('\n')
		if !verbose {
			continue
		}
		if v.Assignable {
			bw.WriteString("    assignable\n")
		} else {
			bw.WriteString("    not assignable\n")
		}
		for _, r := range v.Reasons {
			fmt.Fprintf(bw, "    %s: %s\n", r.Code, text(r.Message))
		}
	}
	return bw.Flush()
}

// textLine is a device's line in `list`, in the spirit of lsusb and lspci:
//
//	usb 001.005 1-3.1 0627:0001 QEMU USB Tablet serial=42 drivers=usbhid
//	pci 0000:00:1f.3 8086:a348 040300 Audio device: Intel Corporation Cannon Lake PCH cAVS driver=snd_hda_intel iommu_group=12
//
// Every string in it comes from a device, a sysfs tree or a name database,
// which anyone who can plug in a device or send a snapshot writes, so each
// goes through text or value: one line per device, nothing raw to the terminal.
func textLine(d discover.Device) string {
	var b strings.Builder
	switch {
	case d.USB != nil:
		u := d.USB
		fmt.Fprintf(&b, "usb %03d.%03d %s %s:%s", u.Busnum, u.Devnum, text(d.Name), d.VendorID, d.ProductID)
		for _, s := range usbDescription(d) {
			b.WriteString(" " + text(s))
		}
		if u.Serial != nil {
			b.WriteString(" serial=" + value(*u.Serial))
		}
		if u.IsRootHub() {
			b.WriteString(" root-hub")
		} else if u.IsHub() {
			b.WriteString(" hub")
		}
		var drivers []string
		for _, in := range u.Interfaces {
			if in.Driver != "" && !slices.Contains(drivers, in.Driver) {
				drivers = append(drivers, in.Driver)
			}
		}
		if len(drivers) > 0 {
			b.WriteString(" drivers=" + values(drivers))
		}
	case d.PCI != nil:
		p := d.PCI
		fmt.Fprintf(&b, "pci %s %s:%s %s", text(d.Name), d.VendorID, d.ProductID, p.Class)
		if p.ClassName != "" {
			name := p.ClassName
			if p.SubclassName != "" {
				name = p.SubclassName
			}
			b.WriteString(" " + text(name) + ":")
		}
		for _, s := range nonEmpty(d.VendorName, d.ProductName) {
			b.WriteString(" " + text(s))
		}
		if p.Driver != "" {
			b.WriteString(" driver=" + value(p.Driver))
		}
		if p.IOMMUGroup != nil {
			b.WriteString(" iommu_group=" + strconv.Itoa(*p.IOMMUGroup))
		}
		if p.PhysFn != "" {
			b.WriteString(" physfn=" + value(p.PhysFn))
		}
		if len(p.VirtFns) > 0 {
			b.WriteString(" virtfns=" + values(p.VirtFns))
		}
		if len(p.MdevTypes) > 0 {
			b.WriteString(" mdev_types=" + mdevTypesText(p.MdevTypes))
		}
	case d.Mdev != nil:
		m := d.Mdev
		fmt.Fprintf(&b, "mdev %s type=%s", text(d.Name), value(m.Type.ID))
		if m.Type.Name != "" && m.Type.Name != m.Type.ID {
			b.WriteString(" " + value(m.Type.Name))
		}
		if d.Parent != "" {
			b.WriteString(" parent=" + value(d.Parent))
		}
		if m.Driver != "" {
			b.WriteString(" driver=" + value(m.Driver))
		}
		if m.IOMMUGroup != nil {
			b.WriteString(" iommu_group=" + strconv.Itoa(*m.IOMMUGroup))
		}
	}
	return b.String()
}

// mdevTypesText is a parent's types as TYPE:LEFT,...; LEFT is ? when
// available_instances could not be read.
func mdevTypesText(ts []discover.MdevType) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		left := "?"
		if t.AvailableInstances != nil {
			left = strconv.Itoa(*t.AvailableInstances)
		}
		parts[i] = t.ID + ":" + left
	}
	return values(parts)
}

// usbDescription prefers the strings the device gives about itself, which
// name this exact model, and falls back to the database's names. It returns
// the raw strings, for textLine to print each.
func usbDescription(d discover.Device) []string {
	u := d.USB
	if u.IsRootHub() && d.VendorName != "" {
		// A root hub's strings only name the kernel and its driver.
		return nonEmpty(d.VendorName, d.ProductName)
	}
	if product := deref(u.Product); product != "" {
		if maker := deref(u.Manufacturer); maker != "" && !strings.HasPrefix(product, maker) {
			return []string{maker, product}
		}
		return []string{product}
	}
	return nonEmpty(d.VendorName, d.ProductName)
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nonEmpty returns the strings that have more than spaces, trimmed.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// text, value and values are the quoting rule of internal/quote, which
// match's and hypervisor's messages follow too.
func text(s string) string      { return quote.Text(s) }
func value(s string) string     { return quote.Value(s) }
func values(ss []string) string { return quote.Values(ss) }
