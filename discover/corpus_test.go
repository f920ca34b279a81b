package discover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/snapshot"
)

// summary is one device as a line of the form corpusWant uses, so that a
// difference shows as one changed line.
func summary(d Device) string {
	var b strings.Builder
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	switch {
	case d.USB != nil:
		u := d.USB
		fmt.Fprintf(&b, "usb %s %d.%d port=%s %s:%s class=%s parent=%s",
			d.Name, u.Busnum, u.Devnum, u.Port, d.VendorID, d.ProductID, u.Class, dash(d.Parent))
		if u.Serial != nil {
			fmt.Fprintf(&b, " serial=%q", *u.Serial)
		}
		var ifs []string
		for _, in := range u.Interfaces {
			ifs = append(ifs, fmt.Sprintf("%s/%s/%s", in.Name, in.Class, dash(in.Driver)))
		}
		b.WriteString(" if=" + dash(strings.Join(ifs, ",")))
	case d.PCI != nil:
		p := d.PCI
		rev, group := "-", "-"
		if p.Revision != nil {
			rev = fmt.Sprintf("%02x", *p.Revision)
		}
		if p.IOMMUGroup != nil {
			group = fmt.Sprint(*p.IOMMUGroup)
		}
		fmt.Fprintf(&b, "pci %s %s:%s class=%s rev=%s driver=%s iommu=%s parent=%s",
			d.Name, d.VendorID, d.ProductID, p.Class, rev, dash(p.Driver), group, dash(d.Parent))
		if p.PhysFn != "" {
			b.WriteString(" pf=" + p.PhysFn)
		}
		if len(p.VirtFns) > 0 {
			b.WriteString(" vfs=" + strings.Join(p.VirtFns, ","))
		}
	}
	return b.String()
}

// unpackCorpus unpacks one shared/corpora archive into a temporary folder.
func unpackCorpus(t *testing.T, name string) string {
	t.Helper()
	dir, cleanup, err := snapshot.Unpack(testenv.CorpusArchive(t, name))
	if err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	t.Cleanup(cleanup)
	return dir
}

// TestCorpora scans every real capture in shared/corpora and compares the
// devices with the lists in corpusWant, written out by hand from the trees.
// It fails if a device is lost, a port misread, or an interface taken for a
// device.
func TestCorpora(t *testing.T) {
	shared := testenv.Shared(t)
	archives, _ := filepath.Glob(filepath.Join(shared, "corpora", "*.tar.gz"))
	if len(archives) == 0 {
		testenv.Skip(t, "no archives in %s/corpora", shared)
	}
	for _, a := range archives {
		name := strings.TrimSuffix(filepath.Base(a), ".tar.gz")
		t.Run(name, func(t *testing.T) {
			want, ok := corpusWant[name]
			if !ok {
				t.Fatalf("corpus %s has no expected device list in corpusWant: add one", name)
			}
			res, err := Scan(context.Background(), Options{Root: unpackCorpus(t, name), Numeric: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range res.Devices {
				got = append(got, summary(d))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
			for _, w := range res.Warnings {
				t.Logf("warning: %v", w)
			}
		})
	}
	// Every entry in corpusWant must have an archive, so a renamed archive
	// cannot silently drop its checks.
	for name := range corpusWant {
		if !slices.ContainsFunc(archives, func(a string) bool { return filepath.Base(a) == name+".tar.gz" }) {
			if _, err := os.Stat(filepath.Join(shared, "corpora")); err == nil {
				t.Errorf("corpusWant has %s, but shared/corpora has no such archive", name)
			}
		}
	}
}
