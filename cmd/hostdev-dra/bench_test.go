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
// ResourceSlices as the API server lists them, and the same for its
// unplug. The peer, measured in the same run on the same API server, is a
// plain write and read back (a ConfigMap updated, then listed): the
// driver's share is the ratio. It reports p50 and p99 of each.
//
//	go test -run XXX -bench PlugToAPI -benchtime 200x ./cmd/hostdev-dra
func BenchmarkPlugToAPI(b *testing.B) {
	cp := kubetest.Start(b, kubetest.Options{})
	ctx := b.Context()
	c := cp.Client
	host := sysfstest.NewHost(b)
	host.Plug(sysfstest.RootHub(1, "480"))
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

	list := func() map[string]bool {
		l, err := c.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m := map[string]bool{}
		for _, s := range l.Items {
			for _, d := range s.Spec.Devices {
				m[d.Name] = true
			}
		}
		return m
	}
	wait := func(name string, present bool) time.Duration {
		t0 := time.Now()
		for list()[name] != present {
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("%s present=%v: not in 30 s", name, present)
			}
		}
		return time.Since(t0)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "peer", Namespace: "default"}, Data: map[string]string{"n": "-"}}
	if cm, err = c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}

	var plugs, unplugs, peers []time.Duration
	b.ResetTimer()
	for i := range b.N {
		d := yubikey("1")
		d.Serial = new(fmt.Sprintf("B%d", i))
		name := fmt.Sprintf("usb-1050-0407-sn-b%d", i)
		t0 := time.Now()
		host.Plug(d)
		wait(name, true)
		plugs = append(plugs, time.Since(t0))
		t0 = time.Now()
		host.Unplug("1-1")
		wait(name, false)
		unplugs = append(unplugs, time.Since(t0))

		t0 = time.Now()
		cm.Data = map[string]string{"n": fmt.Sprint(i)}
		if cm, err = c.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); err != nil {
			b.Fatal(err)
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
