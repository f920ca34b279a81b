package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
)

// Exit statuses of resolve, beyond exitOK, exitError and exitUsage.
const (
	exitNoMatch   = 3
	exitAmbiguous = 4
)

// named is a reference and where it was read: an argument, or a file,
// whose FILE:LINE where writes out only when there is something to say.
type named struct {
	hypervisor.Ref
	file string
}

// parseSelectors reads every argument before anything is scanned, so a
// typo costs no scan; a bad selector is a usage error. An argument may be
// in any dialect hypervisor.ParseSelector reads, and files given with -f
// add every device they name. What a file names and hostdev does not
// resolve (a SCSI <hostdev>) is a warning on w, which may be nil only
// when files is empty.
//
// A QEMU command line may follow the selectors (after --, as the shell
// splits it): from the first word that is a QEMU program or an option on
// its own, the words are read as QEMU reads them, each option with its
// value (-device usb-host,..., -usbdevice host:3.1), every other option
// passed over.
func parseSelectors(w io.Writer, args, files []string) ([]named, error) {
	var refs []named
	qemu := hypervisor.ArgsStart(args)
	for _, a := range args[:qemu] {
		rs, err := hypervisor.ParseSelector(a)
		if err != nil {
			return nil, usageError{err}
		}
		for _, r := range rs {
			refs = append(refs, named{Ref: r})
		}
	}
	if qemu < len(args) {
		rs, err := hypervisor.Args(args[qemu:])
		if err != nil {
			return nil, usageError{err}
		}
		for _, r := range rs {
			refs = append(refs, named{Ref: r})
		}
	}
	for _, f := range files {
		doc, err := readConfig(f)
		if err != nil {
			return nil, err
		}
		rd, err := hypervisor.Read(doc)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", f, err)}
		}
		warnSkipped(w, f, rd.Skipped)
		rs := rd.Refs
		refs = slices.Grow(refs, len(rs))
		for _, r := range rs {
			refs = append(refs, named{Ref: r, file: f})
		}
	}
	return refs, nil
}

// warnSkipped says, for each element of file that hostdev passed over,
// where it is and why: FILE:LINE, as for the devices it read.
func warnSkipped(w io.Writer, file string, skipped []*hypervisor.Error) {
	for _, e := range skipped {
		at := *e
		at.Line = 0
		fmt.Fprintf(w, "warning: %s:%d: %s\n", file, e.Line, text(at.Error()))
	}
}

// maxConfig is the most of a config file (-f, fill's FILE) hostdev reads.
// The largest real domain XML or xl config is a few hundred KiB; the cap
// keeps /dev/zero or a pasted bomb from taking all memory.
const maxConfig = 64 << 20

// configTooLargeError is a config file past maxConfig.
type configTooLargeError struct {
	Path  string
	Limit int64
}

func (e *configTooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d MiB, the limit for a config file", e.Path, e.Limit>>20)
}

// readConfig reads the config file at path. Anything that can be read is
// read, up to maxConfig: a FIFO or a pipe (resolve -f <(...)) too, as it
// comes.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(path, f)
}

// readLimited reads f, opened from path, up to maxConfig: a regular file
// larger than that is refused before it is read, and anything else is
// read until one byte past the limit, never more.
func readLimited(path string, f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if st.Mode().IsRegular() {
		if st.Size() > maxConfig {
			return nil, &configTooLargeError{Path: path, Limit: maxConfig}
		}
		// One allocation for the whole file; the +MinRead lets ReadFrom
		// see EOF without growing the buffer.
		b.Grow(int(st.Size()) + bytes.MinRead)
	}
	if _, err := b.ReadFrom(io.LimitReader(f, maxConfig+1)); err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: unwrapPath(err)}
	}
	if b.Len() > maxConfig {
		return nil, &configTooLargeError{Path: path, Limit: maxConfig}
	}
	return b.Bytes(), nil
}

// unwrapPath is the cause inside a *fs.PathError, or err.
func unwrapPath(err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// where says which reference an error is about, for one from a file.
func where(r named, err error) error {
	if r.file == "" {
		return err
	}
	return fmt.Errorf("%s:%d: %w", r.file, r.Line, err)
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
		files  []string
		pve    pveFlags
	)
	c := &cobra.Command{
		Use:   "resolve SELECTOR... | -f FILE",
		Short: "Name the device a selector means now",
		Long: `Resolve each selector into the one device it means on this host now.

A selector is hostdev's own (host:0483:2016, host:3.1, 00:1f.3,
serial=A7022OOP, vendor=0403,port=1-2.1, ...) or any hypervisor's way of
naming a host device:

  'usb-host,vendorid=0x0483,productid=0x2016'   QEMU (also -device ...,
  '-usbdevice host:3.1'                          device_add ..., QMP JSON)
  'vfio-pci,host=0000:01:00.0'
  "<hostdev mode='subsystem' type='usb'>...</hostdev>"   libvirt
  "<host bus='usb'><source vendor='0483' product='2016'/></host>"
  "usbdev=['type=hostdev,hostbus=3,hostaddr=1']"         xl
  "pci=['0000:00:1f.3,permissive=1']"
  'host=0483:2016', 'usb0: host=1-2.1', 'hostpci0: 01:00,pcie=1'  Proxmox VE
  'qm set 100 -usb0 host=0483:2016'
  'incus config device add VM k1 usb vendorid=0483 productid=2016'  Incus, LXD
  '--device path=/sys/bus/pci/devices/0000:01:00.0/'   cloud-hypervisor
  'crosvm run --vfio /sys/bus/pci/devices/0000:01:00.0'  crosvm
  /dev/bus/usb/001/004, /dev/vfio/12                   device nodes

After --, a QEMU command line may be pasted as the shell splits it, the
program included or not:

  hostdev-discover resolve -- -device usb-host,hostbus=1,hostaddr=4
  hostdev-discover resolve -- qemu-system-x86_64 -m 4G -drive file=x.qcow2 \
      -device usb-host,vendorid=0x0483,productid=0x2016 \
      -device vfio-pci,host=0000:01:00.0

Each option is read with its value, as QEMU reads them, and every host
device in it is resolved; other options are passed over.

-f FILE reads every device in a libvirt domain XML, an xl config, a <host>
document, a file of QEMU options or QMP commands, a Proxmox VE VM config
(/etc/pve/qemu-server/ID.conf; its current config, not snapshots or
[PENDING]), an Incus or LXD config (incus config show, or device add
commands) or a cloud-hypervisor or crosvm command line. A Proxmox
mapping=NAME resolves with --mapping /etc/pve/mapping/usb.cfg --mapping
/etc/pve/mapping/pci.cfg, for the entries of this node (--node). Incus
attaches every USB device that matches a usb entry, so resolve takes them
all and says how many. An argument that starts
with -device or -usbdevice is taken as QEMU's, not as an option of ours.

--format prints the answer as text, json, or ready to paste:
  qemu        -device usb-host,id=ID,hostbus=B,hostaddr=D (hotplug form)
  qmp         {"execute":"device_add",...} with a stable id for device_del
  libvirt     <hostdev> with vendor, product and address filled in
  xen         usbdev=[...] / pci=[...]
  xen-legacy  usbdevice='host:B.D'
  seed        <host bus='usb'>...<target dev='BBB.DDD'/></host>
  proxmox     usbN: host=VVVV:PPPP (host=BUS-PORT when another device
              shares vendor:product), hostpciN: DDDD:BB:SS.F
  incus       incus config device add "$VM" NAME usb vendorid=V productid=P
              serial=S (busnum= devnum= without a serial of its own), or
              pci address=A; set VM to the instance's name
  cloud-hypervisor  --device path=/sys/bus/pci/devices/ADDRESS/ (PCI only)
  devnode     /dev/bus/usb/BBB/DDD, or /dev/vfio/N (the IOMMU group's node)
              for PCI: docker run --device $(hostdev-discover resolve
              --format devnode serial=K1); a container given a /dev/vfio
              group also needs /dev/vfio/vfio
  cel         the CEL selector of the device under hostdev's Kubernetes DRA
              driver (hostdev.io): by serial, or port, or PCI address
  claim       a ResourceClaimTemplate (resource.k8s.io/v1) asking for
              every device resolved, one request each

Exit status: 0 resolved, 2 bad selector or usage, 3 no device matches,
4 more than one device matches (the error says which term picks each),
1 any other error. With --json, the error also goes to stdout as
{"error": "ambiguous", "candidates": [...]} or {"error": "no-match", "nearest": [...]}.`,
		Args: usageArgs(func(c *cobra.Command, args []string) error {
			if len(args) == 0 && len(files) == 0 {
				return errors.New("resolve needs a SELECTOR or -f FILE")
			}
			return nil
		}),
		RunE: func(c *cobra.Command, args []string) error {
			if asJSON {
				format = "json"
			}
			hvFormat, err := parseFormat(format)
			if err != nil {
				return err
			}
			refs, err := parseSelectors(e.stderr, args, files)
			if err != nil {
				return err
			}
			if refs, err = pve.apply(refs); err != nil {
				return err
			}
			res, cleanup, err := flags.scan(c, e)
			defer cleanup()
			if err != nil {
				return err
			}
			// One of each per reference, most often: sized once, since a
			// config may name many.
			out := make([]resolved, 0, len(refs))
			items := make([]hypervisor.Resolved, 0, len(refs))
			for i, ref := range refs {
				if all {
					ref.All = true
				}
				r := resolved{Selector: ref.Selector.String()}
				devs, moved, err := ref.Resolve(res.Devices)
				if no := (*match.NoMatchError)(nil); ref.Optional && errors.As(err, &no) {
					fmt.Fprintf(e.stderr, "note: %s\n", where(ref, fmt.Errorf("not plugged in; startupPolicy='optional' allows that: %w", err)))
					continue
				}
				if err != nil {
					if format == "json" {
						writeResolveError(e.stdout, err)
					}
					return where(ref, err)
				}
				r.Devices = devs
				if !ref.All {
					r.Device = &devs[0]
				}
				if moved != nil {
					r.Moved = moved.String()
					fmt.Fprintf(e.stderr, "note: %s\n", where(ref, errors.New(moved.String())))
				}
				if n := ref.AttachNote(devs); n != "" {
					fmt.Fprintf(e.stderr, "note: %s\n", where(ref, errors.New(text(n))))
				}
				out = append(out, r)
				for _, d := range devs {
					items = append(items, hypervisor.Resolved{Device: d, Ref: &refs[i].Ref,
						SerialShared: hypervisor.SharedSerial(d, res.Devices),
						IDUnique:     hypervisor.UniqueID(d, res.Devices)})
				}
			}
			switch format {
			case "cel":
				return writeCEL(e.stdout, items, res.Devices)
			case "claim":
				return writeClaim(e.stdout, items, res.Devices)
			}
			return writeResults(e.stdout, format, hvFormat, out, items, all)
		},
	}
	flags.register(c)
	pve.register(c)
	c.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text, json, qemu, qmp, libvirt, xen, xen-legacy, seed, proxmox, incus, cloud-hypervisor, devnode, cel or claim")
	c.Flags().BoolVar(&asJSON, "json", false, "the same as --format json")
	c.Flags().BoolVar(&all, "all", false, "print every matching device instead of insisting on one")
	c.Flags().StringArrayVarP(&files, "file", "f", nil, "resolve every device named in `FILE` (libvirt XML, xl config, <host> document, QEMU options, Proxmox VE or Incus config, cloud-hypervisor or crosvm command line)")
	return c
}

// parseFormat checks --format: text, json, cel, claim, or a hypervisor's
// format.
func parseFormat(format string) (hypervisor.Format, error) {
	switch format {
	case "text", "json", "cel", "claim":
		return "", nil
	}
	f, err := hypervisor.ParseFormat(format)
	if err != nil {
		return "", usageError{fmt.Errorf("--format: %w, text, json, cel or claim", err)}
	}
	return f, nil
}

// writeResults prints resolved selectors in format: text, json, or
// hvFormat when it is neither.
func writeResults(w io.Writer, format string, hvFormat hypervisor.Format, out []resolved, items []hypervisor.Resolved, all bool) error {
	switch format {
	case "json":
		for i := range out {
			if !all && out[i].Device != nil {
				out[i].Devices = nil
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"results": out})
	case "text":
		for _, r := range out {
			for _, d := range r.Devices {
				fmt.Fprintln(w, textLine(d))
			}
		}
		return nil
	}
	return hypervisor.Write(w, hvFormat, items)
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
		// match's message: the candidates' "add" are in its terms.
		out = map[string]any{"error": "ambiguous", "message": amb.Error(), "candidates": cs}
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
