package discover

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jaypipes/pcidb"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

// A database under the scan root wins over the host's.
func TestFindDBUnderRootFirst(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "var/lib/usbutils/usb.ids")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("0483  Our Own STMicro\n\t2016  Our Fingerprint Reader\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := findDB(dbRoots(root), usbIDsPaths); got != p {
		t.Errorf("findDB = %q, want %q", got, p)
	}
	tree := sysfstest.NewHostAt(root)
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0483, IDProduct: 0x2016})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(context.Background(), Options{Root: root, Buses: []Bus{BusUSB}})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Devices[1]
	if d.VendorName != "Our Own STMicro" || d.ProductName != "Our Fingerprint Reader" {
		t.Errorf("names %q %q, want the root's database", d.VendorName, d.ProductName)
	}
	res, _ = Scan(context.Background(), Options{Root: root, Buses: []Bus{BusUSB}, Numeric: true})
	if d := res.Devices[1]; d.VendorName != "" || d.ProductName != "" {
		t.Errorf("numeric scan named %q %q", d.VendorName, d.ProductName)
	}
}

// One version of a file is parsed once, however many ask at once; a new
// version is parsed again; and the cache keeps dbCacheSize paths at most.
func TestDBCache(t *testing.T) {
	var c dbCache[int]
	var calls atomic.Int32
	load := func(string) (int, error) { return int(calls.Add(1)), nil }
	v1 := fileID{dev: 1, ino: 2, size: 3, mtime: 4}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if v, _ := c.get("/x", v1, load); v != 1 {
				t.Errorf("got %d, want the first parse", v)
			}
		})
	}
	wg.Wait()
	for _, id := range []fileID{
		{dev: 1, ino: 2, size: 3, mtime: 5}, // rewritten, same size
		{dev: 1, ino: 2, size: 4, mtime: 5}, // grown within one mtime tick
		{dev: 1, ino: 9, size: 4, mtime: 5}, // renamed over, size and mtime kept
		{dev: 7, ino: 9, size: 4, mtime: 5}, // another file system
	} {
		before := calls.Load()
		if v, _ := c.get("/x", id, load); v != int(before)+1 {
			t.Errorf("%+v: got parse %d, want a new parse %d", id, v, before+1)
		}
	}
	if n := c.parses.Load(); n != 5 {
		t.Errorf("%d parses counted, want 5", n)
	}
	for i := range 3 * dbCacheSize {
		c.get(fmt.Sprintf("/root%d/usb.ids", i), v1, load)
		if n := c.len(); n > dbCacheSize {
			t.Fatalf("after %d paths the cache holds %d, want at most %d", i+1, n, dbCacheSize)
		}
	}
	// The newest stay: the last path is still cached.
	before := c.parses.Load()
	c.get(fmt.Sprintf("/root%d/usb.ids", 3*dbCacheSize-1), v1, load)
	if c.parses.Load() != before {
		t.Error("the most recently used database was parsed again")
	}
}

// pcidb indexes into lines without checking them; a damaged pci.ids must be
// an error, not a crash.
func TestDamagedPCIIDs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pci.ids")
	if err := os.WriteFile(p, []byte("8086  Intel Corporation\nC\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPCIDB(p); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("loadPCIDB of a damaged file: %v, want an error saying it is damaged", err)
	}
}

// hostDB skips unless the host has the named database.
func hostDB(t *testing.T, paths []string, pkg string) {
	t.Helper()
	if p, _ := findDB([]string{"/"}, paths); p == "" {
		testenv.Skip(t, "no %s on this host (apt-get install %s)", pkg, pkg)
	}
}

// With the real databases, the corpus devices get the names lsusb and lspci
// give them.
func TestNamesFromHostDatabases(t *testing.T) {
	hostDB(t, usbIDsPaths, "usb.ids")
	hostDB(t, pciIDsPaths, "pci.ids")
	res, err := Scan(context.Background(), Options{Root: unpackCorpus(t, "systemd-thinkpad-2008")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"4-2":          {"STMicroelectronics", "Fingerprint Reader"},
		"usb5":         {"Linux Foundation", "2.0 root hub"},
		"0000:00:1d.7": {"Intel Corporation", "NM10/ICH7 Family USB2 EHCI Controller"},
		"0000:02:00.0": {"Intel Corporation", "82573L Gigabit Ethernet Controller"},
	}
	for _, d := range res.Devices {
		if w, ok := want[d.Name]; ok {
			if d.VendorName != w[0] || d.ProductName != w[1] {
				t.Errorf("%s: names %q %q, want %q %q", d.Name, d.VendorName, d.ProductName, w[0], w[1])
			}
			delete(want, d.Name)
		}
	}
	for n := range want {
		t.Errorf("%s not listed", n)
	}
}

// One function with a broken modalias loses nothing: ghw's own walk would
// have returned no devices at all.
func TestBrokenModaliasKeepsNames(t *testing.T) {
	hostDB(t, pciIDsPaths, "pci.ids")
	root := t.TempDir()
	tree := sysfstest.NewHostAt(root)
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x27a0, Class: 0x060000})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1d.7", Vendor: 0x8086, Device: 0x27cc, Class: 0x0c0320,
		Raw: map[string]string{"modalias": "pci:v00008086\n"}})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 2 {
		t.Fatalf("got %d devices, want 2", len(res.Devices))
	}
	for _, d := range res.Devices {
		if d.VendorName != "Intel Corporation" || d.ProductName == "" || d.PCI.ClassName == "" {
			t.Errorf("%s: names %q %q class %q", d.Name, d.VendorName, d.ProductName, d.PCI.ClassName)
		}
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Error(), "modalias") {
		t.Errorf("warnings %v, want one about the modalias", res.Warnings)
	}
}

// recordHandler keeps the records it is given.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// ghw's messages go to our logger, at debug level, and never to stderr;
// and ghw walks no tree of its own.
func TestGhwLogsToOurLogger(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	h := &recordHandler{}
	names, err := newPCINames(&pcidb.PCIDB{}, slog.New(h))
	os.Stderr = stderr
	w.Close()
	leaked, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaked) > 0 {
		t.Errorf("ghw wrote to stderr: %q", leaked)
	}
	if len(h.recs) == 0 {
		t.Error("ghw's messages did not reach our logger")
	}
	for _, rec := range h.recs {
		if rec.Level != slog.LevelDebug {
			t.Errorf("ghw message %q at level %v, want debug", rec.Message, rec.Level)
		}
	}
	if len(names.info.Devices) != 0 {
		t.Errorf("ghw walked a tree: %d devices", len(names.info.Devices))
	}
}

// pci.ids is looked for under the root first too, and a missing one means
// no names and no warning.
func TestPCIIDsUnderRootAndMissing(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "usr/share/misc/pci.ids")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("8086  Our Own Intel\n\t27cc  Our EHCI\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := sysfstest.NewHostAt(root)
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1d.7", Vendor: 0x8086, Device: 0x27cc, Class: 0x0c0320})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(context.Background(), Options{Root: root, Buses: []Bus{BusPCI}})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Devices[0]; d.VendorName != "Our Own Intel" || d.ProductName != "Our EHCI" {
		t.Errorf("names %q %q, want the root's pci.ids", d.VendorName, d.ProductName)
	}

	// Only the root searched, and it has no pci.ids: no names, no warning.
	empty := t.TempDir()
	names, w := pciNamesFor([]string{empty}, nil)
	if names != nil || w != nil {
		t.Errorf("pciNamesFor without pci.ids = %v, %v; want nil, nil", names, w)
	}
	d := Device{Name: "0000:00:00.0", VendorID: 0x8086, ProductID: 0x27cc, PCI: &PCI{}}
	names.name(&d)
	if d.VendorName != "" {
		t.Errorf("named %q without a database", d.VendorName)
	}
}

// A database link in a captured tree that points out of it is not
// followed to the host's file.
func TestDBLinkOutOfRoot(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "usb.ids")
	if err := os.WriteFile(outside, []byte("0483  EVIL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	link := filepath.Join(root, "usr/share/misc/usb.ids")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if got, _ := findDB([]string{root}, usbIDsPaths); got != "" {
		t.Errorf("findDB followed a link out of the root to %q", got)
	}
}

// writeDBs puts a usb.ids and a pci.ids naming 0483:2016 and 8086:27cc
// under root, with name in each, and a tree with those two devices.
func writeDBs(t *testing.T, root, name string, mtime time.Time) {
	t.Helper()
	for rel, text := range map[string]string{
		"usr/share/misc/usb.ids": "0483  STMicro " + name + "\n\t2016  Reader " + name + "\n",
		"usr/share/misc/pci.ids": "8086  Intel " + name + "\n\t27cc  EHCI " + name + "\n",
	} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func namesTree(t *testing.T, root string) {
	t.Helper()
	tree := sysfstest.NewHostAt(root)
	tree.AddUSB(sysfstest.RootHub(1, "480"))
	tree.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x0483, IDProduct: 0x2016})
	tree.AddPCI(sysfstest.PCIFunction{Address: "0000:00:1d.7", Vendor: 0x8086, Device: 0x27cc, Class: 0x0c0320})
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
}

// productNames scans root and gives each device's product name by bus.
func productNames(t *testing.T, opts Options) map[Bus]string {
	t.Helper()
	res, err := Scan(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[Bus]string{}
	for _, d := range res.Devices {
		if d.Name != "usb1" {
			got[d.Bus] = d.ProductName
		}
	}
	return got
}

// A long-running process sees a database that changed between two scans,
// and parses an unchanged one only once.
func TestNamesReloadWhenChanged(t *testing.T) {
	root := t.TempDir()
	namesTree(t, root)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeDBs(t, root, "old", t0)
	opts := Options{Root: root}
	if got, want := productNames(t, opts), map[Bus]string{BusUSB: "Reader old", BusPCI: "EHCI old"}; !maps.Equal(got, want) {
		t.Fatalf("first scan: %v, want %v", got, want)
	}
	usb, pci := parseCounts()
	for range 3 {
		productNames(t, opts)
	}
	if u, p := parseCounts(); u-usb != 0 || p-pci != 0 {
		t.Errorf("unchanged files parsed again: usb.ids %d times, pci.ids %d times", u, p)
	}

	// Rewritten with another name, size and mtime.
	writeDBs(t, root, "newer", t0.Add(time.Minute))
	if got, want := productNames(t, opts), map[Bus]string{BusUSB: "Reader newer", BusPCI: "EHCI newer"}; !maps.Equal(got, want) {
		t.Errorf("after a rewrite: %v, want %v", got, want)
	}

	// Replaced by a rename, with the same size and mtime: only the inode
	// tells.
	tmp := t.TempDir()
	writeDBs(t, tmp, "NEWER", t0.Add(time.Minute))
	for _, rel := range []string{"usr/share/misc/usb.ids", "usr/share/misc/pci.ids"} {
		if err := os.Rename(filepath.Join(tmp, rel), filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := productNames(t, opts), map[Bus]string{BusUSB: "Reader NEWER", BusPCI: "EHCI NEWER"}; !maps.Equal(got, want) {
		t.Errorf("after a rename over it: %v, want %v", got, want)
	}
}

// Scanning many roots, each with its own databases, keeps a bounded number
// of them, not one per root for the life of the process.
func TestNamesCacheBounded(t *testing.T) {
	for i := range 3 * dbCacheSize {
		root := t.TempDir()
		namesTree(t, root)
		name := fmt.Sprint("root", i)
		writeDBs(t, root, name, time.Now())
		if got := productNames(t, Options{Root: root}); got[BusUSB] != "Reader "+name || got[BusPCI] != "EHCI "+name {
			t.Fatalf("%s: names %v", name, got)
		}
	}
	if u, p := cacheLens(); u > dbCacheSize || p > dbCacheSize {
		t.Errorf("after %d roots the caches hold %d usb.ids and %d pci.ids, want at most %d", 3*dbCacheSize, u, p, dbCacheSize)
	}
}

// Each scan's logger hears ghw's messages, not only the first one's; and a
// damaged pci.ids is a warning on every scan that uses it.
func TestNamesLoggerPerScan(t *testing.T) {
	root := t.TempDir()
	namesTree(t, root)
	writeDBs(t, root, "x", time.Now())
	for i := range 2 {
		h := &recordHandler{}
		productNames(t, Options{Root: root, Logger: slog.New(h)})
		if len(h.recs) == 0 {
			t.Errorf("scan %d: its logger heard nothing from ghw", i+1)
		}
	}

	p := filepath.Join(root, "usr/share/misc/pci.ids")
	if err := os.WriteFile(p, []byte("8086  Intel Corporation\nC\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := Scan(context.Background(), Options{Root: root, Buses: []Bus{BusPCI}, Logger: slog.New(&recordHandler{})})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Error(), "damaged") {
			t.Errorf("scan %d of a damaged pci.ids: warnings %v, want one saying it is damaged", i+1, res.Warnings)
		}
	}
}

// parseCounts says how many usb.ids and pci.ids files were parsed so far.
func parseCounts() (usb, pci int64) { return usbDBs.parses.Load(), pciDBs.parses.Load() }

// cacheLens says how many usb.ids and pci.ids databases are cached.
func cacheLens() (usb, pci int) { return usbDBs.len(), pciDBs.len() }

// A watcher running for long sees a name database that changed: its next
// full rescan names the devices anew, and tells the new names as changes.
func TestWatchNamesReloadWhenChanged(t *testing.T) {
	root := t.TempDir()
	namesTree(t, root)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeDBs(t, root, "old", t0)
	w, err := Watch(context.Background(), WatchOptions{Options: Options{Root: root}, Rescan: NoRescan, Uevents: UeventsOff})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go func() {
		for range w.Errors {
		}
	}()
	// The product names of the two devices the databases name.
	products := func(devs []Device) map[string]string {
		got := map[string]string{}
		for _, d := range devs {
			if d.Name == "1-1" || d.Name == "0000:00:1d.7" {
				got[d.Name] = d.ProductName
			}
		}
		return got
	}
	if got, want := products(w.Devices()), map[string]string{"1-1": "Reader old", "0000:00:1d.7": "EHCI old"}; !maps.Equal(got, want) {
		t.Fatalf("first scan: %v, want %v", got, want)
	}

	writeDBs(t, root, "newer", t0.Add(time.Minute))
	w.w.inject <- fsnotify.ErrEventOverflow // a full rescan
	var changed []Device
	for timeout := time.After(10 * time.Second); len(products(changed)) < 2; {
		select {
		case ev := <-w.Events:
			if ev.Op == Change {
				changed = append(changed, ev.Device)
			}
		case <-timeout:
			t.Fatalf("after the databases changed and a full rescan: changes %v", names(changed))
		}
	}
	want := map[string]string{"1-1": "Reader newer", "0000:00:1d.7": "EHCI newer"}
	if got := products(changed); !maps.Equal(got, want) {
		t.Errorf("changes name %v, want %v", got, want)
	}
	if got := products(w.Devices()); !maps.Equal(got, want) {
		t.Errorf("Devices name %v, want %v", got, want)
	}
}
