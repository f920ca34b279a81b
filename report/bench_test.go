package report

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/hostdev/hostdev/sysfstest"
)

// BenchmarkWrite writes the page of a synthetic host of 200 USB devices
// and 1,000 PCI functions, and in the same loop its peer, the devices and
// verdicts as JSON (what list --json holds); it reports both and their
// ratio, and the page's size.
//
//	go test ./report -run XXX -bench Write
func BenchmarkWrite(b *testing.B) {
	root := b.TempDir()
	if err := sysfstest.Synthetic(root, 200, 1000); err != nil {
		b.Fatal(err)
	}
	rep := assess(b, root)
	var page, peer time.Duration
	var size countWriter
	for b.Loop() {
		size = 0
		t0 := time.Now()
		if err := Write(&size, rep, Options{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := json.NewEncoder(io.Discard).Encode(rep.Devices); err != nil {
			b.Fatal(err)
		}
		page, peer = page+t1.Sub(t0), peer+time.Since(t1)
	}
	b.ReportMetric(float64(page.Nanoseconds())/float64(b.N), "page-ns/op")
	b.ReportMetric(float64(peer.Nanoseconds())/float64(b.N), "json-ns/op")
	b.ReportMetric(float64(page)/float64(peer), "page/json")
	b.ReportMetric(float64(size)/float64(len(rep.Devices)), "page-bytes/device")
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
