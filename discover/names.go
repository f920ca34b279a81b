package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

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

// findDB returns the first database file present under one of roots, and
// what stat said of it. Under a scan root the lookup goes through an
// os.Root, so a link in a captured tree cannot point it at a file of the
// host.
func findDB(roots []string, rels []string) (string, os.FileInfo) {
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
				return filepath.Join(root, rel), st
			}
		}
	}
	return "", nil
}

// fileID tells one version of a file from another: a file rewritten in
// place changes size or mtime, and one replaced by a rename changes inode.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64 // ns
}

func idOf(st os.FileInfo) fileID {
	id := fileID{size: st.Size(), mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return id
}

// dbCacheSize bounds each cache. A process scans one root, or a few; a test
// suite scans hundreds of temporary roots, each with its own database, and
// must not keep them all.
const dbCacheSize = 4

// dbCache keeps the parsed databases in use, so that a scan does not pay
// for parsing (pci.ids takes about 55 ms) when its file is unchanged. An
// entry is for one path and one version of its file: a lookup that finds
// the file changed parses it again and replaces the entry, so a daemon
// sees an updated database on its next scan. Beyond dbCacheSize paths the
// least recently used entry goes.
type dbCache[T any] struct {
	mu      sync.Mutex
	entries map[string]*dbEntry[T]
	clock   uint64
	parses  atomic.Int64 // files parsed so far, for tests and benchmarks
}

type dbEntry[T any] struct {
	id   fileID
	used uint64
	once sync.Once
	val  T
	err  error
}

var (
	usbDBs dbCache[*usbids.DB]
	pciDBs dbCache[*pcidb.PCIDB]
)

// get returns the database at path, whose stat gave id, parsing it with
// load unless the same version is cached. Callers asking at once for one
// version wait for a single parse. A damaged file's error is cached with
// it: it stays damaged until it changes.
func (c *dbCache[T]) get(path string, id fileID, load func(string) (T, error)) (T, error) {
	c.mu.Lock()
	e, ok := c.entries[path]
	if !ok || e.id != id {
		if c.entries == nil {
			c.entries = map[string]*dbEntry[T]{}
		}
		e = &dbEntry[T]{id: id}
		c.entries[path] = e
		c.evict(path)
	}
	c.clock++
	e.used = c.clock
	c.mu.Unlock()
	e.once.Do(func() {
		c.parses.Add(1)
		e.val, e.err = load(path)
	})
	return e.val, e.err
}

// evict drops the least recently used entries, other than keep's, until
// at most dbCacheSize are left. A caller still holding a dropped database
// keeps it; the cache only stops holding it.
func (c *dbCache[T]) evict(keep string) {
	for len(c.entries) > dbCacheSize {
		oldest := ""
		for p, e := range c.entries {
			if p != keep && (oldest == "" || e.used < c.entries[oldest].used) {
				oldest = p
			}
		}
		delete(c.entries, oldest)
	}
}

// len says how many databases the cache holds.
func (c *dbCache[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// usbNames returns the usb.ids database, or nil when there is none. A
// damaged file still gives the names it could read, and a warning.
func usbNames(roots []string) (*usbids.DB, *Warning) {
	p, st := findDB(roots, usbIDsPaths)
	if p == "" {
		return nil, nil
	}
	db, err := usbDBs.get(p, idOf(st), usbids.Load)
	if err != nil {
		return db, &Warning{Err: fmt.Errorf("names: %w", err)}
	}
	return db, nil
}

// pciNames pairs a PCI name database with the ghw Info that reads
// modaliases against it. A nil *pciNames names nothing.
type pciNames struct {
	db   *pcidb.PCIDB
	info *pci.Info
}

// pciNamesFor returns the PCI names, or nil when there is no pci.ids: a
// missing pci.ids only means "no names". The database is cached; the ghw
// Info around it is built for each call, cheaply, so that ghw's messages
// go to this caller's logger.
func pciNamesFor(roots []string, logger *slog.Logger) (*pciNames, *Warning) {
	return pciNamesSince(roots, logger, nil)
}

// pciNamesSince is pciNamesFor for a caller that asks again and again (a
// watcher at each full rescan): it returns prev as long as prev's database
// is the one cached for the file, so that an unchanged pci.ids costs a
// stat, and ghw is not built (nor heard in the logger) each time.
func pciNamesSince(roots []string, logger *slog.Logger, prev *pciNames) (*pciNames, *Warning) {
	p, st := findDB(roots, pciIDsPaths)
	if p == "" {
		return nil, nil
	}
	db, err := pciDBs.get(p, idOf(st), loadPCIDB)
	if err == nil && prev != nil && prev.db == db {
		return prev, nil
	}
	if err == nil {
		var n *pciNames
		if n, err = newPCINames(db, logger); err == nil {
			return n, nil
		}
	}
	return nil, &Warning{Err: fmt.Errorf("names: %s: %w", p, err)}
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

// newPCINames builds a ghw Info around db.
//
// ghw has no constructor that skips its own walk of the PCI bus: pci.New
// always lists <chroot>/sys/bus/pci/devices, and the database field of
// pci.Info is unexported, so an Info made any other way panics in
// ParseDevice. Worse, that walk returns no devices at all when one of them
// is damaged. So we read the tree ourselves and use ghw only to turn one
// modalias at a time into named IDs, and we give pci.New a chroot of
// /dev/null: its walk then ends in one open of /dev/null/sys/bus/pci/devices,
// which fails (ENOTDIR) on every host, and ghw never reads a tree.
// Its messages about that, and any others, go to logger at debug level;
// ghw logs only while it is being built, so each call builds its own.
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
	return &pciNames{db: db, info: info}, nil
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
