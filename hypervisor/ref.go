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
	DialectLibvirt  Dialect = "libvirt"  // <hostdev> in a domain or alone
	DialectSeed     Dialect = "seed"     // <host bus='usb'><source .../></host>
	DialectXL       Dialect = "xl"       // usbdevice=, usbdev=, pci= in an xl config
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
	// entry whose function is *.
	All bool
	// Optional says the config tolerates a missing device: libvirt's
	// startupPolicy='optional'.
	Optional bool

	// noHub says the dialect's device never takes a hub (QEMU's usb-host
	// skips class 09), even where an exact port would let hostdev match one.
	noHub bool

	// What writing back in the same dialect keeps.
	hostdev *libvirtxml.DomainHostdev // libvirt: the whole element
	xlOpts  string                    // xl: "@VSLOT" and options after the address
}

// Resolve finds what r means among devs: one device, or with All every
// match. Moved is non-nil when a remembered USB address was stale.
//
// It fails with a *match.NoMatchError, or with an *AmbiguousError that
// wraps the *match.AmbiguousError and says in r's dialect what picks each
// candidate.
func (r Ref) Resolve(devs []discover.Device) ([]discover.Device, *match.Moved, error) {
	ds, moved, err := r.resolveHubs(devs)
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
		DialectXL: "xl", DialectSelector: "selector",
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

var xlAssign = regexp.MustCompile(`^\s*(usbdevice|usbdev|pci)\s*\+?=`)

// ParseSelector reads one device reference in any dialect, telling them
// apart by shape:
//
//	<hostdev ...>, <domain ...>, <host ...>   libvirt or seed XML
//	-device usb-host,..., device_add ..., usb-host,..., vfio-pci,...,
//	-usbdevice host:..., {"execute":"device_add",...}   QEMU
//	qemu-system-x86_64 -m 4G -device ...    a whole QEMU command line
//	usbdevice=..., usbdev=[...], pci=[...]   an xl line
//	anything else                            a hostdev selector (match.Parse)
//
// XML and xl lines may name several devices. A hostdev selector that
// cannot be read is a *match.ParseError; every other dialect's is an
// *Error.
func ParseSelector(s string) ([]Ref, error) {
	t := strings.TrimSpace(s)
	var (
		refs []Ref
		err  error
		d    Dialect
	)
	switch {
	case strings.HasPrefix(t, "<"):
		refs, err = xmlRefs([]byte(s))
		d = DialectLibvirt
		if !strings.Contains(t, "<hostdev") && !strings.Contains(t, "<domain") {
			d = DialectSeed
		}
	case xlAssign.MatchString(t):
		refs, err = xlRefs([]byte(s))
		d = DialectXL
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
// one <hostdev>), a seed document, an xl config, or QEMU options (one
// -device or -usbdevice per argument, as in a script). It returns the
// dialect it took the document to be. A document it cannot read fails with
// an *Error whose Line says where.
func Refs(doc []byte) ([]Ref, Dialect, error) {
	d, err := sniff(doc)
	if err != nil {
		return nil, "", err
	}
	var refs []Ref
	switch d {
	case DialectLibvirt, DialectSeed:
		refs, err = xmlRefs(doc)
	case DialectXL:
		refs, err = xlRefs(doc)
	case DialectQEMU:
		refs, err = qemuDocRefs(doc)
	}
	if err != nil {
		return nil, d, err
	}
	if len(refs) == 0 {
		return nil, d, &Error{Dialect: d, Msg: "names no host USB or PCI device (" + nothingHint[d] + ")", Err: errors.ErrUnsupported}
	}
	return refs, d, nil
}

var nothingHint = map[Dialect]string{
	DialectLibvirt: "no <hostdev mode='subsystem' type='usb|pci'> element",
	DialectSeed:    "no <host bus='usb|pci'> element",
	DialectXL:      "no usbdevice= host:..., usbdev= or pci= entry",
	DialectQEMU:    "no -device usb-host, -device vfio-pci or -usbdevice host:...",
}

// sniff tells a document's dialect from its first significant bytes.
func sniff(doc []byte) (Dialect, error) {
	t := bytes.TrimSpace(doc)
	if len(t) == 0 {
		return "", &Error{Msg: "the document is empty"}
	}
	if t[0] == '<' {
		if bytes.Contains(doc, []byte("<hostdev")) || bytes.Contains(doc, []byte("<domain")) {
			return DialectLibvirt, nil
		}
		return DialectSeed, nil
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

// Unmanaged reports whether the reference is a libvirt PCI <hostdev>
// without managed='yes', whose device libvirt will not detach itself.
func (r Ref) Unmanaged() bool {
	return r.hostdev != nil && r.hostdev.SubsysPCI != nil && r.hostdev.Managed != "yes"
}
