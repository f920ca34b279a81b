package discover

import (
	"context"
	"fmt"
	"testing"

	"github.com/hostdev/hostdev/sysfstest"
)

// BenchmarkScan scans synthetic trees of 100, 1,000 and 10,000 devices of
// each bus. ns/op divided by the size should stay flat: the cost grows
// linearly.
func BenchmarkScan(b *testing.B) {
	for _, bus := range []Bus{BusUSB, BusPCI} {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", bus, n), func(b *testing.B) {
				root := b.TempDir()
				nUSB, nPCI := 0, 0
				if bus == BusUSB {
					nUSB = n
				} else {
					nPCI = n
				}
				if err := sysfstest.Synthetic(root, nUSB, nPCI); err != nil {
					b.Fatal(err)
				}
				opts := Options{Root: root, Buses: []Bus{bus}, Numeric: true}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := Scan(context.Background(), opts)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Devices) < n {
						b.Fatalf("scanned %d devices, want at least %d", len(res.Devices), n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/device")
			})
		}
	}
}
