// Command hostdev-dra is hostdev's Kubernetes DRA driver on a node: a kubelet
// plugin that publishes the node's assignable USB devices and PCI functions
// as ResourceSlices, keeps them current as devices come and go, and prepares
// allocated devices for the pods that claim them. Run it with -h for what it
// does and what it refuses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metadatav1beta1 "k8s.io/dynamic-resource-allocation/api/metadata/v1beta1"
	"k8s.io/dynamic-resource-allocation/kubeletplugin"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra"
	"github.com/hostdev/hostdev/match"
)

const usage = `Usage: hostdev-dra [flags]

hostdev-dra is the node half of hostdev's Kubernetes DRA driver (driver name
hostdev.io). It runs on every node as a DaemonSet and:

  - publishes the node's USB devices and PCI endpoint functions in the
    ResourceSlices of one pool named after the node, and republishes within
    milliseconds of a plug or an unplug, and of a driver bind when kernel
    uevents are heard (see --uevents; else at the next --rescan);
  - prepares an allocated device for a pod: a PCI function (with the other
    functions of its slot in its IOMMU group, a GPU's audio function) is
    bound to vfio-pci, and the pod gets /dev/vfio/vfio and /dev/vfio/N; a USB
    device is found again by its name (a replug changes its device number)
    and the pod gets /dev/bus/usb/BBB/DDD as it is now. Both through a CDI
    spec of kind hostdev.io/device in --cdi-root;
  - unprepares: every PCI function goes back to the driver it had, also
    after a restart of this driver (a checkpoint in --plugin-data-dir);
  - reports the health of its devices to the kubelet: a prepared device that
    is unplugged is unhealthy, and stays published with the taint
    hostdev.io/Unplugged until its claim is unprepared.

Policy: taking a PCI function away from a host driver (any driver but
vfio-pci, its vendor variants such as mlx5_vfio_pci, and pci-stub) can take a disk, a network or the console away from
the node. So a prepare only does it for functions an administrator allowed
with --allow-pci SELECTOR (repeatable; hostdev's selector syntax, e.g.
--allow-pci 0000:01:00.* or --allow-pci vendor=10de). A PCI function whose
prepare would take a function from a host driver that no selector matches
(itself, or a function of its slot that goes with it) is published with
preparable=false and the NoSchedule taint hostdev.io/HostDriverNotAllowed
(whose value names the driver), and a prepare of it is refused, saying
which function is on which driver. Unbound functions and those on vfio-pci,
a variant of it, or pci-stub need no selector. USB devices are never unbound (QEMU's usb-host
and usbfs detach their kernel drivers themselves), so the policy does not
apply to them.

Flags:
`

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hostdev-dra:", err)
		os.Exit(1)
	}
}

// allowFlag gathers --allow-pci selectors.
type allowFlag struct {
	sels []match.Selector
	text []string
}

func (a *allowFlag) String() string { return fmt.Sprint(a.text) }
func (a *allowFlag) Set(s string) error {
	sel, err := match.Parse(s)
	if err != nil {
		return err
	}
	a.sels = append(a.sels, sel)
	a.text = append(a.text, s)
	return nil
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hostdev-dra", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var cfg config
	var allow allowFlag
	var kubeconfig, logLevel, uevents string
	fs.StringVar(&cfg.Root, "root", "/", "the host's root directory: its sysfs is ROOT/sys")
	fs.StringVar(&cfg.NodeName, "node-name", os.Getenv("NODE_NAME"), "the node's name, and its pool's (default $NODE_NAME)")
	fs.StringVar(&cfg.CDIRoot, "cdi-root", "/var/run/cdi", "where the CDI specs of prepared claims are written")
	fs.StringVar(&cfg.DataDir, "plugin-data-dir", filepath.Join(kubeletplugin.KubeletPluginsDir, dra.DriverName), "the plugin's directory: its gRPC socket and its checkpoint")
	fs.StringVar(&cfg.RegistrarDir, "registrar-dir", kubeletplugin.KubeletRegistryDir, "the kubelet's plugin registration directory")
	fs.Var(&allow, "allow-pci", "a selector of PCI functions a prepare may take from host drivers (repeatable)")
	fs.BoolVar(&cfg.Metadata, "device-metadata", true, "have the kubelet plugin helper write each prepared device's attributes into the pod (EnableDeviceMetadata)")
	fs.DurationVar(&cfg.Debounce, "debounce", 20*time.Millisecond, "how long device events are gathered before the slices are rebuilt")
	fs.DurationVar(&cfg.Rescan, "rescan", discover.DefaultRescan, "the period of the full rescan under the event sources")
	fs.StringVar(&uevents, "uevents", "auto", "listen to kernel uevents (PCI changes, driver binds): auto (when --root is /), on (--root is the host's sysfs mounted elsewhere; a pod may need hostNetwork to receive them), or off (binds show at the rescan)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "a kubeconfig file; in-cluster configuration when empty")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.NodeName == "" {
		return errors.New("no node name: set --node-name or $NODE_NAME (the downward API's spec.nodeName)")
	}
	switch uevents {
	case "auto":
		cfg.Uevents = discover.UeventsAuto
	case "on":
		cfg.Uevents = discover.UeventsOn
	case "off":
		cfg.Uevents = discover.UeventsOff
	default:
		return fmt.Errorf("--uevents %q: want auto, on or off", uevents)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.AllowPCI = allow.sels

	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("Kubernetes client: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("Kubernetes client: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := start(ctx, cfg, client)
	if err != nil {
		return err
	}
	cfg.Log.Info("running", "node", cfg.NodeName, "root", cfg.Root, "allow-pci", allow.text)
	<-ctx.Done()
	d.stop()
	return nil
}

// running is a started driver.
type running struct {
	*driver
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start opens the host, serves the kubelet's gRPC sockets, publishes, and
// follows the devices until ctx is done or stop is called.
func start(ctx context.Context, cfg config, client kubernetes.Interface, extra ...kubeletplugin.Option) (*running, error) {
	for _, dir := range []string{cfg.DataDir, cfg.RegistrarDir} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
	}
	d, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &running{driver: d, cancel: cancel}
	opts := []kubeletplugin.Option{
		kubeletplugin.DriverName(dra.DriverName),
		kubeletplugin.NodeName(cfg.NodeName),
		kubeletplugin.KubeClient(client),
		kubeletplugin.PluginDataDirectoryPath(cfg.DataDir),
		kubeletplugin.RegistrarDirectoryPath(cfg.RegistrarDir),
	}
	if cfg.Metadata {
		opts = append(opts, kubeletplugin.EnableDeviceMetadata(true, []schema.GroupVersion{metadatav1beta1.SchemeGroupVersion}),
			kubeletplugin.CDIDirectory(cfg.CDIRoot))
	}
	d.helper, err = kubeletplugin.Start(ctx, d, append(opts, extra...)...)
	if err != nil {
		cancel()
		d.host.Close()
		return nil, err
	}
	// Watch first, so that nothing between the first scan and the watch
	// is missed.
	ready := make(chan struct{})
	werr := make(chan error, 1)
	r.wg.Go(func() { werr <- d.watch(ctx, ready) })
	select {
	case <-ready:
	case err := <-werr:
		r.stop()
		return nil, fmt.Errorf("watch devices: %w", err)
	}
	if err := d.publish(ctx); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

func (r *running) stop() {
	r.cancel()
	r.wg.Wait()
	r.helper.Stop()
	r.host.Close()
}
