package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra"
	"github.com/hostdev/hostdev/dra/draattr"
	"github.com/hostdev/hostdev/internal/kubetest"
	"github.com/hostdev/hostdev/match"
)

// TestControlPlane runs the driver against a real kube-apiserver and
// kube-scheduler (internal/kubetest), on a fake host. It publishes; the
// DeviceClasses of deploy/ are created as an admin would; a Pod asks, with
// the selectors `hostdev-discover resolve --format cel` prints, for the
// second of two identical keys by serial and for the GPU; the real
// scheduler allocates exactly those and binds the Pod; a fake kubelet
// prepares the claims over the driver's socket (the GPU and its audio
// function go to vfio-pci in the tree); a plug and an unplug reach the
// API server; unprepare gives the functions back their drivers.
func TestControlPlane(t *testing.T) {
	cp := kubetest.Start(t, kubetest.Options{Scheduler: true})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	c := cp.Client

	host := testHost(t)
	host.Plug(yubikey("1"))
	twin := yubikey("2")
	twin.Serial = new("K2")
	host.Plug(twin)
	short, err := os.MkdirTemp("", "hdra")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	e := &env{t: t, host: host, dataDir: filepath.Join(short, "data"), regDir: filepath.Join(short, "reg"),
		cdiRoot: filepath.Join(t.TempDir(), "cdi")}
	allow, err := match.Parse("0000:01:00.*")
	if err != nil {
		t.Fatal(err)
	}
	r, err := start(ctx, config{Root: host.Root(), NodeName: cp.Node, CDIRoot: e.cdiRoot,
		DataDir: e.dataDir, RegistrarDir: e.regDir, AllowPCI: []match.Selector{allow}, Metadata: true,
		Rescan: 200 * time.Millisecond, Write: host.WritePCIControl,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)

	key2, gpuName := "usb-1050-0407-sn-k2", gpu
	waitAPI(ctx, t, c, cp.Node, "the first publish", func(m map[string]resourceapi.Device) bool {
		_, a := m[key2]
		_, b := m[gpuName]
		return a && b
	})

	// The DeviceClasses, as deploy/deviceclasses.yaml has them.
	data, err := os.ReadFile("../../deploy/deviceclasses.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var dc resourceapi.DeviceClass
		if err := yaml.UnmarshalStrict(doc, &dc); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ResourceV1().DeviceClasses().Create(ctx, &dc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The selectors hostdev-discover prints for these devices.
	res, err := discover.Scan(ctx, discover.Options{Root: host.Root(), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	selector := func(name string) string {
		i := slices.IndexFunc(res.Devices, func(d discover.Device) bool { return d.Name == name })
		if i < 0 {
			t.Fatalf("%s not scanned", name)
		}
		return draattr.Selector(res.Devices[i], res.Devices)
	}
	claims := map[string]string{"key": "1-2", "gpu": "0000:01:00.0"}
	for name, dev := range claims {
		i := slices.IndexFunc(res.Devices, func(d discover.Device) bool { return d.Name == dev })
		claim := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
				Name: "dev", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: draattr.DeviceClass(res.Devices[i]),
					Selectors: []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: selector(dev)}}}}}}}}}
		if _, err := c.ResourceV1().ResourceClaims("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "none",
				Resources: corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "key"}, {Name: "gpu"}}}}},
			ResourceClaims: []corev1.PodResourceClaim{{Name: "key", ResourceClaimName: new("key")}, {Name: "gpu", ResourceClaimName: new("gpu")}},
		}}
	t0 := time.Now()
	if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := c.CoreV1().Pods("default").Get(ctx, "vm", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName == cp.Node {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the Pod was not bound: %+v", p.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the real scheduler allocated both claims and bound the Pod in %v", time.Since(t0).Round(time.Millisecond))
	allocated := map[string]*resourceapi.ResourceClaim{}
	for name, want := range map[string]string{"key": key2, "gpu": gpuName} {
		cl, err := c.ResourceV1().ResourceClaims("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cl.Status.Allocation == nil || len(cl.Status.Allocation.Devices.Results) != 1 ||
			cl.Status.Allocation.Devices.Results[0].Device != want || cl.Status.Allocation.Devices.Results[0].Pool != cp.Node {
			t.Fatalf("claim %s: allocation %+v, want %s", name, cl.Status.Allocation, want)
		}
		allocated[name] = cl
	}

	// The kubelet prepares the Pod's claims; the driver reads them from
	// the real API server.
	k := e.kubelet()
	devs, msg := k.prepare(allocated["gpu"])
	if msg != "" || len(devs) != 1 {
		t.Fatalf("prepare gpu: %v %s", devs, msg)
	}
	if got := e.pciDrivers("0000:01:00.0", "0000:01:00.1"); !slices.Equal(got, []string{"vfio-pci", "vfio-pci"}) {
		t.Errorf("after prepare: %v, want the GPU and its audio function on vfio-pci", got)
	}
	if s, ok := e.spec(allocated["gpu"]); !ok || !slices.Equal(devNodes(s), []string{"/dev/vfio/vfio", "/dev/vfio/1"}) {
		t.Errorf("the GPU's CDI spec: %v", s)
	}
	if devs, msg := k.prepare(allocated["key"]); msg != "" || len(devs) != 1 {
		t.Fatalf("prepare key: %v %s", devs, msg)
	}
	if s, ok := e.spec(allocated["key"]); !ok || !slices.Equal(devNodes(s), []string{"/dev/bus/usb/001/003"}) {
		t.Errorf("the key's CDI spec: %v", s)
	}

	// A plug and an unplug reach the API server.
	t0 = time.Now()
	third := yubikey("3")
	third.Serial = new("K3")
	host.Plug(third)
	waitAPI(ctx, t, c, cp.Node, "a plug", func(m map[string]resourceapi.Device) bool { _, ok := m["usb-1050-0407-sn-k3"]; return ok })
	t.Logf("a plug reached the API server in %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	host.Unplug("1-3")
	waitAPI(ctx, t, c, cp.Node, "an unplug", func(m map[string]resourceapi.Device) bool { _, ok := m["usb-1050-0407-sn-k3"]; return !ok })
	t.Logf("an unplug reached the API server in %v", time.Since(t0).Round(time.Millisecond))

	for _, name := range []string{"gpu", "key"} {
		if msg := k.unprepare(allocated[name]); msg != "" {
			t.Errorf("unprepare %s: %s", name, msg)
		}
	}
	if got := e.pciDrivers("0000:01:00.0", "0000:01:00.1"); !slices.Equal(got, []string{"nouveau", "snd_hda_intel"}) {
		t.Errorf("after unprepare: %v, want nouveau and snd_hda_intel back", got)
	}
}

// waitAPI waits until ok holds for the devices the real API server has in
// the node's pool.
func waitAPI(ctx context.Context, t *testing.T, c kubernetes.Interface, node, what string, ok func(map[string]resourceapi.Device) bool) {
	t.Helper()
	for {
		list, err := c.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		m := map[string]resourceapi.Device{}
		for _, s := range list.Items {
			if s.Spec.Driver == dra.DriverName && s.Spec.Pool.Name == node {
				for _, d := range s.Spec.Devices {
					m[d.Name] = d
				}
			}
		}
		if ok(m) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: not in the API server; it has %v", what, keys(m))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
