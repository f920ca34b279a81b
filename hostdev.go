// Package hostdev is the way into hostdev as a library: open a host once,
// by its root directory or a captured tree, then scan it, judge what can
// be given to a VM, resolve the references a VM config holds, and watch
// devices come and go.
//
//	h, err := hostdev.Open("/") // or a directory, or a snapshot .tar.gz
//	if err != nil {
//		return err
//	}
//	defer h.Close()
//
//	res, err := h.Scan(ctx)                                  // every device, with warnings
//	dev, _, err := h.Resolve(ctx, "host:0483:2016,serial=K1") // one device, or a typed error
//	dev, _, err = h.Resolve(ctx, "-device usb-host,vendorid=0x0483,productid=0x2016")
//	rep, err := h.Assess(ctx)                                // IOMMU groups and verdicts
//	w, err := h.Watch(ctx, discover.WatchOptions{})          // events until ctx is done
//
// Resolve reads a reference in any dialect hostdev knows (its own
// selectors, QEMU options and QMP, libvirt and Xen) and fails with an error
// that errors.As opens: *match.ParseError or *hypervisor.Error for a
// reference that cannot be read, *match.NoMatchError when nothing matches,
// *match.AmbiguousError when several devices do (for another dialect than
// hostdev's own, inside a *hypervisor.AmbiguousError whose message says
// what picks each device in that dialect).
//
// The packages underneath are usable on their own: discover reads devices,
// match and hypervisor resolve, readiness judges, sysfstest builds fake
// hosts for tests. A Host only saves giving each of them the root again.
package hostdev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/snapshot"
)

// Host is one host, or one captured tree, opened for reading. Its methods
// may be called from several goroutines at once; each reads the tree
// afresh, so a result is as current as the call.
type Host struct {
	root    string // the directory read beneath
	cleanup func() // removes an unpacked capture; never nil
	logger  *slog.Logger
	numeric bool
	closed  atomic.Bool
}

// An Option changes how Open sets up a Host.
type Option func(*Host)

// WithLogger sends the libraries' own messages (a damaged pci.ids, say) to
// l. Without it they are discarded. Problems with single devices are not
// logged: they come back as warnings with the devices.
func WithLogger(l *slog.Logger) Option { return func(h *Host) { h.logger = l } }

// WithoutNames leaves out the vendor and product names of the usb.ids and
// pci.ids databases, as lspci -n does: faster, and the IDs are all a
// program needs.
func WithoutNames() Option { return func(h *Host) { h.numeric = true } }

// Open opens the host whose sysfs is beneath root: "" or "/" for this
// machine, any other directory for a tree (a container's, a test's), or a
// .tar.gz capture written by `hostdev-discover snapshot`, known by its gzip
// magic rather than its name. A capture is unpacked into a temporary
// directory that Close removes.
//
// Open is OpenContext with context.Background(): it cannot be stopped.
func Open(root string, opts ...Option) (*Host, error) {
	return OpenContext(context.Background(), root, opts...)
}

// OpenContext is Open that stops unpacking a capture once ctx is done,
// within one of its entries, and fails with an error that errors.Is
// matches with ctx.Err(). Nothing of the capture is then left on disk. ctx
// only bounds opening: the Host lives until Close.
func OpenContext(ctx context.Context, root string, opts ...Option) (*Host, error) {
	h := &Host{root: root, cleanup: func() {}}
	for _, o := range opts {
		o(h)
	}
	if h.root == "" {
		h.root = "/"
	}
	st, err := os.Stat(h.root)
	if err != nil {
		return nil, fmt.Errorf("hostdev: open %s: %w", root, err)
	}
	if !st.IsDir() {
		gz, err := isGzip(h.root, st)
		if err != nil {
			return nil, fmt.Errorf("hostdev: open %s: %w", root, err)
		}
		if !gz {
			return nil, fmt.Errorf("hostdev: open %s: %w", root, ErrNotATree)
		}
		dir, cleanup, err := snapshot.UnpackContext(ctx, h.root)
		if err != nil {
			return nil, fmt.Errorf("hostdev: open %s: %w", root, err)
		}
		h.root, h.cleanup = dir, cleanup
	}
	return h, nil
}

// ErrSeveralReferences is what Resolve says of a reference that names more
// than one device, or every device that matches.
var ErrSeveralReferences = errors.New("names several devices, not one")

// ErrNotATree is what Open says of a root that is neither a directory nor a
// gzip'd capture.
var ErrNotATree = errors.New("not a directory or a .tar.gz capture")

// Root is the directory the Host reads beneath: what Open was given, or the
// temporary directory a capture was unpacked into.
func (h *Host) Root() string { return h.root }

// Close removes an unpacked capture, and every later call of the Host's
// methods fails with ErrClosed. It does not stop watchers: they stop with
// their own context or Close (a watcher of a capture sees its tree go).
// Close may be called more than once.
func (h *Host) Close() error {
	if !h.closed.Swap(true) {
		h.cleanup()
	}
	return nil
}

// ErrClosed is what the methods of a closed Host return.
var ErrClosed = errors.New("hostdev: host is closed")

// check fails once the Host is closed.
func (h *Host) check() error {
	if h.closed.Load() {
		return ErrClosed
	}
	return nil
}

// options gives the discover options every call shares.
func (h *Host) options() discover.Options {
	return discover.Options{Root: h.root, Numeric: h.numeric, Logger: h.logger}
}

// Scan reads every USB device and PCI function. Devices that could not be
// fully read are listed all the same, and the Result's warnings say which
// file was wrong; Scan fails only when the tree cannot be read at all or
// ctx is done.
func (h *Host) Scan(ctx context.Context, buses ...discover.Bus) (*discover.Result, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	opts := h.options()
	opts.Buses = buses
	return discover.Scan(ctx, opts)
}

// Assess scans the host and judges every device: whether it can be given
// to a VM now, why not, and how to fix it, with the IOMMU groups. The
// report's warnings include the scan's.
func (h *Host) Assess(ctx context.Context) (*readiness.Report, error) {
	res, err := h.Scan(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: h.root})
	if err != nil {
		return nil, err
	}
	rep.Warnings = append(res.Warnings, rep.Warnings...)
	return rep, nil
}

// Resolve returns the one device that ref names now. ref is a reference in
// any dialect hypervisor.ParseSelector reads: a hostdev selector
// ("host:0483:2016,serial=K1"), a QEMU option or QMP command, a libvirt
// <hostdev> element, an xl line. A reference that names several devices on
// purpose (several <hostdev> elements, an xl pci entry for every function)
// is refused with ErrSeveralReferences: read such a document with
// hypervisor.Refs and resolve each.
//
// A reference that remembers where its device was, by vendor and product
// and a bus and device number (as libvirt fills in <address>), follows the
// device when it has been replugged elsewhere, as libvirt does; moved then
// says from where to where, so that the caller can log it or write the new
// address back. It is nil otherwise.
func (h *Host) Resolve(ctx context.Context, ref string) (dev discover.Device, moved *match.Moved, err error) {
	refs, err := hypervisor.ParseSelector(ref)
	if err != nil {
		return discover.Device{}, nil, err
	}
	if len(refs) != 1 || refs[0].All {
		return discover.Device{}, nil, fmt.Errorf("hostdev: %q: %w: resolve each with hypervisor.Refs", ref, ErrSeveralReferences)
	}
	res, err := h.Scan(ctx)
	if err != nil {
		return discover.Device{}, nil, err
	}
	devs, moved, err := refs[0].Resolve(res.Devices)
	if err != nil {
		return discover.Device{}, nil, err
	}
	return devs[0], moved, nil
}

// Watch reports the devices that come, go and change until ctx is done or
// the watcher is closed. It watches the Host's root, whatever opts.Root
// says; a logger or WithoutNames given to Open applies unless opts sets its
// own.
func (h *Host) Watch(ctx context.Context, opts discover.WatchOptions) (*discover.Watcher, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	opts.Root = h.root
	if opts.Logger == nil {
		opts.Logger = h.logger
	}
	opts.Numeric = opts.Numeric || h.numeric
	return discover.Watch(ctx, opts)
}

// isGzip reports whether the file at path is a regular file starting with
// the gzip magic bytes. Anything else, a FIFO among them, is not read.
func isGzip(path string, st fs.FileInfo) (bool, error) {
	if !st.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [2]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil // too short to be an archive
		}
		return false, err
	}
	return magic == [2]byte{0x1f, 0x8b}, nil
}

// Snapshot writes a capture of the host to w: a .tar.gz of exactly the
// files a scan reads, which Open reads back as the same host. It returns
// the scan it recorded, whose warnings say what could not be read. A
// capture holds device strings such as serial numbers: share it knowingly.
func (h *Host) Snapshot(ctx context.Context, w io.Writer) (*discover.Result, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	arc := snapshot.NewArchive()
	opts := h.options()
	opts.Numeric, opts.Recorder = true, arc
	res, err := discover.Scan(ctx, opts)
	if err != nil {
		return nil, err
	}
	if _, err := arc.WriteTo(w); err != nil {
		return nil, err
	}
	return res, nil
}
