package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/topology"
)

// treeFlags are list's --tree and --ascii.
type treeFlags struct {
	tree, ascii bool
}

func (f *treeFlags) register(c *cobra.Command) {
	c.Flags().BoolVar(&f.tree, "tree", false, "draw USB buses, hubs and ports, and PCI root buses, bridges and functions, as trees, with each device's verdict")
	c.Flags().BoolVar(&f.ascii, "ascii", false, "with --tree, draw with ASCII characters only (the default when the locale is not UTF-8)")
}

// check rejects what --tree does not combine with.
func (f *treeFlags) check(c *cobra.Command) error {
	if !f.tree {
		if f.ascii {
			return usageError{errors.New("--ascii: only with --tree")}
		}
		return nil
	}
	for _, other := range []string{"json", "assignable", "verbose", "usb-backend"} {
		if c.Flags().Changed(other) {
			return usageError{errors.New("--tree: not with --" + other)}
		}
	}
	return nil
}

// listTree is `list --tree`: the scan, judged as a whole, drawn as trees
// limited to the devices refs match and their ancestors.
func listTree(c *cobra.Command, e *env, flags *scanFlags, refs []named, tf treeFlags) error {
	res, rep, cleanup, err := flags.assess(c, e)
	defer cleanup()
	if err != nil {
		return err
	}
	t := topology.Build(res.Devices, rep)
	if len(refs) > 0 {
		sels := make([]match.Selector, len(refs))
		for i, r := range refs {
			sels[i] = r.Selector
		}
		t = t.Limit(sels)
	}
	style := unicodeStyle
	if tf.ascii || !utf8Locale(os.Getenv) {
		style = asciiStyle
	}
	return writeTree(stopWriter{c.Context(), e.stdout}, t, style)
}

// utf8Locale reports whether the locale the environment names for
// characters is UTF-8: LC_ALL, else LC_CTYPE, else LANG, as setlocale
// reads them. None set is the C locale, which is ASCII.
func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			_, cs, _ := strings.Cut(v, ".")
			cs, _, _ = strings.Cut(cs, "@")
			cs = strings.ToLower(cs)
			return cs == "utf-8" || cs == "utf8"
		}
	}
	return false
}

// treeStyle is the four pieces a tree is drawn with: before a child that
// has siblings after it, before the last child, and below each, the
// continuation of the parent's line or blank.
type treeStyle struct{ mid, last, bar, blank string }

var (
	unicodeStyle = treeStyle{"├─ ", "└─ ", "│  ", "   "}
	// asciiStyle uses the characters lspci -t draws with.
	asciiStyle = treeStyle{"+- ", "\\- ", "|  ", "   "}
)

// writeTree draws the USB trees, then the PCI trees, then the mediated
// devices whose parent is not a PCI function, with a blank line between
// the parts that have something.
func writeTree(w io.Writer, t *topology.Tree, st treeStyle) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	first := true
	for _, roots := range [][]*topology.Node{t.USB, t.PCI, t.Mdev} {
		if len(roots) == 0 {
			continue
		}
		if !first {
			bw.WriteByte('\n')
		}
		first = false
		var prefix []byte
		for _, n := range roots {
			writeNode(bw, n, st, &prefix)
		}
	}
	return bw.Flush()
}

// writeNode writes n's line after whatever prefix holds, and its children
// below it, each with its connector.
func writeNode(bw *bufio.Writer, n *topology.Node, st treeStyle, prefix *[]byte) {
	bw.WriteString(nodeLine(n))
	bw.WriteByte('\n')
	for i, c := range n.Children {
		conn, cont := st.mid, st.bar
		if i == len(n.Children)-1 {
			conn, cont = st.last, st.blank
		}
		bw.Write(*prefix)
		bw.WriteString(conn)
		keep := len(*prefix)
		*prefix = append(*prefix, cont...)
		writeNode(bw, c, st, prefix)
		*prefix = (*prefix)[:keep]
	}
}

// nodeLine is a node's text: a PCI root bus as lspci -t names it,
// "[0000:00]"; a USB device in the spirit of lsusb -t, with our BUS.DEV,
// name, serial and interfaces; a PCI function or mdev as list prints it;
// and the verdict. Every string from a device goes through text or value.
func nodeLine(n *topology.Node) string {
	d := n.Device
	if d == nil {
		return "[" + text(n.Name) + "]"
	}
	var b strings.Builder
	switch {
	case d.USB != nil:
		usbTreeLine(&b, n)
	case d.PCI != nil:
		b.WriteString(strings.TrimPrefix(textLine(*d), "pci "))
	default:
		b.WriteString(strings.TrimPrefix(textLine(*d), "mdev "))
	}
	if v := n.Verdict; v != nil {
		b.WriteString(" " + verdictMark(*v))
	}
	return b.String()
}

// usbTreeLine writes a USB device's line:
//
//	Port 2: 001.003 1-2.1 0403:6001 FTDI FT232R USB UART 12M serial=A7022OO1 if0=ff:ftdi_sio
//
// A root hub has "Bus 001:" where a device has its port, and a hub its
// port count.
func usbTreeLine(b *strings.Builder, n *topology.Node) {
	d := n.Device
	u := d.USB
	if u.IsRootHub() {
		b.WriteString("Bus " + pad3(u.Busnum) + ": ")
	} else {
		b.WriteString("Port " + strconv.Itoa(n.Port) + ": ")
	}
	b.WriteString(pad3(u.Busnum) + "." + pad3(u.Devnum) + " " + text(d.Name) + " " + d.VendorID.String() + ":" + d.ProductID.String())
	for _, s := range usbDescription(*d) {
		b.WriteString(" " + text(s))
	}
	if u.Speed != "" {
		b.WriteString(" " + text(string(u.Speed)) + "M")
	}
	if u.Class != 0 {
		b.WriteString(" class=" + u.Class.String())
	}
	if u.IsHub() && u.MaxChild > 0 {
		b.WriteString(" ports=" + strconv.Itoa(u.MaxChild))
	}
	if u.Serial != nil && !u.IsRootHub() {
		b.WriteString(" serial=" + value(*u.Serial))
	}
	if u.Controller != "" && u.IsRootHub() {
		b.WriteString(" controller=" + value(u.Controller))
	}
	for _, in := range u.Interfaces {
		b.WriteString(" if" + strconv.Itoa(int(in.Number)) + "=" + in.Class.String())
		if in.Driver != "" {
			b.WriteString(":" + value(in.Driver))
		}
	}
}

// verdictMark is "[assignable]", "[assignable: host-driver]" with the
// codes worth knowing, or "[not assignable: hub]" with those that block.
func verdictMark(v readiness.Verdict) string {
	var codes []string
	for _, r := range v.Reasons {
		if v.Assignable || r.Code.Blocking() {
			if c := string(r.Code); !slices.Contains(codes, c) {
				codes = append(codes, c)
			}
		}
	}
	mark := "not assignable"
	if v.Assignable {
		mark = "assignable"
	}
	if len(codes) > 0 {
		mark += ": " + strings.Join(codes, ",")
	}
	return "[" + mark + "]"
}

// pad3 is n as three digits, as lsusb and /dev/bus/usb write bus and
// device numbers.
func pad3(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
