package hypervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/spell"
	"github.com/hostdev/hostdev/internal/usbnum"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// qemuDrivers are the QEMU devices that take a host device.
var qemuDrivers = map[string]bool{"usb-host": true, "vfio-pci": true}

// looksQEMU says whether s is written for QEMU: a -device or -usbdevice
// option, an HMP device_add, QMP or JSON, or an option string for one of
// qemuDrivers.
func looksQEMU(s string) bool {
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "device_add ") {
		return true
	}
	first, _, _ := strings.Cut(s, ",")
	if v, ok := strings.CutPrefix(first, "driver="); ok {
		// driver=vfio-pci is also hostdev's own key (the bound driver):
		// it is QEMU's only with a property hostdev does not know.
		if !qemuDrivers[v] {
			return false
		}
		for e := range strings.SplitSeq(s, ",") {
			k, _, _ := strings.Cut(e, "=")
			if !match.Key(k).IsValid() {
				return true
			}
		}
		return false
	}
	return qemuDrivers[first]
}

// ParseQEMU reads one QEMU host device:
//
//	-device usb-host,vendorid=0x0483,productid=0x2016
//	usb-host,hostbus=1,hostaddr=4      usb-host,hostbus=1,hostport=2.1
//	usb-host,hostdevice=/dev/bus/usb/001/004
//	-usbdevice host:3.1                -usbdevice host:0483:2016
//	vfio-pci,host=0000:01:00.0         vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:01:00.0
//	device_add usb-host,id=u1,hostbus=1,hostaddr=4
//	{"execute":"device_add","arguments":{"driver":"usb-host","hostbus":1,"hostaddr":4}}
//	{"driver":"vfio-pci","host":"0000:01:00.0"}
//
// Numbers follow current QEMU: 0x means hex and bare digits are decimal.
// QEMU reads a bare number with a leading zero as octal, so vendorid=0483
// is refused with a hint rather than guessed at. 0 and a missing property
// mean "any", as they do for QEMU; a usb-host that names nothing at all is
// refused, since QEMU would take whichever device it found first.
func ParseQEMU(s string) (Ref, error) {
	t := strings.TrimSpace(s)
	for _, p := range []string{"--device", "-device", "device_add"} {
		if rest, ok := strings.CutPrefix(t, p); ok && (rest == "" || rest[0] == ' ' || rest[0] == '=' || rest[0] == '\t') {
			t = strings.TrimLeft(rest, " \t=")
			break
		}
	}
	for _, p := range []string{"--usbdevice", "-usbdevice", "usb_add"} {
		if rest, ok := strings.CutPrefix(t, p); ok && (rest == "" || rest[0] == ' ' || rest[0] == '=') {
			return qemuUSBDevice(s, strings.TrimLeft(rest, " \t="))
		}
	}
	if strings.HasPrefix(t, "-") {
		opt, _, _ := strings.Cut(t, " ")
		return Ref{}, unsupportedf(DialectQEMU, 0, s, "option %s does not name a host device; want -device usb-host,..., -device vfio-pci,... or -usbdevice host:...", opt)
	}
	var (
		opts []qemuOpt
		err  error
	)
	if strings.HasPrefix(t, "{") {
		opts, err = qemuJSON(s, t)
	} else {
		opts, err = qemuOpts(s, t)
	}
	if err != nil {
		return Ref{}, err
	}
	return qemuRef(s, opts)
}

// qemuOpt is one property; num says it came from JSON as a number.
type qemuOpt struct {
	key, value string
	num        bool // a JSON number
	json       bool // from JSON, where QEMU wants numbers as numbers
}

// qemuOpts splits QEMU's key=value,key=value syntax, where ",," is a comma
// inside a value and a first element without "=" is the driver.
func qemuOpts(orig, s string) ([]qemuOpt, error) {
	var (
		opts []qemuOpt
		cur  strings.Builder
		elts []string
	)
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			if i+1 < len(s) && s[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			elts = append(elts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	elts = append(elts, cur.String())
	for i, e := range elts {
		k, v, ok := strings.Cut(e, "=")
		switch {
		case !ok && i == 0:
			k, v = "driver", e
		case !ok:
			return nil, errorf(DialectQEMU, 0, orig, "element %q is not key=value", e)
		}
		if k == "" {
			return nil, errorf(DialectQEMU, 0, orig, "element %q has no key", e)
		}
		opts = append(opts, qemuOpt{key: k, value: v})
	}
	return opts, nil
}

// qemuJSON reads a QMP device_add command or a JSON -device argument.
func qemuJSON(orig, s string) ([]qemuOpt, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return nil, wrapf(err, DialectQEMU, 0, orig, "not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errorf(DialectQEMU, 0, orig, "more than one JSON value")
	}
	args := top
	if ex, ok := top["execute"]; ok {
		var cmd string
		if json.Unmarshal(ex, &cmd) != nil || cmd != "device_add" {
			return nil, errorf(DialectQEMU, 0, orig, "QMP command %s is not device_add", quote.Text(string(ex)))
		}
		args = nil // a fresh map: unmarshalling into top would merge
		if err := json.Unmarshal(top["arguments"], &args); err != nil || args == nil {
			return nil, errorf(DialectQEMU, 0, orig, "device_add has no arguments object")
		}
	}
	var opts []qemuOpt
	// By name: a map's order would change from run to run which bad
	// property an error names.
	for _, k := range slices.Sorted(maps.Keys(args)) {
		raw := args[k]
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, wrapf(err, DialectQEMU, 0, orig, "property %s: %v", quote.Text(k), err)
		}
		switch v := v.(type) {
		case string:
			opts = append(opts, qemuOpt{key: k, value: v, json: true})
		case json.Number:
			opts = append(opts, qemuOpt{key: k, value: v.String(), num: true, json: true})
		case bool:
			opts = append(opts, qemuOpt{key: k, value: strconv.FormatBool(v), json: true})
		default:
			return nil, errorf(DialectQEMU, 0, orig, "property %s is %s, not a string or number", quote.Text(k), quote.Text(string(raw)))
		}
	}
	return opts, nil
}

// qemuRef turns a device's properties into a selector.
func qemuRef(orig string, opts []qemuOpt) (Ref, error) {
	props := map[string]qemuOpt{}
	for _, o := range opts {
		if _, dup := props[o.key]; dup {
			return Ref{}, errorf(DialectQEMU, 0, orig, "property %s is given twice", quote.Text(o.key))
		}
		props[o.key] = o
	}
	fail := func(format string, args ...any) (Ref, error) {
		return Ref{}, errorf(DialectQEMU, 0, orig, format, args...)
	}
	drv := props["driver"].value
	if err := checkProps(orig, drv, opts); err != nil {
		return Ref{}, err
	}
	var terms []match.Term
	switch drv {
	case "usb-host":
		num := func(key string, max uint64) (uint64, bool, error) {
			o, ok := props[key]
			if !ok {
				return 0, false, nil
			}
			n, err := qemuUint(o, max)
			if err != nil {
				return 0, false, errorf(DialectQEMU, 0, orig, "%s=%s: %v", key, quote.Text(o.value), err)
			}
			return n, n != 0, nil // 0 means any
		}
		terms = append(terms, match.Term{Key: match.KeyBus, Values: []string{"usb"}})
		bus, hasBus, err := num("hostbus", 255)
		if err != nil {
			return Ref{}, err
		}
		addr, hasAddr, err := num("hostaddr", usbnum.MaxDevnum)
		if err != nil {
			return Ref{}, err
		}
		vid, hasVid, err := num("vendorid", 0xffff)
		if err != nil {
			return Ref{}, err
		}
		pid, hasPid, err := num("productid", 0xffff)
		if err != nil {
			return Ref{}, err
		}
		if o, ok := props["hostdevice"]; ok {
			b, d, ok := devnodeNumbers(o.value)
			if !ok {
				return fail("hostdevice=%s is not /dev/bus/usb/BBB/DDD", o.value)
			}
			if (hasBus && bus != b) || (hasAddr && addr != d) {
				return fail("hostdevice=%s contradicts hostbus=%d,hostaddr=%d", o.value, bus, addr)
			}
			bus, addr, hasBus, hasAddr = b, d, true, true
		}
		if hasVid {
			terms = append(terms, match.Term{Key: match.KeyVendor, Values: []string{fmt.Sprintf("%04x", vid)}})
		}
		if hasPid {
			terms = append(terms, match.Term{Key: match.KeyProduct, Values: []string{fmt.Sprintf("%04x", pid)}})
		}
		port, hasPort := props["hostport"]
		if hasPort && port.value != "" {
			if !isPortPath(port.value) {
				return fail("hostport=%s is not a port path such as 2 or 2.1.3", port.value)
			}
			p := port.value
			if hasBus {
				p = fmt.Sprintf("%d-%s", bus, p)
			}
			terms = append(terms, match.Term{Key: match.KeyPort, Values: []string{p}})
		} else {
			hasPort = false
		}
		if hasBus && !hasPort {
			terms = append(terms, match.Term{Key: match.KeyBusnum, Values: []string{strconv.FormatUint(bus, 10)}})
		}
		if hasAddr {
			terms = append(terms, match.Term{Key: match.KeyDevnum, Values: []string{strconv.FormatUint(addr, 10)}})
		}
		if !hasBus && !hasAddr && !hasVid && !hasPid && !hasPort {
			return fail("usb-host names no device, so QEMU would take the first one it finds; give vendorid= and productid=, hostbus= and hostaddr=, or hostbus= and hostport=")
		}
	case "vfio-pci":
		a, hasHost := props["host"]
		sd, hasSysfs := props["sysfsdev"]
		switch {
		case hasHost && hasSysfs:
			return fail("vfio-pci has both host= and sysfsdev=; QEMU takes one")
		case hasSysfs && isMdevSysfsdev(sd.value):
			return qemuMdevRef(orig, sd.value)
		case !hasHost && !hasSysfs && props["fd"] != (qemuOpt{}):
			return Ref{}, unsupportedf(DialectQEMU, 0, orig, "vfio-pci,fd= names the device by a file descriptor another program opened, which hostdev cannot follow; give host=DDDD:BB:SS.F or sysfsdev=")
		case hasSysfs:
			base := path.Base(sd.value)
			if _, err := pciaddr.Parse(base); err != nil {
				return fail("sysfsdev=%s does not end in a PCI address (a mediated device is not a host function hostdev can resolve)", sd.value)
			}
			a = qemuOpt{key: "sysfsdev", value: base}
		case !hasHost:
			return fail("vfio-pci names no device; give host=DDDD:BB:SS.F")
		}
		addr, err := parseQEMUPCI(a.value)
		if err != nil {
			return fail("%s=%s: %v", a.key, a.value, err)
		}
		if a.key == "host" && addr.Domain > 0xffff {
			return fail("host= takes 16-bit PCI domains only; use sysfsdev=/sys/bus/pci/devices/%s", addr)
		}
		terms = append(terms,
			match.Term{Key: match.KeyBus, Values: []string{"pci"}},
			match.Term{Key: match.KeyAddress, Values: []string{addr.String()}})
	case "":
		return fail("no driver; want usb-host or vfio-pci first, as in usb-host,vendorid=0x0483,productid=0x2016")
	default:
		return Ref{}, unsupportedf(DialectQEMU, 0, orig, "device %s is emulated, not a host device; want usb-host or vfio-pci", drv)
	}
	sel, err := match.New(terms...)
	if err != nil {
		return Ref{}, selectorError(DialectQEMU, 0, orig, err)
	}
	return Ref{Dialect: DialectQEMU, Text: orig, Selector: sel, noHub: drv == "usb-host"}, nil
}

// qemuUint reads a QEMU integer property: 0x for hex, bare digits decimal.
// A leading zero is refused: QEMU itself would read it as octal.
func qemuUint(o qemuOpt, max uint64) (uint64, error) {
	v := o.value
	if o.json && !o.num {
		return 0, fmt.Errorf("in JSON QEMU wants a number here, not the string %q", v)
	}
	if o.num {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > max {
			return 0, fmt.Errorf("not a whole number from 0 to %d", max)
		}
		return n, nil
	}
	return cUint("QEMU", v, max)
}

// cUint reads a number the way C's strtoul with base 0 does, which is how
// QEMU, libvirt and xl read theirs: 0x for hex, bare digits decimal. A
// leading zero means octal to them and is almost never what the writer
// meant (010 would be 8), so it is refused with both readings spelt out.
func cUint(who, v string, max uint64) (uint64, error) {
	var (
		n   uint64
		err error
	)
	switch {
	case strings.HasPrefix(v, "0x") || strings.HasPrefix(v, "0X"):
		n, err = strconv.ParseUint(v[2:], 16, 64)
		if v[2:] == "" || strings.HasPrefix(v[2:], "+") {
			err = strconv.ErrSyntax
		}
	case len(v) > 1 && v[0] == '0':
		d, e := strconv.ParseUint(v, 10, 64)
		if e != nil {
			return 0, fmt.Errorf("not a number (%s reads a leading 0 as octal; write 0x for hex)", who)
		}
		if o, e := strconv.ParseUint(v, 8, 64); e == nil {
			if o == d {
				n = d // 001, 007: the same in either base
				break
			}
			return 0, fmt.Errorf("%s reads %s as octal, %d; write %d for decimal or 0x%s for hex", who, v, o, d, v)
		}
		return 0, fmt.Errorf("%s reads a number with a leading zero as octal, and %s is not octal; write %d for decimal or 0x%s for hex", who, v, d, v)
	default:
		if v == "" || v[0] < '0' || v[0] > '9' {
			err = strconv.ErrSyntax
		} else {
			n, err = strconv.ParseUint(v, 10, 64)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("not a number: %s wants decimal digits, or 0x and hex digits", who)
	}
	if n > max {
		return 0, fmt.Errorf("out of range 0 to %d (0x%x)", max, max)
	}
	return n, nil
}

// parseQEMUPCI reads vfio-pci's host=: [DDDD:]BB:SS.F in hex.
func parseQEMUPCI(s string) (pciaddr.Address, error) {
	if strings.Count(s, ":") == 1 {
		s = "0000:" + s
	}
	return pciaddr.Parse(s)
}

func isPortPath(s string) bool {
	for p := range strings.SplitSeq(s, ".") {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil || n == 0 || p[0] == '+' {
			return false
		}
	}
	return true
}

// devnodeNumbers reads /dev/bus/usb/BBB/DDD.
func devnodeNumbers(p string) (bus, dev uint64, ok bool) {
	rest, found := strings.CutPrefix(path.Clean(p), "/dev/bus/usb/")
	if !found {
		return 0, 0, false
	}
	b, d, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	bus, e1 := strconv.ParseUint(b, 10, 8)
	dev, e2 := strconv.ParseUint(d, 10, 8)
	if e1 != nil || e2 != nil || bus == 0 || !usbnum.ValidDevnum(int(dev)) {
		return 0, 0, false
	}
	return bus, dev, true
}

// qemuUSBDevice reads the legacy -usbdevice argument. Only host: names a
// host device; its numbers are read the way hostdev reads host:, decimal
// bus and device (QEMU read them as C literals, so 008 failed as octal).
func qemuUSBDevice(orig, arg string) (Ref, error) {
	if !strings.HasPrefix(arg, "host:") {
		return Ref{}, unsupportedf(DialectQEMU, 0, orig, "-usbdevice %s is an emulated device; only -usbdevice host:BUS.DEV or host:VVVV:PPPP names a host device", arg)
	}
	sel, err := match.Parse(arg)
	if err != nil {
		return Ref{}, selectorError(DialectQEMU, 0, orig, err)
	}
	return Ref{Dialect: DialectQEMU, Text: orig, Selector: sel, noHub: true}, nil
}

// qmpDocRefs reads a stream of QMP commands or JSON -device arguments, as
// resolve --format qmp writes them: each device_add of a usb-host or
// vfio-pci; other commands and devices are passed over.
func qmpDocRefs(doc []byte) ([]Ref, error) {
	var refs []Ref
	err := qmpDevices(doc, func(q qmpDevice) error {
		r, err := ParseQEMU(q.raw)
		if err != nil {
			return atLine(err, q.line)
		}
		r.Line = q.line
		refs = append(refs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// qmpDevice is one usb-host or vfio-pci in a stream of QMP commands or
// JSON -device arguments.
type qmpDevice struct {
	raw     string // the JSON value, as written
	from    int    // where raw starts in the stream
	line    int
	command bool   // a QMP device_add, not bare -device arguments
	driver  string // usb-host or vfio-pci
}

// qmpDevices calls each for every usb-host and vfio-pci a stream of QMP
// commands or JSON -device arguments adds, in order; other commands and
// devices are passed over. It stops at the first error, each's or a value
// that is not JSON.
func qmpDevices(doc []byte, each func(qmpDevice) error) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		ws := int(dec.InputOffset())
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		from := ws + countSpace(doc[ws:])
		line := lineAt(doc, from)
		if err != nil {
			return wrapf(err, DialectQEMU, line, "", "not valid JSON: %v", err)
		}
		var head struct {
			Execute   string `json:"execute"`
			Driver    string `json:"driver"`
			Arguments struct {
				Driver string `json:"driver"`
			} `json:"arguments"`
		}
		json.Unmarshal(raw, &head)
		drv := head.Driver + head.Arguments.Driver
		if (head.Execute != "" && head.Execute != "device_add") || !qemuDrivers[drv] {
			continue
		}
		if err := each(qmpDevice{raw: string(raw), from: from, line: line, command: head.Execute != "", driver: drv}); err != nil {
			return err
		}
	}
}

func countSpace(b []byte) int {
	return len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
}

// The properties QEMU's usb-host and vfio-pci take, as QEMU 7.2 lists
// them (qemu-system-x86_64 -device usb-host,help and -device
// vfio-pci,help, Debian 1:7.2+dfsg-7) with those later releases added
// (to 10.x), from QEMU's sources:
//
//   - every device (hw/core/qdev.c): driver, id, bus;
//   - usb-host: its own (hw/usb/host-libusb.c) and every USB device's
//     (hw/usb/bus.c: port, serial, msos-desc, pcap, attached), and the
//     bootindex it adds for itself;
//   - vfio-pci: its own (hw/vfio/pci.c; iommufd and fd are there when
//     QEMU is built with iommufd) and every PCI device's (hw/pci/pci.c:
//     addr, romfile, romsize, rombar, multifunction, failover_pair_id,
//     acpi-index, busnr).
//
// x-* properties are experimental and come and go between releases: any
// is taken. The value says whether the property selects the host
// device; the others (bootindex, id, bus, addr, romfile, ...) say how the
// guest sees it and are passed over.
var (
	usbHostProps = map[string]bool{
		"hostdevice": true, "hostbus": true, "hostaddr": true, "hostport": true,
		"vendorid": true, "productid": true,
		"isobufs": false, "isobsize": false, "guest-reset": false, "guest-resets-all": false,
		"loglevel": false, "pipeline": false, "suppress-remote-wake": false, "bootindex": false,
		"port": false, "serial": false, "msos-desc": false, "pcap": false, "attached": false,
		"driver": false, "id": false, "bus": false,
	}
	vfioPCIProps = map[string]bool{
		"host": true, "sysfsdev": true, "fd": true,
		"vf-token": false, "iommufd": false, "display": false, "xres": false, "yres": false,
		"enable-migration": false, "migration-events": false, "skip-vsc-check": false,
		"ramfb": false, "bootindex": false,
		"addr": false, "romfile": false, "romsize": false, "rombar": false, "multifunction": false,
		"failover_pair_id": false, "acpi-index": false, "busnr": false,
		"driver": false, "id": false, "bus": false,
	}
	qemuDriverProps = map[string]map[string]bool{"usb-host": usbHostProps, "vfio-pci": vfioPCIProps}
)

// checkProps refuses a property QEMU would refuse, where a typo would
// change what the option means to us: usb-host,hostbsu=2,hostaddr=2 must
// not quietly become devnum=2 on any bus. A property of the other host
// device is named as such.
func checkProps(orig, drv string, opts []qemuOpt) error {
	props, ok := qemuDriverProps[drv]
	if !ok {
		return nil
	}
	for _, o := range opts {
		k := o.key
		if _, ok := props[k]; ok || strings.HasPrefix(k, "x-") {
			continue
		}
		for other, ps := range qemuDriverOrder() {
			if _, ok := ps[k]; ok && other != drv {
				return errorf(DialectQEMU, 0, orig, "property %q is %s's, not %s's", k, other, drv)
			}
		}
		hint := ""
		if near := nearest(k, props); near != "" {
			hint = "; did you mean " + near + "?"
		}
		return errorf(DialectQEMU, 0, orig, "%s has no property %q%s", drv, k, hint)
	}
	return nil
}

// qemuDriverOrder walks qemuDriverProps in a fixed order, so that a
// message never depends on map order.
func qemuDriverOrder() func(func(string, map[string]bool) bool) {
	return func(yield func(string, map[string]bool) bool) {
		for _, d := range slices.Sorted(maps.Keys(qemuDriverProps)) {
			if !yield(d, qemuDriverProps[d]) {
				return
			}
		}
	}
}

// nearest gives the name in names within two edits of k.
func nearest(k string, names map[string]bool) string {
	list := slices.Sorted(maps.Keys(names))
	return spell.Suggest(k, list)
}
