// Package report writes what hostdev knows about a host as one
// self-contained HTML page: the USB and PCI trees, the IOMMU groups with
// their verdicts, and for every device its reasons, fixes and references
// in each dialect hypervisor writes. The page needs nothing from the
// network, so it can be attached to a bug report and opened offline.
//
//	res, err := discover.Scan(ctx, discover.Options{Root: "/"})
//	rep, err := readiness.Assess(res.Devices, readiness.Options{Root: "/"})
//	err = report.Write(w, rep, report.Options{Title: "my host"})
//
// Every string that comes from a device (serials, product names, driver
// names of a capture) is treated as hostile: the page is rendered by
// html/template, device data reaches the script only as JSON in a
// <script type="application/json"> element, and the script writes with
// textContent, never HTML. A Content-Security-Policy forbids every fetch
// and every script or style but the page's own, by hash.
package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/hypervisor"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/topology"
)

//go:embed page.html
var pageHTML string

//go:embed page.css
var pageCSS string

//go:embed page.js
var pageJS string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// CSP is the page's Content-Security-Policy: nothing may be fetched, and
// only the page's own style and script, named by their hashes, run. Data
// blocks (type application/json) are not scripts and need no allowance.
var CSP = "default-src 'none'; style-src " + hash(pageCSS) + "; script-src " + hash(pageJS) +
	"; base-uri 'none'; form-action 'none'"

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Options says what the page shows.
type Options struct {
	// Title names the host in the page's heading; "" is "host".
	Title string
	// Only, when not empty, limits the page to the devices that match at
	// least one selector, and their ancestors in the trees (shown as
	// context). IOMMU groups are shown when one of their members is.
	Only []match.Selector
}

// Write writes the page for rep, whose Devices are the whole scan (a
// device's unique selector is worked out against all of them).
func Write(w io.Writer, rep *readiness.Report, opts Options) error {
	p := build(rep, opts)
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// page is what the template draws.
type page struct {
	Title   string
	CSP     string
	CSS     template.CSS
	JS      template.JS
	IOMMU   bool
	USB     []*node
	PCI     []*node
	Groups  []group
	Devices []*device
	Data    data // for the filter
	Limited bool // Options.Only left devices out
}

// node is one device in a tree, or a PCI root bus.
type node struct {
	Dev      *device // nil for a root bus
	Bus      string  // a root bus's name, "0000:00"
	Context  bool    // shown only as an ancestor of a device that Only kept
	Children []*node
}

type device struct {
	ID         string // "d3": the index in Report.Devices
	Name       string // sysfs name, through quote.Text
	Bus        string
	Kind       string // "usb", "hub", "pci", "bridge", "mdev"
	Title      string // "0403:6001 FTDI FT232R USB UART"
	Facts      []string
	Serial     string // quote.Text of the serial; "" when none
	HasSerial  bool
	Interfaces []string
	Assignable bool
	Group      string // the IOMMU group number; "" for none
	GroupState string // "viable", "shared", "nothing"
	Reasons    []reason
	Refs       []ref
	Selector   string // picks the device alone; "" when nothing does
	Command    string // hostdev-discover resolve 'SELECTOR'
}

type reason struct {
	Code     string
	Blocking bool
	Message  string
	Fix      []string
}

type ref struct {
	Format      string
	Text        string
	Unsupported string // why the format cannot name the device
}

type group struct {
	Number  int
	State   string   // "viable", "shared", "nothing"
	Members []member // by address
	Shared  []string // the endpoints on host drivers that make it shared
}

type member struct {
	ID, Name string // ID "" when the member is not on the page
}

// data is the JSON the filter reads: per device, the properties a
// selector tests, as match compares them.
type data struct {
	Devices []facts `json:"devices"`
}

type facts struct {
	ID      string   `json:"id"`
	Bus     string   `json:"bus"`
	Vendor  string   `json:"vendor"`
	Product string   `json:"product"`
	Class   string   `json:"class,omitempty"`   // 24-bit, six hex digits
	Drivers []string `json:"drivers,omitempty"` // the device's or its interfaces'
	Names   []string `json:"names,omitempty"`   // lower case: product string, database name
	Serial  *string  `json:"serial,omitempty"`
	Busnum  *int     `json:"busnum,omitempty"`
	Devnum  *int     `json:"devnum,omitempty"`
	Port    string   `json:"port,omitempty"`
	Address []uint64 `json:"address,omitempty"` // domain, bus, slot, function
	Group   *int     `json:"group,omitempty"`
	Hub     bool     `json:"hub,omitempty"`

	Selector string `json:"selector,omitempty"` // picks the device alone
	Command  string `json:"command,omitempty"`  // resolve with it, shell-quoted
}

func build(rep *readiness.Report, opts Options) *page {
	p := &page{Title: opts.Title, CSP: CSP, CSS: template.CSS(pageCSS), JS: template.JS(pageJS), IOMMU: rep.IOMMU}
	if p.Title == "" {
		p.Title = "host"
	}
	all := make([]discover.Device, len(rep.Devices))
	for i, v := range rep.Devices {
		all[i] = v.Device
	}
	groupState := map[int]string{}
	for _, g := range rep.Groups {
		groupState[g.Number] = state(g)
	}
	devs := make([]*device, len(rep.Devices))
	byName := map[string]*device{}
	pk := newPicker(all)
	for i, v := range rep.Devices {
		devs[i] = newDevice(i, v, all, groupState, pk)
		byName[v.Device.Name] = devs[i]
	}

	var onPage []bool
	p.Limited = len(opts.Only) > 0
	p.USB, p.PCI, onPage = trees(all, rep, devs, opts.Only)
	for i, v := range rep.Devices {
		if !onPage[i] {
			continue
		}
		p.Devices = append(p.Devices, devs[i])
		f := factsOf(devs[i].ID, v.Device)
		f.Selector, f.Command = devs[i].Selector, devs[i].Command
		p.Data.Devices = append(p.Data.Devices, f)
	}
	for _, g := range rep.Groups {
		pg := group{Number: g.Number, State: state(g)}
		shown := false
		for _, m := range g.Members {
			mem := member{Name: quote.Text(m.Name)}
			if d := byName[m.Name]; d != nil && onPage[idIndex(d.ID)] {
				mem.ID = d.ID
				shown = true
			}
			pg.Members = append(pg.Members, mem)
		}
		for _, s := range g.Shared {
			pg.Shared = append(pg.Shared, quote.Text(s.Name))
		}
		if shown || !p.Limited {
			p.Groups = append(p.Groups, pg)
		}
	}
	return p
}

func idIndex(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "d"))
	return n
}

func state(g readiness.Group) string {
	switch {
	case g.Nothing:
		return "nothing"
	case len(g.Shared) > 0:
		return "shared"
	}
	return "viable"
}

// trees draws topology's trees of the scan (limited to Only's matches and
// their ancestors when it is given) with the page's devices; onPage says
// which devices the trees hold.
func trees(all []discover.Device, rep *readiness.Report, devs []*device, only []match.Selector) (usb, pci []*node, onPage []bool) {
	t := topology.Build(all, rep)
	if len(only) > 0 {
		t = t.Limit(only)
	}
	index := map[string]int{}
	for i, d := range all {
		index[string(d.Bus)+"\x00"+d.Name] = i
	}
	onPage = make([]bool, len(all))
	var conv func(ns []*topology.Node) []*node
	conv = func(ns []*topology.Node) []*node {
		var out []*node
		for _, n := range ns {
			pn := &node{Bus: n.Name, Children: conv(n.Children)}
			if d := n.Device; d != nil {
				i := index[string(d.Bus)+"\x00"+d.Name]
				onPage[i] = true
				pn.Dev = devs[i]
				pn.Context = len(only) > 0 && !slices.ContainsFunc(only, func(s match.Selector) bool { return s.Match(*d) })
			}
			out = append(out, pn)
		}
		return out
	}
	return conv(t.USB), append(conv(t.PCI), conv(t.Mdev)...), onPage
}

func newDevice(i int, v readiness.Verdict, all []discover.Device, groupState map[int]string, pk *picker) *device {
	d := v.Device
	dev := &device{
		ID:         "d" + strconv.Itoa(i),
		Name:       quote.Text(d.Name),
		Bus:        string(d.Bus),
		Kind:       string(d.Bus),
		Assignable: v.Assignable,
	}
	names := func(ss ...string) string {
		var out []string
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, quote.Text(s))
			}
		}
		return strings.Join(out, " ")
	}
	switch {
	case d.USB != nil:
		u := d.USB
		if u.IsHub() {
			dev.Kind = "hub"
		}
		desc := names(d.VendorName, d.ProductName)
		if u.Product != nil && strings.TrimSpace(*u.Product) != "" && !u.IsRootHub() {
			desc = names(deref(u.Manufacturer), *u.Product)
		}
		dev.Title = strings.TrimSpace(fmt.Sprintf("%s:%s %s", d.VendorID, d.ProductID, desc))
		dev.Facts = append(dev.Facts, fmt.Sprintf("%03d.%03d", u.Busnum, u.Devnum), "port "+strconv.Itoa(u.Busnum)+"-"+quote.Text(string(u.Port)))
		if u.Speed != "" {
			dev.Facts = append(dev.Facts, quote.Text(string(u.Speed))+"M")
		}
		dev.Facts = append(dev.Facts, "class "+u.Class.String())
		if u.IsRootHub() {
			dev.Facts = append(dev.Facts, "root hub")
		} else if u.IsHub() {
			dev.Facts = append(dev.Facts, "hub")
		}
		if u.Unauthorized {
			dev.Facts = append(dev.Facts, "unauthorized")
		}
		if u.Serial != nil {
			dev.HasSerial, dev.Serial = true, quote.Text(*u.Serial)
		}
		for _, in := range u.Interfaces {
			s := fmt.Sprintf("If %d, class %s", in.Number, in.Class)
			if in.Driver != "" {
				s += ", driver " + quote.Value(in.Driver)
			}
			dev.Interfaces = append(dev.Interfaces, s)
		}
	case d.PCI != nil:
		pc := d.PCI
		if pc.Class.Base() == 0x06 {
			dev.Kind = "bridge"
		}
		cls := pc.ClassName
		if pc.SubclassName != "" {
			cls = pc.SubclassName
		}
		dev.Title = strings.TrimSpace(fmt.Sprintf("%s:%s %s", d.VendorID, d.ProductID, names(cls, d.VendorName, d.ProductName)))
		dev.Facts = append(dev.Facts, "class "+pc.Class.String())
		if pc.Driver != "" {
			dev.Facts = append(dev.Facts, "driver "+quote.Value(pc.Driver))
		}
		if pc.IOMMUGroup != nil {
			dev.Group = strconv.Itoa(*pc.IOMMUGroup)
			dev.GroupState = groupState[*pc.IOMMUGroup]
		}
		if pc.PhysFn != "" {
			dev.Facts = append(dev.Facts, "VF of "+quote.Text(pc.PhysFn))
		}
		if len(pc.VirtFns) > 0 {
			dev.Facts = append(dev.Facts, strconv.Itoa(len(pc.VirtFns))+" VFs")
		}
	case d.Mdev != nil:
		m := d.Mdev
		dev.Title = "mdev " + names(m.Type.ID, m.Type.Name)
		if m.Driver != "" {
			dev.Facts = append(dev.Facts, "driver "+quote.Value(m.Driver))
		}
		if m.IOMMUGroup != nil {
			dev.Group = strconv.Itoa(*m.IOMMUGroup)
			dev.GroupState = groupState[*m.IOMMUGroup]
		}
	}
	for _, r := range v.Reasons {
		rr := reason{Code: string(r.Code), Blocking: r.Code.Blocking(), Message: r.Message}
		for _, f := range r.Fix {
			rr.Fix = append(rr.Fix, f)
		}
		dev.Reasons = append(dev.Reasons, rr)
	}
	dev.Refs = refs(d, all)
	if sel, ok := pk.pick(d); ok {
		dev.Selector = sel
		dev.Command = "hostdev-discover resolve " + shellQuote(sel)
	}
	return dev
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// refs writes d in every format hypervisor knows; a format that cannot
// name d says why.
func refs(d discover.Device, all []discover.Device) []ref {
	it := []hypervisor.Resolved{{Device: d, SerialShared: hypervisor.SharedSerial(d, all), IDUnique: hypervisor.UniqueID(d, all)}}
	var out []ref
	for _, f := range hypervisor.Formats() {
		var b strings.Builder
		r := ref{Format: string(f)}
		if err := hypervisor.Write(&b, f, it); err != nil {
			r.Unsupported = err.Error()
			if !errors.Is(err, errors.ErrUnsupported) {
				r.Unsupported = "cannot write it: " + err.Error()
			}
		} else {
			r.Text = strings.TrimRight(b.String(), "\n")
		}
		out = append(out, r)
	}
	return out
}

// Selector gives a selector that resolves to d alone among all, as
// resolve advises one: host:VVVV:PPPP when the IDs are unique, else with
// the term resolve's ambiguity error offers for d (serial= when unique and
// typeable, else port=); the address for a PCI function, the UUID for a
// mediated device, the exact port for a hub (hubs match only when asked
// for by port). ok is false when no selector picks d alone.
func Selector(d discover.Device, all []discover.Device) (string, bool) {
	return newPicker(all).pick(d)
}

// picker finds each device's selector; it resolves host:VVVV:PPPP once per
// pair of IDs, so that a host of many clones costs what one clone does.
type picker struct {
	all   []discover.Device
	picks map[string]map[string]string // host:VVVV:PPPP → device name → the term that picks it
}

func newPicker(all []discover.Device) *picker {
	return &picker{all: all, picks: map[string]map[string]string{}}
}

func (p *picker) pick(d discover.Device) (string, bool) {
	var try []string
	switch {
	case d.USB != nil:
		if !d.USB.IsHub() {
			base := fmt.Sprintf("host:%s:%s", d.VendorID, d.ProductID)
			picks, ok := p.picks[base]
			if !ok {
				picks = map[string]string{}
				if s, err := match.Parse(base); err == nil {
					var amb *match.AmbiguousError
					got, err := match.Resolve(s, p.all)
					switch {
					case err == nil:
						picks[got.Name] = ""
					case errors.As(err, &amb):
						for _, c := range amb.Candidates {
							picks[c.Device.Name] = "," + c.Pick.String()
						}
					}
				}
				p.picks[base] = picks
			}
			if extra, ok := picks[d.Name]; ok && extra == "" {
				return base, true // match.Resolve found it alone
			} else if ok {
				try = append(try, base+extra)
			}
		}
		try = append(try, "port="+strconv.Itoa(d.USB.Busnum)+"-"+string(d.USB.Port))
	case d.PCI != nil && d.PCI.Address != nil:
		// sysfs names a function by its address: no two share one.
		return d.PCI.Address.String(), true
	case d.Mdev != nil:
		try = append(try, "uuid="+d.Mdev.UUID)
	}
	for _, t := range try {
		s, err := match.Parse(t)
		if err != nil {
			continue
		}
		// One pass: exactly one match, and it is d.
		n, isD := 0, false
		for _, o := range p.all {
			if s.Match(o) {
				n++
				isD = o.Name == d.Name && o.Bus == d.Bus
			}
		}
		if n == 1 && isD {
			return t, true
		}
	}
	return "", false
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// factsOf gives the properties match tests, in the form it compares them.
func factsOf(id string, d discover.Device) facts {
	f := facts{ID: id, Bus: string(d.Bus), Vendor: d.VendorID.String(), Product: d.ProductID.String()}
	if d.USB != nil {
		u := d.USB
		f.Class = fmt.Sprintf("%s%02x%02x", u.Class, u.Subclass, u.Protocol)
		for _, in := range u.Interfaces {
			if in.Driver != "" {
				f.Drivers = append(f.Drivers, in.Driver)
			}
		}
		if u.Product != nil {
			f.Names = append(f.Names, strings.ToLower(*u.Product))
		}
		f.Serial = u.Serial
		f.Busnum, f.Devnum = &u.Busnum, &u.Devnum
		f.Port = string(u.Port)
		f.Hub = u.IsHub() || u.IsRootHub()
	}
	if d.ProductName != "" {
		f.Names = append(f.Names, strings.ToLower(d.ProductName))
	}
	if p := d.PCI; p != nil {
		f.Class = p.Class.String()
		if p.Driver != "" {
			f.Drivers = []string{p.Driver}
		}
		if p.Address != nil {
			f.Address = []uint64{uint64(p.Address.Domain), uint64(p.Address.Bus), uint64(p.Address.Slot), uint64(p.Address.Function)}
		}
		f.Group = p.IOMMUGroup
	}
	if m := d.Mdev; m != nil {
		if m.Driver != "" {
			f.Drivers = []string{m.Driver}
		}
		f.Group = m.IOMMUGroup
	}
	return f
}
