package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/jaypipes/ghw"
	"github.com/jaypipes/ghw/pkg/pci"
	"github.com/jaypipes/pcidb"

	"github.com/hostdev/hostdev/usbids"
)

// Where Debian and others keep the name databases. Each is looked for under
// the scan root first, then on the host.
var (
	usbIDsPaths = []string{
		"usr/share/hwdata/usb.ids",
		"usr/share/misc/usb.ids",
		"var/lib/usbutils/usb.ids",
		"usr/share/hwdata/usb.ids.gz",
	}
	pciIDsPaths = []string{
		"usr/share/hwdata/pci.ids",
		"usr/share/misc/pci.ids",
		"usr/share/hwdata/pci.ids.gz",
		"usr/share/misc/pci.ids.gz",
	}
)

// maxDBSize bounds a name database; the real ones are about 1.5 MB.
const maxDBSize = 64 << 20

// dbRoots is where name databases are looked for: under the scan root
// first, so that a captured tree can carry its own, then on the host.
func dbRoots(root string) []string {
	if abs, err := filepath.Abs(root); err == nil && abs == "/" {
		return []string{"/"}
	}
	return []string{root, "/"}
}

// findDB returns the first database file present under one of roots. Under
// a scan root the lookup goes through an os.Root, so a link in a captured
// tree cannot point it at a file of the host.
func findDB(roots []string, rels []string) string {
	for _, root := range roots {
		var stat func(string) (os.FileInfo, error)
		if root == "/" {
			stat = func(rel string) (os.FileInfo, error) { return os.Stat("/" + rel) }
		} else {
			r, err := os.OpenRoot(root)
			if err != nil {
				continue
			}
			defer r.Close()
			stat = r.Stat
		}
		for _, rel := range rels {
			if st, err := stat(rel); err == nil && st.Mode().IsRegular() && st.Size() <= maxDBSize {
				return filepath.Join(root, rel)
			}
		}
	}
	return ""
}

// loaded is one database file, parsed at most once per process.
type loaded[T any] struct {
	once sync.Once
	val  T
	err  error
}

var (
	usbDBs sync.Map // path -> *loaded[*usbids.DB]
	pciDBs sync.Map // path -> *loaded[*pciNames]
)

func loadOnce[T any](m *sync.Map, path string, load func(string) (T, error)) (T, error) {
	v, _ := m.LoadOrStore(path, new(loaded[T]))
	l := v.(*loaded[T])
	l.once.Do(func() { l.val, l.err = load(path) })
	return l.val, l.err
}

// usbNames returns the usb.ids database, or nil when there is none. A
// damaged file still gives the names it could read, and a warning.
func usbNames(roots []string) (*usbids.DB, *Warning) {
	p := findDB(roots, usbIDsPaths)
	if p == "" {
		return nil, nil
	}
	db, err := loadOnce(&usbDBs, p, usbids.Load)
	if err != nil {
		return db, &Warning{Err: fmt.Errorf("names: %w", err)}
	}
	return db, nil
}

// pciNames pairs a PCI name database with the ghw Info that reads
// modaliases against it. A nil *pciNames names nothing.
type pciNames struct {
	info *pci.Info
}

// pciNamesFor returns the PCI names, or nil when there is no pci.ids: a
// missing pci.ids only means "no names".
func pciNamesFor(roots []string, logger *slog.Logger) (*pciNames, *Warning) {
	p := findDB(roots, pciIDsPaths)
	if p == "" {
		return nil, nil
	}
	n, err := loadOnce(&pciDBs, p, func(p string) (*pciNames, error) {
		db, err := loadPCIDB(p)
		if err != nil {
			return nil, err
		}
		return newPCINames(db, logger)
	})
	if err != nil {
		return nil, &Warning{Err: fmt.Errorf("names: %s: %w", p, err)}
	}
	return n, nil
}

// loadPCIDB parses one pci.ids file. pcidb indexes into lines without
// checking their length, so a damaged file would panic; that is turned into
// an error here.
func loadPCIDB(path string) (db *pcidb.PCIDB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("pci.ids is damaged: %v", r)
		}
	}()
	noFetch := false
	db, err = pcidb.New(pcidb.WithPath(path), &pcidb.WithOption{EnableNetworkFetch: &noFetch})
	if err != nil {
		return nil, fmt.Errorf("load pci.ids: %w", err)
	}
	return db, nil
}

// newPCINames builds the ghw Info once per database.
//
// ghw has no constructor that skips its own walk of the PCI bus: pci.New
// always lists <chroot>/sys/bus/pci/devices, and the database field of
// pci.Info is unexported, so an Info made any other way panics in
// ParseDevice. Worse, that walk returns no devices at all when one of them
// is damaged. So we read the tree ourselves and use ghw only to turn one
// modalias at a time into named IDs, and we give pci.New a chroot of
// /dev/null: its walk then ends in one open of /dev/null/sys/bus/pci/devices,
// which fails (ENOTDIR) on every host, and ghw never reads a tree.
// Its messages about that, and any others, go to our logger at debug level;
// ghw logs only while it is being built, so the first caller's logger is
// the one that hears it.
func newPCINames(db *pcidb.PCIDB, logger *slog.Logger) (*pciNames, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	quiet := slog.New(debugHandler{logger.Handler()})
	info, err := pci.New(
		ghw.WithChroot(os.DevNull),
		ghw.WithPCIDB(db),
		ghw.WithDisableTopology(),
		ghw.WithLogger(quiet),
	)
	if err != nil {
		return nil, fmt.Errorf("set up ghw: %w", err)
	}
	if len(info.Devices) != 0 {
		return nil, errors.New("set up ghw: it walked a PCI tree it was not given")
	}
	return &pciNames{info: info}, nil
}

// debugHandler logs everything at debug level: ghw's warnings are about
// its own walk, which we do not use.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

// usbNamer looks up USB names; a nil database names nothing.
type usbNamer struct{ db *usbids.DB }

func (n usbNamer) names(vendor, product uint16) (string, string) {
	v, _ := n.db.Vendor(vendor)
	p, _ := n.db.Product(vendor, product)
	return v, p
}

// name fills in a USB device's names.
func (n usbNamer) name(d *Device) {
	d.VendorName, d.ProductName = n.names(uint16(d.VendorID), uint16(d.ProductID))
}

// ghwUnknown is what ghw names an ID that is not in the database.
const ghwUnknown = "unknown"

func known(s string) string {
	if s == ghwUnknown {
		return ""
	}
	return s
}

// name fills in d's names through ghw, which is given the modalias the
// kernel would print: one rebuilt from the IDs read, so that a function
// whose modalias was unusable (and read from its vendor, device and class
// files instead) is named the same way.
func (n *pciNames) name(d *Device) {
	if n == nil {
		return
	}
	g := n.info.ParseDevice(d.Name, modaliasOf(d))
	if g == nil {
		return
	}
	if g.Vendor != nil {
		d.VendorName = known(g.Vendor.Name)
	}
	if g.Product != nil {
		d.ProductName = known(g.Product.Name)
	}
	if g.Class != nil {
		d.PCI.ClassName = known(g.Class.Name)
	}
	if g.Subclass != nil {
		d.PCI.SubclassName = known(g.Subclass.Name)
	}
}
