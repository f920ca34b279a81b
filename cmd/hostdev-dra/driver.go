package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/dynamic-resource-allocation/kubeletplugin"
	"k8s.io/dynamic-resource-allocation/resourceslice"

	"github.com/hostdev/hostdev"
	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/vfio"
)

// The taints the driver adds to what package dra publishes.
const (
	// TaintHostDriverNotAllowed marks a PCI function that a prepare would
	// take from a host driver (it or a function of its slot that goes
	// with it) while no --allow-pci selector matches that function.
	TaintHostDriverNotAllowed = dra.DriverName + "/HostDriverNotAllowed"
	// TaintUnplugged marks a device that went away while a claim had it
	// prepared: it stays published, under its last attributes, until the
	// claim is unprepared.
	TaintUnplugged = dra.DriverName + "/Unplugged"
)

// healthResend is how often the health stream repeats itself when nothing
// changes: the kubelet takes a device's health for unknown after 30 s.
const healthResend = 20 * time.Second

// config is what the flags say.
type config struct {
	Root         string           // the host's root, "/"
	NodeName     string           // the node, and the pool's name
	CDIRoot      string           // where CDI specs are written
	DataDir      string           // the plugin's data directory: dra.sock, the checkpoint
	RegistrarDir string           // the kubelet's plugin registry
	AllowPCI     []match.Selector // PCI functions a prepare may take from host drivers
	Debounce     time.Duration    // how long events are gathered before a republish
	Rescan       time.Duration    // the watcher's full rescan; 0 is discover's default
	Uevents      discover.UeventMode
	Metadata     bool // EnableDeviceMetadata
	// Write replaces the sysfs writes of vfio.Binder (tests).
	Write func(rel, value string) error
	Log   *slog.Logger
}

// driver is the kubelet plugin: it implements kubeletplugin.DRAPlugin and
// keeps the node's ResourceSlices current.
type driver struct {
	cfg    config
	host   *hostdev.Host
	binder vfio.Binder
	helper *kubeletplugin.Helper
	log    *slog.Logger

	pubMu sync.Mutex // one publish at a time

	mu        sync.Mutex
	published []dra.Device      // as last published
	gone      map[string]string // prepared devices that went away: name -> message
	healthGen uint64
	healthCh  chan struct{} // closed and replaced when health changes
	errors    []error       // background errors, for tests
}

func newDriver(cfg config) (*driver, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	h, err := hostdev.Open(cfg.Root, hostdev.WithLogger(cfg.Log))
	if err != nil {
		return nil, err
	}
	return &driver{
		cfg:      cfg,
		host:     h,
		binder:   vfio.Binder{Root: cfg.Root, Write: cfg.Write},
		log:      cfg.Log,
		gone:     map[string]string{},
		healthCh: make(chan struct{}),
	}, nil
}

// inventory scans the host and builds what it publishes, with the
// --allow-pci policy applied. refused holds, for each device the policy
// refuses, why.
//
// With a watcher, it takes the USB devices as the watcher holds them and
// scans only the PCI functions: a rescan of every USB device on every
// event would cost a node with a thousand of them most of a second per
// plug (BenchmarkPlugToAPI). PCI functions are always read afresh, as a
// prepare changes their drivers behind the watcher's back (it hears binds
// only from uevents, which are off for a --root other than /), and a
// health report must not call a prepared function gone from vfio-pci on a
// stale reading.
func (d *driver) inventory(ctx context.Context, w *discover.Watcher) (inv *dra.Inventory, rep *readiness.Report, refused map[string]string, err error) {
	if w == nil {
		rep, err = d.host.Assess(ctx)
	} else {
		rep, err = d.assessWatched(ctx, w)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("scan %s: %w", d.cfg.Root, err)
	}
	inv = dra.Build(rep)
	refused = d.applyPolicy(inv, rep)
	return inv, rep, refused, nil
}

// applyPolicy marks unpreparable every PCI function whose prepare would
// take a function from a host driver that no --allow-pci selector allows.
func (d *driver) applyPolicy(inv *dra.Inventory, rep *readiness.Report) map[string]string {
	byName := make(map[string]discover.Device, len(rep.Devices))
	for _, v := range rep.Devices {
		byName[v.Device.Name] = v.Device
	}
	refused := map[string]string{}
	for i := range inv.Devices {
		dev := &inv.Devices[i]
		if dev.Source.PCI == nil {
			continue // USB: QEMU and usbfs detach its drivers themselves
		}
		var held []string
		firstDriver := ""
		for _, name := range append([]string{dev.Source.Name}, dev.Takes...) {
			f, ok := byName[name]
			if !ok || f.PCI == nil || !readiness.HeldByHost(f.PCI) || d.allowed(f) {
				continue
			}
			if firstDriver == "" && len(validation.IsValidLabelValue(f.PCI.Driver)) == 0 {
				firstDriver = f.PCI.Driver // a taint's value is a label value
			}
			held = append(held, fmt.Sprintf("%s is on host driver %s", f.Name, quote.Text(f.PCI.Driver)))
		}
		if len(held) == 0 {
			continue
		}
		refused[dev.API.Name] = strings.Join(held, ", ") + ", and no --allow-pci selector matches"
		dev.Preparable = false
		dev.API.Attributes[dra.AttrPreparable] = resourceapi.DeviceAttribute{BoolValue: new(false)}
		dev.API.Taints = append(dev.API.Taints, resourceapi.DeviceTaint{Key: TaintHostDriverNotAllowed,
			Value: firstDriver, Effect: resourceapi.DeviceTaintEffectNoSchedule})
	}
	return refused
}

// assessWatched judges the watcher's USB devices with the PCI functions
// scanned now.
func (d *driver) assessWatched(ctx context.Context, w *discover.Watcher) (*readiness.Report, error) {
	res, err := d.host.Scan(ctx, discover.BusPCI)
	if err != nil {
		return nil, err
	}
	devs := slices.DeleteFunc(w.Devices(), func(dev discover.Device) bool { return dev.Bus != discover.BusUSB })
	rep, err := readiness.Assess(append(devs, res.Devices...), readiness.Options{Root: d.host.Root()})
	if err != nil {
		return nil, err
	}
	rep.Warnings = append(res.Warnings, rep.Warnings...)
	return rep, nil
}

func (d *driver) allowed(f discover.Device) bool {
	for _, s := range d.cfg.AllowPCI {
		if s.Match(f) {
			return true
		}
	}
	return false
}

// publish scans the host and hands the node's slices to the kubelet
// plugin's ResourceSlice controller. A device a claim has prepared that
// is no longer there stays published, tainted, under the attributes it had
// when it was prepared.
func (d *driver) publish(ctx context.Context) error { return d.publishFrom(ctx, nil) }

// publishFrom is publish, with the USB devices as w holds them when w is
// not nil (see inventory).
func (d *driver) publishFrom(ctx context.Context, w *discover.Watcher) error {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	inv, _, refused, err := d.inventory(ctx, w)
	if err != nil {
		return err
	}
	for name, why := range refused {
		d.log.Debug("not preparable by policy", "device", name, "reason", why)
	}
	cp, err := loadCheckpoint(d.cfg.DataDir)
	if err != nil {
		return err
	}
	present := make(map[string]bool, len(inv.Devices))
	pciDriver := map[string]string{}
	for _, dev := range inv.Devices {
		present[dev.API.Name] = true
		if p := dev.Source.PCI; p != nil {
			pciDriver[dev.Source.Name] = p.Driver
		}
	}
	// gone holds the unhealthy: prepared devices that went away, and
	// prepared devices one of whose functions left vfio-pci (another
	// program unbound it): a VM using it has lost it.
	gone := map[string]string{}
	for _, uid := range slices.Sorted(maps.Keys(cp.Claims)) {
		c := cp.Claims[uid]
		for _, p := range c.Devices {
			if gone[p.Device] != "" {
				continue
			}
			if present[p.Device] {
				for _, f := range p.Functions {
					if drv, ok := pciDriver[f]; ok && drv != vfio.Driver {
						now := "no driver"
						if drv != "" {
							now = quote.Text(drv)
						}
						gone[p.Device] = fmt.Sprintf("%s left %s (it is on %s now) while prepared for claim %s/%s",
							f, vfio.Driver, now, c.Namespace, c.Name)
						break
					}
				}
				continue
			}
			gone[p.Device] = fmt.Sprintf("%s went away while prepared for claim %s/%s", p.Device, c.Namespace, c.Name)
			api := *p.Published.DeepCopy()
			api.Name = p.Device // a record a crash cut short may hold no more
			if api.Attributes == nil {
				api.Attributes = map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{}
			}
			api.Attributes[dra.AttrPreparable] = resourceapi.DeviceAttribute{BoolValue: new(false)}
			api.Taints = append(api.Taints, resourceapi.DeviceTaint{Key: TaintUnplugged,
				Effect: resourceapi.DeviceTaintEffectNoSchedule})
			inv.Devices = append(inv.Devices, dra.Device{API: api})
		}
	}
	pool := resourceslice.Pool{}
	for _, chunk := range inv.Chunks() {
		pool.Slices = append(pool.Slices, resourceslice.Slice{Devices: chunk})
	}
	if err := d.helper.PublishResources(ctx, resourceslice.DriverResources{
		Pools: map[string]resourceslice.Pool{d.cfg.NodeName: pool}}); err != nil {
		return err
	}
	d.mu.Lock()
	d.published = inv.Devices
	d.gone = gone
	d.mu.Unlock()
	d.healthChanged()
	return nil
}

// watch republishes on every batch of device events, gathered for
// cfg.Debounce, until ctx is done.
func (d *driver) watch(ctx context.Context, ready chan<- struct{}) error {
	w, err := d.host.Watch(ctx, discover.WatchOptions{Rescan: d.cfg.Rescan, Uevents: d.cfg.Uevents})
	if err != nil {
		return err
	}
	defer w.Close()
	if ready != nil {
		close(ready)
	}
	var timer *time.Timer
	var fire <-chan time.Time
	events, errs := w.Events, w.Errors
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			d.log.Warn("watching devices", "err", err)
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			d.log.Debug("device event", "op", ev.Op, "device", ev.Device.Name)
			if timer == nil {
				timer = time.NewTimer(d.cfg.Debounce)
				fire = timer.C
			}
		case <-fire:
			timer, fire = nil, nil
			if err := d.publishFrom(ctx, w); err != nil {
				d.backgroundError(err, "republish after device events")
			}
		}
	}
}

func (d *driver) backgroundError(err error, msg string) {
	d.log.Error(msg, "err", err)
	d.mu.Lock()
	d.errors = append(d.errors, fmt.Errorf("%s: %w", msg, err))
	d.mu.Unlock()
}

// healthChanged wakes the health streams after a publish, which may have
// changed the devices or their health.
func (d *driver) healthChanged() {
	d.mu.Lock()
	close(d.healthCh)
	d.healthCh = make(chan struct{})
	d.healthGen++
	d.mu.Unlock()
}

// healthReport covers every published device: healthy when it is there,
// unhealthy when it went away while prepared, or a function of it left
// vfio-pci.
func (d *driver) healthReport() (kubeletplugin.DeviceHealthReport, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var rep kubeletplugin.DeviceHealthReport
	for _, dev := range d.published {
		h := kubeletplugin.DeviceHealth{PoolName: d.cfg.NodeName, DeviceName: dev.API.Name,
			Health: kubeletplugin.HealthStatusHealthy, LastUpdated: now}
		if msg, ok := d.gone[dev.API.Name]; ok {
			h.Health, h.Message = kubeletplugin.HealthStatusUnhealthy, msg
		}
		rep.Devices = append(rep.Devices, h)
	}
	return rep, d.healthCh
}

// WatchHealthStatus implements kubeletplugin.DRAPlugin: a report of every
// device now, again whenever a publish changes something, and every
// healthResend.
func (d *driver) WatchHealthStatus(ctx context.Context, reports chan<- kubeletplugin.DeviceHealthReport) error {
	tick := time.NewTicker(healthResend)
	defer tick.Stop()
	for {
		rep, changed := d.healthReport()
		select {
		case <-ctx.Done():
			return nil
		case reports <- rep:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// HandleError implements kubeletplugin.DRAPlugin. Every error the helper
// reports in the background (publishing slices, the gRPC servers) is
// logged; none stops the driver, as restarting would not mend it.
func (d *driver) HandleError(ctx context.Context, err error, msg string) {
	d.backgroundError(err, msg)
}
