package hypervisor

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// Incus (and LXD, its ancestor, whose `lxc` client takes the same
// commands) names a host device in an instance's or a profile's devices:
//
//	incus config device add VM NAME usb vendorid=0483 productid=2016 serial=K1
//	incus config device add VM NAME pci address=0000:01:00.0
//	incus config device add VM NAME gpu gputype=physical pci=0000:01:00.0
//	incus profile device add PROFILE NAME gpu vendorid=10de productid=2684
//
// and in the devices: map that `incus config show` and `incus profile
// show` print (NAME: {type: usb, vendorid: "0483", ...}).
//
// How Incus matches, from github.com/lxc/incus (commit be7afc5d,
// 2026-08-22):
//
//   - internal/server/device/usb.go, usbIsOurDevice: every key that is set
//     is compared as text with what sysfs holds: vendorid with idVendor,
//     productid with idProduct, serial with serial (absent reads as ""),
//     busnum and devnum with the kernel's numbers printed %d. startVM and
//     loadUsb go over every entry of /sys/bus/usb/devices (root hubs and
//     hubs included) and attach every one that matches: Incus reports no
//     ambiguity. So busnum=001 never matches anything.
//   - shared/validate/validate.go, IsDeviceID: vendorid and productid
//     must be four lower case hex digits (^[0-9a-f]{4}$); busnum and
//     devnum are IsUint32. IsPCIAddress: [DDDD:]BB:SS.F, hex, any case;
//     internal/server/device/pci/pci.go, NormaliseAddress, adds the 0000:
//     domain to a 7-character address and lower-cases it.
//   - internal/server/device/pci.go: a pci device's key is address.
//   - internal/server/device/gpu.go, gpuSelected, and gpu_physical.go: a
//     physical gpu matches the display-class functions (shared/resources
//     /gpu.go keeps functions whose class starts 0x03) by vendorid,
//     productid (both as sysfs prints them, without 0x), pci (the
//     normalised address) and id (the DRM card number); pci excludes the
//     three others, and id excludes them too. For a VM, more than one
//     match is an error ("VMs cannot match multiple GPUs per device"), and
//     pciDeviceDriverOverrideIOMMU binds to vfio-pci every member of the
//     card's IOMMU group whose address starts with the card's
//     DDDD:BB:SS (its audio function), or the card alone without a group.
//   - gpu_mdev.go: gputype=mdev takes mdev=TYPE (required) and selects the
//     parent card as physical does.
//
// hostdev reads a USB entry as a Ref whose All is set (every match is
// attached) and refuses, with the value that works, a vendorid, productid,
// busnum or devnum that Incus would refuse or that can never match.

// DialectIncus is in ref.go's list; incusDevice is what a Ref keeps of an
// Incus device.
type incusDevice struct {
	name string
	typ  string            // usb, pci or gpu
	cfg  map[string]string // its keys, as written (Incus keeps strings)
	keys []string          // the keys in the order written
	// unsupported, when set, is what Resolve fails with: an mdev, a
	// gputype hostdev does not resolve, or a gpu picked by DRM id.
	unsupported error
}

var (
	incusCLI  = regexp.MustCompile(`(?m)^\s*(?:sudo\s+)?(?:incus|lxc)\s+(?:config|profile)\s+device\s+add\b`)
	incusYAML = regexp.MustCompile(`(?m)^\s*devices:\s*(?:#.*)?$`)
	incusHex4 = regexp.MustCompile(`^[0-9a-f]{4}$`)
	incusPCI  = regexp.MustCompile(`^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-9a-fA-F]$`)
)

// looksIncus says whether a document is Incus's: a device add command, or
// YAML with a devices: map.
func looksIncus(doc []byte) bool {
	return incusCLI.Match(doc) || incusYAML.Match(doc)
}

// incusRefs reads the devices an Incus document names: the device add
// commands in it if it has any, else the devices: maps of its YAML.
// skipped holds the devices that name a host device hostdev does not
// resolve (incusSkipped); other device types (disk, proxy, a bridged nic,
// ...) are passed over.
func incusRefs(doc []byte) (refs []Ref, skipped []*Error, err error) {
	skip := func(e *Error) { skipped = append(skipped, e) }
	if incusCLI.Match(doc) {
		refs, err = incusCLIRefs(string(doc), skip)
	} else {
		refs, err = incusYAMLRefs(doc, skip)
	}
	return refs, skipped, err
}

// incusSkipped says why a device of an Incus config that names a host
// device is not one hostdev resolves, or "" for a type that names none.
func incusSkipped(typ string, cfg map[string]string) string {
	switch {
	case typ == "nic" && (cfg["nictype"] == "physical" || cfg["nictype"] == "sriov"):
		return fmt.Sprintf("a nic of nictype=%s takes the host network interface %s (or, for sriov, a VF Incus picks from it), which hostdev does not resolve; name the function with a pci device (pci address=...)",
			quote.Text(cfg["nictype"]), quote.Text(cfg["parent"]))
	case typ == "infiniband":
		return "an infiniband device takes a host InfiniBand interface (or a VF of it), which hostdev does not resolve; name the function with a pci device (pci address=...)"
	case typ == "unix-char" || typ == "unix-block" || typ == "unix-hotplug":
		return fmt.Sprintf("a %s device gives a container host device nodes, which hostdev does not resolve", typ)
	}
	return ""
}

// incusCLIRefs reads every `incus|lxc config|profile device add` in a
// shell script or a pasted command line.
func incusCLIRefs(doc string, skip func(*Error)) ([]Ref, error) {
	var refs []Ref
	for _, c := range shellCommands(doc) {
		rs, err := incusCommandRefs(c.text, c.line, skip)
		if err != nil {
			return nil, err
		}
		refs = append(refs, rs...)
	}
	return refs, nil
}

// shellCommand is one line of a script, with its backslash-newlines and
// quoted newlines kept, and the line it starts on.
type shellCommand struct {
	text string
	line int
}

// shellCommands splits a script into its commands: at a newline that is
// not escaped by a backslash or inside quotes, and at ;, & and | outside
// quotes.
func shellCommands(s string) []shellCommand {
	var out []shellCommand
	start, line, startLine := 0, 1, 1
	word := false // inside a word: a # there is not a comment
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			if s[i+1] == '\n' {
				line++
			}
			i++
			word = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				i = len(s)
				break
			}
			line += strings.Count(s[i+1:i+1+j], "\n")
			i += j + 1
			word = true
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				if s[i] == '\n' {
					line++
				}
			}
			word = true
		case c == '#' && !word:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			i--
		case c == '\n':
			out = append(out, shellCommand{s[start:i], startLine})
			line++
			start, startLine, word = i+1, line, false
		case c == ';' || c == '&' || c == '|':
			// cmd; cmd, cmd && cmd, cmd | cmd: each its own.
			out = append(out, shellCommand{s[start:i], startLine})
			start, startLine, word = i+1, line, false
		case c == ' ' || c == '\t':
			word = false
		default:
			word = true
		}
	}
	if start < len(s) {
		out = append(out, shellCommand{s[start:], startLine})
	}
	return out
}

// incusCommandRefs reads the device add commands on one command line,
// which starts on line first.
func incusCommandRefs(cmd string, first int, skip func(*Error)) ([]Ref, error) {
	words, lines, err := shellWordLines(cmd)
	if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) {
			e.Dialect = DialectIncus
			e.Line += first - 1
		}
		return nil, err
	}
	for i := range lines {
		lines[i] += first - 1
	}
	var refs []Ref
	for i := 0; i+3 < len(words); i++ {
		if (words[i] != "incus" && words[i] != "lxc") || (words[i+1] != "config" && words[i+1] != "profile") ||
			words[i+2] != "device" || words[i+3] != "add" {
			continue
		}
		start := i
		line := lines[i]
		i += 4
		// INSTANCE NAME TYPE, with --project P or --target T anywhere.
		var pos []string
		cfg := map[string]string{}
		var keys []string
		for ; i < len(words); i++ {
			w := words[i]
			if (w == "incus" || w == "lxc") && i+1 < len(words) && (words[i+1] == "config" || words[i+1] == "profile") {
				break
			}
			if strings.HasPrefix(w, "-") {
				if !strings.Contains(w, "=") && i+1 < len(words) {
					i++ // --project NAME
				}
				continue
			}
			if len(pos) < 3 {
				pos = append(pos, w)
				continue
			}
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, errorf(DialectIncus, lines[i], strings.Join(words[start:i+1], " "),
					"%s is not KEY=VALUE; Incus reads every word after the device type as a key=value setting", quote.Text(w))
			}
			if _, dup := cfg[k]; !dup {
				keys = append(keys, k)
			}
			cfg[k] = v
		}
		text := strings.Join(words[start:i], " ")
		i--
		if len(pos) < 3 {
			return nil, errorf(DialectIncus, line, text, "wants INSTANCE NAME TYPE [KEY=VALUE...] after \"device add\"")
		}
		r, ok, err := incusRef(pos[1], pos[2], cfg, keys, text, line, skip)
		if err != nil {
			return nil, err
		}
		if ok {
			refs = append(refs, r)
		}
	}
	return refs, nil
}

// incusYAMLRefs reads every devices: map in a YAML document (an instance's
// or a profile's config, or a preseed's profiles), in document order.
func incusYAMLRefs(doc []byte, skip func(*Error)) ([]Ref, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, wrapf(err, DialectIncus, yamlLine(err), "", "not YAML: %v", err)
	}
	var refs []Ref
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		if n.Kind == yaml.AliasNode {
			return nil // an alias repeats what its anchor holds, read there
		}
		if n.Kind != yaml.MappingNode {
			for _, c := range n.Content {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "devices" && v.Kind == yaml.MappingNode {
				rs, err := incusYAMLDevices(v, skip)
				if err != nil {
					return err
				}
				refs = append(refs, rs...)
				continue
			}
			if err := walk(v); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(&root); err != nil {
		return nil, err
	}
	return refs, nil
}

var yamlErrLine = regexp.MustCompile(`line (\d+)`)

// yamlLine finds "line N:" in a YAML error, or 0.
func yamlLine(err error) int {
	m := yamlErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func incusYAMLDevices(m *yaml.Node, skip func(*Error)) ([]Ref, error) {
	var refs []Ref
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.MappingNode {
			continue
		}
		cfg := map[string]string{}
		var keys []string
		for j := 0; j+1 < len(v.Content); j += 2 {
			kk, vv := v.Content[j], v.Content[j+1]
			if vv.Kind != yaml.ScalarNode {
				return nil, errorf(DialectIncus, vv.Line, k.Value, "%s is not a plain value; Incus device settings are strings", quote.Text(kk.Value))
			}
			if _, dup := cfg[kk.Value]; !dup {
				keys = append(keys, kk.Value)
			}
			// The scalar as written: Incus reads vendorid: 0483 into a
			// string, keeping the text.
			cfg[kk.Value] = vv.Value
		}
		r, ok, err := incusRef(k.Value, cfg["type"], cfg, keys, k.Value, k.Line, skip)
		if err != nil {
			return nil, err
		}
		if ok {
			refs = append(refs, r)
		}
	}
	return refs, nil
}

// incusIDTerms are the terms of a device's vendorid and productid, which
// Incus compares with sysfs as text: anything but 4 lower-case hex digits
// never matches, and the error says what to write.
func incusIDTerms(cfg map[string]string) ([]match.Term, error) {
	var terms []match.Term
	for _, k := range []string{"vendorid", "productid"} {
		v := cfg[k]
		if v == "" {
			continue
		}
		if !incusHex4.MatchString(v) {
			return nil, errors.New(incusIDAdvice(k, v))
		}
		key := match.KeyVendor
		if k == "productid" {
			key = match.KeyProduct
		}
		terms = append(terms, match.Term{Key: key, Values: []string{v}})
	}
	return terms, nil
}

// incusRef checks one device's settings the way Incus does, and builds
// the Ref; ok is false for a device type that names no host USB or PCI
// device, and skip is told of one that names a host device hostdev does
// not resolve.
func incusRef(name, typ string, cfg map[string]string, keys []string, text string, line int, skip func(*Error)) (Ref, bool, error) {
	fail := func(format string, args ...any) (Ref, bool, error) {
		return Ref{}, false, errorf(DialectIncus, line, text, format, args...)
	}
	dev := &incusDevice{name: name, typ: typ, cfg: cfg, keys: keys}
	var terms []match.Term
	switch typ {
	case "usb":
		terms = append(terms, match.Term{Key: match.KeyBus, Values: []string{"usb"}})
		ids, err := incusIDTerms(cfg)
		if err != nil {
			return fail("%s", err)
		}
		terms = append(terms, ids...)
		for _, k := range []string{"busnum", "devnum"} {
			v := cfg[k]
			if v == "" {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return fail("%s=%s: Incus wants a decimal number (the kernel's %s, as lsusb prints it without zeros)", k, quote.Text(v), k)
			}
			if want := strconv.FormatUint(n, 10); want != v {
				return fail("%s=%s never matches: Incus compares it as text with the kernel's %s, which has no leading zeros; write %s=%s", k, quote.Text(v), k, k, want)
			}
			if n == 0 || k == "busnum" && n > 255 || k == "devnum" && n > 127 {
				return fail("%s=%s never matches: a USB %s is 1 to %d", k, v, map[string]string{"busnum": "bus number", "devnum": "device number"}[k], map[string]int{"busnum": 255, "devnum": 127}[k])
			}
			key := match.KeyBusnum
			if k == "devnum" {
				key = match.KeyDevnum
			}
			terms = append(terms, match.Term{Key: key, Values: []string{v}})
		}
		if s := cfg["serial"]; s != "" {
			terms = append(terms, match.Term{Key: match.KeySerial, Values: []string{s}})
		}
	case "pci":
		a, err := incusAddress("address", cfg["address"])
		if err != nil {
			return fail("%s", err)
		}
		terms = append(terms, match.Term{Key: match.KeyAddress, Values: []string{a}})
	case "gpu":
		gputype := cfg["gputype"]
		if gputype == "" {
			gputype = "physical"
		}
		if cfg["pci"] != "" || cfg["id"] != "" {
			// gpu_physical.go's own checks.
			own := "pci"
			if cfg["pci"] == "" {
				own = "id"
			}
			for _, k := range []string{"id", "pci", "productid", "vendorid"} {
				if k != own && cfg[k] != "" {
					return fail("Incus refuses %s= together with %s=: %s= alone names the card", k, own, own)
				}
			}
		}
		terms = append(terms, match.Term{Key: match.KeyBus, Values: []string{"pci"}}, match.Term{Key: match.KeyClass, Values: []string{"03"}})
		if cfg["pci"] != "" {
			a, err := incusAddress("pci", cfg["pci"])
			if err != nil {
				return fail("%s", err)
			}
			terms = append(terms, match.Term{Key: match.KeyAddress, Values: []string{a}})
		}
		ids, err := incusIDTerms(cfg)
		if err != nil {
			return fail("%s", err)
		}
		terms = append(terms, ids...)
		switch {
		case gputype == "mdev":
			if cfg["mdev"] == "" {
				return fail("gputype=mdev needs mdev=TYPE (the mediated device type, as mdev_supported_types names it)")
			}
			// The card that offers the type: Incus makes the instance on it.
			terms = append(terms, match.Term{Key: match.KeyMdevType, Values: []string{cfg["mdev"]}})
		case gputype != "physical":
			dev.unsupported = unsupportedf(DialectIncus, line, text, "gputype=%s: hostdev resolves gputype=physical and gputype=mdev only", quote.Text(gputype))
		case cfg["id"] != "":
			dev.unsupported = unsupportedf(DialectIncus, line, text, "id=%s picks a card by its DRM card number, which hostdev does not read; name it with pci=ADDRESS", quote.Text(cfg["id"]))
		}
	default:
		if why := incusSkipped(typ, cfg); why != "" {
			skip(unsupportedf(DialectIncus, line, text, "%s", why))
		}
		return Ref{}, false, nil
	}
	sel, err := match.New(terms...)
	if again, perr := match.Parse(sel.String()); err != nil || perr != nil || !slices.EqualFunc(again.Terms, sel.Terms, func(a, b match.Term) bool {
		return a.Key == b.Key && slices.Equal(a.Values, b.Values)
	}) {
		// A serial a selector cannot hold as text (a comma, a |, a *;
		// Incus takes any): the Selector shows the rest, and matching
		// uses the serial itself.
		terms = slices.DeleteFunc(terms, func(t match.Term) bool { return t.Key == match.KeySerial })
		if sel, err = match.New(terms...); err != nil {
			return Ref{}, false, selectorError(DialectIncus, line, text, err)
		}
	}
	// A usb device takes every match; a gpu its card's functions.
	return Ref{Dialect: DialectIncus, Text: text, Line: line, Selector: sel, All: typ != "pci", incus: dev}, true, nil
}

// incusIDAdvice says what Incus wants instead of a vendorid or productid
// it would refuse.
func incusIDAdvice(k, v string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X")
	if n, err := strconv.ParseUint(h, 16, 16); err == nil && h != "" {
		return fmt.Sprintf("%s=%s: Incus wants 4 lower case hex digits, which it compares as text with sysfs; write %s=%04x", k, quote.Text(v), k, n)
	}
	return fmt.Sprintf("%s=%s: Incus wants 4 lower case hex digits, as lsusb and lspci -nn print an ID (0483)", k, quote.Text(v))
}

// incusAddress checks a PCI address as Incus does (IsPCIAddress) and
// gives it as NormaliseAddress does: DDDD:BB:SS.F, lower case.
func incusAddress(k, v string) (string, error) {
	if !incusPCI.MatchString(v) {
		return "", fmt.Errorf("%s=%s: Incus wants a PCI address, DDDD:BB:SS.F or BB:SS.F in hex (0000:01:00.0)", k, quote.Text(v))
	}
	n := v
	if len(n) == 7 {
		n = "0000:" + n
	}
	n = strings.ToLower(n)
	a, err := pciaddr.Parse(n)
	if err != nil || a.String() != n {
		return "", fmt.Errorf("%s=%s never matches: a PCI function number is 0 to 7", k, quote.Text(v))
	}
	return n, nil
}

// resolve finds what Incus would take: every USB device that matches, the
// one pci function, or the one display function of a gpu with its
// same-slot IOMMU group members.
func (c *incusDevice) resolve(r Ref, devs []discover.Device) ([]discover.Device, *match.Moved, error) {
	if c.unsupported != nil {
		if e := (*Error)(nil); errors.As(c.unsupported, &e) {
			e2 := *e
			e2.Line = r.Line // the reference's, which ParseSelector clears
			return nil, nil, &e2
		}
		return nil, nil, c.unsupported
	}
	var found []discover.Device
	for _, d := range devs {
		if c.matches(d) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return nil, nil, c.noMatch(r, devs)
	}
	if c.typ != "gpu" {
		return found, nil, nil
	}
	if len(found) > 1 {
		amb := &match.AmbiguousError{Selector: r.Selector}
		var picks []string
		for _, d := range found {
			a := address(d).String()
			amb.Candidates = append(amb.Candidates, match.Candidate{Device: d, Pick: match.Term{Key: match.KeyAddress, Values: []string{a}}})
			picks = append(picks, "pci="+a)
		}
		list := strings.Join(picks[:len(picks)-1], ", ") + " or " + picks[len(picks)-1]
		return nil, nil, &AmbiguousError{Ref: r, Err: amb, Picks: picks,
			Advice: "Incus gives a VM's gpu device exactly one card (\"VMs cannot match multiple GPUs per device\"); write " + list}
	}
	card := found[0]
	g := card.PCI.IOMMUGroup
	if g == nil || c.cfg["gputype"] == "mdev" { // an instance is made on the card: nothing else goes
		return found, nil, nil
	}
	a := address(card)
	out := []discover.Device{card}
	for _, d := range devs {
		if d.Bus != discover.BusPCI || d.PCI == nil || d.PCI.Address == nil || d.PCI.IOMMUGroup == nil || d.Name == card.Name {
			continue
		}
		b := *d.PCI.Address
		if *d.PCI.IOMMUGroup == *g && b.Domain == a.Domain && b.Bus == a.Bus && b.Slot == a.Slot {
			out = append(out, d)
		}
	}
	return out, nil, nil
}

// matches is Incus's own comparison, text with text.
func (c *incusDevice) matches(d discover.Device) bool {
	set := func(k, have string) bool { return c.cfg[k] == "" || c.cfg[k] == have }
	switch c.typ {
	case "usb":
		if d.Bus != discover.BusUSB || d.USB == nil {
			return false
		}
		serial := ""
		if d.USB.Serial != nil {
			serial = strings.TrimSpace(*d.USB.Serial)
		}
		return set("vendorid", d.VendorID.String()) && set("productid", d.ProductID.String()) && set("serial", serial) &&
			set("busnum", strconv.Itoa(d.USB.Busnum)) && set("devnum", strconv.Itoa(d.USB.Devnum))
	case "pci":
		a, _ := incusAddress("address", c.cfg["address"])
		return d.Bus == discover.BusPCI && d.PCI != nil && d.PCI.Address != nil && d.PCI.Address.String() == a
	case "gpu":
		if d.Bus != discover.BusPCI || d.PCI == nil || d.PCI.Address == nil || d.PCI.Class.Base() != 0x03 {
			return false
		}
		a := ""
		if c.cfg["pci"] != "" {
			a, _ = incusAddress("pci", c.cfg["pci"])
		}
		if c.cfg["gputype"] == "mdev" {
			if _, ok := d.PCI.OffersMdevType(c.cfg["mdev"]); !ok {
				return false
			}
		}
		return set("vendorid", d.VendorID.String()) && set("productid", d.ProductID.String()) && (a == "" || d.PCI.Address.String() == a)
	}
	return false
}

// noMatch is match's *NoMatchError for the reference's selector, with its
// nearest devices, or a bare one.
func (c *incusDevice) noMatch(r Ref, devs []discover.Device) error {
	_, err := match.ResolveAll(r.Selector, devs)
	if no := (*match.NoMatchError)(nil); errors.As(err, &no) {
		return no
	}
	return &match.NoMatchError{Selector: r.Selector}
}

// AttachNote says, for a reference whose hypervisor attaches every device
// that matches (Incus's usb), how many found holds: "" for any other.
func (r Ref) AttachNote(found []discover.Device) string {
	if r.incus == nil || r.incus.typ != "usb" {
		return ""
	}
	names := make([]string, len(found))
	for i, d := range found {
		names[i] = quote.Text(d.Name)
	}
	noun := "device"
	if len(found) != 1 {
		noun = "devices"
	}
	return fmt.Sprintf("Incus attaches every USB device that matches: %d %s here (%s)", len(found), noun, strings.Join(names, ", "))
}

// writeIncus writes `incus config device add "$VM" NAME ...` lines. A USB
// device is named by vendorid and productid with its serial when that is
// its own, else with busnum and devnum: Incus attaches every match, and
// those are what single one out now (they change when it is replugged).
func writeIncus(b *strings.Builder, items []Resolved, ids []string) error {
	for i, it := range items {
		d := it.Device
		name := ids[i] // hostdev's stable id: letters, digits, -, . and _
		if d.Bus == discover.BusPCI {
			a := address(d)
			if a.Domain > 0xffff {
				return unsupported{fmt.Sprintf("%s: Incus reads PCI domains of 16 bits only, so it cannot be given %s", quote.Text(d.Name), a)}
			}
			fmt.Fprintf(b, "incus config device add \"$VM\" %s pci address=%s\n", name, a)
			continue
		}
		fmt.Fprintf(b, "incus config device add \"$VM\" %s usb", name)
		if d.VendorID != 0 || d.ProductID != 0 {
			fmt.Fprintf(b, " vendorid=%s productid=%s", d.VendorID, d.ProductID)
		}
		serial := ""
		if d.USB.Serial != nil {
			serial = *d.USB.Serial
		}
		if serial != "" && serial == strings.TrimSpace(serial) && !it.SerialShared {
			b.WriteString(" " + quote.Shell("serial="+serial))
		} else {
			fmt.Fprintf(b, " busnum=%d devnum=%d", d.USB.Busnum, d.USB.Devnum)
		}
		b.WriteByte('\n')
	}
	return nil
}

// fillOther resolves every device of an Incus, cloud-hypervisor, crosvm or
// device node document and writes nothing: the paths and nodes are exact
// already, and an Incus usb device is left as written. Incus re-matches
// busnum and devnum as text at every start and hotplug, so writing the
// numbers a device has now would lose it at its next replug (devnum
// changes); a vendorid and productid that several devices share take them
// all, which the Note says, and only the user can tell which is meant
// (serial=, or busnum and devnum knowing the cost).
func fillOther(d Dialect, doc []byte, devs []discover.Device) ([]Filled, error) {
	refs, err := otherRefs(d, doc)
	if err != nil {
		return nil, err
	}
	filled := make([]Filled, 0, len(refs))
	for _, r := range refs {
		f := resolveRef(r, devs)
		if f.Err == nil {
			f.Note = r.AttachNote(f.Devices)
		}
		filled = append(filled, f)
	}
	return filled, nil
}
