package hypervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/spell"
	"github.com/hostdev/hostdev/match"
)

// Proxmox VE, as its sources say (proxmox/qemu-server src/PVE/QemuServer.pm,
// src/PVE/QemuServer/USB.pm and PCI.pm; proxmox/pve-guest-common
// src/PVE/Mapping/USB.pm and PCI.pm; proxmox/pve-common src/PVE/SysFSTools.pm
// and SectionConfig.pm; proxmox/pve-docs qm.adoc and qm-pci-passthrough.adoc):
//
//   - A VM config, /etc/pve/qemu-server/ID.conf, is "key: value" lines
//     (parse_vm_config: key [a-z][a-z_-]*\d*, the value trimmed), "#" lines
//     are the description. The current config runs up to the first
//     "[name]" line; after it come [PENDING] (changes not yet applied),
//     [special:cloudinit] and snapshots ([snapname]). hostdev reads the
//     current config only: that is what the next start passes through, a
//     snapshot's devices are used only after a rollback, and pending ones
//     after they are applied (qm config ID --current shows the same).
//   - usbN (N 0 to 13, USB.pm $MAX_USB_DEVICES) is a property string:
//     host=HOSTUSBDEVICE|spice (the default key, so "usb0: 0483:2016" is
//     host=), mapping=NAME, usb3=BOOL. host is VVVV:PPPP (four hex digits
//     each, 0x allowed in either case, $USB_ID_RE) which becomes usb-host
//     vendorid=0xVVVV,productid=0xPPPP, or BUS-PORT(.PORT)* (decimal,
//     $USB_PATH_RE) which becomes hostbus=BUS,hostport=PORT: a bus number
//     and the sysfs port path (devpath). spice is a SPICE redirection
//     channel, no host device. Both host and mapping, or neither, is an
//     error ("no usb id or path given").
//   - hostpciN (N 0 to 15) is host=ID[;ID...] (default key; ID is
//     [DDDD:]BB:SS[.F], lowercase hex, $PCIRE), mapping=NAME, rombar,
//     romfile, pcie, x-vga, legacy-igd, mdev=TYPE, vendor-id, device-id,
//     sub-vendor-id, sub-device-id and driver. Each ID is matched as a
//     prefix of the full address (SysFSTools::lspci: ^(0000:)?ID), so
//     BB:SS takes every function of the slot, and every ID of the list is
//     passed, together, as one multifunction device; an ID that matches
//     nothing stops the VM ("no PCI device found"). vendor-id and the
//     other IDs set what the guest sees (x-pci-vendor-id ...): they do
//     not select the host device. A function given twice in one config
//     stops the VM ("assigned more than once").
//   - Cluster resource mappings, /etc/pve/mapping/usb.cfg and pci.cfg, are
//     section configs: a line with the mapping's name alone (the type is
//     the file's), then indented "key value" lines up to a blank line;
//     "#" lines are comments. "map" repeats: node=NODE,id=VVVV:PPPP, with
//     path=BUS-PORT for USB, path=DDDD:BB:SS[.F][;...] and optionally
//     iommugroup=N and subsystem-id=VVVV:PPPP for PCI. Only the entries
//     whose node is this node's name count.
//   - A USB mapping takes exactly one entry for the node ("More than one
//     USB mapping per host not supported"). Its path, when given, names
//     the device, and id only checks that the device at path is still the
//     same one (compared as text with sysfs's lowercase idVendor:idProduct);
//     without path, id names the device.
//   - A PCI mapping checks every entry for the node (Mapping/PCI.pm
//     assert_valid: the device at each path, with .0 added to a path that
//     has no function, exists and has id and subsystem-id, 0x dropped and
//     compared as text; the first path's IOMMU group is iommugroup) and
//     then takes the first entry none of whose functions an earlier
//     hostpci of the config took (PCI.pm choose_hostpci_devices). Paths
//     joined by ";" in one entry are passed together, as in host=.
//     Proxmox also skips an entry reserved by another running VM, which a
//     config does not say: check reports such a device as busy.
//   - qm set ID -usb0 VALUE (also --usb0, --usb0=VALUE, and qm create) sets
//     the same properties.
//   - args: holds QEMU options that Proxmox appends to the command line as
//     they are (QemuServer.pm config_to_command); a -device usb-host or
//     vfio-pci there is a host device too, read as QEMU's.

// DialectProxmox is a Proxmox VE VM config, its qm set form, or a single
// usbN:/hostpciN: line or host= value.
const DialectProxmox Dialect = "proxmox"

// Proxmox's limits on the number after usb and hostpci.
const (
	pveMaxUSB     = 14
	pveMaxHostPCI = 16
)

var (
	pveLine    = regexp.MustCompile(`^([a-z][a-z_\-]*\d*):\s*(.*?)\s*$`)
	pveDevKey  = regexp.MustCompile(`^(usb|hostpci)(\d+)$`)
	pveUSBID   = regexp.MustCompile(`^(?:0[xX])?([0-9A-Fa-f]{4}):(?:0[xX])?([0-9A-Fa-f]{4})$`)
	pveUSBPath = regexp.MustCompile(`^(\d+)-(\d+(?:\.\d+)*)$`)
	pvePCIID   = regexp.MustCompile(`^(?:([a-f0-9]{4,}):)?([a-f0-9]{2}):([a-f0-9]{2})(?:\.([a-f0-9]))?$`)
	pveConfID  = regexp.MustCompile(`^[a-z][a-z0-9_-]+$`) // pve-configid, case-blind
	// pveSniff is a line only a Proxmox VM config has at its start.
	pveSniff  = regexp.MustCompile(`(?m)^(?:(?:usb|hostpci)\d+:[ \t]*\S|(?:vmgenid|smbios1|bootdisk|scsihw|ostype):[ \t])`)
	pveQM     = regexp.MustCompile(`^qm\s+(?:set|create)\s`)
	pveOption = regexp.MustCompile(`^--?(?:usb|hostpci)\d+[ =]`)
	pveHexID  = regexp.MustCompile(`^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$`)
)

// pveRef is what a Proxmox reference keeps beyond its selector.
type pveRef struct {
	key     string // usb0, hostpci3
	bus     discover.Bus
	ids     []string // hostpci: the ;-separated IDs; usb: the host= value
	mapping string   // mapping=NAME
	opts    []string // every other option, as written: pcie=1, usb3=1
	mdev    string   // mdev=TYPE
	doc     *pveDoc
	index   int // position among doc.pci; -1 for USB
}

// pveDoc holds the hostpci references of one config, in order, for the
// rule that a mapping takes the first entry no earlier hostpci took, and
// the mappings to resolve mapping=NAME with.
type pveDoc struct {
	pci  []Ref
	maps *ProxmoxMappings
}

// looksProxmox says whether a document is a Proxmox VM config or qm
// command: a usbN:/hostpciN: line with its value on the line (a YAML map
// has the value below), a key only Proxmox writes, or qm set/create.
func looksProxmox(t []byte) bool {
	if pveQM.Match(t) {
		return true
	}
	main, _, _ := bytes.Cut(t, []byte("\n["))
	return pveSniff.Match(main)
}

// looksProxmoxValue says whether a lone selector is a Proxmox host= value,
// a -usb0/--hostpci0 option, or one config line.
func looksProxmoxValue(t string) bool {
	return strings.HasPrefix(t, "host=") || looksProxmox([]byte(t)) || pveOption.MatchString(t)
}

// proxmoxSelector reads a lone reference: config lines, a qm command, an
// option, or a bare host=... value, whose bus its shape tells.
func proxmoxSelector(s string) ([]Ref, error) {
	t := strings.TrimSpace(s)
	switch {
	case looksProxmox([]byte(t)):
		return proxmoxRefs([]byte(s))
	case strings.HasPrefix(t, "-"):
		return proxmoxRefs([]byte("qm set 0 " + t))
	}
	host, _, _ := strings.Cut(strings.TrimPrefix(t, "host="), ",")
	key := "usb0"
	if pvePCIID.MatchString(strings.ToLower(strings.Split(host, ";")[0])) && !pveUSBID.MatchString(host) {
		key = "hostpci0"
	}
	doc := &pveDoc{}
	r, ok, err := pveParse(key, t, 0, doc)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return []Ref{r}, nil
}

// proxmoxRefs reads the host devices a VM config or a qm set/create
// command names.
func proxmoxRefs(doc []byte) ([]Ref, error) {
	settings, err := pveSettings(string(doc))
	if err != nil {
		return nil, err
	}
	d := &pveDoc{}
	var refs []Ref
	for _, s := range settings {
		if s.key == "args" {
			rs, err := pveArgs(s.value, s.line)
			if err != nil {
				return nil, err
			}
			refs = append(refs, rs...)
			continue
		}
		r, ok, err := pveParse(s.key, s.value, s.line, d)
		if err != nil {
			return nil, err
		}
		if ok {
			refs = append(refs, r)
		}
	}
	return refs, nil
}

type pveSetting struct {
	key, value string
	line       int
}

// pveSettings gives the usbN and hostpciN settings of the current config,
// or of a qm command, in the order Proxmox takes them: by number.
func pveSettings(src string) ([]pveSetting, error) {
	var out []pveSetting
	t := strings.TrimSpace(src)
	if pveQM.MatchString(t) {
		var err error
		if out, err = pveCommand(src); err != nil {
			return nil, err
		}
	} else {
		seen := map[string]int{}
		for i, line := range strings.Split(src, "\n") {
			n := i + 1
			line = strings.TrimSuffix(line, "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.HasPrefix(line, "[") {
				break // [PENDING], [special:...] and snapshots: not the current config
			}
			m := pveLine.FindStringSubmatch(line)
			if m == nil {
				return nil, errorf(DialectProxmox, n, "", "%s is not a Proxmox config line (key: value)", quote.Text(nextWord(line)))
			}
			if !pveDevKey.MatchString(m[1]) && m[1] != "args" {
				continue
			}
			if prev, dup := seen[m[1]]; dup {
				return nil, errorf(DialectProxmox, n, "", "%s is set again (first on line %d); Proxmox keeps one", m[1], prev)
			}
			seen[m[1]] = n
			out = append(out, pveSetting{m[1], m[2], n})
		}
	}
	// Proxmox walks usb0..usb13, then hostpci0..hostpci15 by number.
	slices.SortStableFunc(out, func(a, b pveSetting) int {
		ka, na := pveKeyNum(a.key)
		kb, nb := pveKeyNum(b.key)
		if c := strings.Compare(kb, ka); c != 0 { // usb before hostpci
			return c
		}
		return na - nb
	})
	return out, nil
}

func pveKeyNum(k string) (string, int) {
	m := pveDevKey.FindStringSubmatch(k)
	if m == nil {
		return k, 0
	}
	n, _ := strconv.Atoi(m[2])
	return m[1], n
}

// pveArgs reads the host devices in args:, the QEMU options Proxmox adds
// to the command line as they are: -device usb-host and vfio-pci, and
// -usbdevice host:... . They are QEMU references, at args' line.
func pveArgs(value string, line int) ([]Ref, error) {
	words, _, err := pveWords(value)
	if err != nil {
		return nil, errorf(DialectProxmox, line, "args: "+value, "%v", err)
	}
	var refs []Ref
	for i := 0; i+1 < len(words); i++ {
		opt, ok := strings.CutPrefix(words[i], "-")
		opt = strings.TrimPrefix(opt, "-") // QEMU takes -device and --device
		if !ok || opt != "device" && opt != "usbdevice" {
			continue
		}
		i++
		r, err := ParseQEMU("-" + opt + " " + words[i])
		if errors.Is(err, errors.ErrUnsupported) {
			continue // an emulated device: -device usb-tablet
		}
		if err != nil {
			if e := (*Error)(nil); errors.As(err, &e) {
				e.Line = line
			}
			return nil, err
		}
		r.Line = line
		refs = append(refs, r)
	}
	return refs, nil
}

// pveCommand reads qm set|create ID [-KEY VALUE | --KEY VALUE | --KEY=VALUE]...
// as a shell would split it (quotes, backslashes, line continuations).
func pveCommand(src string) ([]pveSetting, error) {
	words, lines, err := pveWords(src)
	if err != nil {
		return nil, errorf(DialectProxmox, 1, "", "qm command: %v", err)
	}
	var out []pveSetting
	seen := map[string]bool{}
	for i := 3; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") {
			return nil, errorf(DialectProxmox, lines[i], w, "qm takes -OPTION VALUE pairs; this word is neither")
		}
		key, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !hasValue {
			if i+1 >= len(words) {
				if pveDevKey.MatchString(key) {
					return nil, errorf(DialectProxmox, lines[i], w, "-%s has no value", key)
				}
				continue // a flag such as --skiplock
			}
			i++
			value = words[i]
		}
		if !pveDevKey.MatchString(key) && key != "args" {
			continue
		}
		if seen[key] {
			return nil, errorf(DialectProxmox, lines[i], "", "-%s is given twice", key)
		}
		seen[key] = true
		out = append(out, pveSetting{key, value, lines[i]})
	}
	return out, nil
}

// pveWords splits a command as sh would, without expansions; lines
// gives each word's line, from 1.
func pveWords(s string) ([]string, []int, error) {
	var (
		words []string
		lines []int
		cur   strings.Builder
		in    bool
		line  = 1
		start = 1
	)
	end := func() {
		if in {
			words = append(words, cur.String())
			lines = append(lines, start)
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			end()
			line++
		case c == ' ' || c == '\t' || c == '\r':
			end()
		case c == '\\':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
				line++
				continue
			}
			if !in {
				in, start = true, line
			}
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		case c == '\'' || c == '"':
			if !in {
				in, start = true, line
			}
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if c == '"' && s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\\\"$`\n", s[j+1]) >= 0 {
					j++
				}
				if s[j] == '\n' {
					line++
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, nil, fmt.Errorf("the %c quote opened on line %d is not closed", c, start)
			}
			i = j
		case c == '#' && !in:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			i--
		default:
			if !in {
				in, start = true, line
			}
			cur.WriteByte(c)
		}
	}
	end()
	return words, lines, nil
}

// pveOptions are the properties of usbN and hostpciN (USB.pm $usb_fmt,
// PCI.pm $hostpci_fmt).
var pveOptions = map[discover.Bus][]string{
	discover.BusUSB: {"host", "mapping", "usb3"},
	discover.BusPCI: {"host", "mapping", "rombar", "romfile", "pcie", "x-vga", "legacy-igd", "mdev",
		"vendor-id", "device-id", "sub-vendor-id", "sub-device-id", "driver"},
}

// pveParse reads one usbN or hostpciN value. ok is false for one that
// names no host device (usb0: spice).
func pveParse(key, value string, line int, doc *pveDoc) (Ref, bool, error) {
	text := key + ": " + value
	fail := func(format string, args ...any) (Ref, bool, error) {
		return Ref{}, false, errorf(DialectProxmox, line, text, format, args...)
	}
	kind, n := pveKeyNum(key)
	p := &pveRef{key: key, bus: discover.BusUSB, doc: doc, index: -1}
	max := pveMaxUSB
	if kind == "hostpci" {
		p.bus, max = discover.BusPCI, pveMaxHostPCI
	}
	if n >= max {
		return fail("Proxmox has %s0 to %s%d", kind, kind, max-1)
	}
	if value == "" {
		return fail("no value; write host=... or mapping=NAME")
	}
	r := Ref{Dialect: DialectProxmox, Text: text, Line: line, pve: p}
	var host string
	hasHost := false
	seen := map[string]bool{}
	for i, part := range strings.Split(value, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if i > 0 || part == "" {
				return fail("%s is not key=value (only the first part may leave out host=)", quote.Text(part))
			}
			k, v = "host", part
		}
		if !slices.Contains(pveOptions[p.bus], k) {
			hint := ""
			if near := spell.Suggest(k, pveOptions[p.bus]); near != "" {
				hint = "; did you mean " + near + "?"
			}
			return fail("Proxmox's %s has no property %s%s", kind, quote.Text(k), hint)
		}
		if seen[k] {
			return fail("%s is given twice", k)
		}
		seen[k] = true
		for _, c := range []byte(v) {
			if c < ' ' || c == 0x7f {
				return fail("%s=%s holds a control character", k, quote.Text(v))
			}
		}
		switch k {
		case "host":
			host, hasHost = v, true
		case "mapping":
			if !pveConfID.MatchString(strings.ToLower(v)) {
				return fail("mapping=%s is not a mapping name (a letter, then letters, digits, - and _)", quote.Text(v))
			}
			p.mapping = v
		case "mdev":
			if v == "" || strings.ContainsAny(v, "/.:") {
				return fail("mdev=%s is not a mediated device type (no /, . or :)", quote.Text(v))
			}
			p.mdev = v
			p.opts = append(p.opts, part)
		default:
			p.opts = append(p.opts, part)
		}
	}
	switch {
	case hasHost && p.mapping != "":
		return fail("gives both host= and mapping=; Proxmox takes one")
	case !hasHost && p.mapping == "":
		return fail("names no device; write host=... or mapping=NAME")
	}
	var terms []match.Term
	if p.bus == discover.BusUSB {
		r.noHub = true // Proxmox passes it to QEMU's usb-host
		switch {
		case p.mapping != "":
			// No selector until the mappings are given (Apply): one that
			// matched every USB device would make list and watch take
			// them all.
		case strings.EqualFold(host, "spice"):
			return Ref{}, false, nil
		default:
			p.ids = []string{host}
			t, err := pveUSBTerms(host)
			if err != nil {
				return fail("host=%s: %v", quote.Text(host), err)
			}
			terms = t
		}
	} else {
		p.index = len(doc.pci)
		if p.mapping != "" {
			r.All = true
		} else {
			var addrs []string
			for id := range strings.SplitSeq(host, ";") {
				a, all, err := pvePCIAddress(id)
				if err != nil {
					return fail("host=%s: %v", quote.Text(host), err)
				}
				p.ids = append(p.ids, id)
				r.All = r.All || all
				// Proxmox's grammar takes slots above 1f, which no
				// device has: resolving says so, and the config's other
				// devices are still read.
				if _, err := match.New(match.Term{Key: match.KeyAddress, Values: []string{a}}); err == nil {
					addrs = append(addrs, a)
				}
			}
			r.All = r.All || len(p.ids) > 1
			if len(addrs) > 0 {
				terms = []match.Term{{Key: match.KeyBus, Values: []string{"pci"}}, {Key: match.KeyAddress, Values: addrs}}
			}
		}
	}
	if len(terms) > 0 {
		sel, err := match.New(terms...)
		if err != nil {
			return Ref{}, false, selectorError(DialectProxmox, line, text, err)
		}
		r.Selector = sel
	}
	if p.bus == discover.BusPCI {
		doc.pci = append(doc.pci, r)
	}
	return r, true, nil
}

// pveUSBTerms reads a usb host= value: VVVV:PPPP or BUS-PORT.
func pveUSBTerms(host string) ([]match.Term, error) {
	if m := pveUSBID.FindStringSubmatch(host); m != nil {
		return []match.Term{{Key: match.KeyBus, Values: []string{"usb"}},
			{Key: match.KeyVendor, Values: []string{m[1]}}, {Key: match.KeyProduct, Values: []string{m[2]}}}, nil
	}
	m := pveUSBPath.FindStringSubmatch(host)
	if m == nil {
		if pvePCIID.MatchString(strings.Split(host, ";")[0]) {
			return nil, fmt.Errorf("is a PCI address; a PCI device goes in hostpciN: %s", host)
		}
		return nil, fmt.Errorf("Proxmox takes VVVV:PPPP (hex vendor and product, as lsusb shows), BUS-PORT (as 1-2.3) or spice")
	}
	if len(m[1]) > 1 && m[1][0] == '0' {
		return nil, fmt.Errorf("bus %s has a leading zero, which QEMU reads as octal; write %s", m[1], strings.TrimLeft(m[1], "0"))
	}
	if _, err := discover.ParsePortPath(m[2]); err != nil {
		return nil, fmt.Errorf("the port path %s never matches: sysfs writes hub ports as numbers 1 to 255 without leading zeros, at most 6 deep", m[2])
	}
	return []match.Term{{Key: match.KeyBus, Values: []string{"usb"}},
		{Key: match.KeyPort, Values: []string{m[1] + "-" + m[2]}}}, nil
}

// pvePCIAddress reads one hostpci ID, [DDDD:]BB:SS[.F], into an address
// selector value; all is true when the function is left out.
func pvePCIAddress(id string) (string, bool, error) {
	m := pvePCIID.FindStringSubmatch(id)
	if m == nil {
		if pvePCIID.MatchString(strings.ToLower(id)) {
			return "", false, fmt.Errorf("Proxmox takes lowercase hex only: write %s", strings.ToLower(id))
		}
		if pveUSBID.MatchString(id) || pveUSBPath.MatchString(id) {
			return "", false, fmt.Errorf("%s is a USB device; it goes in usbN: host=%s", id, id)
		}
		return "", false, fmt.Errorf("%s is not a PCI address [DDDD:]BB:SS[.F] (as lspci shows; the function may be left out for all of them)", quote.Text(id))
	}
	dom := m[1]
	if dom == "" {
		dom = "0000"
	}
	fn, all := m[4], m[4] == ""
	if all {
		fn = match.Wildcard
	} else if fn > "7" {
		return "", false, fmt.Errorf("function %s: a PCI function is 0 to 7", fn)
	}
	return dom + ":" + m[2] + ":" + m[3] + "." + fn, all, nil
}

// mdevParents keeps, of the functions a hostpci line with mdev=TYPE
// names, those that offer TYPE: Proxmox makes an instance on one of them
// when the VM starts. None is an error that says what they offer.
func (r Ref) mdevParents(ds []discover.Device) ([]discover.Device, error) {
	typ := r.pve.mdev
	var out []discover.Device
	var offered, parents []string
	for _, d := range ds {
		parents = append(parents, d.Name)
		if _, ok := d.PCI.OffersMdevType(typ); ok {
			out = append(out, d)
		}
		for _, t := range d.PCI.MdevTypes {
			offered = append(offered, quote.Text(t.ID))
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	what := "no mediated device type at all (no driver made it an mdev parent)"
	if len(offered) > 0 {
		what = "only " + strings.Join(offered, ", ")
	}
	offer := "offers"
	if len(parents) > 1 {
		offer = "offer"
	}
	return nil, errorf(DialectProxmox, r.Line, r.Text, "mdev=%s: %s %s %s; Proxmox cannot make the instance", quote.Text(typ), strings.Join(parents, ", "), offer, what)
}

// ParseProxmoxArgs reads the options of a qm set or qm create command
// given as its words (qm set 100 -usb0 host=0483:2016, as a shell split
// it); the leading "qm set ID" may be left out.
func ParseProxmoxArgs(args []string) ([]Ref, error) {
	if len(args) >= 3 && args[0] == "qm" {
		args = args[3:]
	}
	var b strings.Builder
	b.WriteString("qm set 0")
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(quote.Shell(a))
	}
	return proxmoxRefs([]byte(b.String()))
}

// resolveProxmox resolves a Proxmox reference as Proxmox would at the
// VM's start.
func (r Ref) resolveProxmox(devs []discover.Device) ([]discover.Device, *match.Moved, error) {
	p := r.pve
	if p.bus == discover.BusPCI {
		var used map[string]string
		if p.index > 0 {
			used = p.doc.used(devs, p.index)
		}
		ds, err := r.resolvePCI(devs, used)
		if err == nil && p.mdev != "" {
			ds, err = r.mdevParents(ds)
		}
		return ds, nil, err
	}
	if p.mapping != "" {
		sel, err := r.usbMapping(devs)
		if err != nil {
			return nil, nil, err
		}
		return Ref{Selector: sel, noHub: true}.resolveHubs(devs)
	}
	return Ref{Selector: r.Selector, noHub: true}.resolveHubs(devs)
}

// used resolves the first n hostpci references of the config, in order,
// and gives the functions they take, each with the key that took it.
func (d *pveDoc) used(devs []discover.Device, n int) map[string]string {
	used := map[string]string{}
	for _, o := range d.pci[:n] {
		p := *o.pve
		p.doc = d // the mappings Apply gave this config
		o.pve = &p
		ds, err := o.resolvePCI(devs, used)
		if err != nil {
			continue
		}
		for _, x := range ds {
			if _, ok := used[x.Name]; !ok {
				used[x.Name] = o.pve.key
			}
		}
	}
	return used
}

// resolvePCI resolves a hostpci reference given the functions earlier
// ones took.
func (r Ref) resolvePCI(devs []discover.Device, used map[string]string) ([]discover.Device, error) {
	p := r.pve
	if p.mapping == "" {
		ds, err := pciIDs(devs, p.ids)
		if err != nil {
			if e := (*match.NoMatchError)(nil); errors.As(err, &e) {
				return nil, err
			}
			return nil, wrapf(err, DialectProxmox, r.Line, r.Text, "%v", err)
		}
		for _, x := range ds {
			if k, ok := used[x.Name]; ok {
				return nil, errorf(DialectProxmox, r.Line, r.Text, "%s is already passed through by %s; Proxmox refuses to start the VM (assigned more than once)", x.Name, k)
			}
		}
		return ds, nil
	}
	m, entries, err := r.mappingEntries("pci")
	if err != nil {
		return nil, err
	}
	// Proxmox checks every entry for the node before it picks one.
	for _, e := range entries {
		if err := e.checkPCI(r, m, devs); err != nil {
			return nil, err
		}
	}
	var taken []string
	for _, e := range entries {
		ds, err := pciIDs(devs, strings.Split(e.Path, ";"))
		if err != nil {
			return nil, e.errorf(r, m, "%v", err)
		}
		free := true
		for _, x := range ds {
			if k, ok := used[x.Name]; ok {
				free = false
				taken = append(taken, x.Name+" ("+k+")")
				break
			}
		}
		if free {
			return ds, nil
		}
	}
	return nil, errorf(DialectProxmox, r.Line, r.Text, "every map entry of %s for node %s is taken by an earlier hostpci: %s; Proxmox finds no free device", quote.Text(m.Name), quote.Text(m.node), strings.Join(taken, ", "))
}

// pciIDs resolves hostpci IDs: each a prefix of the address, each must
// match, and all of them are passed.
func pciIDs(devs []discover.Device, ids []string) ([]discover.Device, error) {
	var out []discover.Device
	for _, id := range ids {
		a, all, err := pvePCIAddress(id)
		if err != nil {
			return nil, err
		}
		sel, err := match.New(match.Term{Key: match.KeyBus, Values: []string{"pci"}}, match.Term{Key: match.KeyAddress, Values: []string{a}})
		if err != nil {
			msg := err.Error()
			if pe := (*match.ParseError)(nil); errors.As(err, &pe) {
				msg = pe.Msg
			}
			return nil, fmt.Errorf("%s: %s: no PCI device has this address, so Proxmox finds none", id, msg)
		}
		var ds []discover.Device
		if all {
			ds, err = match.ResolveAll(sel, devs)
		} else {
			var d discover.Device
			d, err = match.Resolve(sel, devs)
			ds = []discover.Device{d}
		}
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if !slices.ContainsFunc(out, func(o discover.Device) bool { return o.Name == d.Name }) {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// ErrNoMapping is the cause of an error about a mapping=NAME reference
// resolved without the cluster's mapping files (ProxmoxMappings.Apply).
var ErrNoMapping = errors.New("the Proxmox resource mappings were not given")

// mappingEntries finds the mapping r names and its entries for this node.
func (r Ref) mappingEntries(kind string) (*ProxmoxMapping, []ProxmoxMapEntry, error) {
	p := r.pve
	ms := p.doc.maps
	if ms == nil {
		return nil, nil, wrapf(ErrNoMapping, DialectProxmox, r.Line, r.Text, "mapping=%s: give the cluster's mappings (/etc/pve/mapping/%s.cfg) to resolve it", p.mapping, kind)
	}
	m := ms.find(kind, p.mapping)
	if m == nil {
		return nil, nil, errorf(DialectProxmox, r.Line, r.Text, "no mapping %s in the %s mappings given (%s); Proxmox refuses to start the VM", quote.Text(p.mapping), kind, ms.names(kind))
	}
	var mine []ProxmoxMapEntry
	var nodes []string
	for _, e := range m.Map {
		if e.Node == ms.Node {
			mine = append(mine, e)
		} else if !slices.Contains(nodes, e.Node) {
			nodes = append(nodes, e.Node)
		}
	}
	if len(mine) == 0 {
		return nil, nil, errorf(DialectProxmox, r.Line, r.Text, "mapping %s has no entry for node %s (it has entries for %s); give the node's name with --node if this is another node", quote.Text(p.mapping), quote.Text(ms.Node), quote.Values(nodes))
	}
	if kind == "usb" && len(mine) > 1 {
		return nil, nil, errorf(DialectProxmox, r.Line, r.Text, "mapping %s has %d entries for node %s (lines %d and %d); Proxmox takes one USB device per node and mapping", quote.Text(p.mapping), len(mine), quote.Text(ms.Node), mine[0].Line, mine[1].Line)
	}
	mc := *m
	mc.node = ms.Node
	return &mc, mine, nil
}

// usbMapping gives the selector of a usb mapping=NAME, after Proxmox's
// check that the hardware did not change.
func (r Ref) usbMapping(devs []discover.Device) (match.Selector, error) {
	m, entries, err := r.mappingEntries("usb")
	if err != nil {
		return match.Selector{}, err
	}
	e := entries[0]
	if e.Path == "" {
		if low := strings.ToLower(e.ID); low != e.ID {
			return match.Selector{}, e.errorf(r, m, "id=%s: Proxmox looks for the text of sysfs's lowercase IDs, so it finds no device: write id=%s", e.ID, low)
		}
		terms, err := pveUSBTerms(e.ID)
		if err != nil {
			return match.Selector{}, e.errorf(r, m, "id=%s: %v", e.ID, err)
		}
		return match.New(terms...)
	}
	terms, err := pveUSBTerms(e.Path)
	if err != nil {
		return match.Selector{}, e.errorf(r, m, "path=%s: %v", e.Path, err)
	}
	sel, err := match.New(terms...)
	if err != nil {
		return match.Selector{}, e.errorf(r, m, "path=%s: %v", e.Path, err)
	}
	var at *discover.Device
	for i, d := range devs {
		if d.USB != nil && d.Bus == discover.BusUSB && strconv.Itoa(d.USB.Busnum)+"-"+string(d.USB.Port) == e.Path {
			at = &devs[i]
		}
	}
	if at == nil {
		return match.Selector{}, e.errorf(r, m, "no USB device at path %s; Proxmox refuses to start the VM", e.Path)
	}
	if got := at.VendorID.String() + ":" + at.ProductID.String(); got != e.ID {
		return match.Selector{}, e.errorf(r, m, "the device at path %s is %s, the map entry says id=%s%s; the hardware changed, and Proxmox refuses to start the VM", e.Path, got, e.ID, caseHint(got, e.ID))
	}
	return sel, nil
}

func caseHint(got, want string) string {
	if strings.EqualFold(got, want) {
		return " (Proxmox compares the text: write it in lowercase)"
	}
	return ""
}

// ProxmoxMappings are a Proxmox VE cluster's resource mappings
// (/etc/pve/mapping/usb.cfg and pci.cfg) as one node sees them.
type ProxmoxMappings struct {
	// Node is this node's name (Proxmox's nodename: the host name up to
	// its first dot): only map entries for it count.
	Node string
	USB  []ProxmoxMapping
	PCI  []ProxmoxMapping
}

// ProxmoxMapping is one mapping: a name and its map entries on every node.
type ProxmoxMapping struct {
	Name string
	File string
	Line int
	MDev bool // pci: mdev 1
	Map  []ProxmoxMapEntry

	node string
}

// ProxmoxMapEntry is one map line: a device on one node.
type ProxmoxMapEntry struct {
	Node        string
	ID          string // VVVV:PPPP, what the device must be
	Path        string // usb: BUS-PORT; pci: DDDD:BB:SS[.F][;...]
	SubsystemID string // pci: VVVV:PPPP
	IOMMUGroup  *int   // pci
	Line        int
}

// ProxmoxNodeName is Proxmox's name for this node: the host name up to
// its first dot.
func ProxmoxNodeName() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	h, _, _ = strings.Cut(h, ".")
	return h, nil
}

// Add reads one mapping file. Its kind comes from its name (usb.cfg,
// pci.cfg), else from its paths (1-2 is USB, 0000:01:00.0 PCI).
func (ms *ProxmoxMappings) Add(name string, doc []byte) error {
	maps, err := parseMappings(name, string(doc))
	if err != nil {
		return err
	}
	kind := ""
	switch filepath.Base(name) {
	case "usb.cfg":
		kind = "usb"
	case "pci.cfg":
		kind = "pci"
	default:
		for _, m := range maps {
			for _, e := range m.Map {
				k := "usb"
				if strings.Contains(e.Path, ":") {
					k = "pci"
				}
				if e.Path != "" && kind != "" && k != kind {
					return &Error{Dialect: DialectProxmox, Line: e.Line, Msg: fmt.Sprintf("%s: mixes USB and PCI paths; give usb.cfg and pci.cfg as they are", quote.Text(name))}
				}
				if e.Path != "" || m.MDev {
					kind = k
				}
			}
		}
		if kind == "" {
			kind = "usb" // a PCI map entry needs a path
		}
	}
	for _, m := range maps {
		for _, e := range m.Map {
			var err error
			if kind == "usb" && e.Path != "" && !pveUSBPath.MatchString(e.Path) {
				err = fmt.Errorf("path=%s is not BUS-PORT", quote.Text(e.Path))
			}
			if kind == "pci" {
				if e.Path == "" {
					err = errors.New("a PCI map entry needs path=")
				}
				for p := range strings.SplitSeq(e.Path, ";") {
					if !strings.Contains(p, ":") || strings.Count(p, ":") < 2 {
						err = fmt.Errorf("path=%s: %s has no domain (write 0000:%s)", quote.Text(e.Path), quote.Text(p), p)
						break
					}
					if _, _, perr := pvePCIAddress(p); perr != nil {
						err = fmt.Errorf("path=%s: %v", quote.Text(e.Path), perr)
						break
					}
				}
			}
			if err != nil {
				return &Error{Dialect: DialectProxmox, Line: e.Line, Text: m.Name, Msg: fmt.Sprintf("%s mapping: %v", kind, err)}
			}
		}
	}
	if kind == "usb" {
		ms.USB = append(ms.USB, maps...)
	} else {
		ms.PCI = append(ms.PCI, maps...)
	}
	return nil
}

func (ms *ProxmoxMappings) find(kind, name string) *ProxmoxMapping {
	list := ms.USB
	if kind == "pci" {
		list = ms.PCI
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func (ms *ProxmoxMappings) names(kind string) string {
	list := ms.USB
	if kind == "pci" {
		list = ms.PCI
	}
	if len(list) == 0 {
		return "none"
	}
	var n []string
	for _, m := range list {
		n = append(n, m.Name)
	}
	return quote.Values(n)
}

// Apply gives refs with every Proxmox mapping=NAME bound to ms. The
// slice and the references are the caller's own.
func (ms *ProxmoxMappings) Apply(refs []Ref) []Ref {
	out := slices.Clone(refs)
	docs := map[*pveDoc]*pveDoc{}
	for i, r := range out {
		if r.pve == nil {
			continue
		}
		nd, ok := docs[r.pve.doc]
		if !ok {
			nd = &pveDoc{pci: slices.Clone(r.pve.doc.pci), maps: ms}
			docs[r.pve.doc] = nd
		}
		p := *r.pve
		p.doc = nd
		out[i].pve = &p
		if p.mapping != "" {
			out[i].Selector = ms.selector(p.bus, p.mapping)
		}
	}
	return out
}

// selector is what a mapping names on this node, for list and watch to
// filter by: a USB entry's path or id, every PCI entry's paths. It is
// empty when the node has no entry (resolving says why).
func (ms *ProxmoxMappings) selector(bus discover.Bus, name string) match.Selector {
	kind := "usb"
	if bus == discover.BusPCI {
		kind = "pci"
	}
	m := ms.find(kind, name)
	if m == nil {
		return match.Selector{}
	}
	var terms []match.Term
	var addrs []string
	for _, e := range m.Map {
		if e.Node != ms.Node {
			continue
		}
		if kind == "usb" {
			host := e.Path
			if host == "" {
				host = e.ID
			}
			t, err := pveUSBTerms(host)
			if err != nil || terms != nil {
				return match.Selector{} // one entry only, as Proxmox takes it
			}
			terms = t
			continue
		}
		for p := range strings.SplitSeq(e.Path, ";") {
			if a, _, err := pvePCIAddress(p); err == nil {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) > 0 {
		terms = []match.Term{{Key: match.KeyBus, Values: []string{"pci"}}, {Key: match.KeyAddress, Values: addrs}}
	}
	sel, err := match.New(terms...)
	if err != nil {
		return match.Selector{}
	}
	return sel
}

// parseMappings reads a section config of mappings.
func parseMappings(file, src string) ([]ProxmoxMapping, error) {
	var (
		out []ProxmoxMapping
		cur *ProxmoxMapping
	)
	fail := func(line int, text, format string, args ...any) error {
		return &Error{Dialect: DialectProxmox, Line: line, Text: text, Msg: fmt.Sprintf("%s: %s", quote.Text(filepath.Base(file)), fmt.Sprintf(format, args...))}
	}
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			if cur != nil {
				return nil, fail(n, line, "a mapping's lines are indented; a new mapping starts after a blank line")
			}
			name := strings.TrimSpace(line)
			if k, v, ok := strings.Cut(name, ": "); ok && (k == "usb" || k == "pci") {
				return nil, fail(n, line, "Proxmox's mapping files name the section alone: write %s", quote.Text(strings.TrimSpace(v)))
			}
			if !pveConfID.MatchString(strings.ToLower(name)) {
				return nil, fail(n, line, "%s is not a mapping name", quote.Text(name))
			}
			for _, m := range out {
				if m.Name == name {
					return nil, fail(n, line, "mapping %s is defined twice (first on line %d)", quote.Text(name), m.Line)
				}
			}
			out = append(out, ProxmoxMapping{Name: name, File: file, Line: n})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			return nil, fail(n, line, "an indented line outside a mapping")
		}
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		v = strings.TrimSpace(v)
		switch k {
		case "map":
			e, err := parseMapEntry(v)
			if err != nil {
				return nil, fail(n, v, "map: %v", err)
			}
			e.Line = n
			cur.Map = append(cur.Map, e)
		case "mdev":
			cur.MDev = v == "1" || v == "true" || v == "on" || v == "yes"
		case "description", "live-migration-capable":
		default:
			return nil, fail(n, line, "a mapping has no property %s", quote.Text(k))
		}
	}
	return out, nil
}

func parseMapEntry(v string) (ProxmoxMapEntry, error) {
	var e ProxmoxMapEntry
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return e, fmt.Errorf("%s is not key=value", quote.Text(part))
		}
		switch k {
		case "node":
			e.Node = val
		case "id":
			if !pveHexID.MatchString(val) {
				return e, fmt.Errorf("id=%s is not VVVV:PPPP", quote.Text(val))
			}
			e.ID = val
		case "subsystem-id":
			if !pveHexID.MatchString(val) {
				return e, fmt.Errorf("subsystem-id=%s is not VVVV:PPPP", quote.Text(val))
			}
			e.SubsystemID = val
		case "path":
			e.Path = val
		case "iommugroup":
			g, err := strconv.Atoi(val)
			if err != nil || g < 0 {
				return e, fmt.Errorf("iommugroup=%s is not a group number", quote.Text(val))
			}
			e.IOMMUGroup = &g
		case "description":
		default:
			return e, fmt.Errorf("no property %s", quote.Text(k))
		}
	}
	if e.Node == "" || e.ID == "" {
		return e, errors.New("needs node= and id=")
	}
	return e, nil
}

// errorf is an error about the map entry e of m, which r names.
func (e ProxmoxMapEntry) errorf(r Ref, m *ProxmoxMapping, format string, args ...any) error {
	return errorf(DialectProxmox, r.Line, r.Text, "mapping %s, %s line %d (node %s): %s",
		quote.Text(m.Name), quote.Text(filepath.Base(m.File)), e.Line, quote.Text(e.Node), fmt.Sprintf(format, args...))
}

// checkPCI is Proxmox's check of one PCI map entry against this node:
// each path's function (.0 for a whole device) exists and still has the
// entry's id and subsystem-id, and the first is in the entry's IOMMU
// group.
func (e ProxmoxMapEntry) checkPCI(r Ref, m *ProxmoxMapping, devs []discover.Device) error {
	for i, p := range strings.Split(e.Path, ";") {
		if !strings.Contains(p, ".") {
			p += ".0"
		}
		var d *discover.Device
		for j := range devs {
			if devs[j].Bus == discover.BusPCI && devs[j].PCI != nil && devs[j].PCI.Address != nil && devs[j].PCI.Address.String() == p {
				d = &devs[j]
			}
		}
		if d == nil {
			return e.errorf(r, m, "no PCI function %s on this node; Proxmox refuses to start the VM", p)
		}
		id := strings.ReplaceAll(e.ID, "0x", "")
		if got := d.VendorID.String() + ":" + d.ProductID.String(); got != id {
			return e.errorf(r, m, "%s is %s, the map entry says id=%s%s; the hardware changed, and Proxmox refuses to start the VM", p, got, e.ID, caseHint(got, id))
		}
		// discover has 0 for a subsystem it could not read: no check then.
		if sv, sd := d.PCI.SubsystemVendorID, d.PCI.SubsystemProductID; sv != 0 || sd != 0 {
			got := sv.String() + ":" + sd.String()
			switch {
			case e.SubsystemID == "":
				return e.errorf(r, m, "%s has subsystem-id %s, the map entry names none; Proxmox refuses such an entry: add subsystem-id=%s", p, got, got)
			case strings.ReplaceAll(e.SubsystemID, "0x", "") != got:
				return e.errorf(r, m, "%s has subsystem-id %s, the map entry says subsystem-id=%s%s; the hardware changed, and Proxmox refuses to start the VM", p, got, e.SubsystemID, caseHint(got, e.SubsystemID))
			}
		}
		if i > 0 {
			continue
		}
		g := d.PCI.IOMMUGroup
		switch {
		case g != nil && e.IOMMUGroup == nil:
			return e.errorf(r, m, "%s is in IOMMU group %d, the map entry names none; Proxmox refuses such an entry: add iommugroup=%d", p, *g, *g)
		case g == nil && e.IOMMUGroup != nil:
			return e.errorf(r, m, "%s is in no IOMMU group (is the IOMMU on?), the map entry says iommugroup=%d", p, *e.IOMMUGroup)
		case g != nil && *g != *e.IOMMUGroup:
			return e.errorf(r, m, "%s is in IOMMU group %d, the map entry says iommugroup=%d; the groups changed (a new kernel, BIOS or card), and Proxmox refuses to start the VM", p, *g, *e.IOMMUGroup)
		}
	}
	return nil
}

// writeProxmox writes usbN: and hostpciN: lines. A USB device is named by
// vendor:product, which Proxmox follows into any port, when no other
// device plugged in shares it (Resolved.IDUnique); else by BUS-PORT, which
// follows a replug into the same port and names one device whatever is
// plugged in elsewhere. A reference read from a Proxmox
// config keeps its key and options; one naming several functions or a
// mapping is written as it was, once.
func writeProxmox(items []Resolved) (string, error) {
	var b strings.Builder
	taken := map[string]bool{}
	for _, it := range items {
		if p := proxmoxOf(it.Ref); p != nil {
			taken[p.key] = true
		}
	}
	next := map[string]int{}
	written := map[string]bool{}
	key := func(kind string, max int, p *pveRef) (string, error) {
		if p != nil && pveDevKey.FindStringSubmatch(p.key)[1] == kind && !written[p.key] {
			written[p.key] = true
			return p.key, nil
		}
		for ; next[kind] < max; next[kind]++ {
			k := kind + strconv.Itoa(next[kind])
			if !taken[k] && !written[k] {
				taken[k], written[k] = true, true
				return k, nil
			}
		}
		return "", unsupported{fmt.Sprintf("Proxmox has %s0 to %s%d only: more devices than that do not fit one VM", kind, kind, max-1)}
	}
	wrote := map[*Ref]bool{}
	for _, it := range items {
		d := it.Device
		p := proxmoxOf(it.Ref)
		if p != nil && p.bus == d.Bus && (it.Ref.All || p.mapping != "") {
			if !wrote[it.Ref] {
				wrote[it.Ref] = true
				kind := pveDevKey.FindStringSubmatch(p.key)[1]
				k, err := key(kind, map[string]int{"usb": pveMaxUSB, "hostpci": pveMaxHostPCI}[kind], p)
				if err != nil {
					return "", err
				}
				_, value, _ := strings.Cut(it.Ref.Text, ": ")
				fmt.Fprintf(&b, "%s: %s\n", k, value)
			}
			continue
		}
		var opts []string
		if p != nil && p.bus == d.Bus {
			opts = p.opts
		}
		var line string
		if d.Bus == discover.BusPCI {
			k, err := key("hostpci", pveMaxHostPCI, p)
			if err != nil {
				return "", err
			}
			line = k + ": " + address(d).String()
		} else {
			host := ""
			port, perr := discover.ParsePortPath(string(d.USB.Port))
			if !it.IDUnique || d.VendorID == 0 || d.ProductID == 0 {
				if perr != nil || port.IsRoot() {
					return "", unsupported{fmt.Sprintf("%s: Proxmox names a USB device by vendor:product or port, and %s has a vendor:product another device shares and no port path", quote.Text(d.Name), quote.Text(d.Name))}
				}
				host = fmt.Sprintf("%d-%s", d.USB.Busnum, port)
			} else {
				host = d.VendorID.String() + ":" + d.ProductID.String()
			}
			k, err := key("usb", pveMaxUSB, p)
			if err != nil {
				return "", err
			}
			line = k + ": host=" + host
		}
		for _, o := range opts {
			line += "," + o
		}
		b.WriteString(line + "\n")
	}
	return b.String(), nil
}

func proxmoxOf(r *Ref) *pveRef {
	if r == nil || r.Dialect != DialectProxmox {
		return nil
	}
	return r.pve
}

// UniqueID says whether no other device in all has d's vendor and
// product, so that Proxmox's vendor:product names d alone.
func UniqueID(d discover.Device, all []discover.Device) bool {
	for _, o := range all {
		if o.Name != d.Name && o.Bus == d.Bus && o.VendorID == d.VendorID && o.ProductID == d.ProductID {
			return false
		}
	}
	return true
}

// FillProxmox is Fill for a Proxmox VM config, with mapping=NAME resolved
// through maps (nil for none).
//
// Proxmox finds a device at every start itself, by vendor:product or by
// port, and has no form for "this device, here now": so fill changes
// nothing in a Proxmox config. It resolves every reference as Proxmox
// would, so a vendor:product that several devices share, a port where
// nothing or something else is plugged in, a mapping whose hardware
// changed, are reported before the VM fails to start. The output is doc,
// byte for byte.
func FillProxmox(doc []byte, devs []discover.Device, maps *ProxmoxMappings) ([]byte, []Filled, error) {
	refs, err := proxmoxRefs(doc)
	if err != nil {
		return nil, nil, err
	}
	if maps != nil {
		refs = maps.Apply(refs)
	}
	filled := make([]Filled, 0, len(refs))
	for _, r := range refs {
		filled = append(filled, resolveRef(r, devs))
	}
	if len(filled) == 0 {
		return nil, nil, &Error{Dialect: DialectProxmox, Msg: "names no host USB or PCI device (" + nothingHint[DialectProxmox] + ")", Err: errors.ErrUnsupported}
	}
	return apply(doc, nil), filled, nil
}
