// Package topology arranges a scan's devices as the trees they form on the
// host: USB buses, hubs and the devices on their ports, as `lsusb -t` shows
// them, and PCI root buses, bridges and functions, as `lspci -tv` does,
// each device with its readiness verdict.
//
// The one way in is Build, over a scan and its readiness report:
//
//	res, _ := discover.Scan(ctx, opts)
//	rep, _ := readiness.Assess(res.Devices, readiness.Options{Root: opts.Root})
//	t := topology.Build(res.Devices, rep)
//	t = t.Limit(sels) // only what the selectors match, and its ancestors
//
// A device's place comes from its sysfs path, so the tree is the kernel's:
// a USB device hangs under the hub whose directory holds it, a PCI function
// under the bridge above it, and the functions of an Intel VMD domain
// ("10000:e0") under a root bus node that hangs under the VMD endpoint.
// SR-IOV virtual functions hang under their physical function, and
// mediated device instances under their parent.
package topology

import (
	"cmp"
	"path"
	"slices"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
	"github.com/hostdev/hostdev/readiness"
)

// Tree is a host's devices as trees, one list of top-level nodes per bus.
type Tree struct {
	// USB holds the root hubs, one per bus, by bus number. A device whose
	// hub is not in the scan is a top-level node too.
	USB []*Node
	// PCI holds the root buses ("0000:00"), by domain and bus.
	PCI []*Node
	// Mdev holds the mediated device instances whose parent is not a
	// scanned PCI function (a channel subsystem, an AP matrix).
	Mdev []*Node
}

// Node is one device in a tree, or a PCI root bus.
type Node struct {
	// Name is the device's sysfs name ("1-3.1", "0000:00:1f.3"), or a PCI
	// root bus's domain and bus number ("0000:00", "10000:e0").
	Name string
	// Device is nil for a PCI root bus.
	Device *discover.Device
	// Verdict says whether the device can be given to a VM, and why not;
	// nil for a root bus, or when Build had no report.
	Verdict *readiness.Verdict
	// Port is a USB device's port number on its parent hub (the last part
	// of its port path); 0 for a root hub and on other buses.
	Port int
	// Children are in port order (USB), address order (PCI; a root bus
	// under a VMD endpoint comes after its functions' siblings, sorted by
	// name), SR-IOV VFs in VF order after the PF's other children, and
	// mediated devices by UUID.
	Children []*Node
}

// Blocking returns the codes of the reasons that keep the device from a
// VM ("hub", "unauthorized", "group-shared"), in the report's order.
func (n *Node) Blocking() []readiness.Code {
	var cs []readiness.Code
	if n.Verdict != nil {
		for _, r := range n.Verdict.Reasons {
			if r.Code.Blocking() {
				cs = append(cs, r.Code)
			}
		}
	}
	return cs
}

// Build arranges devs into trees. rep may be nil; otherwise each device's
// node carries its verdict from rep.
func Build(devs []discover.Device, rep *readiness.Report) *Tree {
	verdicts := map[string]*readiness.Verdict{}
	if rep != nil {
		for i := range rep.Devices {
			v := &rep.Devices[i]
			verdicts[string(v.Device.Bus)+"\x00"+v.Device.Name] = v
		}
	}
	b := builder{byPath: map[string]*Node{}, byPCI: map[string]*Node{}, roots: map[string]*Node{}}
	nodes := make([]Node, len(devs))
	for i := range devs {
		d := &devs[i]
		n := &nodes[i]
		*n = Node{Name: d.Name, Device: d, Verdict: verdicts[string(d.Bus)+"\x00"+d.Name]}
		if d.SysfsPath != "" {
			b.byPath[d.SysfsPath] = n
		}
		if d.PCI != nil {
			b.byPCI[d.Name] = n
		}
	}
	t := &Tree{}
	for i := range nodes {
		n := &nodes[i]
		d := n.Device
		switch {
		case d.USB != nil:
			if !d.USB.IsRootHub() {
				last := string(d.USB.Port)
				if j := strings.LastIndexByte(last, '.'); j >= 0 {
					last = last[j+1:]
				}
				n.Port = atoi(last)
			}
			if p := b.ancestor(d.SysfsPath, discover.BusUSB); p != nil {
				p.Children = append(p.Children, n)
			} else {
				t.USB = append(t.USB, n)
			}
		case d.PCI != nil:
			if pf := b.byPCI[d.PCI.PhysFn]; pf != nil && d.PCI.PhysFn != "" {
				pf.Children = append(pf.Children, n)
				continue
			}
			b.placePCI(t, n)
		case d.Mdev != nil:
			if p := b.byPCI[d.Parent]; p != nil && d.Parent != "" {
				p.Children = append(p.Children, n)
			} else {
				t.Mdev = append(t.Mdev, n)
			}
		}
	}
	slices.SortFunc(t.USB, compareNodes)
	slices.SortFunc(t.PCI, compareNodes)
	slices.SortFunc(t.Mdev, compareNodes)
	for _, l := range [][]*Node{t.USB, t.PCI, t.Mdev} {
		for _, n := range l {
			sortChildren(n)
		}
	}
	return t
}

type builder struct {
	byPath map[string]*Node // devices by sysfs path
	byPCI  map[string]*Node // PCI functions by address
	roots  map[string]*Node // PCI root buses by sysfs path
}

// ancestor is the nearest scanned device of bus on the way up from p.
func (b *builder) ancestor(p string, bus discover.Bus) *Node {
	for p = path.Dir(p); p != "/" && p != "." && p != ""; p = path.Dir(p) {
		if n := b.byPath[p]; n != nil && n.Device.Bus == bus {
			return n
		}
	}
	return nil
}

// placePCI hangs n under the nearest function above it, or under the root
// bus ("pciDDDD:BB" directory) it is on when that comes first; a root bus
// itself hangs under the function above it (a VMD endpoint) or at the top.
func (b *builder) placePCI(t *Tree, n *Node) {
	child := n
	for p := path.Dir(n.Device.SysfsPath); p != "/" && p != "." && p != ""; p = path.Dir(p) {
		if f := b.byPath[p]; f != nil && f.Device.PCI != nil {
			f.Children = append(f.Children, child)
			return
		}
		base := path.Base(p)
		dom, ok := strings.CutPrefix(base, "pci")
		if !ok || !strings.Contains(dom, ":") {
			continue
		}
		if r := b.roots[p]; r != nil {
			r.Children = append(r.Children, child)
			return
		}
		r := &Node{Name: dom, Children: []*Node{child}}
		b.roots[p] = r
		child = r
	}
	if child == n {
		// No root bus directory above it: a function from a tree laid out
		// other than the kernel's. It goes under a root bus named after
		// its own domain and bus.
		name := n.Name
		if a := n.Device.PCI.Address; a != nil {
			name = a.String()[:strings.LastIndexByte(a.String(), ':')]
		}
		key := "\x00" + name
		if r := b.roots[key]; r != nil {
			r.Children = append(r.Children, n)
			return
		}
		child = &Node{Name: name, Children: []*Node{n}}
		b.roots[key] = child
	}
	t.PCI = append(t.PCI, child)
}

func sortChildren(n *Node) {
	slices.SortStableFunc(n.Children, func(a, b *Node) int {
		// A PF's VFs come last, in VF order.
		if n.Device != nil && n.Device.PCI != nil && len(n.Device.PCI.VirtFns) > 0 {
			ia, ib := slices.Index(n.Device.PCI.VirtFns, a.Name), slices.Index(n.Device.PCI.VirtFns, b.Name)
			if ia >= 0 || ib >= 0 {
				if ia < 0 {
					return -1
				}
				if ib < 0 {
					return 1
				}
				return cmp.Compare(ia, ib)
			}
		}
		return compareNodes(a, b)
	})
	for _, c := range n.Children {
		sortChildren(c)
	}
}

// compareNodes orders by bus kind (PCI functions, then root buses, then
// mdevs), then USB by bus and port, PCI by address, the rest by name.
func compareNodes(a, b *Node) int {
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	da, db := a.Device, b.Device
	switch {
	case da != nil && db != nil && da.USB != nil && db.USB != nil:
		return cmp.Or(cmp.Compare(da.USB.Busnum, db.USB.Busnum), da.USB.Port.Compare(db.USB.Port), strings.Compare(a.Name, b.Name))
	case da != nil && db != nil && da.PCI != nil && db.PCI != nil && da.PCI.Address != nil && db.PCI.Address != nil:
		return da.PCI.Address.Compare(*db.PCI.Address)
	case da == nil && db == nil:
		return compareRoots(a.Name, b.Name)
	}
	return strings.Compare(a.Name, b.Name)
}

func rank(n *Node) int {
	switch {
	case n.Device == nil:
		return 1
	case n.Device.Mdev != nil:
		return 2
	}
	return 0
}

// compareRoots orders "DDDD:BB" root bus names by domain, then bus, as
// numbers.
func compareRoots(a, b string) int {
	pa, errA := pciaddr.Parse(a + ":00.0")
	pb, errB := pciaddr.Parse(b + ":00.0")
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return pa.Compare(pb)
}

// Limit returns the tree of the nodes that a selector matches and their
// ancestors; a node that only has matches below it is kept for them, and
// a match's own children only when they match too. The nodes are copies:
// t is unchanged.
func (t *Tree) Limit(sels []match.Selector) *Tree {
	keep := func(n *Node) bool {
		return n.Device != nil && slices.ContainsFunc(sels, func(s match.Selector) bool { return s.Match(*n.Device) })
	}
	return &Tree{USB: limit(t.USB, keep), PCI: limit(t.PCI, keep), Mdev: limit(t.Mdev, keep)}
}

func limit(ns []*Node, keep func(*Node) bool) []*Node {
	var out []*Node
	for _, n := range ns {
		kids := limit(n.Children, keep)
		if len(kids) == 0 && !keep(n) {
			continue
		}
		c := *n
		c.Children = kids
		out = append(out, &c)
	}
	return out
}

// Walk calls fn for every node, parents before children, depth 0 at the
// top; it skips a node's children when fn returns false.
func (t *Tree) Walk(fn func(n *Node, depth int) bool) {
	var walk func(ns []*Node, depth int)
	walk = func(ns []*Node, depth int) {
		for _, n := range ns {
			if fn(n, depth) {
				walk(n.Children, depth+1)
			}
		}
	}
	walk(t.USB, 0)
	walk(t.PCI, 0)
	walk(t.Mdev, 0)
}

func atoi(s string) int {
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
