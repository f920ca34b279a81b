package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/dynamic-resource-allocation/kubeletplugin"
	cdiapi "tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"
	cdispec "tags.cncf.io/container-device-interface/specs-go"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/dra"
	"github.com/hostdev/hostdev/vfio"
)

// The CDI kind of the devices the driver's specs define.
const (
	cdiVendor = dra.DriverName
	cdiClass  = "device"
	cdiKind   = cdiVendor + "/" + cdiClass
)

// checkpointFile is the name, in the plugin data directory, of the file that
// remembers what each prepared claim took, so that an unprepare restores
// the drivers even after the driver was restarted.
const checkpointFile = "checkpoint.json"

// checkpoint is what is prepared on the node.
type checkpoint struct {
	Claims map[types.UID]*preparedClaim `json:"claims"`
}

type preparedClaim struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Pending is true while a prepare is under way: a claim left so by a
	// crash is given back and prepared again.
	Pending bool             `json:"pending,omitempty"`
	Devices []preparedDevice `json:"devices"`
}

type preparedDevice struct {
	Requests []string `json:"requests"`
	Pool     string   `json:"pool"`
	Device   string   `json:"device"`
	CDIIDs   []string `json:"cdiDeviceIDs"`
	// Functions are the PCI functions the device's prepare gave to
	// vfio-pci, Held what each of those Take moved had before.
	Functions []string    `json:"functions,omitempty"`
	Held      []vfio.Held `json:"held,omitempty"`
	// Published is the device as published when it was prepared: what
	// stays published, tainted, should it go away.
	Published resourceapi.Device `json:"published"`
}

func loadCheckpoint(dir string) (*checkpoint, error) {
	cp := &checkpoint{Claims: map[types.UID]*preparedClaim{}}
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged (%w): move it away only once every function it lists is back on its driver", filepath.Join(dir, checkpointFile), err)
	}
	if cp.Claims == nil {
		cp.Claims = map[types.UID]*preparedClaim{}
	}
	return cp, nil
}

// save writes the checkpoint whole, by a rename, and syncs it.
func (cp *checkpoint) save(dir string) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, checkpointFile+".*")
	if err != nil {
		return fmt.Errorf("write the checkpoint: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write the checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write the checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the checkpoint: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, checkpointFile)); err != nil {
		return fmt.Errorf("write the checkpoint: %w", err)
	}
	return nil
}

func (d *driver) cdiCache() (*cdiapi.Cache, error) {
	return cdiapi.NewCache(cdiapi.WithSpecDirs(d.cfg.CDIRoot), cdiapi.WithAutoRefresh(false))
}

func specName(uid types.UID) string {
	return cdiapi.GenerateTransientSpecName(cdiVendor, cdiClass, string(uid)) + ".json"
}

// PrepareResourceClaims implements kubeletplugin.DRAPlugin.
func (d *driver) PrepareResourceClaims(ctx context.Context, claims []*resourceapi.ResourceClaim) (map[types.UID]kubeletplugin.PrepareResult, error) {
	cp, err := loadCheckpoint(d.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	result := make(map[types.UID]kubeletplugin.PrepareResult, len(claims))
	changed := false
	for _, c := range claims {
		if p, ok := cp.Claims[c.UID]; ok && !p.Pending {
			result[c.UID] = kubeletplugin.PrepareResult{Devices: p.results(d.cfg.Metadata)}
			continue
		} else if ok {
			if err := d.undo(ctx, p); err != nil {
				result[c.UID] = kubeletplugin.PrepareResult{Err: fmt.Errorf("claim %s/%s: an earlier prepare was cut short: %w", c.Namespace, c.Name, err)}
				continue
			}
			delete(cp.Claims, c.UID)
		}
		p, err := d.prepareClaim(ctx, cp, c)
		if err != nil {
			result[c.UID] = kubeletplugin.PrepareResult{Err: fmt.Errorf("claim %s/%s: %w", c.Namespace, c.Name, err)}
			continue
		}
		changed = true
		result[c.UID] = kubeletplugin.PrepareResult{Devices: p.results(d.cfg.Metadata)}
	}
	if changed {
		if err := d.publish(ctx); err != nil {
			d.backgroundError(err, "republish after prepare")
		}
	}
	return result, nil
}

// results gives what the kubelet gets for a prepared claim, with each
// device's published attributes when withMetadata.
func (p *preparedClaim) results(withMetadata bool) []kubeletplugin.Device {
	var out []kubeletplugin.Device
	for _, dev := range p.Devices {
		r := kubeletplugin.Device{Requests: dev.Requests, PoolName: dev.Pool,
			DeviceName: dev.Device, CDIDeviceIDs: dev.CDIIDs}
		if withMetadata {
			r.Metadata = metadata(dev.Published)
		}
		out = append(out, r)
	}
	return out
}

// metadata gives the attributes a device was published with, for the
// metadata file the kubelet plugin helper writes into the container.
func metadata(api resourceapi.Device) *kubeletplugin.DeviceMetadata {
	m := &kubeletplugin.DeviceMetadata{Attributes: make(map[string]resourceapi.DeviceAttribute, len(api.Attributes))}
	for k, v := range api.Attributes {
		m.Attributes[string(k)] = v
	}
	return m
}

// prepareClaim prepares the devices of one claim that are this driver's on
// this node, writes their CDI spec, and records them in cp (saved). On an
// error nothing of the claim stays prepared.
func (d *driver) prepareClaim(ctx context.Context, cp *checkpoint, c *resourceapi.ResourceClaim) (_ *preparedClaim, err error) {
	if c.Status.Allocation == nil {
		return nil, errors.New("not allocated")
	}
	inv, rep, refused, err := d.inventory(ctx, nil)
	if err != nil {
		return nil, err
	}
	devs := make([]discover.Device, 0, len(rep.Devices))
	for _, v := range rep.Devices {
		devs = append(devs, v.Device)
	}
	byName := make(map[string]*dra.Device, len(inv.Devices))
	for i := range inv.Devices {
		byName[inv.Devices[i].API.Name] = &inv.Devices[i]
	}
	// What other claims hold.
	inUse := map[string]string{}
	for uid, o := range cp.Claims {
		for _, pd := range o.Devices {
			owner := fmt.Sprintf("claim %s/%s (%s)", o.Namespace, o.Name, uid)
			inUse[pd.Device] = owner
			for _, f := range pd.Functions {
				inUse[f] = owner
			}
		}
	}

	p := &preparedClaim{Namespace: c.Namespace, Name: c.Name, Pending: true}
	defer func() {
		if err == nil {
			return
		}
		if uerr := d.undo(ctx, p); uerr != nil {
			// The checkpoint keeps what could not be given back.
			err = fmt.Errorf("%w; and undoing what it did failed: %w", err, uerr)
			return
		}
		if _, ok := cp.Claims[c.UID]; ok {
			delete(cp.Claims, c.UID)
			if serr := cp.save(d.cfg.DataDir); serr != nil {
				err = fmt.Errorf("%w; and %w", err, serr)
			}
		}
	}()
	spec := &cdispec.Spec{Kind: cdiKind}
	for _, r := range c.Status.Allocation.Devices.Results {
		if r.Driver != dra.DriverName || r.Pool != d.cfg.NodeName {
			continue
		}
		if i := slices.IndexFunc(p.Devices, func(pd preparedDevice) bool { return pd.Device == r.Device }); i >= 0 {
			p.Devices[i].Requests = append(p.Devices[i].Requests, r.Request)
			continue
		}
		dev, ok := byName[r.Device]
		if !ok {
			return p, fmt.Errorf("device %s is not on node %s now: plug it in again (a USB device named by its port goes back into the same port), or delete the claim so that another device is allocated", r.Device, d.cfg.NodeName)
		}
		if owner, ok := inUse[r.Device]; ok {
			return p, fmt.Errorf("device %s is prepared for %s already", r.Device, owner)
		}
		if !dev.Preparable {
			return p, notPreparable(dev, refused[r.Device])
		}
		pd := preparedDevice{Requests: []string{r.Request}, Pool: r.Pool, Device: r.Device,
			Published: *dev.API.DeepCopy()}
		cdiDev := cdispec.Device{Name: string(c.UID) + "-" + r.Device}
		switch {
		case dev.Source.PCI != nil:
			plan, err := vfio.NewPlan(devs, dev.Source.Name)
			if err != nil {
				return p, fmt.Errorf("device %s (%s): %w", r.Device, dev.Source.Name, err)
			}
			for _, f := range plan.Take {
				if owner, ok := inUse[f.Name]; ok {
					return p, fmt.Errorf("device %s (%s): %s, which a prepare takes with it, is prepared for %s already", r.Device, dev.Source.Name, f.Name, owner)
				}
				pd.Functions = append(pd.Functions, f.Name)
			}
			// What Take is about to move is in the checkpoint first, so
			// that a crash in between still leaves a record that an
			// unprepare restores from (Release of a function that never
			// moved only rewrites its driver_override).
			for _, f := range plan.Take {
				pd.Held = append(pd.Held, vfio.Held{Address: f.Name, Driver: f.PCI.Driver, Override: f.PCI.DriverOverride})
			}
			cp.Claims[c.UID] = p
			p.Devices = append(p.Devices, pd)
			if err := cp.save(d.cfg.DataDir); err != nil {
				p.Devices = p.Devices[:len(p.Devices)-1]
				return p, err
			}
			held, err := d.binder.Take(ctx, plan)
			p.Devices = p.Devices[:len(p.Devices)-1]
			if err != nil {
				// Take gave back what it had moved.
				return p, fmt.Errorf("device %s: give %s to vfio-pci: %w", r.Device, strings.Join(pd.Functions, ", "), err)
			}
			pd.Held = held
			for _, n := range plan.DevNodes() {
				cdiDev.ContainerEdits.DeviceNodes = append(cdiDev.ContainerEdits.DeviceNodes, &cdispec.DeviceNode{Path: n})
			}
		case dev.Source.USB != nil:
			if dev.Source.USB.Devnode == "" {
				return p, fmt.Errorf("device %s (%s): its bus or device number could not be read, so its node in /dev/bus/usb is unknown; unplug it and plug it in again", r.Device, dev.Source.Name)
			}
			cdiDev.ContainerEdits.DeviceNodes = []*cdispec.DeviceNode{{Path: dev.Source.USB.Devnode}}
		}
		pd.CDIIDs = []string{parser.QualifiedName(cdiVendor, cdiClass, cdiDev.Name)}
		spec.Devices = append(spec.Devices, cdiDev)
		// Recorded at once, so that an error further on gives back what
		// this device took.
		p.Devices = append(p.Devices, pd)
		for _, f := range pd.Functions {
			inUse[f] = "this claim"
		}
		inUse[r.Device] = "this claim"
	}
	if len(spec.Devices) > 0 {
		v, err := cdiapi.MinimumRequiredVersion(spec)
		if err != nil {
			return p, fmt.Errorf("CDI spec: %w", err)
		}
		spec.Version = v
		cache, err := d.cdiCache()
		if err != nil {
			return p, fmt.Errorf("CDI directory %s: %w", d.cfg.CDIRoot, err)
		}
		if err := cache.WriteSpec(spec, specName(c.UID)); err != nil {
			return p, fmt.Errorf("write the CDI spec into %s: %w", d.cfg.CDIRoot, err)
		}
	}
	p.Pending = false
	cp.Claims[c.UID] = p
	if err := cp.save(d.cfg.DataDir); err != nil {
		p.Pending = true
		if cache, cerr := d.cdiCache(); cerr == nil {
			_ = cache.RemoveSpec(specName(c.UID))
		}
		return p, err
	}
	return p, nil
}

func notPreparable(dev *dra.Device, policy string) error {
	if policy != "" {
		return fmt.Errorf("device %s (%s) is not prepared: %s; if the host can do without them, start the driver with --allow-pci naming them (--allow-pci %s)",
			dev.API.Name, dev.Source.Name, policy, dev.Source.Name)
	}
	var keys []string
	for _, t := range dev.API.Taints {
		keys = append(keys, t.Key)
	}
	msg := fmt.Sprintf("device %s (%s) cannot be prepared now (%s)", dev.API.Name, dev.Source.Name, strings.Join(keys, ", "))
	if len(dev.BlockedBy) > 0 {
		msg += fmt.Sprintf(": its IOMMU group is held by %s on host drivers", strings.Join(dev.BlockedBy, ", "))
	}
	return errors.New(msg + "; `hostdev-discover check` on the node says why and what to do")
}

// undo gives back what a claim's devices took, in reverse, and forgets
// what it gave back, so that a retry only tries what failed.
func (d *driver) undo(ctx context.Context, p *preparedClaim) error {
	var errs []error
	for i := len(p.Devices) - 1; i >= 0; i-- {
		pd := p.Devices[i]
		if len(pd.Held) == 0 {
			continue
		}
		if err := d.binder.Release(ctx, pd.Held); err != nil {
			errs = append(errs, fmt.Errorf("device %s: give %s back to their drivers: %w; the checkpoint %s keeps them, so another unprepare retries",
				pd.Device, strings.Join(pd.Functions, ", "), err, filepath.Join(d.cfg.DataDir, checkpointFile)))
			continue
		}
		p.Devices[i].Held = nil
	}
	return errors.Join(errs...)
}

// UnprepareResourceClaims implements kubeletplugin.DRAPlugin: each PCI
// function goes back to the driver it had, and the claim's CDI spec and
// checkpoint entry go. A claim not prepared is no error.
func (d *driver) UnprepareResourceClaims(ctx context.Context, claims []kubeletplugin.NamespacedObject) (map[types.UID]error, error) {
	cp, err := loadCheckpoint(d.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	result := make(map[types.UID]error, len(claims))
	changed := false
	for _, c := range claims {
		result[c.UID] = nil
		p, ok := cp.Claims[c.UID]
		if !ok {
			continue
		}
		if err := d.undo(ctx, p); err != nil {
			result[c.UID] = fmt.Errorf("claim %s/%s: %w", c.Namespace, c.Name, err)
			changed = true // what was given back is forgotten
			continue
		}
		cache, err := d.cdiCache()
		if err == nil {
			err = cache.RemoveSpec(specName(c.UID))
		}
		if err != nil {
			result[c.UID] = fmt.Errorf("claim %s/%s: remove its CDI spec from %s: %w", c.Namespace, c.Name, d.cfg.CDIRoot, err)
		}
		delete(cp.Claims, c.UID)
		changed = true
	}
	if changed {
		if err := cp.save(d.cfg.DataDir); err != nil {
			return nil, err
		}
		if err := d.publish(ctx); err != nil {
			d.backgroundError(err, "republish after unprepare")
		}
	}
	return result, nil
}
