package discover

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostdev/hostdev/sysfstest"
)

// benchHost is a tree with n USB devices on buses of up to 125, and a
// spare bus 60 to plug into, watched from file events alone.
func benchHost(b *testing.B, n int, charLinks bool) (*sysfstest.Host, *Watcher) {
	b.Helper()
	tr := sysfstest.NewHostAt(b.TempDir())
	tr.CharLinks = charLinks
	for bus := 1; n > 0; bus++ {
		rh := sysfstest.RootHub(bus, "480")
		rh.MaxChild = 125
		rh.Controller = fmt.Sprintf("0000:%02x:00.0", bus)
		tr.Plug(rh)
		n--
		for p := 1; p <= 125 && n > 0; p, n = p+1, n-1 {
			tr.Plug(key(bus, fmt.Sprint(p), fmt.Sprintf("B%dP%d", bus, p)))
		}
	}
	spare := sysfstest.RootHub(60, "480")
	spare.MaxChild = 125
	spare.Controller = "0000:60:00.0"
	tr.Plug(spare)
	if err := tr.Err(); err != nil {
		b.Fatal(err)
	}
	w, err := Watch(context.Background(), WatchOptions{Options: Options{Root: tr.Root(), Numeric: true}, Rescan: NoRescan, Uevents: UeventsOff})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	go func() {
		for err := range w.Errors {
			b.Errorf("watch: %v", err)
		}
	}()
	if ev := <-w.Events; ev.Op != Ready {
		b.Fatalf("first event %v, want ready", ev.Op)
	}
	return tr, w
}

// scanTime is the peer: what one poll of the same tree costs, the way a
// poller (QEMU every 2 s, node-feature-discovery every 60 s) would see a
// plug.
func scanTime(b *testing.B, root string) time.Duration {
	b.Helper()
	var best time.Duration
	for range 5 {
		start := time.Now()
		if _, err := Scan(context.Background(), Options{Root: root, Numeric: true}); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	return best
}

// From a device node's creation to its Add on the channel, with 1,000
// devices present; run with -benchtime 1000x for 1,000 plugs. Each plug
// is unplugged again before the next, and its Remove read.
func BenchmarkWatchLatency(b *testing.B) {
	for _, char := range []bool{true, false} {
		name := "charlinks"
		if !char {
			name = "no-charlinks"
		}
		b.Run(name, func(b *testing.B) {
			tr, w := benchHost(b, 1000, char)
			var lat []time.Duration
			i := 0
			for b.Loop() {
				port := fmt.Sprint(1 + i%125)
				d := key(60, port, fmt.Sprint(i))
				d.Devnum = 2 + i%125 // a free number: the last user left
				tr.AddUSB(d)
				start := time.Now()
				tr.AddDevNode(60, d.Devnum)
				ev := nextEvent(b, w, i)
				lat = append(lat, time.Since(start))
				if ev.Op != Add || ev.Device.Name != "60-"+port {
					b.Fatalf("plug %d: %s", i, brief([]Event{ev}))
				}
				tr.Unplug("60-" + port)
				if ev := nextEvent(b, w, i); ev.Op != Remove {
					b.Fatalf("unplug %d: %s", i, brief([]Event{ev}))
				}
				i++
			}
			if err := tr.Err(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
			scan := scanTime(b, tr.Root())
			b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
			b.ReportMetric(float64(scan.Microseconds()), "scan-µs")
			b.ReportMetric(float64(pct(0.99))/float64(scan), "p99/scan")
		})
	}
}

// 1,000 plugs at once with 1,000 devices present: the sysfs entries are
// made first, then the 1,000 nodes as fast as they can be, and the time
// runs until the last Add. Every plug must be reported exactly once. CPU
// per event is the process's, less the thread that made the nodes.
func BenchmarkWatchBurst(b *testing.B) {
	const burst = 1000
	tr, w := benchHost(b, 1000, true)
	var total, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		var names []string
		var nodes [][2]int
		for i := range burst {
			bus, port := 61+i/125, fmt.Sprint(1+i%125)
			if i%125 == 0 {
				rh := sysfstest.RootHub(bus, "480")
				rh.MaxChild = 125
				rh.Controller = "0000:60:00.0" // the spare bus's: no PCI events
				tr.AddUSB(rh)
				nodes = append(nodes, [2]int{bus, 1})
				names = append(names, fmt.Sprintf("usb%d", bus))
			}
			d := key(bus, port, fmt.Sprint(i))
			d.Devnum = 2 + i%125
			tr.AddUSB(d)
			nodes = append(nodes, [2]int{bus, d.Devnum})
			names = append(names, fmt.Sprintf("%d-%s", bus, port))
		}
		if err := tr.Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu0 := rusage(unix.RUSAGE_SELF)
		start := time.Now()
		plugger := make(chan time.Duration)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := rusage(unix.RUSAGE_THREAD)
			for _, n := range nodes {
				tr.AddDevNode(n[0], n[1])
			}
			plugger <- rusage(unix.RUSAGE_THREAD) - t0
		}()
		seen := map[string]int{}
		for len(seen) < len(names) {
			select {
			case ev := <-w.Events:
				if ev.Op != Add {
					b.Fatalf("burst: %s", brief([]Event{ev}))
				}
				seen[ev.Device.Name]++
			case <-time.After(30 * time.Second):
				b.Fatalf("%d of %d adds in 30s", len(seen), len(names))
			}
		}
		total += time.Since(start)
		cpu += rusage(unix.RUSAGE_SELF) - cpu0 - <-plugger
		b.StopTimer()
		// Exactly once: a late duplicate would come now.
		select {
		case ev := <-w.Events:
			if ev.Op == Add && seen[ev.Device.Name] > 0 {
				b.Fatalf("%s reported twice", ev.Device.Name)
			}
		case <-time.After(100 * time.Millisecond):
		}
		for _, n := range names {
			if seen[n] != 1 {
				b.Fatalf("%s: %d adds", n, seen[n])
			}
		}
		for bus := 61; bus < 61+burst/125; bus++ {
			tr.Unplug(fmt.Sprintf("usb%d", bus))
		}
		// Wait for every remove: a change may come between them (a hub
		// read as its children go), and must not be counted as one.
		gone := map[string]bool{}
		for i := 0; len(gone) < len(names); i++ {
			if ev := nextEvent(b, w, i); ev.Op == Remove {
				gone[ev.Device.Name] = true
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	scan := scanTime(b, tr.Root())
	n := float64(b.N)
	b.ReportMetric(float64(total.Milliseconds())/n, "burst-ms")
	b.ReportMetric(float64(cpu.Microseconds())/n/burst, "cpu-µs/event")
	b.ReportMetric(float64(scan.Microseconds())/1000, "scan-ms")
	b.ReportMetric(float64(total)/n/float64(scan), "burst/scan")
}

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func nextEvent(b *testing.B, w *Watcher, i int) Event {
	b.Helper()
	select {
	case ev := <-w.Events:
		return ev
	case <-time.After(10 * time.Second):
		b.Fatalf("step %d: no event in 10s", i)
	}
	return Event{}
}
