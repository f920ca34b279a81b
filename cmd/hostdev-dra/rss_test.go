//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostdev/hostdev/internal/kubetest"
	"github.com/hostdev/hostdev/sysfstest"
)

// Sizes of BenchmarkDriverRSS, as issue 13 names them.
const (
	rssDevices = 1000  // USB devices present, root hubs included
	rssEvents  = 10000 // plugs and unplugs
	rssPool    = 100   // devices plugged, then unplugged, in one round
	rssPerBus  = 125   // devices on one bus of the initial set, root hub included
	rssSample  = 1000  // events between two readings of the driver's memory
)

// BenchmarkDriverRSS measures the memory of the hostdev-dra binary, run
// as the DaemonSet runs it (a process of its own, against a real
// kube-apiserver), on a fake host of 1,000 USB devices, and again after
// 10,000 plug and unplug events: rounds of 100 plugs of devices with
// serials never seen before, then their 100 unplugs, each round waited for
// until the API server's ResourceSlices show it. It reports VmRSS before
// and after the events and the growth between them, VmHWM, and the
// events per second the driver took to the API. The peer, measured on the
// same tree, is one `hostdev-discover list -n`: its peak RSS is what one
// scan costs, and driver/list is the driver's ratio to it.
//
//	go test -run XXX -bench DriverRSS -benchtime 1x ./cmd/hostdev-dra
//
// or bench/dra-rss.sh. It fails when the highest RSS of the second half
// of the events is more than 20% above the highest of the first half: the
// first events take the heap from one publish's needs to a steady flow's,
// and only growth after that is a leak.
func BenchmarkDriverRSS(b *testing.B) {
	cp := kubetest.Start(b, kubetest.Options{})
	ctx := b.Context()
	dir := b.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"hostdev-dra", "hostdev-discover"} {
		bins[name] = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", bins[name], "github.com/hostdev/hostdev/cmd/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}

	host, base, poolBus := rssTree(b)
	treeDir := host.Root()

	// The peer: one scan.
	list := exec.Command(bins["hostdev-discover"], "list", "-n", "--root", treeDir)
	var listOut bytes.Buffer
	list.Stdout = &listOut
	if err := list.Run(); err != nil {
		b.Fatalf("hostdev-discover list: %v", err)
	}
	listRSS := list.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024

	// The driver.
	short, err := os.MkdirTemp("", "hdra")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(short) })
	drv := exec.Command(bins["hostdev-dra"], "--root", treeDir, "--node-name", cp.Node,
		"--kubeconfig", cp.Kubeconfig, "--cdi-root", filepath.Join(short, "cdi"),
		"--plugin-data-dir", filepath.Join(short, "data"), "--registrar-dir", filepath.Join(short, "reg"),
		"--uevents", "off", "--log-level", "warn")
	var stderr bytes.Buffer
	drv.Stderr = &stderr
	if err := drv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		drv.Process.Signal(syscall.SIGTERM)
		drv.Wait()
		if stderr.Len() > 0 {
			b.Logf("hostdev-dra stderr:\n%s", stderr.String())
		}
	})
	sw := watchSlices(ctx, b, cp.Client, cp.Node)
	waitCount := func(what string, want int) {
		b.Helper()
		sw.wait(what, 2*time.Minute, func(m map[string]bool) bool { return len(m) == want })
	}
	t0 := time.Now()
	waitCount("the first publish", base)
	first := time.Since(t0)
	time.Sleep(time.Second)
	before, err := procMemory(drv.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}

	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.Logf("peer, list -n: max RSS %.1f MiB; driver with %d devices published in %s: VmRSS %.1f MiB, VmHWM %.1f MiB",
		mib(listRSS), base, first.Round(time.Millisecond), mib(before.rss), mib(before.hwm))
	var samples []memory
	b.ResetTimer()
	var eventsTook time.Duration
	for range b.N {
		serial := 0
		t0 := time.Now()
		for made := 0; made < rssEvents; made += 2 * rssPool {
			for p := 1; p <= rssPool; p++ {
				serial++
				host.Plug(rssKey(poolBus, strconv.Itoa(p), fmt.Sprintf("P%d", serial)))
			}
			waitCount(fmt.Sprintf("after %d events, the plugs", made+rssPool), base+rssPool)
			for p := 1; p <= rssPool; p++ {
				host.Unplug(fmt.Sprintf("%d-%d", poolBus, p))
			}
			waitCount(fmt.Sprintf("after %d events, the unplugs", made+2*rssPool), base)
			if err := host.Err(); err != nil {
				b.Fatal(err)
			}
			if done := made + 2*rssPool; done%rssSample == 0 {
				m, err := procMemory(drv.Process.Pid)
				if err != nil {
					b.Fatal(err)
				}
				samples = append(samples, m)
				b.Logf("after %5d events: VmRSS %.1f MiB, VmHWM %.1f MiB, %.0f events/s", done, mib(m.rss), mib(m.hwm), float64(done)/time.Since(t0).Seconds())
			}
		}
		eventsTook += time.Since(t0)
	}
	b.StopTimer()
	time.Sleep(time.Second)
	after, err := procMemory(drv.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	growth := float64(after.rss)/float64(before.rss) - 1
	// The first events take the heap from what one publish needs to what
	// a steady flow of them does, where the collector keeps it. A leak
	// grows on from there: compare the highest reading of the second half
	// of the events with the highest of the first.
	half := len(samples) / 2
	peak := func(ms []memory) int64 {
		var p int64
		for _, m := range ms {
			p = max(p, m.rss)
		}
		return p
	}
	steady := float64(peak(samples[half:]))/float64(peak(samples[:half])) - 1
	b.ReportMetric(mib(before.rss), "rss-before-MiB")
	b.ReportMetric(mib(after.rss), "rss-after-MiB")
	b.ReportMetric(growth*100, "rss-growth-%")
	b.ReportMetric(steady*100, "rss-2nd-half-growth-%")
	b.ReportMetric(mib(after.hwm), "hwm-MiB")
	b.ReportMetric(mib(listRSS), "peer-list-MiB")
	b.ReportMetric(float64(after.rss)/float64(listRSS), "driver/list")
	b.ReportMetric(float64(rssEvents*b.N)/eventsTook.Seconds(), "events/s")
	b.ReportMetric(first.Seconds()*1000, "first-publish-ms")
	if steady > 0.20 {
		b.Errorf("RSS grew on by %.1f%% in the second half of %d events: peaks %.1f MiB, then %.1f MiB",
			steady*100, rssEvents*b.N, mib(peak(samples[:half])), mib(peak(samples[half:])))
	}
}

// rssTree builds, under $TMPDIR (/dev/shm when it is unset: on disk the
// benchmarks mostly write the tree), a host of rssDevices USB devices:
// buses of rssPerBus devices, a root hub and keys with serials of their
// own, and a pool bus with only its root hub, for the events. published
// is the number of devices the driver publishes: every USB device but the
// hubs, and the xHCI function all the root hubs hang from.
func rssTree(tb testing.TB) (host *sysfstest.Host, published, poolBus int) {
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/dev/shm"
	}
	dir, err := os.MkdirTemp(tmp, "dra-tree-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	host = sysfstest.NewHostAt(dir)
	hub := func(bus int) {
		h := sysfstest.RootHub(bus, "480")
		h.MaxChild = 126
		host.Plug(h)
	}
	buses := rssDevices / rssPerBus
	for bus := 1; bus <= buses; bus++ {
		hub(bus)
		for p := 1; p < rssPerBus; p++ {
			host.Plug(rssKey(bus, strconv.Itoa(p), fmt.Sprintf("S%d-%d", bus, p)))
		}
	}
	hub(buses + 1)
	if err := host.Err(); err != nil {
		tb.Fatal(err)
	}
	return host, rssDevices - buses + 1, buses + 1
}

func rssKey(bus int, port, serial string) sysfstest.USBDevice {
	return sysfstest.USBDevice{Bus: bus, Port: port, IDVendor: 0x1050, IDProduct: 0x0407,
		Manufacturer: new("Yubico"), Product: new("YubiKey"), Serial: new(serial),
		Interfaces: []sysfstest.USBInterface{{Class: 0x03, Driver: "usbhid"}}}
}

type memory struct{ rss, hwm int64 }

// procMemory reads VmRSS and VmHWM of a process, in bytes.
func procMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			m.rss = kb * 1024
		} else {
			m.hwm = kb * 1024
		}
	}
	return m, s.Err()
}
