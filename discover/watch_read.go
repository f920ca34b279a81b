package discover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hostdev/hostdev/sysfs"
)

// A batch is what one pass of the watcher must read, gathered from every
// event that arrived since the last pass, and what the pass found.
type batch struct {
	full    bool            // read everything
	listUSB bool            // compare the USB listing with what is known
	listPCI bool            // re-read every PCI function: one came or went
	usb     map[string]bool // USB devices to re-read
	pci     map[string]bool // PCI functions to re-read
	nodes   []nodeEvent     // device nodes that came or went
	fired   []recheckKey    // rechecks that fell due
	// rootHubs: a bus came or went, and with it, often, its controller.
	rootHubs bool
	// pciGone: PCI functions the kernel said it removed.
	pciGone map[string]bool
	// nodesBefore: the nodes of the buses read, as they were before the
	// read, nil for a bus without a folder (see nodeMissingBefore); nil
	// outside such a read.
	nodesBefore map[int]map[int]bool

	removed, added []Device
	changed        []change
	out            []Event
}

// change is a device read differently: as it was, and as it is now.
type change struct{ old, new Device }

type nodeEvent struct {
	bus, dev int
	created  bool
}

func (b *batch) readUSB(name string) {
	if b.usb == nil {
		b.usb = map[string]bool{}
	}
	b.usb[name] = true
}

func (b *batch) readPCI(name string) {
	if b.pci == nil {
		b.pci = map[string]bool{}
	}
	b.pci[name] = true
}

// seal turns what one comparison found into events: removals first, so
// that a replugged device leaves before it arrives, then arrivals, then
// changes, each in Scan's order. A pass may compare the same device twice,
// so each comparison's events follow the last one's.
func (b *batch) seal() {
	// The receiver's own copies: the watcher keeps comparing what it has.
	for _, g := range []struct {
		op   Op
		devs []Device
	}{{Remove, b.removed}, {Add, b.added}} {
		slices.SortFunc(g.devs, compareDevices)
		for _, d := range g.devs {
			b.out = append(b.out, Event{Op: g.op, Device: d.Clone()})
		}
	}
	slices.SortFunc(b.changed, func(x, y change) int { return compareDevices(x.new, y.new) })
	for _, c := range b.changed {
		old := c.old.Clone()
		b.out = append(b.out, Event{Op: Change, Device: c.new.Clone(), Old: &old})
	}
	b.removed, b.added, b.changed = nil, nil, nil
}

// events returns the pass's events, stamped with t.
func (b *batch) events(t time.Time) []Event {
	b.seal()
	for i := range b.out {
		b.out[i].Time = t
	}
	return b.out
}

// readChunk bounds how many devices a full rescan reads between checks
// that the watcher is still wanted.
const readChunk = 256

// fullRescan reads every device and compares them all with what is known.
func (w *watcher) fullRescan(b *batch) {
	w.loadNames()
	if !w.started {
		w.fulls.Add(1)
	} else {
		// Events were lost, perhaps those of a bus folder coming or
		// going: watch again what is there now.
		w.rewatch(b)
	}
	if w.opts.wants(BusUSB) {
		names, warns := usbDeviceNames(w.fs)
		w.busWarnings(warns)
		got := make(map[string]Device, len(names))
		for i := 0; i < len(names); i += readChunk {
			if w.stopped() {
				return
			}
			w.readUSBNames(names[i:min(i+readChunk, len(names))], got)
		}
		want := make(map[string]bool, len(names)+len(w.W.usb))
		for _, n := range names {
			want[n] = true
		}
		for n := range w.W.usb {
			want[n] = true
		}
		w.diffUSB(b, want, got, true)
	}
	if w.opts.wants(BusPCI) {
		w.pciAll(b)
	}
}

// usbRescan reads the USB devices the batch names, resolving device nodes
// to names, and compares the listing with what is known when it must.
func (w *watcher) usbRescan(b *batch) {
	want := b.usb
	if want == nil {
		want = map[string]bool{}
	}
	var unresolved []nodeEvent
	for _, n := range b.nodes {
		if name, ok := w.byNode[[2]int{n.bus, n.dev}]; ok {
			// Its node went: it is being unplugged, and what it loses on
			// the way out is not a change worth telling. A node that
			// comes back ends that.
			w.dying[name] = !n.created
			if n.created {
				delete(w.dying, name)
			}
		}
		if name, ok := usbDeviceNameAt(w.fs, n.bus, n.dev); ok {
			want[name] = true
		} else if name, ok := w.byNode[[2]int{n.bus, n.dev}]; ok {
			want[name] = true
		} else if n.created {
			unresolved = append(unresolved, n)
		}
	}
	if b.listUSB || len(unresolved) > 0 {
		names, warns := usbDeviceNames(w.fs)
		w.busWarnings(warns)
		listed := make(map[string]bool, len(names))
		for _, n := range names {
			listed[n] = true
			if _, ok := w.W.usb[n]; !ok {
				want[n] = true
			}
		}
		for n := range w.W.usb {
			if !listed[n] {
				want[n] = true
			}
		}
	}
	if len(want) > 0 {
		w.readUSBDiff(b, want)
	}

	// A node nobody claims: a device replugged where it was (same name,
	// new devnum), or one whose sysfs entries are not there yet.
	for _, n := range unresolved {
		k := [2]int{n.bus, n.dev}
		if _, ok := w.byNode[k]; ok {
			continue
		}
		var same []string
		for name, d := range w.W.usb {
			if d.USB.Busnum == n.bus {
				same = append(same, name)
			}
		}
		if len(same) > 0 {
			w.readUSBDiff(b, set(same))
		}
		if _, ok := w.byNode[k]; !ok {
			w.schedule(recheckKey{bus: n.bus, dev: n.dev}, 0)
		}
	}
	// A node removed while its device still shows in sysfs: the sysfs
	// entries go next, and no file event says when.
	for _, n := range b.nodes {
		if name, ok := w.byNode[[2]int{n.bus, n.dev}]; ok && !n.created && !w.nodeExists(n.bus, n.dev) {
			w.schedule(recheckKey{name: name, gone: true}, 0)
		}
	}
}

// readUSBDiff reads the named USB devices and compares them with what is
// known, outside a full rescan. The nodes of their buses are listed first:
// a device is whole once its node is there (the kernel makes the node
// last), but only if the node was there before the device was read.
func (w *watcher) readUSBDiff(b *batch, want map[string]bool) {
	b.nodesBefore = map[int]map[int]bool{}
	for n := range want {
		bus := busFromName(n)
		if _, ok := b.nodesBefore[bus]; ok || bus <= 0 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(w.devDir, fmt.Sprintf("%03d", bus)))
		if err != nil {
			b.nodesBefore[bus] = nil // no folder
			continue
		}
		nodes := make(map[int]bool, len(ents))
		for _, e := range ents {
			if dn, ok := nodeNumber(e.Name()); ok {
				nodes[dn] = true
			}
		}
		b.nodesBefore[bus] = nodes
	}
	got := map[string]Device{}
	w.readUSBNames(slices.Sorted(maps.Keys(want)), got)
	w.diffUSB(b, want, got, false)
	b.nodesBefore = nil
}

// nodeMissingBefore is nodeMissing for a device that is new, or new at
// its devnum: whether it was read before its node was made, and so
// perhaps half made (its node's event brings it back whole). A bus
// folder made since the read counts as one without the node: its event
// brings the device back too. For a bus not listed before the read (a
// busnum that is not the name's), and outside readUSBDiff, it is
// nodeMissing.
func (w *watcher) nodeMissingBefore(b *batch, d Device) bool {
	if d.USB == nil || d.USB.Busnum <= 0 || d.USB.Devnum <= 0 {
		return w.nodeMissing(d)
	}
	nodes, listed := b.nodesBefore[d.USB.Busnum]
	switch {
	case !listed:
		return w.nodeMissing(d)
	case nodes != nil:
		return !nodes[d.USB.Devnum]
	}
	_, err := os.Stat(filepath.Join(w.devDir, fmt.Sprintf("%03d", d.USB.Busnum)))
	return err == nil
}

// nodeMissing says whether d's bus folder has nodes but d has none.
func (w *watcher) nodeMissing(d Device) bool {
	if d.USB == nil || d.USB.Busnum <= 0 || d.USB.Devnum <= 0 || w.nodeExists(d.USB.Busnum, d.USB.Devnum) {
		return false
	}
	_, err := os.Stat(filepath.Join(w.devDir, fmt.Sprintf("%03d", d.USB.Busnum)))
	return err == nil
}

func (w *watcher) nodeExists(bus, dev int) bool {
	_, err := os.Lstat(nodePath(w.devDir, bus, dev))
	return err == nil
}

// readUSBNames reads the named USB devices into got. A device on its way
// out, its node gone, loses files as it is read: that is no warning.
func (w *watcher) readUSBNames(names []string, got map[string]Device) {
	devs, warns := usbDevicesNamed(w.fs, names)
	for _, d := range devs {
		w.names.name(&d)
		got[d.Name] = d
	}
	// An interface folder whose files are still being made (the kernel
	// fills it after it appears) is read again shortly; a file still
	// missing then is worth a warning.
	unfinished := map[string]bool{}
	for _, wr := range warns {
		if errors.Is(wr.Err, sysfs.ErrMissing) && strings.Contains(wr.Path, "/"+wr.Device+":") {
			unfinished[wr.Device] = true
		}
	}
	for _, n := range names {
		switch {
		case !unfinished[n]:
			delete(w.late, n)
		case !w.late[n]:
			w.late[n] = true
			w.schedule(recheckKey{name: n, late: true}, 0)
		default:
			unfinished[n] = false // the second look: tell it
		}
	}
	warns = slices.DeleteFunc(warns, func(wr sysfs.Warning) bool {
		d, ok := got[wr.Device]
		return w.dying[wr.Device] || (ok && w.nodeMissing(d)) || unfinished[wr.Device]
	})
	w.deviceWarnings(names, warns)
}

// diffUSB compares the devices read (got) with those known, for the names
// in want, and records the differences.
//
// Outside a full rescan, a device whose bus has nodes but which has none
// yet is left for its node's event, and one whose node is gone is not
// reported as changed: it is on its way in or out. A full rescan reports
// all, so that nothing stays held back.
func (w *watcher) diffUSB(b *batch, want map[string]bool, got map[string]Device, full bool) {
	w.W.mu.Lock()
	defer w.W.mu.Unlock()
	defer b.seal()
	for name := range want {
		old, had := w.W.usb[name]
		d, has := got[name]
		switch {
		case !had && !has:
			continue
		case had && !has:
			b.removed = append(b.removed, old)
			b.rootHubs = b.rootHubs || old.USB.IsRootHub()
			w.forgetUSB(old)
			delete(w.warned, name)
			delete(w.dying, name)
			delete(w.late, name)
			continue
		case had && !full && d.USB.Devnum == 0 && old.USB.Devnum != 0:
			// Read without its devnum: half gone (or half made). That is
			// no new device; the next look, which a going node has
			// scheduled, decides.
			continue
		case had && old.USB.Devnum != d.USB.Devnum:
			b.rootHubs = b.rootHubs || old.USB.IsRootHub()
			b.removed = append(b.removed, old)
			w.forgetUSB(old)
			if !full && w.nodeMissingBefore(b, d) {
				continue // its node comes next, and says so
			}
			b.added = append(b.added, d)
			w.settle(name)
		case !had:
			if !full && w.nodeMissingBefore(b, d) {
				// Still being made: the kernel makes the node last, and
				// its event brings the device back here, whole.
				continue
			}
			b.added = append(b.added, d)
			b.rootHubs = b.rootHubs || d.USB.IsRootHub()
			w.settle(name)
		case had && !full && !w.dying[name] && lostInterfaces(old, d) &&
			!slices.Contains(b.fired, recheckKey{name: name, late: true}):
			// Only interfaces gone, or their drivers: most likely an
			// unplug caught half way (the kernel unbinds the interfaces
			// and takes them first, the node next), which is not a change
			// worth telling. The node may be gone already, its event not
			// yet read, and with it the bus folder when it was the last,
			// so that nodeMissing cannot tell. The late look decides: a
			// device still there without them was unbound or
			// deconfigured, and that is a change.
			w.schedule(recheckKey{name: name, late: true}, 0)
			continue
		case !reflect.DeepEqual(old, d) && (full || !w.dying[name] && !w.nodeMissing(d)):
			b.changed = append(b.changed, change{old, d})
		default:
			continue
		}
		delete(w.dying, name)
		w.W.usb[name] = d
		if d.USB.Busnum > 0 && d.USB.Devnum > 0 {
			w.byNode[[2]int{d.USB.Busnum, d.USB.Devnum}] = name
		}
	}
}

func (w *watcher) forgetUSB(d Device) {
	delete(w.W.usb, d.Name)
	// A late look was for this device; one of the same name that comes
	// next has its own.
	delete(w.rechecks, recheckKey{name: d.Name, late: true})
	k := [2]int{d.USB.Busnum, d.USB.Devnum}
	if w.byNode[k] == d.Name {
		delete(w.byNode, k)
	}
}

// lostInterfaces says whether d is old with less: fewer interfaces, or
// interfaces that lost their driver, or files (read as zero) as a folder
// being removed does, and nothing else changed.
func lostInterfaces(old, d Device) bool {
	if old.USB == nil || d.USB == nil || reflect.DeepEqual(old, d) {
		return false
	}
	for _, i := range d.USB.Interfaces {
		if !slices.ContainsFunc(old.USB.Interfaces, func(o Interface) bool { return lessOf(i, o) }) {
			return false
		}
	}
	ou, du := *old.USB, *d.USB
	ou.Interfaces, du.Interfaces = nil, nil
	old.USB, d.USB = &ou, &du
	return reflect.DeepEqual(old, d)
}

// lessOf says whether i is o, or o with some of its fields unset.
func lessOf(i, o Interface) bool {
	return i.Name == o.Name &&
		(i.Number == o.Number || i.Number == 0) &&
		(i.Class == o.Class || i.Class == 0) &&
		(i.Subclass == o.Subclass || i.Subclass == 0) &&
		(i.Protocol == o.Protocol || i.Protocol == 0) &&
		(i.Driver == o.Driver || i.Driver == "")
}

// settle has a new device read again a few times while it settles, when
// no uevent will say that its interfaces and drivers arrived.
func (w *watcher) settle(name string) {
	if w.uconn == nil && !w.fedUevents {
		w.schedule(recheckKey{name: name}, 0)
	}
}

// pciRescan re-reads the PCI functions the batch names, or all of them
// when one came or went (the unlisted ones depend on the others).
func (w *watcher) pciRescan(b *batch) {
	if b.listPCI || b.rootHubs {
		w.pciAll(b)
		return
	}
	if len(b.pci) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(b.pci))
	devs, warns := pciFunctionsNamed(w.fs, names)
	w.deviceWarnings(names, warns)
	got := make(map[string]Device, len(devs))
	for _, d := range devs {
		w.pciNames.name(&d)
		got[d.Name] = d
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			if _, known := w.W.pci[n]; known {
				// Gone, or one that the bus folder never listed.
				w.pciAll(b)
				return
			}
		}
	}
	w.diffPCI(b, b.pci, got)
}

// pciAll reads every PCI function and compares them all with what is
// known. It reads them readChunk at a time, as fullRescan does USB
// devices, and gives up when the watcher is stopped: a host can have
// thousands of functions, and Close waits for the loop.
func (w *watcher) pciAll(b *batch) {
	listed, warns := pciFunctionNames(w.fs)
	var devs []Device
	for i := 0; i < len(listed); i += readChunk {
		if w.stopped() {
			return
		}
		d, wr, _ := sysfs.ReadEntries(context.Background(), w.fs, pciBusDir, listed[i:min(i+readChunk, len(listed))], readPCI)
		devs, warns = append(devs, d...), append(warns, wr...)
	}
	if w.stopped() {
		return
	}
	if listed != nil { // no bus folder: nothing is unlisted either
		devs, warns = addUnlisted(w.fs, devs, warns)
	}
	got := make(map[string]Device, len(devs))
	want := make(map[string]bool, len(devs)+len(w.W.pci))
	var names []string
	for _, d := range devs {
		w.pciNames.name(&d)
		got[d.Name] = d
		want[d.Name] = true
		names = append(names, d.Name)
	}
	for n := range w.W.pci {
		want[n] = true
	}
	w.busWarnings(warns)
	w.deviceWarnings(names, warns)
	w.diffPCI(b, want, got)
}

func (w *watcher) diffPCI(b *batch, want map[string]bool, got map[string]Device) {
	w.W.mu.Lock()
	defer w.W.mu.Unlock()
	defer b.seal()
	for name := range want {
		old, had := w.W.pci[name]
		d, has := got[name]
		switch {
		case !had && !has:
		case had && !has:
			b.removed = append(b.removed, old)
			delete(w.W.pci, name)
			delete(w.warned, name)
		case !had:
			b.added = append(b.added, d)
			w.W.pci[name] = d
		case b.pciGone[name]:
			b.removed = append(b.removed, old)
			b.added = append(b.added, d)
			w.W.pci[name] = d
		case !reflect.DeepEqual(old, d):
			b.changed = append(b.changed, change{old, d})
			w.W.pci[name] = d
		}
	}
}

// deviceWarnings sends the warnings about the devices just read, each
// device's only when they differ from what was last sent for it, so that
// a rescan does not repeat them.
func (w *watcher) deviceWarnings(names []string, warns []sysfs.Warning) {
	by := map[string][]sysfs.Warning{}
	for _, wr := range warns {
		if wr.Device != "" {
			by[wr.Device] = append(by[wr.Device], wr)
		}
	}
	for _, n := range names {
		var text strings.Builder
		for _, wr := range by[n] {
			text.WriteString(wr.Error())
			text.WriteByte('\n')
		}
		if w.warned[n] == text.String() {
			continue
		}
		if text.Len() == 0 {
			delete(w.warned, n)
			continue
		}
		w.warned[n] = text.String()
		for _, wr := range by[n] {
			w.send(wr)
		}
	}
}

// busWarnings sends the warnings that concern no single device (a bus
// folder that cannot be listed) once each, until they stop.
func (w *watcher) busWarnings(warns []sysfs.Warning) {
	for _, wr := range warns {
		if wr.Device != "" {
			continue
		}
		k := "\x00" + wr.Error()
		if _, seen := w.warned[k]; !seen {
			w.warned[k] = ""
			w.send(wr)
		}
	}
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Rechecks: a device read again a little later, because no event will
// come for what happens next.
type recheckKey struct {
	name     string // a device to read again
	gone     bool   // ... whose node went while its sysfs entries stayed
	late     bool   // ... once, a little after it lost an interface, or its files were half made
	bus, dev int    // or a node that no device claimed yet
}

type recheck struct {
	due  time.Time
	step int
}

// recheckSteps are the delays after the event, step by step: short for
// a node waiting for its device or a device waiting to go, which should
// take microseconds; longer for a new device's interfaces and drivers,
// which take up to seconds to be probed. The late look after a lost
// interface waits long enough for an unplug's node to go first, even on
// a busy host: telling a real unbind 100 ms late costs little, and a
// change for an unplug misleads.
var (
	recheckSteps = []time.Duration{
		5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond,
		500 * time.Millisecond, 2 * time.Second,
	}
	settleSteps = []time.Duration{20 * time.Millisecond, 250 * time.Millisecond, 2 * time.Second}
	lateSteps   = []time.Duration{100 * time.Millisecond}
)

func (k recheckKey) steps() []time.Duration {
	switch {
	case k.late:
		return lateSteps
	case k.name != "" && !k.gone:
		return settleSteps
	}
	return recheckSteps
}

func (w *watcher) schedule(k recheckKey, step int) {
	if !w.started {
		return // the first scan has nothing to settle
	}
	if r, ok := w.rechecks[k]; ok {
		if !r.due.IsZero() {
			return // already pending
		}
		step = max(step, r.step+1) // fired in this pass: the next step
	}
	if step >= len(k.steps()) {
		delete(w.rechecks, k)
		return
	}
	w.rechecks[k] = recheck{due: time.Now().Add(k.steps()[step]), step: step}
}

// dueRechecks adds the rechecks that fell due to the batch.
func (w *watcher) dueRechecks(b *batch, now time.Time) {
	for k, r := range w.rechecks {
		if r.due.IsZero() || r.due.After(now) {
			continue
		}
		w.rechecks[k] = recheck{step: r.step} // fired
		b.fired = append(b.fired, k)
		if w.hooks != nil && w.hooks.due != nil {
			w.hooks.due(k)
		}
		if k.name != "" {
			b.readUSB(k.name)
		} else {
			b.nodes = append(b.nodes, nodeEvent{bus: k.bus, dev: k.dev, created: true})
		}
	}
}

// followUp schedules the next step of the rechecks that fired, for as
// long as there is something to wait for.
func (w *watcher) followUp(b *batch) {
	for _, k := range b.fired {
		r := w.rechecks[k]
		if !r.due.IsZero() {
			continue // rescheduled in the pass
		}
		delete(w.rechecks, k)
		var more bool
		switch {
		case k.late:
			more = false
		case k.name != "" && k.gone:
			d, ok := w.W.usb[k.name]
			more = ok && !w.nodeExists(d.USB.Busnum, d.USB.Devnum)
		case k.name != "":
			_, more = w.W.usb[k.name]
		default:
			_, claimed := w.byNode[[2]int{k.bus, k.dev}]
			more = !claimed && w.nodeExists(k.bus, k.dev)
		}
		if more {
			w.schedule(k, r.step+1)
		}
		if k.gone && w.rechecks[k].due.IsZero() {
			delete(w.dying, k.name) // it stayed: the rescan will tell its changes
		}
	}
}

// armRecheck arms the recheck timer for the earliest pending recheck, and
// disarms it when there is none.
func (w *watcher) armRecheck() {
	var next time.Time
	for _, r := range w.rechecks {
		if !r.due.IsZero() && (next.IsZero() || r.due.Before(next)) {
			next = r.due
		}
	}
	switch {
	case next.IsZero():
		if w.recheckT != nil {
			w.recheckT.Stop()
		}
		w.recheckC = nil
		return
	case w.recheckT == nil:
		w.recheckT = time.NewTimer(max(time.Until(next), 0))
	default:
		w.recheckT.Reset(max(time.Until(next), 0))
	}
	w.recheckC = w.recheckT.C
}
