package hypervisor

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
)

// Dialect names the language a device reference was written in.
type Dialect string

// The dialects Refs and ParseSelector read.
const (
	DialectSelector Dialect = "selector" // hostdev's own (match.Parse)
	DialectQEMU     Dialect = "qemu"     // -device, -usbdevice, device_add, QMP
	DialectLibvirt  Dialect = "libvirt"  // <hostdev>, <interface type='hostdev'>, in a domain or alone
	DialectSeed     Dialect = "seed"     // <host bus='usb'><source .../></host>
	DialectXL       Dialect = "xl"       // usbdevice=, usbdev=, pci= in an xl config

	DialectIncus           Dialect = "incus"            // incus config device add, devices: YAML
	DialectCloudHypervisor Dialect = "cloud-hypervisor" // --device path=/sys/bus/pci/devices/...
	DialectCrosvm          Dialect = "crosvm"           // --vfio /sys/bus/pci/devices/...
	DialectDevnode         Dialect = "devnode"          // /dev/bus/usb/BBB/DDD, /dev/vfio/N
)

// Ref is one device a config names.
type Ref struct {
	Dialect Dialect
	// Text is the reference as written: one QEMU option string, one xl list
	// element, one XML element.
	Text string
	// Line is where Text starts in its document, from 1; 0 for a reference
	// given alone.
	Line int

	Selector match.Selector

	// All says the config means every match, not exactly one: an xl pci
	// entry whose function is *, an Incus usb entry (Incus attaches every
	// match) or gpu (the card and its slot's functions in its IOMMU
	// group), a /dev/vfio/N group node.
	All bool
	// Optional says the config tolerates a missing device: libvirt's
	// startupPolicy='optional'.
	Optional bool

	// noHub says the dialect's device never takes a hub (QEMU's usb-host
	// skips class 09), even where an exact port would let hostdev match one.
	noHub bool
	// iface says a libvirt reference is an <interface type='hostdev'>;
	// hostdev then holds the same device as a <hostdev>.
	iface bool

	// What writing back in the same dialect keeps.
	hostdev *libvirtxml.DomainHostdev // libvirt: the whole element
	xlOpts  string                    // xl: "@VSLOT" and options after the address
	incus   *incusDevice              // Incus: the device's settings, matched as Incus does
	pve     *pveRef                   // Proxmox: the key, options and mapping
}

// Resolve finds what r means among devs: one device, or with All every
// match. Moved is non-nil when a remembered USB address was stale.
//
// It fails with a *match.NoMatchError, or with an *AmbiguousError that
// wraps the *match.AmbiguousError and says in r's dialect what picks each
// candidate.
func (r Ref) Resolve(devs []discover.Device) ([]discover.Device, *match.Moved, error) {
	if r.incus != nil {
		return r.incus.resolve(r, devs)
	}
	resolve := r.resolveHubs
	if r.pve != nil {
		resolve = r.resolveProxmox
	}
	ds, moved, err := resolve(devs)
	var amb *match.AmbiguousError
	if errors.As(err, &amb) {
		return nil, nil, ambiguous(r, amb)
	}
	return ds, moved, err
}

func (r Ref) resolveHubs(devs []discover.Device) ([]discover.Device, *match.Moved, error) {
	if r.noHub {
		var hubs []match.Near
		devs = slices.DeleteFunc(slices.Clone(devs), func(d discover.Device) bool {
			hub := d.USB != nil && d.USB.Class == 9
			if hub && r.Selector.Match(d) {
				hubs = append(hubs, match.Near{Device: d, Reason: "is a hub; QEMU's usb-host never takes a hub"})
			}
			return hub
		})
		if len(hubs) > 0 {
			if _, _, err := r.resolve(devs); err != nil {
				return nil, nil, &match.NoMatchError{Selector: r.Selector, Nearest: hubs}
			}
		}
	}
	return r.resolve(devs)
}

func (r Ref) resolve(devs []discover.Device) ([]discover.Device, *match.Moved, error) {
	if r.All {
		ds, err := match.ResolveAll(r.Selector, devs)
		return ds, nil, err
	}
	d, moved, err := match.ResolveMoved(r.Selector, devs)
	if err != nil {
		return nil, nil, err
	}
	return []discover.Device{d}, moved, nil
}

// Error is a device reference that cannot be read, or that names nothing
// hostdev can resolve. It says which dialect, where, and what is wrong.
//
// Err is the cause, when there is one, and errors.As and errors.Is see it:
// the *match.ParseError of a selector inside the reference (QEMU's
// -usbdevice host:..., xl's usbdevice=), encoding/xml's *xml.SyntaxError,
// or errors.ErrUnsupported for a reference that is well formed but is not
// a host device hostdev resolves (an emulated QEMU device, an xl usbdev of
// another type, a <hostdev type='scsi'>, a document naming no host
// device).
type Error struct {
	Dialect Dialect
	Line    int    // from 1; 0 when the input was a single reference
	Text    string // the reference, or the part of it that is wrong
	Msg     string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	what := map[Dialect]string{
		DialectQEMU: "QEMU", DialectLibvirt: "libvirt", DialectSeed: "<host>",
		DialectXL: "xl", DialectSelector: "selector", DialectProxmox: "Proxmox",
		DialectIncus: "Incus", DialectCloudHypervisor: "cloud-hypervisor", DialectCrosvm: "crosvm", DialectDevnode: "device node",
	}[e.Dialect]
	if e.Text != "" {
		fmt.Fprintf(&b, "%s %q: %s", what, e.Text, e.Msg)
	} else {
		fmt.Fprintf(&b, "%s: %s", what, e.Msg)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(d Dialect, line int, text, format string, args ...any) *Error {
	return &Error{Dialect: d, Line: line, Text: text, Msg: fmt.Sprintf(format, args...)}
}

// wrapf is errorf for an error with a cause.
func wrapf(cause error, d Dialect, line int, text, format string, args ...any) *Error {
	e := errorf(d, line, text, format, args...)
	e.Err = cause
	return e
}

// unsupportedf is errorf for a reference hostdev cannot resolve however it
// is written.
func unsupportedf(d Dialect, line int, text, format string, args ...any) *Error {
	return wrapf(errors.ErrUnsupported, d, line, text, format, args...)
}

// selectorError turns a match.New or match.Parse failure into an Error
// about text that wraps it.
func selectorError(d Dialect, line int, text string, err error) *Error {
	e := wrapf(err, d, line, text, "%v", err)
	if pe := (*match.ParseError)(nil); errors.As(err, &pe) {
		e.Msg = pe.Msg
	}
	return e
}

// seedHost is the start of a seed <host> element.
var seedHost = regexp.MustCompile(`<host[\s/>]`)

var xlAssign = regexp.MustCompile(`^\s*(usbdevice|usbdev|pci)\s*\+?=`)

// ParseSelector reads one device reference in any dialect, telling them
// apart by shape:
//
//	<hostdev ...>, <interface type='hostdev'>,
//	<domain ...>, <host ...>                 libvirt or seed XML
//	-device usb-host,..., device_add ..., usb-host,..., vfio-pci,...,
//	-usbdevice host:..., {"execute":"device_add",...}   QEMU
//	qemu-system-x86_64 -m 4G -device ...    a whole QEMU command line
//	usbdevice=..., usbdev=[...], pci=[...]   an xl line
//	anything else                            a hostdev selector (match.Parse)
//
// XML and xl lines may name several devices. A hostdev selector that
// cannot be read is a *match.ParseError; every other dialect's is an
// *Error. An XML element that names a host device hostdev does not
// resolve (a SCSI <hostdev>), which Read lists as skipped, is an *Error
// here too: one argument has no room for a warning.
func ParseSelector(s string) ([]Ref, error) {
	t := strings.TrimSpace(s)
	var (
		refs []Ref
		err  error
		d    Dialect
	)
	switch {
	case strings.HasPrefix(t, "<"):
		var skipped []*Error
		refs, skipped, err = xmlRefs([]byte(s))
		d = xmlDialect([]byte(t))
		// One argument has no room for a warning: what it names and
		// hostdev cannot resolve is an error (Read reports it and goes on).
		if err == nil && len(skipped) > 0 {
			return nil, skipped[0]
		}
	case xlAssign.MatchString(t):
		refs, err = xlRefs([]byte(s))
		d = DialectXL
	case otherSniff([]byte(t)) != "":
		d = otherSniff([]byte(t))
		refs, err = otherRefs(d, []byte(s))
		if !strings.Contains(t, "\n") { // a reference alone has no line
			for i := range refs {
				refs[i].Line = 0
			}
			atLine(err, 0)
		}
	case looksProxmoxValue(t):
		refs, err = proxmoxSelector(s)
		d = DialectProxmox
	}
	if d != "" {
		if err == nil && len(refs) == 0 {
			err = &Error{Dialect: d, Text: s, Msg: "names no host USB or PCI device (" + nothingHint[d] + ")", Err: errors.ErrUnsupported}
		}
		return refs, err
	}
	switch {
	case isQEMUProgram(strings.Fields(t + " x")[0]):
		// A whole command line in one argument, as copied from ps or a
		// log: split as the shell would have.
		words, err := shellWords(t)
		if err != nil {
			return nil, err
		}
		args := make([]string, len(words))
		for i, w := range words {
			args[i] = w.text
		}
		return QEMUArgs(args)
	case looksQEMU(t):
		r, err := ParseQEMU(t)
		if err != nil {
			return nil, err
		}
		return []Ref{r}, nil
	}
	sel, err := match.Parse(s)
	if err != nil {
		return nil, err
	}
	return []Ref{{Dialect: DialectSelector, Text: s, Selector: sel}}, nil
}

// Refs reads every device reference in a document: libvirt domain XML (or
// one <hostdev> or <interface type='hostdev'>), a seed document, an xl
// config, or QEMU options (one -device or -usbdevice per argument, as in a
// script). It returns the dialect it took the document to be. A document
// it cannot read fails with an *Error whose Line says where.
//
// Refs passes over the elements Read lists as Skipped (a SCSI <hostdev>
// beside USB ones); call Read to tell the user about them.
func Refs(doc []byte) ([]Ref, Dialect, error) {
	rd, err := Read(doc)
	return rd.Refs, rd.Dialect, err
}

// Document is what Read found in a config.
type Document struct {
	Dialect Dialect
	Refs    []Ref
	// Skipped holds, in document order, an *Error for each element that
	// names a host device hostdev does not resolve: a libvirt <hostdev>
	// of type scsi, scsi_host or mdev or of mode='capabilities', an
	// <interface type='hostdev'> with a USB source. Each wraps
	// errors.ErrUnsupported and says its line. They are warnings: Refs
	// holds every other device. libvirt's <redirdev> (a USB device on a
	// SPICE client or a TCP peer, not on this host) and <interface
	// type='network'> (a VF that the network's pool picks when the VM
	// starts) name no device of this host, and are neither read nor
	// listed.
	Skipped []*Error
}

// Read is Refs that also lists what it skipped. A document whose every
// device is skipped fails as one that names nothing, with the reasons.
func Read(doc []byte) (Document, error) {
	d, err := sniff(doc)
	if err != nil {
		return Document{}, err
	}
	var (
		refs    []Ref
		skipped []*Error
	)
	switch d {
	case DialectLibvirt, DialectSeed:
		refs, skipped, err = xmlRefs(doc)
	case DialectXL:
		refs, err = xlRefs(doc)
	case DialectQEMU:
		refs, err = qemuDocRefs(doc)
	case DialectProxmox:
		refs, err = proxmoxRefs(doc)
	case DialectIncus:
		refs, skipped, err = incusRefs(doc)
	default:
		refs, err = otherRefs(d, doc)
	}
	if err != nil {
		return Document{Dialect: d}, err
	}
	if len(refs) == 0 {
		msg := "names no host USB or PCI device (" + nothingHint[d] + ")"
		if len(skipped) > 0 {
			var why []string
			for _, e := range skipped {
				why = append(why, e.Error())
			}
			msg = "names no host USB or PCI device that hostdev resolves: " + strings.Join(why, "; ")
		}
		return Document{Dialect: d, Skipped: skipped}, &Error{Dialect: d, Msg: msg, Err: errors.ErrUnsupported}
	}
	return Document{Dialect: d, Refs: refs, Skipped: skipped}, nil
}

var nothingHint = map[Dialect]string{
	DialectLibvirt: "no <hostdev mode='subsystem' type='usb|pci|mdev'> or <interface type='hostdev'> element",
	DialectSeed:    "no <host bus='usb|pci'> element",
	DialectXL:      "no usbdevice= host:..., usbdev= or pci= entry",
	DialectQEMU:    "no -device usb-host, -device vfio-pci or -usbdevice host:...",

	DialectIncus:           "no usb, pci or gpu device",
	DialectCloudHypervisor: "no --device path=...",
	DialectCrosvm:          "no --vfio PATH",
	DialectDevnode:         "no /dev/bus/usb/BBB/DDD or /dev/vfio/N",
	DialectProxmox:         "no usbN: host=... or hostpciN: line before the first [section]",
}

// sniff tells a document's dialect from its first significant bytes.
func sniff(doc []byte) (Dialect, error) {
	t := bytes.TrimSpace(doc)
	if len(t) == 0 {
		return "", &Error{Msg: "the document is empty"}
	}
	if t[0] == '<' {
		return xmlDialect(t), nil
	}
	// Incus, cloud-hypervisor, crosvm and device nodes have words of their
	// own, and a --device path= would otherwise read as QEMU's -device.
	if d := otherSniff(t); d != "" {
		return d, nil
	}
	if looksProxmox(t) {
		return DialectProxmox, nil
	}
	// An xl config is KEY = VALUE lines; QEMU options are a command line,
	// perhaps inside a script (exec qemu-system-x86_64 -device ...).
	// Any xl device setting makes it xl; otherwise any -device or
	// -usbdevice, or a first line in QEMU's shape, makes it QEMU.
	qemu := false
	first := true
	for line := range strings.SplitSeq(string(t), "\n") {
		l := strings.TrimSpace(line)
		if l == "" || l[0] == '#' {
			continue
		}
		if xlAssign.MatchString(l) {
			return DialectXL, nil
		}
		if first && (looksQEMU(l) || strings.Contains(l, "qemu-system")) ||
			strings.Contains(l, "-device ") || strings.Contains(l, "-usbdevice ") {
			qemu = true
		}
		first = false
	}
	if qemu {
		return DialectQEMU, nil
	}
	return DialectXL, nil
}

// xmlDialect tells libvirt XML from a seed document: libvirt's has a
// <domain>, a <hostdev> or an <interface> (a single <interface
// type='hostdev'> is libvirt's, not a malformed seed <host>).
func xmlDialect(doc []byte) Dialect {
	if bytes.Contains(doc, []byte("<hostdev")) || bytes.Contains(doc, []byte("<domain")) {
		return DialectLibvirt
	}
	if seedHost.Match(doc) || !bytes.Contains(doc, []byte("<interface")) {
		return DialectSeed
	}
	return DialectLibvirt
}

// Element is the XML element a libvirt or seed reference was read from:
// "hostdev", "interface" (type='hostdev') or "host"; "" for the other
// dialects.
func (r Ref) Element() string {
	switch {
	case r.iface:
		return "interface"
	case r.hostdev != nil:
		return "hostdev"
	case r.Dialect == DialectSeed:
		return "host"
	}
	return ""
}

// Unmanaged reports whether the reference is a libvirt PCI <hostdev> (or
// <interface type='hostdev'>) without managed='yes', whose device libvirt
// will not detach itself.
func (r Ref) Unmanaged() bool {
	return r.hostdev != nil && r.hostdev.SubsysPCI != nil && r.hostdev.Managed != "yes"
}
