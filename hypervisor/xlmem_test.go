package hypervisor

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// xlList is an xl config whose one setting, key, lists n entries, one a
// line: what a generated config of many devices looks like.
func xlList(key string, n int, entry func(i int) string) []byte {
	var b strings.Builder
	b.WriteString(key + " = [\n")
	for i := range n {
		fmt.Fprintf(&b, "  '%s',\n", entry(i))
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

var xlShapes = []struct {
	key   string
	entry func(i int) string
}{
	{"usbdevice", func(i int) string { return fmt.Sprintf("host:%04x:6001", i%0x10000) }},
	{"usbdev", func(i int) string { return fmt.Sprintf("type=hostdev,hostbus=%d,hostaddr=%d", i%200+1, i%100+1) }},
	{"pci", func(i int) string { return fmt.Sprintf("0000:%02x:%02x.%d", i%256, i/256%32, i%8) }},
}

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Reading an xl config costs memory in proportion to it, a few hundred
// bytes per entry: 500,000 entries (8.5 MB) once cost 784 MB, most of it
// the growth of the refs slice, a copy of every string, and the
// selector parser's scratch.
func TestRefsXLMemory(t *testing.T) {
	const n = 100_000
	for _, sh := range xlShapes {
		doc := xlList(sh.key, n, sh.entry)
		var refs []Ref
		b := allocated(func() {
			var err error
			if refs, _, err = Refs(doc); err != nil {
				t.Fatal(err)
			}
		})
		if len(refs) != n {
			t.Fatalf("%s: %d refs, want %d", sh.key, len(refs), n)
		}
		perEntry := b / n
		t.Logf("%s: %d bytes of input, %d allocated: %.1f per input byte, %d per entry", sh.key, len(doc), b, float64(b)/float64(len(doc)), perEntry)
		if perEntry > 600 && !raceEnabled {
			t.Errorf("%s: %d bytes allocated per entry, want at most 600", sh.key, perEntry)
		}
	}
}

// BenchmarkRefsXL reads xl configs of 500,000 entries and reports the
// bytes allocated per byte of input and per entry.
func BenchmarkRefsXL(b *testing.B) {
	const n = 500_000
	for _, sh := range xlShapes {
		b.Run(sh.key, func(b *testing.B) {
			doc := xlList(sh.key, n, sh.entry)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var total uint64
			for b.Loop() {
				total += allocated(func() {
					if _, _, err := Refs(doc); err != nil {
						b.Fatal(err)
					}
				})
			}
			per := float64(total) / float64(b.N)
			b.ReportMetric(per/float64(len(doc)), "B/input-byte")
			b.ReportMetric(per/n, "B/entry")
		})
	}
}
