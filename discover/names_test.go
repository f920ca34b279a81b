package discover

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jaypipes/pcidb"

	"github.com/hostdev/hostdev/internal/sysfstest"
	"github.com/hostdev/hostdev/internal/testenv"
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
	if got := findDB(dbRoots(root), usbIDsPaths); got != p {
		t.Errorf("findDB = %q, want %q", got, p)
	}
	tree := sysfstest.New(root)
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

func TestLoadOnce(t *testing.T) {
	var m sync.Map
	var calls atomic.Int32
	load := func(string) (int, error) { calls.Add(1); return 42, nil }
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if v, _ := loadOnce(&m, "/x", load); v != 42 {
				t.Errorf("got %d", v)
			}
		})
	}
	wg.Wait()
	loadOnce(&m, "/y", load)
	if n := calls.Load(); n != 2 {
		t.Errorf("loaded %d times for two paths, want 2", n)
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
	if findDB([]string{"/"}, paths) == "" {
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
	tree := sysfstest.New(root)
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
	tree := sysfstest.New(root)
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
	if got := findDB([]string{root}, usbIDsPaths); got != "" {
		t.Errorf("findDB followed a link out of the root to %q", got)
	}
}
