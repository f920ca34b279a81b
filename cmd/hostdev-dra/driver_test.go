package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	drahealthv1 "k8s.io/kubelet/pkg/apis/dra-health/v1"
	drapb "k8s.io/kubelet/pkg/apis/dra/v1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	cdispec "tags.cncf.io/container-device-interface/specs-go"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/sysfstest"
	"github.com/hostdev/hostdev/vfio"
)

const node = "node1"

// testHost is a node with a GPU and its audio function on host drivers
// behind a root port, a NIC on igb behind another, vfio-pci loaded, and
// one USB bus.
func testHost(t *testing.T) *sysfstest.Host {
	h := sysfstest.NewHost(t)
	for _, f := range []sysfstest.PCIFunction{
		{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Driver: "xhci_hcd", IOMMUGroup: new(0)},
		{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: new(1)},
		{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x1e87, Class: 0x030000, Driver: "nouveau", IOMMUGroup: new(1)},
		{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x10f8, Class: 0x040300, Driver: "snd_hda_intel", IOMMUGroup: new(1)},
		{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: new(2)},
		{Address: "0000:02:00.0", Parent: "0000:00:02.0", Vendor: 0x8086, Device: 0x1533, Class: 0x020000, Driver: "igb", IOMMUGroup: new(2)},
	} {
		h.AddPCI(f)
	}
	h.AddDriver("pci", "vfio-pci")
	h.Plug(sysfstest.RootHub(1, "480"))
	return h
}

func yubikey(port string) sysfstest.USBDevice {
	return sysfstest.USBDevice{Bus: 1, Port: port, IDVendor: 0x1050, IDProduct: 0x0407,
		Manufacturer: new("Yubico"), Product: new("YubiKey"), Serial: new("K1"),
		Interfaces: []sysfstest.USBInterface{{Class: 0x03, Driver: "usbhid"}}}
}

const (
	gpu     = "pci-0000-01-00-0"
	nic     = "pci-0000-02-00-0"
	yubiKey = "usb-1050-0407-sn-k1"
)

// env is a node: a fake tree, a fake API server, and the directories the
// driver and the kubelet share.
type env struct {
	t       *testing.T
	host    *sysfstest.Host
	client  *fake.Clientset
	dataDir string
	regDir  string
	cdiRoot string
	allow   []string
	// write, when set, is the driver's sysfs write instead of the tree's
	// own WritePCIControl.
	write func(rel, value string) error
}

func newEnv(t *testing.T, allow ...string) *env {
	// Unix socket paths are limited to 108 bytes, more than t.TempDir
	// leaves for a long test name: the sockets get a short directory.
	short, err := os.MkdirTemp("", "hdra")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, UID: "node-uid"}})
	// The fake API server does not do generateName, which the
	// ResourceSlice controller names its slices with.
	var n atomic.Int64
	client.PrependReactor("create", "resourceslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if s, ok := a.(k8stesting.CreateAction).GetObject().(*resourceapi.ResourceSlice); ok && s.Name == "" {
			s.Name = fmt.Sprintf("%s%d", s.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	return &env{t: t, host: testHost(t),
		client:  client,
		dataDir: filepath.Join(short, "data"), regDir: filepath.Join(short, "reg"),
		cdiRoot: filepath.Join(t.TempDir(), "cdi"), allow: allow}
}

// start starts a driver instance; it is stopped when the test ends.
func (e *env) start() *running {
	e.t.Helper()
	var sels []match.Selector
	for _, a := range e.allow {
		s, err := match.Parse(a)
		if err != nil {
			e.t.Fatal(err)
		}
		sels = append(sels, s)
	}
	write := e.host.WritePCIControl
	if e.write != nil {
		write = e.write
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := start(e.t.Context(), config{Root: e.host.Root(), NodeName: node, CDIRoot: e.cdiRoot,
		DataDir: e.dataDir, RegistrarDir: e.regDir, AllowPCI: sels, Metadata: true,
		// A fake tree has no uevents: driver binds show at the rescan.
		Rescan: 200 * time.Millisecond,
		Write:  write, Log: log}, e.client)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(r.stop) // again after a test's own stop is harmless
	// Publishing is asynchronous: wait for the pool's slices.
	e.waitPublished("the first publish", func(m map[string]resourceapi.Device) bool { return len(m) > 0 })
	return r
}

// published lists the devices in the node's slices.
func (e *env) published() map[string]resourceapi.Device {
	e.t.Helper()
	list, err := e.client.ResourceV1().ResourceSlices().List(e.t.Context(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]resourceapi.Device{}
	for _, s := range list.Items {
		if s.Spec.Driver != dra.DriverName || s.Spec.Pool.Name != node {
			continue
		}
		for _, d := range s.Spec.Devices {
			out[d.Name] = d
		}
	}
	return out
}

// waitPublished waits until ok holds for the published devices, and says
// how long that took.
func (e *env) waitPublished(what string, ok func(map[string]resourceapi.Device) bool) time.Duration {
	e.t.Helper()
	t0 := time.Now()
	for {
		if ok(e.published()) {
			return time.Since(t0)
		}
		if time.Since(t0) > 10*time.Second {
			e.t.Fatalf("%s: not published after 10 s; published: %v", what, keys(e.published()))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

// kubelet is a fake kubelet: it registers the plugin as the kubelet's
// plugin manager does and calls its DRA service over the real socket.
type kubelet struct {
	t    *testing.T
	dra  drapb.DRAPluginClient
	conn *grpc.ClientConn
}

func (e *env) kubelet() *kubelet {
	e.t.Helper()
	reg, err := grpc.NewClient("unix://"+filepath.Join(e.regDir, dra.DriverName+"-reg.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer reg.Close()
	info, err := registerapi.NewRegistrationClient(reg).GetInfo(e.t.Context(), &registerapi.InfoRequest{})
	if err != nil {
		e.t.Fatalf("GetInfo: %v", err)
	}
	if info.Type != registerapi.DRAPlugin || info.Name != dra.DriverName {
		e.t.Fatalf("GetInfo: %v", info)
	}
	if !slices.Contains(info.SupportedVersions, drahealthv1.DRAResourceHealthService) {
		e.t.Errorf("GetInfo does not offer the health service: %v", info.SupportedVersions)
	}
	conn, err := grpc.NewClient("unix://"+info.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return &kubelet{t: e.t, dra: drapb.NewDRAPluginClient(conn), conn: conn}
}

// claim creates a claim in the API server, allocated the devices on the
// node.
func (e *env) claim(name string, devices ...string) *resourceapi.ResourceClaim {
	e.t.Helper()
	c := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
		UID: types.UID("uid-" + name)}}
	var results []resourceapi.DeviceRequestAllocationResult
	for i, d := range devices {
		results = append(results, resourceapi.DeviceRequestAllocationResult{Request: "req" + string(rune('a'+i)),
			Driver: dra.DriverName, Pool: node, Device: d})
	}
	// Another driver's device in the same claim is not ours to prepare.
	results = append(results, resourceapi.DeviceRequestAllocationResult{Request: "other", Driver: "gpu.example.com", Pool: node, Device: "gpu-0"})
	c.Status.Allocation = &resourceapi.AllocationResult{Devices: resourceapi.DeviceAllocationResult{Results: results}}
	c, err := e.client.ResourceV1().ResourceClaims("default").Create(e.t.Context(), c, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func ref(c *resourceapi.ResourceClaim) *drapb.Claim {
	return &drapb.Claim{Namespace: c.Namespace, Name: c.Name, Uid: string(c.UID)}
}

// prepare prepares one claim and returns its devices, or its error.
func (k *kubelet) prepare(c *resourceapi.ResourceClaim) ([]*drapb.Device, string) {
	k.t.Helper()
	resp, err := k.dra.NodePrepareResources(k.t.Context(), &drapb.NodePrepareResourcesRequest{Claims: []*drapb.Claim{ref(c)}})
	if err != nil {
		k.t.Fatalf("NodePrepareResources: %v", err)
	}
	r := resp.Claims[string(c.UID)]
	if r == nil {
		k.t.Fatalf("NodePrepareResources: no result for %s: %v", c.UID, resp)
	}
	return r.Devices, r.Error
}

func (k *kubelet) unprepare(c *resourceapi.ResourceClaim) string {
	k.t.Helper()
	resp, err := k.dra.NodeUnprepareResources(k.t.Context(), &drapb.NodeUnprepareResourcesRequest{Claims: []*drapb.Claim{ref(c)}})
	if err != nil {
		k.t.Fatalf("NodeUnprepareResources: %v", err)
	}
	r := resp.Claims[string(c.UID)]
	if r == nil {
		k.t.Fatalf("NodeUnprepareResources: no result for %s", c.UID)
	}
	return r.Error
}

// pciDrivers gives the driver each function is bound to in the tree.
func (e *env) pciDrivers(addrs ...string) []string {
	var out []string
	for _, a := range addrs {
		l, err := os.Readlink(filepath.Join(e.host.Root(), "sys/bus/pci/devices", a, "driver"))
		if err != nil {
			out = append(out, "")
			continue
		}
		out = append(out, filepath.Base(l))
	}
	return out
}

// spec reads the CDI spec of a claim.
func (e *env) spec(c *resourceapi.ResourceClaim) (*cdispec.Spec, bool) {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.cdiRoot, specName(c.UID)))
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var s cdispec.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		e.t.Fatal(err)
	}
	return &s, true
}

func devNodes(s *cdispec.Spec) []string {
	var out []string
	for _, d := range s.Devices {
		for _, n := range d.ContainerEdits.DeviceNodes {
			out = append(out, n.Path)
		}
	}
	return out
}

func taintKeys(d resourceapi.Device) []string {
	var out []string
	for _, t := range d.Taints {
		out = append(out, t.Key)
	}
	return out
}

func preparable(d resourceapi.Device) bool {
	v := d.Attributes[dra.AttrPreparable].BoolValue
	return v != nil && *v
}

// The driver publishes the fake host's devices: hubs and bridges never,
// the GPU that --allow-pci allows as preparable, the NIC on igb that no
// selector allows tainted; a plug and an unplug reach the slices at once.
func TestPublishAndFollow(t *testing.T) {
	e := newEnv(t, "0000:01:00.*")
	e.start()
	want := []string{"pci-0000-00-14-0", gpu, "pci-0000-01-00-1", nic}
	e.waitPublished("the first publish", func(m map[string]resourceapi.Device) bool { return len(m) == len(want) })
	pub := e.published()
	if got := keys(pub); !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	if d := pub[gpu]; !preparable(d) || len(d.Taints) != 0 {
		t.Errorf("GPU: preparable %v, taints %v; want preparable, untainted", preparable(d), taintKeys(d))
	}
	d := pub[nic]
	if preparable(d) || !slices.Contains(taintKeys(d), TaintHostDriverNotAllowed) || d.Taints[0].Value != "igb" {
		t.Errorf("NIC on igb without --allow-pci: preparable %v, taints %v; want unpreparable, %s=igb", preparable(d), d.Taints, TaintHostDriverNotAllowed)
	}

	// How long each takes is logged, not asserted: a test's machine is
	// busy; bench/ measures it against a peer.
	e.host.Plug(yubikey("1"))
	took := e.waitPublished("a plug", func(m map[string]resourceapi.Device) bool { _, ok := m[yubiKey]; return ok })
	t.Logf("plug to ResourceSlice: %v", took)
	e.host.Unplug("1-1")
	took = e.waitPublished("an unplug", func(m map[string]resourceapi.Device) bool { _, ok := m[yubiKey]; return !ok })
	t.Logf("unplug to ResourceSlice: %v", took)
	// Unbound, the NIC needs no --allow-pci. (On a host, the unbind's
	// uevent wakes the watcher; here the rescan does.)
	e.host.UnbindDriver("0000:02:00.0")
	took = e.waitPublished("an unbind", func(m map[string]resourceapi.Device) bool {
		d := m[nic]
		return d.Attributes[dra.AttrDriver].StringValue != nil && *d.Attributes[dra.AttrDriver].StringValue == "" &&
			preparable(d) && len(d.Taints) == 0
	})
	t.Logf("unbind to ResourceSlice: %v", took)
}

// A prepare of the GPU binds it and its audio function to vfio-pci and
// hands out /dev/vfio/N through a CDI spec; a second prepare gives the same;
// an unprepare by a new instance of the driver gives both back to their
// drivers and removes the spec.
func TestPrepareGPUAndRestart(t *testing.T) {
	e := newEnv(t, "0000:01:00.*")
	r := e.start()
	k := e.kubelet()
	c := e.claim("vm", gpu)
	devs, errMsg := k.prepare(c)
	if errMsg != "" {
		t.Fatalf("prepare: %s", errMsg)
	}
	want := "hostdev.io/device=uid-vm-" + gpu
	if len(devs) != 1 || devs[0].DeviceName != gpu || devs[0].PoolName != node || len(devs[0].CdiDeviceIds) == 0 || devs[0].CdiDeviceIds[0] != want {
		t.Fatalf("prepare gave %v, want %s first", devs, want)
	}
	if got := e.pciDrivers("0000:01:00.0", "0000:01:00.1", "0000:02:00.0"); !slices.Equal(got, []string{"vfio-pci", "vfio-pci", "igb"}) {
		t.Errorf("drivers after prepare: %v, want the GPU and its audio function on vfio-pci, the NIC on igb", got)
	}
	s, ok := e.spec(c)
	if !ok {
		t.Fatal("no CDI spec after prepare")
	}
	if s.Kind != cdiKind || !slices.Equal(devNodes(s), []string{"/dev/vfio/vfio", "/dev/vfio/1"}) {
		t.Errorf("CDI spec: kind %s, nodes %v; want %s, [/dev/vfio/vfio /dev/vfio/1]", s.Kind, devNodes(s), cdiKind)
	}
	// The device metadata of the kubelet plugin helper (KEP-5304).
	if len(devs[0].CdiDeviceIds) != 2 || !strings.HasPrefix(devs[0].CdiDeviceIds[1], dra.DriverName+"/metadata=") {
		t.Errorf("CDI ids %v: want the device metadata's second", devs[0].CdiDeviceIds)
	}

	// The audio function went to vfio-pci with the GPU: it is not
	// another claim's to take.
	other := e.claim("other", "pci-0000-01-00-1")
	if _, errMsg := k.prepare(other); !strings.Contains(errMsg, "0000:01:00.1") || !strings.Contains(errMsg, "default/vm") {
		t.Errorf("prepare of the GPU's audio function for another claim: error %q, want it to name the function and claim default/vm", errMsg)
	}

	again, errMsg := k.prepare(c)
	if errMsg != "" || len(again) != 1 || !slices.Equal(again[0].CdiDeviceIds, devs[0].CdiDeviceIds) {
		t.Errorf("a second prepare gave %v %q, want the first's %v", again, errMsg, devs)
	}

	// A restart: the new instance knows what the old one took.
	r.stop()
	e.start()
	k = e.kubelet()
	again, errMsg = k.prepare(c)
	if errMsg != "" || len(again) != 1 || !slices.Equal(again[0].CdiDeviceIds, devs[0].CdiDeviceIds) {
		t.Errorf("a prepare after a restart gave %v %q, want the first's %v", again, errMsg, devs)
	}
	if errMsg := k.unprepare(c); errMsg != "" {
		t.Fatalf("unprepare: %s", errMsg)
	}
	if got := e.pciDrivers("0000:01:00.0", "0000:01:00.1"); !slices.Equal(got, []string{"nouveau", "snd_hda_intel"}) {
		t.Errorf("drivers after unprepare: %v, want nouveau, snd_hda_intel", got)
	}
	if _, ok := e.spec(c); ok {
		t.Error("the CDI spec is still there after unprepare")
	}
	if errMsg := k.unprepare(c); errMsg != "" {
		t.Errorf("a second unprepare: %s", errMsg)
	}
}

// A PCI function on a host driver that no --allow-pci selector allows is
// not prepared, and nothing moves.
func TestPrepareRefusedByPolicy(t *testing.T) {
	e := newEnv(t) // no --allow-pci at all
	e.start()
	k := e.kubelet()
	if d := e.published()[gpu]; preparable(d) || !slices.Contains(taintKeys(d), TaintHostDriverNotAllowed) {
		t.Errorf("GPU on nouveau without --allow-pci: preparable %v, taints %v", preparable(d), taintKeys(d))
	}
	c := e.claim("nic", nic)
	_, errMsg := k.prepare(c)
	for _, want := range []string{nic, "0000:02:00.0", "igb", "--allow-pci"} {
		if !strings.Contains(errMsg, want) {
			t.Errorf("prepare of the NIC: error %q does not say %q", errMsg, want)
		}
	}
	c = e.claim("vm", gpu)
	if _, errMsg := k.prepare(c); !strings.Contains(errMsg, "snd_hda_intel") {
		t.Errorf("prepare of the GPU: error %q does not name the audio function's driver", errMsg)
	}
	if got := e.pciDrivers("0000:01:00.0", "0000:01:00.1", "0000:02:00.0"); !slices.Equal(got, []string{"nouveau", "snd_hda_intel", "igb"}) {
		t.Errorf("drivers after refused prepares: %v", got)
	}
	if _, ok := e.spec(c); ok {
		t.Error("a refused prepare wrote a CDI spec")
	}
}

// A USB device is prepared with its device node as it is now, after a
// replug gave it another device number; unplugged while prepared, it is
// reported unhealthy and stays published, tainted, until unprepared.
func TestPrepareUSBAfterReplug(t *testing.T) {
	e := newEnv(t)
	e.start()
	k := e.kubelet()
	first := e.host.Plug(yubikey("1"))
	e.waitPublished("the plug", func(m map[string]resourceapi.Device) bool { _, ok := m[yubiKey]; return ok })
	e.host.Unplug("1-1")
	e.waitPublished("the unplug", func(m map[string]resourceapi.Device) bool { _, ok := m[yubiKey]; return !ok })
	second := e.host.Plug(yubikey("1"))
	if first.Devnum == second.Devnum {
		t.Fatalf("the replug kept devnum %d", first.Devnum)
	}
	wantNode := fmt.Sprintf("/dev/bus/usb/001/%03d", second.Devnum)
	e.waitPublished("the replug", func(m map[string]resourceapi.Device) bool {
		d, ok := m[yubiKey]
		return ok && d.Attributes[dra.AttrDevnum].IntValue != nil && int(*d.Attributes[dra.AttrDevnum].IntValue) == second.Devnum
	})

	health, err := drahealthv1.NewDRAResourceHealthClient(k.conn).NodeWatchResources(t.Context(), &drahealthv1.NodeWatchResourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}

	c := e.claim("pod", yubiKey)
	devs, errMsg := k.prepare(c)
	if errMsg != "" || len(devs) != 1 {
		t.Fatalf("prepare: %v %s", devs, errMsg)
	}
	s, ok := e.spec(c)
	if !ok || !slices.Equal(devNodes(s), []string{wantNode}) {
		t.Fatalf("CDI spec %v: want the node %s", s, wantNode)
	}

	e.host.Unplug("1-1")
	e.waitPublished("the unplug of a prepared device", func(m map[string]resourceapi.Device) bool {
		d, ok := m[yubiKey]
		return ok && slices.Contains(taintKeys(d), TaintUnplugged) && !preparable(d)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := health.Recv()
		if err != nil {
			t.Fatalf("health stream: %v", err)
		}
		i := slices.IndexFunc(resp.Devices, func(h *drahealthv1.DeviceHealth) bool { return h.Device.DeviceName == yubiKey })
		if i >= 0 && resp.Devices[i].Health == drahealthv1.HealthStatus_UNHEALTHY {
			if !strings.Contains(resp.Devices[i].Message, "default/pod") {
				t.Errorf("health message %q does not name the claim", resp.Devices[i].Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unplugged device was never reported unhealthy")
		}
	}

	if errMsg := k.unprepare(c); errMsg != "" {
		t.Fatalf("unprepare: %s", errMsg)
	}
	e.waitPublished("the unprepare of an unplugged device", func(m map[string]resourceapi.Device) bool { _, ok := m[yubiKey]; return !ok })
}

// The flags: the policy is in the help, and a bad selector or a missing
// node name stops the driver before it touches anything.
func TestFlags(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-h"}, &out); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"--allow-pci SELECTOR", TaintHostDriverNotAllowed, "pci-stub", "USB devices are never unbound", "-cdi-root"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not say %q", want)
		}
	}
	if err := run([]string{"--node-name", "n", "--allow-pci", "vendor=zz"}, io.Discard); err == nil || !strings.Contains(err.Error(), "zz") {
		t.Errorf("a bad --allow-pci: %v", err)
	}
	t.Setenv("NODE_NAME", "")
	if err := run(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "--node-name") {
		t.Errorf("no node name: %v", err)
	}
}

// A driver that died between binding a GPU to vfio-pci and finishing the
// prepare left a pending entry in its checkpoint: an unprepare by the next
// instance gives the functions back all the same.
func TestUnprepareAfterCrash(t *testing.T) {
	e := newEnv(t, "0000:01:00.*")
	res, err := discover.Scan(t.Context(), discover.Options{Root: e.host.Root(), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := vfio.NewPlan(res.Devices, "0000:01:00.0")
	if err != nil {
		t.Fatal(err)
	}
	pd := preparedDevice{Requests: []string{"gpu"}, Pool: node, Device: gpu}
	for _, f := range plan.Take {
		pd.Functions = append(pd.Functions, f.Name)
		pd.Held = append(pd.Held, vfio.Held{Address: f.Name, Driver: f.PCI.Driver, Override: f.PCI.DriverOverride})
	}
	if err := os.MkdirAll(e.dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	cp := &checkpoint{Claims: map[types.UID]*preparedClaim{"uid-vm": {Namespace: "default", Name: "vm", Pending: true,
		Devices: []preparedDevice{pd}}}}
	if err := cp.save(e.dataDir); err != nil {
		t.Fatal(err)
	}
	if _, err := (vfio.Binder{Root: e.host.Root(), Write: e.host.WritePCIControl}).Take(t.Context(), plan); err != nil {
		t.Fatal(err)
	}
	e.start()
	k := e.kubelet()
	c := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "vm", UID: "uid-vm"}}
	if errMsg := k.unprepare(c); errMsg != "" {
		t.Fatalf("unprepare: %s", errMsg)
	}
	if got := e.pciDrivers("0000:01:00.0", "0000:01:00.1"); !slices.Equal(got, []string{"nouveau", "snd_hda_intel"}) {
		t.Errorf("drivers after unprepare: %v, want nouveau, snd_hda_intel", got)
	}
}

// The checkpoint holds what a prepare is about to move before it moves
// anything: a crash in between leaves a record to restore from.
func TestCheckpointBeforeBind(t *testing.T) {
	e := newEnv(t, "0000:01:00.*")
	var seen []string
	e.write = func(rel, value string) error {
		if seen == nil {
			cp, err := loadCheckpoint(e.dataDir)
			if err != nil {
				return err
			}
			seen = []string{}
			if p := cp.Claims["uid-vm"]; p != nil && p.Pending && len(p.Devices) == 1 {
				for _, h := range p.Devices[0].Held {
					seen = append(seen, h.Address+"="+h.Driver)
				}
			}
		}
		return e.host.WritePCIControl(rel, value)
	}
	e.start()
	k := e.kubelet()
	if _, errMsg := k.prepare(e.claim("vm", gpu)); errMsg != "" {
		t.Fatalf("prepare: %s", errMsg)
	}
	if want := []string{"0000:01:00.0=nouveau", "0000:01:00.1=snd_hda_intel"}; !slices.Equal(seen, want) {
		t.Errorf("the checkpoint at the first sysfs write held %v, want a pending %v", seen, want)
	}
	cp, err := loadCheckpoint(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if p := cp.Claims["uid-vm"]; p == nil || p.Pending {
		t.Errorf("the checkpoint after the prepare: %+v, want the claim prepared", p)
	}
}

// A prepared GPU whose audio function another program takes off vfio-pci
// is reported unhealthy, naming the function and the claim: a VM using
// the GPU has lost part of it. It stays published.
func TestHealthFunctionLeftVFIO(t *testing.T) {
	e := newEnv(t, "0000:01:00.*")
	e.start()
	k := e.kubelet()
	health, err := drahealthv1.NewDRAResourceHealthClient(k.conn).NodeWatchResources(t.Context(), &drahealthv1.NodeWatchResourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.claim("vm", gpu)
	if devs, msg := k.prepare(c); msg != "" || len(devs) != 1 {
		t.Fatalf("prepare: %v %s", devs, msg)
	}
	e.host.UnbindDriver("0000:01:00.1")
	e.host.BindDriver("0000:01:00.1", "snd_hda_intel")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := health.Recv()
		if err != nil {
			t.Fatalf("health stream: %v", err)
		}
		i := slices.IndexFunc(resp.Devices, func(h *drahealthv1.DeviceHealth) bool { return h.Device.DeviceName == gpu })
		if i >= 0 && resp.Devices[i].Health == drahealthv1.HealthStatus_UNHEALTHY {
			if m := resp.Devices[i].Message; !strings.Contains(m, "0000:01:00.1") || !strings.Contains(m, "snd_hda_intel") || !strings.Contains(m, "default/vm") {
				t.Errorf("health message %q does not name the function, its driver and the claim", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the GPU was never reported unhealthy")
		}
	}
	if _, ok := e.published()[gpu]; !ok {
		t.Error("the GPU is no longer published")
	}
}

// The policy frees the functions readiness counts as free for VFIO: none
// on a driver, or on vfio-pci, one of its vendor variants or pci-stub. A
// host driver (bus driver pcieport included: it holds no endpoint) needs
// an --allow-pci selector.
func TestPolicyDriversAsReadiness(t *testing.T) {
	for drv, free := range map[string]bool{
		"": true, "vfio-pci": true, "pci-stub": true, "mlx5_vfio_pci": true, "xe-vfio-pci": true,
		"igb": false, "nouveau": false, "HDA Intel": false,
	} {
		h := sysfstest.NewHost(t)
		h.AddPCI(sysfstest.PCIFunction{Address: "0000:03:00.0", Vendor: 0x15b3, Device: 0x101e, Class: 0x020000,
			Driver: drv, IOMMUGroup: new(3)})
		d, err := newDriver(config{Root: h.Root(), NodeName: "n", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		inv, _, refused, err := d.inventory(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Devices) != 1 {
			t.Fatalf("driver %q: %d devices published, want 1", drv, len(inv.Devices))
		}
		dev := inv.Devices[0]
		tainted := slices.ContainsFunc(dev.API.Taints, func(t resourceapi.DeviceTaint) bool { return t.Key == TaintHostDriverNotAllowed })
		if dev.Preparable != free || tainted == free || (refused[dev.API.Name] == "") == !free {
			t.Errorf("driver %q: preparable %v, tainted %v, refused %q; want preparable %v", drv, dev.Preparable, tainted, refused[dev.API.Name], free)
		}
	}
}
