package dra

import (
	"context"
	"testing"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

// BenchmarkSlices builds the node's slices from synthetic trees of 10,000
// PCI functions (behind root ports and switches, one IOMMU group a slot)
// and 1,000 USB devices (hubs four deep, serials repeating): "build" from
// a readiness report, which is what the driver redoes on every change;
// "scan" from the tree, with the scan and the verdicts.
func BenchmarkSlices(b *testing.B) {
	outer := b
	for _, bm := range []struct {
		name       string
		nUSB, nPCI int
	}{
		{"pci-10000", 0, 10000},
		{"usb-1000", 1000, 0},
	} {
		// The tree is written once, by the first sub-benchmark that runs
		// (none when -bench picks neither), and removed when all are done.
		root := ""
		scan := func(b *testing.B) *readiness.Report {
			if root == "" {
				root = outer.TempDir()
				if err := sysfstest.Synthetic(root, bm.nUSB, bm.nPCI); err != nil {
					b.Fatal(err)
				}
			}
			res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
			if err != nil {
				b.Fatal(err)
			}
			rep, err := readiness.Assess(res.Devices, readiness.Options{Root: root})
			if err != nil {
				b.Fatal(err)
			}
			return rep
		}
		check := func(b *testing.B, inv *Inventory) {
			if len(inv.Warnings) > 0 {
				b.Fatalf("%d warnings, the first: %v", len(inv.Warnings), inv.Warnings[0])
			}
			if len(inv.Devices) == 0 {
				b.Fatal("no devices")
			}
		}
		b.Run(bm.name+"/build", func(b *testing.B) {
			rep := scan(b)
			var inv *Inventory
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				inv = Build(rep)
				inv.Slices("node-1", 1)
			}
			b.StopTimer()
			check(b, inv)
			for _, s := range inv.Slices("node-1", 1) {
				if err := validateSlice(s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(inv.Devices)), "devices")
			b.ReportMetric(float64(len(inv.Chunks())), "slices")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(inv.Devices)), "ns/device")
		})
		b.Run(bm.name+"/scan", func(b *testing.B) {
			var inv *Inventory
			scan(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				inv = Build(scan(b))
				inv.Slices("node-1", 1)
			}
			check(b, inv)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(inv.Devices)), "ns/device")
		})
	}
}
