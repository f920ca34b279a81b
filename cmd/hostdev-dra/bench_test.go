package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hostdev/hostdev/internal/kubetest"
	"github.com/hostdev/hostdev/sysfstest"
)

// BenchmarkPlugToAPI measures, against a real kube-apiserver, the time
// from a USB device's plug in a fake host to its device in the node's
// ResourceSlices as a watch of the API server delivers them (as the
// scheduler's informer gets them), and the same for its unplug. The peer,
// measured in the same run on the same API server, is a plain write
// delivered the same way (a ConfigMap updated, and its watch event
// received): the driver's share is the ratio. It reports p50 and p99 of
// each.
//
// It does so on a host with only the key, and on one with 1,000 USB
// devices besides (rssTree), where every rebuild of the slices has them
// all to go through.
//
//	go test -run XXX -bench PlugToAPI -benchtime 200x ./cmd/hostdev-dra
func BenchmarkPlugToAPI(b *testing.B) {
	cp := kubetest.Start(b, kubetest.Options{})
	b.Run("devices=1", func(b *testing.B) {
		host := sysfstest.NewHost(b)
		host.Plug(sysfstest.RootHub(1, "480"))
		plugToAPI(b, cp, host, 1)
	})
	b.Run("devices=1000", func(b *testing.B) {
		host, _, pool := rssTree(b)
		plugToAPI(b, cp, host, pool)
	})
}

// plugToAPI runs the driver on host and plugs and unplugs a key at port 1
// of bus.
func plugToAPI(b *testing.B, cp *kubetest.ControlPlane, host *sysfstest.Host, bus int) {
	ctx := b.Context()
	c := cp.Client
	short, err := os.MkdirTemp("", "hdra")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(short) })
	r, err := start(ctx, config{Root: host.Root(), NodeName: cp.Node, CDIRoot: filepath.Join(short, "cdi"),
		DataDir: filepath.Join(short, "data"), RegistrarDir: filepath.Join(short, "reg"),
		Write: host.WritePCIControl, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.stop)

	sw := watchSlices(ctx, b, c, cp.Node)
	wait := func(name string, present bool) {
		sw.wait(fmt.Sprintf("%s present=%v", name, present), 30*time.Second,
			func(m map[string]bool) bool { return m[name] == present })
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "peer-", Namespace: "default"}, Data: map[string]string{"n": "-"}}
	cm, err = c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cmWatch, err := c.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + cm.Name, ResourceVersion: cm.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer cmWatch.Stop()

	var plugs, unplugs, peers []time.Duration
	b.ResetTimer()
	for i := range b.N {
		d := yubikey("1")
		d.Bus = bus
		d.Serial = new(fmt.Sprintf("B%d", i))
		name := fmt.Sprintf("usb-1050-0407-sn-b%d", i)
		t0 := time.Now()
		host.Plug(d)
		wait(name, true)
		plugs = append(plugs, time.Since(t0))
		t0 = time.Now()
		host.Unplug(fmt.Sprintf("%d-1", bus))
		wait(name, false)
		unplugs = append(unplugs, time.Since(t0))

		t0 = time.Now()
		cm.Data = map[string]string{"n": fmt.Sprint(i)}
		if cm, err = c.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		for ev := range cmWatch.ResultChan() {
			if o, ok := ev.Object.(*corev1.ConfigMap); ok && o.ResourceVersion == cm.ResourceVersion {
				break
			}
		}
		peers = append(peers, time.Since(t0))
	}
	b.StopTimer()
	ms := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / 1e6
	}
	b.ReportMetric(ms(plugs, 0.5), "plug-p50-ms")
	b.ReportMetric(ms(plugs, 0.99), "plug-p99-ms")
	b.ReportMetric(ms(unplugs, 0.5), "unplug-p50-ms")
	b.ReportMetric(ms(unplugs, 0.99), "unplug-p99-ms")
	b.ReportMetric(ms(peers, 0.5), "peer-p50-ms")
	b.ReportMetric(ms(peers, 0.99), "peer-p99-ms")
	b.ReportMetric(ms(plugs, 0.5)/ms(peers, 0.5), "plug/peer-p50")
}
