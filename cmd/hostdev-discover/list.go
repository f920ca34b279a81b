package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/snapshot"
)

// scanFlags are the flags every command that scans shares.
type scanFlags struct {
	root    string
	bus     string
	numeric bool
}

func (f *scanFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.root, "root", "/", "read sysfs under `DIR` instead of /; a .tar.gz snapshot is unpacked first")
	c.Flags().StringVar(&f.bus, "bus", "", "only this bus: usb or pci")
	c.Flags().BoolVarP(&f.numeric, "numeric", "n", false, "show IDs only, without looking up names")
}

// options turns the flags into scan options; cleanup removes an unpacked
// snapshot.
func (f *scanFlags) options(e *env) (opts discover.Options, cleanup func(), err error) {
	opts = discover.Options{Numeric: f.numeric, Logger: e.logger}
	switch f.bus {
	case "":
	case "usb", "pci":
		opts.Buses = []discover.Bus{discover.Bus(f.bus)}
	default:
		return opts, nil, usageError{fmt.Errorf("--bus %q: want usb or pci", f.bus)}
	}
	opts.Root, cleanup, err = openRoot(f.root)
	return opts, cleanup, err
}

// openRoot returns the directory to scan: root itself, or a snapshot
// archive unpacked to a temporary folder.
func openRoot(root string) (string, func(), error) {
	if strings.HasSuffix(root, ".tar.gz") || strings.HasSuffix(root, ".tgz") {
		if st, err := os.Stat(root); err == nil && st.Mode().IsRegular() {
			dir, cleanup, err := snapshot.Unpack(root)
			if err != nil {
				return "", nil, fmt.Errorf("--root %s: %w", root, err)
			}
			return dir, cleanup, nil
		}
	}
	return root, func() {}, nil
}

func listCommand(e *env) *cobra.Command {
	var (
		flags  scanFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List USB devices and PCI functions",
		Long: `List every USB device and PCI function, one line each: USB devices by bus
and port path, then PCI functions by address. Warnings about devices that
could not be fully read go to stderr; the devices are still listed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			opts, cleanup, err := flags.options(e)
			if err != nil {
				return err
			}
			defer cleanup()
			res, err := discover.Scan(c.Context(), opts)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(e.stderr, "warning: %v\n", w)
			}
			if asJSON {
				return writeJSON(e.stdout, res)
			}
			return writeText(e.stdout, res.Devices)
		},
	}
	flags.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"devices\": [...], \"warnings\": [...]}")
	return c
}

func writeJSON(w io.Writer, res *discover.Result) error {
	out := *res
	// Tools iterate over both lists; give them [] rather than null.
	if out.Devices == nil {
		out.Devices = []discover.Device{}
	}
	if out.Warnings == nil {
		out.Warnings = []discover.Warning{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeText(w io.Writer, devs []discover.Device) error {
	bw := bufio.NewWriter(w)
	for _, d := range devs {
		bw.WriteString(textLine(d))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// textLine is a device's line in `list`, in the spirit of lsusb and lspci:
//
//	usb 001.005 1-3.1 0627:0001 QEMU USB Tablet serial=42 drivers=usbhid
//	pci 0000:00:1f.3 8086:a348 040300 Audio device: Intel Corporation Cannon Lake PCH cAVS driver=snd_hda_intel iommu_group=12
func textLine(d discover.Device) string {
	var b strings.Builder
	switch {
	case d.USB != nil:
		u := d.USB
		fmt.Fprintf(&b, "usb %03d.%03d %s %s:%s", u.Busnum, u.Devnum, d.Name, d.VendorID, d.ProductID)
		if desc := usbDescription(d); desc != "" {
			b.WriteString(" " + desc)
		}
		if u.Serial != "" {
			b.WriteString(" serial=" + quoteIfNeeded(u.Serial))
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
			b.WriteString(" drivers=" + strings.Join(drivers, ","))
		}
	case d.PCI != nil:
		p := d.PCI
		fmt.Fprintf(&b, "pci %s %s:%s %06x", d.Name, d.VendorID, d.ProductID, p.Class)
		if p.ClassName != "" {
			name := p.ClassName
			if p.SubclassName != "" {
				name = p.SubclassName
			}
			b.WriteString(" " + name + ":")
		}
		if names := join(d.VendorName, d.ProductName); names != "" {
			b.WriteString(" " + names)
		}
		if p.Driver != "" {
			b.WriteString(" driver=" + p.Driver)
		}
		if p.HasIOMMUGroup {
			b.WriteString(" iommu_group=" + strconv.Itoa(p.IOMMUGroup))
		}
		if p.PhysFn != "" {
			b.WriteString(" physfn=" + p.PhysFn)
		}
		if len(p.VirtFns) > 0 {
			b.WriteString(" virtfns=" + strings.Join(p.VirtFns, ","))
		}
	}
	return b.String()
}

// usbDescription prefers the strings the device gives about itself, which
// name this exact model, and falls back to the database's names.
func usbDescription(d discover.Device) string {
	u := d.USB
	if u.IsRootHub() && d.VendorName != "" {
		// A root hub's strings only name the kernel and its driver.
		return join(d.VendorName, d.ProductName)
	}
	if u.Product != "" {
		if u.Manufacturer != "" && !strings.HasPrefix(u.Product, u.Manufacturer) {
			return u.Manufacturer + " " + u.Product
		}
		return u.Product
	}
	return join(d.VendorName, d.ProductName)
}

func join(a, b string) string { return strings.TrimSpace(a + " " + b) }

// quoteIfNeeded leaves plain values bare so lines stay easy to read and to
// cut, and quotes any with spaces or control characters.
func quoteIfNeeded(s string) string {
	for _, r := range s {
		if r <= ' ' || r == '"' || r == 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}
