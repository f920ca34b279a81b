// Package vfio hands PCI functions to the vfio-pci driver, so that a VM or
// a container can be given them, and gives them back to the drivers they
// had: what libvirt does for a <hostdev managed='yes'>.
//
// VFIO gives a process an IOMMU group whole, and only once no endpoint of
// the group is held by a host driver (bridges do not count). A Plan for
// one function therefore takes the endpoints of its group that sit in its
// slot with it, when that slot is behind a bridge: the functions of one
// card, such as a GPU and its audio function. It refuses when any other
// endpoint of the group is on a host driver: taking that would take a
// device the user never asked for. The functions of a slot on a root bus
// are the chipset's separate devices (00:1f.2 the SATA controller, 00:1f.3
// the SMBus or the sound), so they count as other slots do.
//
//	p, err := vfio.NewPlan(devs, "0000:01:00.0")
//	if err != nil { ... } // *vfio.BlockedError names what holds the group
//	b := vfio.Binder{Root: "/"}
//	held, err := b.Take(ctx, p)
//	// give the VM p.DevNodes(): /dev/vfio/vfio and /dev/vfio/N
//	err = b.Release(ctx, held)
package vfio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/readiness"
)

// Driver is the driver VFIO needs a function bound to.
const Driver = "vfio-pci"

// Plan is what Take does for one function.
type Plan struct {
	Target discover.Device
	Group  int
	// Take is Target and, behind a bridge, the other endpoints of its
	// group in its slot, by address: the functions Take binds to
	// vfio-pci.
	Take []discover.Device
	// Others are the group's other endpoints, which Take leaves where
	// they are: each is unbound or on a VFIO driver already.
	Others []discover.Device
}

// BlockedError is a function that cannot be given to VFIO because
// another endpoint of its IOMMU group, one a Plan does not take with it,
// is on a host driver.
type BlockedError struct {
	Target  discover.Device
	Group   int
	Holders []discover.Device // the endpoints on host drivers, by address
}

func (e *BlockedError) Error() string {
	parts := make([]string, len(e.Holders))
	for i, d := range e.Holders {
		parts[i] = fmt.Sprintf("%s (%s)", quote.Text(d.Name), quote.Text(d.PCI.Driver))
	}
	return fmt.Sprintf("%s: IOMMU group %d also holds %s, on a host driver and not a function of the same card; "+
		"VFIO needs the whole group, and hostdev takes no device that was not asked for",
		quote.Text(e.Target.Name), e.Group, strings.Join(parts, ", "))
}

// NewPlan plans to take the function at addr, among devs (a whole scan:
// the group's other members decide). It fails when addr is not a PCI
// function in devs, when it has no IOMMU group (the IOMMU is off), when it
// is a bridge, or, with a *BlockedError, when its group is held.
func NewPlan(devs []discover.Device, addr string) (Plan, error) {
	i := slices.IndexFunc(devs, func(d discover.Device) bool { return d.Bus == discover.BusPCI && d.Name == addr })
	if i < 0 {
		return Plan{}, fmt.Errorf("%s: no such PCI function", quote.Text(addr))
	}
	t := devs[i]
	if t.PCI == nil || t.PCI.Address == nil {
		return Plan{}, fmt.Errorf("%s: not a PCI function with an address", quote.Text(addr))
	}
	if !readiness.Endpoint(t.PCI) {
		return Plan{}, fmt.Errorf("%s: a bridge (class %s) is never given to VFIO", quote.Text(addr), t.PCI.Class)
	}
	if t.PCI.IOMMUGroup == nil {
		return Plan{}, fmt.Errorf("%s: no IOMMU group; VFIO needs the IOMMU on (intel_iommu=on or amd_iommu=on)", quote.Text(addr))
	}
	var members []discover.Device
	for _, d := range devs {
		if d.PCI != nil && d.PCI.IOMMUGroup != nil && *d.PCI.IOMMUGroup == *t.PCI.IOMMUGroup {
			members = append(members, d)
		}
	}
	return GroupPlan(t, members)
}

// GroupPlan is NewPlan for a caller that has the members of the target's
// IOMMU group at hand (readiness.Group.Members): it costs the size of the
// group, not of the scan. target must be a PCI function with a group, and
// members every function of that group, target among them.
func GroupPlan(t discover.Device, members []discover.Device) (Plan, error) {
	if t.PCI == nil || t.PCI.Address == nil || t.PCI.IOMMUGroup == nil || !readiness.Endpoint(t.PCI) {
		return Plan{}, fmt.Errorf("%s: not a PCI endpoint with an IOMMU group", quote.Text(t.Name))
	}
	p := Plan{Target: t, Group: *t.PCI.IOMMUGroup}
	var holders []discover.Device
	for _, d := range members {
		if d.PCI == nil || d.PCI.Address == nil || d.PCI.IOMMUGroup == nil || *d.PCI.IOMMUGroup != p.Group || !readiness.Endpoint(d.PCI) {
			continue
		}
		if d.Name == t.Name || t.Parent != "" && d.Parent == t.Parent && sameSlot(*d.PCI, *t.PCI) {
			p.Take = append(p.Take, d)
			continue
		}
		p.Others = append(p.Others, d)
		if d.PCI.Driver != "" && !readiness.VFIOHolder(d.PCI.Driver) {
			holders = append(holders, d)
		}
	}
	byAddr := func(a, b discover.Device) int { return a.PCI.Address.Compare(*b.PCI.Address) }
	slices.SortFunc(p.Take, byAddr)
	slices.SortFunc(p.Others, byAddr)
	slices.SortFunc(holders, byAddr)
	if len(holders) > 0 {
		return p, &BlockedError{Target: t, Group: p.Group, Holders: holders}
	}
	return p, nil
}

// DevNodes are the device nodes a process needs to use the group.
func (p Plan) DevNodes() []string {
	return []string{"/dev/vfio/vfio", fmt.Sprintf("/dev/vfio/%d", p.Group)}
}

func sameSlot(a, b discover.PCI) bool {
	x, y := *a.Address, *b.Address
	return x.Domain == y.Domain && x.Bus == y.Bus && x.Slot == y.Slot
}

// Held is one function Take moved, and what it had before, for Release.
type Held struct {
	Address  string
	Driver   string // the driver it had; "" if none
	Override string // its driver_override before; "" if none
}

// Binder moves functions between drivers through the kernel's files
// beneath Root: driver_override, the drivers' unbind and bind files, and
// drivers_probe. It needs the privileges to write them (root, or
// CAP_SYS_ADMIN with sysfs writable).
type Binder struct {
	Root string // "" is "/"
	// Write writes value to the file rel (relative to Root) in one
	// write, as sysfs wants; nil writes the file. Tests give
	// sysfstest.Host.WritePCIControl.
	Write func(rel, value string) error
	// Wait bounds how long a bind may take to show (probing can be
	// asynchronous); 0 is 5 seconds.
	Wait time.Duration
}

// Take binds each function of p.Take to vfio-pci, in address order, and
// returns what each had. A function on vfio-pci already is left as it is
// (and Release leaves it so). If one cannot be moved, those moved before
// it are given back, and the error says which and why.
func (b Binder) Take(ctx context.Context, p Plan) ([]Held, error) {
	if _, err := os.Stat(b.abs("sys/bus/pci/drivers/" + Driver)); err != nil {
		return nil, fmt.Errorf("the %s driver is not loaded (modprobe %s): %w", Driver, Driver, err)
	}
	var held []Held
	for _, d := range p.Take {
		h, err := b.take(ctx, d.PCI.Address.String())
		if err != nil {
			if rerr := b.Release(context.WithoutCancel(ctx), held); rerr != nil {
				err = fmt.Errorf("%w; giving back the functions taken before it failed too: %v", err, rerr)
			}
			return nil, err
		}
		held = append(held, h)
	}
	return held, nil
}

func (b Binder) take(ctx context.Context, addr string) (Held, error) {
	h := Held{Address: addr, Driver: b.driver(addr), Override: b.override(addr)}
	if h.Driver == Driver {
		return h, nil
	}
	steps := [][2]string{{"sys/bus/pci/devices/" + addr + "/driver_override", Driver}}
	if h.Driver != "" {
		steps = append(steps, [2]string{"sys/bus/pci/devices/" + addr + "/driver/unbind", addr})
	}
	steps = append(steps, [2]string{"sys/bus/pci/drivers_probe", addr})
	var err error
	for _, s := range steps {
		if werr := b.write(s[0], s[1]); werr != nil {
			err = fmt.Errorf("%s: writing %s to /%s: %w", addr, s[1], s[0], werr)
			break
		}
	}
	if err == nil {
		err = b.await(ctx, addr, Driver)
	}
	if err != nil {
		// Back as it was, as far as that goes.
		if rerr := b.release(context.WithoutCancel(ctx), h); rerr != nil {
			err = fmt.Errorf("%w; putting it back failed too: %v", err, rerr)
		}
		return Held{}, err
	}
	return h, nil
}

// Release gives each function back its driver_override and its driver,
// in the reverse order of Take. It goes on past a failure, and returns
// every failure joined.
func (b Binder) Release(ctx context.Context, held []Held) error {
	var errs []error
	for _, h := range slices.Backward(held) {
		if err := b.release(ctx, h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b Binder) release(ctx context.Context, h Held) error {
	if h.Driver == Driver {
		return nil // it was on vfio-pci before Take
	}
	addr := h.Address
	if err := b.write("sys/bus/pci/devices/"+addr+"/driver_override", h.Override+"\n"); err != nil {
		return fmt.Errorf("%s: restoring driver_override: %w", addr, err)
	}
	if cur := b.driver(addr); cur != "" && cur != h.Driver {
		if err := b.write("sys/bus/pci/devices/"+addr+"/driver/unbind", addr); err != nil {
			return fmt.Errorf("%s: unbinding it from %s: %w", addr, quote.Text(cur), err)
		}
	}
	if h.Driver == "" || b.driver(addr) == h.Driver {
		return nil
	}
	if err := b.rebind(addr, h.Driver); err != nil {
		return err
	}
	return b.await(ctx, addr, h.Driver)
}

// rebind gives addr back to drv: through drivers_probe, which binds what
// the kernel's ID tables say, and if that binds nothing (drv took it by
// new_id, say), through drv's own bind file.
func (b Binder) rebind(addr, drv string) error {
	if err := b.write("sys/bus/pci/drivers_probe", addr); err != nil {
		return fmt.Errorf("%s: probing drivers for it: %w", addr, err)
	}
	if b.driver(addr) != "" {
		return nil
	}
	if !validDriver(drv) {
		return fmt.Errorf("%s: its driver %s cannot be written to a path", addr, quote.Text(drv))
	}
	if err := b.write("sys/bus/pci/drivers/"+drv+"/bind", addr); err != nil {
		return fmt.Errorf("%s: binding it to %s again: %w", addr, drv, err)
	}
	return nil
}

// await waits until addr is bound to drv.
func (b Binder) await(ctx context.Context, addr, drv string) error {
	wait := cmp.Or(b.Wait, 5*time.Second)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		cur := b.driver(addr)
		if cur == drv {
			return nil
		}
		select {
		case <-ctx.Done():
			if cur == "" {
				cur = "no driver"
			}
			return fmt.Errorf("%s: still on %s after %v, not on %s", addr, quote.Text(cur), wait, drv)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// validDriver reports whether a driver name can stand in a path.
func validDriver(d string) bool {
	return d != "" && d != "." && d != ".." && !strings.ContainsAny(d, "/\x00")
}

func (b Binder) abs(rel string) string {
	return filepath.Join(cmp.Or(b.Root, "/"), filepath.FromSlash(rel))
}

// driver is the driver addr is bound to now, "" if none.
func (b Binder) driver(addr string) string {
	t, err := os.Readlink(b.abs("sys/bus/pci/devices/" + addr + "/driver"))
	if err != nil {
		return ""
	}
	return path.Base(filepath.ToSlash(t))
}

// override is addr's driver_override now, "" if none.
func (b Binder) override(addr string) string {
	data, err := os.ReadFile(b.abs("sys/bus/pci/devices/" + addr + "/driver_override"))
	s := strings.TrimSpace(string(data))
	if err != nil || s == "(null)" {
		return ""
	}
	return s
}

// write writes value to the file rel in one write.
func (b Binder) write(rel, value string) error {
	if b.Write != nil {
		return b.Write(rel, value)
	}
	f, err := os.OpenFile(b.abs(rel), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
