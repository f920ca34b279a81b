package hypervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
)

// fillQEMU writes the current place of every usb-host chosen by
// vendorid and productid into a file of QEMU options (a script, a saved
// command line, HMP device_add lines) or a stream of QMP commands.
//
// What it writes is hostbus and hostport, the bus and the port path the
// device is plugged into. The port stays the same when the device is
// unplugged and plugged back into it, while its address (hostaddr, the
// devnum) changes on every plug: QEMU scans every 2 s, and with hostbus,
// hostport, vendorid and productid re-opens the device after a replug,
// and takes no other one of the same kind. hostbus and hostaddr alone
// open it once and never again. The bus number can change with the order
// drivers load at boot; vendorid and productid, which stay, keep QEMU
// from taking another device then, and filling again brings hostbus up
// to date. A usb-host that already has hostaddr (or hostdevice) keeps
// that form, brought up to date, and the note says what would follow a
// replug.
func fillQEMU(doc []byte, devs []discover.Device) ([]Filled, []edit, error) {
	if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '{' {
		return fillQMP(doc, devs)
	}
	found, err := qemuDocFound(doc)
	if err != nil {
		return nil, nil, err
	}
	var (
		filled []Filled
		edits  []edit
	)
	for _, f := range found {
		r, ok, err := f.ref()
		if err != nil {
			return nil, nil, atLine(err, f.arg.line)
		}
		if !ok {
			continue
		}
		r.Line = f.arg.line
		fl := resolveRef(r, devs)
		if eds, note := qemuWordEdits(doc, f, r, fl); len(eds) > 0 {
			edits = append(edits, eds...)
			fl.Changed, fl.Note = true, note
		} else if note != "" {
			fl.Note = note
		}
		filled = append(filled, fl)
	}
	return filled, edits, nil
}

// qemuPlace is what a usb-host should say to follow d: its bus, and its
// port path or, when the option names an address, its address.
type qemuPlace struct {
	bus, addr int
	port      string
}

// fillWanted says whether Fill writes a place into r, and which: only a
// usb-host that names vendor and product and resolved to one device.
func fillWanted(r Ref, fl Filled, drv string) (qemuPlace, bool) {
	if drv != "usb-host" || fl.Err != nil || len(fl.Devices) != 1 || fl.Devices[0].USB == nil {
		return qemuPlace{}, false
	}
	if _, ok := r.Selector.Exact(match.KeyVendor); !ok {
		return qemuPlace{}, false
	}
	if _, ok := r.Selector.Exact(match.KeyProduct); !ok {
		return qemuPlace{}, false
	}
	u := fl.Devices[0].USB
	if u.Busnum <= 0 || u.Devnum <= 0 {
		return qemuPlace{}, false
	}
	p := qemuPlace{bus: u.Busnum, addr: u.Devnum}
	if isPortPath(string(u.Port)) {
		p.port = string(u.Port) // from sysfs: written only when it is digits and dots
	}
	return p, true
}

// propEdit sets one property: its value is replaced when the option has
// it, or key=value added at the end.
type propEdit struct{ key, text string }

// plan lists the properties to set for p, given the keys the option has
// and their values; nil when it already says so.
func (p qemuPlace) plan(has map[string]string, json bool) []propEdit {
	num := func(n int) string { return strconv.Itoa(n) }
	str := func(s string) string {
		if json {
			return strconv.Quote(s)
		}
		return s
	}
	_, hasAddr := has["hostaddr"]
	_, hasPort := has["hostport"]
	if _, ok := has["hostdevice"]; ok {
		// QEMU opens the node and looks at nothing else; the others,
		// when given, must agree with it.
		want := []propEdit{{"hostdevice", strconv.Quote(fmt.Sprintf("/dev/bus/usb/%03d/%03d", p.bus, p.addr))}}
		if !json {
			want[0].text, _ = strconv.Unquote(want[0].text)
		}
		if _, ok := has["hostbus"]; ok {
			want = append(want, propEdit{"hostbus", num(p.bus)})
		}
		if hasAddr {
			want = append(want, propEdit{"hostaddr", num(p.addr)})
		}
		if hasPort && p.port != "" {
			want = append(want, propEdit{"hostport", str(p.port)})
		}
		return want
	}
	want := []propEdit{{"hostbus", num(p.bus)}}
	switch {
	case hasAddr || p.port == "":
		want = append(want, propEdit{"hostaddr", num(p.addr)})
	default:
		want = append(want, propEdit{"hostport", str(p.port)})
	}
	if hasAddr && hasPort && p.port != "" {
		want = append(want, propEdit{"hostport", str(p.port)})
	}
	return want
}

// changes is what of want the option does not say yet.
func changes(want []propEdit, has map[string]string) []propEdit {
	var out []propEdit
	for _, w := range want {
		if v, ok := has[w.key]; !ok || !sameQEMUValue(w.key, v, w.text) {
			out = append(out, w)
		}
	}
	return out
}

// filledNote says what Fill wrote, and why in that form.
func filledNote(p qemuPlace, want []propEdit) string {
	return "wrote " + props(want) + p.why(want)
}

// props writes want as key=value,...
func props(want []propEdit) string {
	var b strings.Builder
	for i, w := range want {
		if i > 0 {
			b.WriteByte(',')
		}
		v := w.text
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fmt.Fprintf(&b, "%s=%s", w.key, v)
	}
	return b.String()
}

// sameQEMUValue compares a value as written with the one Fill would
// write: 0x1 is 1, "2.1" in JSON is 2.1, /dev/bus/usb/1/4 is
// /dev/bus/usb/001/004.
func sameQEMUValue(key, written, want string) bool {
	if u, err := strconv.Unquote(written); err == nil {
		written = u
	}
	if u, err := strconv.Unquote(want); err == nil {
		want = u
	}
	if written == want {
		return true
	}
	if key == "hostdevice" {
		b1, d1, ok1 := devnodeNumbers(written)
		b2, d2, ok2 := devnodeNumbers(want)
		return ok1 && ok2 && b1 == b2 && d1 == d2
	}
	if key == "hostport" {
		return false
	}
	n, err := cUint("QEMU", written, 1<<32)
	return err == nil && strconv.FormatUint(n, 10) == want
}

// optSpan is one key=value of QEMU's option syntax: where its value is,
// in bytes of the option string.
type optSpan struct {
	key        string
	start, end int
}

// qemuOptSpans splits key=value,... as qemuOpts does, giving where each
// value is written.
func qemuOptSpans(s string) []optSpan {
	var spans []optSpan
	from := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		if i+1 < len(s) && s[i+1] == ',' {
			i++
			continue
		}
		e := s[from:i]
		if k, _, ok := strings.Cut(e, "="); ok {
			spans = append(spans, optSpan{key: k, start: from + len(k) + 1, end: i})
		}
		from = i + 1
	}
	return spans
}

// qemuWordEdits writes the place into the option f, where the document
// has it: the value's bytes are mapped back through the shell quoting, so
// the quotes stay as they were.
func qemuWordEdits(doc []byte, f qemuFound, r Ref, fl Filled) ([]edit, string) {
	if f.usbdevice {
		return nil, ""
	}
	arg := f.value()
	drv, _ := qemuDeviceDriver(arg)
	p, ok := fillWanted(r, fl, drv)
	if !ok {
		return nil, ""
	}
	raw := string(doc[f.arg.start:f.arg.end])
	ws, offs, err := shellSplit(raw, true)
	if err != nil || len(ws) != 1 || ws[0].text != f.arg.text {
		return nil, ""
	}
	from := func(i int) int { return f.arg.start + offs[0][f.argOff+i][0] }
	to := func(i int) int { return f.arg.start + offs[0][f.argOff+i][1] }
	var (
		local []edit // in bytes of arg
		want  []propEdit
		esc   = func(s string) string { return s }
	)
	if strings.HasPrefix(strings.TrimSpace(arg), "{") {
		// JSON's quotes need nothing more inside '...', a backslash
		// inside "..." or bare; a word quoted in parts is left alone.
		switch q := wordQuoting(raw); q {
		case '\'':
		case '"', 0:
			esc = func(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }
		default:
			return nil, fmt.Sprintf("not filled, as its quoting is mixed: write %s into it yourself", props(p.plan(nil, false)))
		}
		ms, closeAt, ok := jsonMembers(arg, false)
		if !ok {
			return nil, ""
		}
		local, want = jsonEdits(arg, ms, closeAt, p)
	} else {
		local, want = optEdits(arg, p)
	}
	var eds []edit
	for _, e := range local {
		// A replaced value maps to the bytes it is spelt with; an
		// insertion goes before the spelling of the byte it precedes, or
		// after the last one.
		switch {
		case e.start < e.end:
			if strings.ContainsAny(string(doc[from(e.start):to(e.end-1)]), "'\"") && wordQuoting(raw) < 0 {
				return nil, fmt.Sprintf("not filled, as a quote is inside a value: write %s into it yourself", props(want))
			}
			eds = append(eds, edit{from(e.start), to(e.end - 1), esc(e.text)})
		case e.start < len(arg):
			eds = append(eds, edit{from(e.start), from(e.start), esc(e.text)})
		default:
			eds = append(eds, edit{to(len(arg) - 1), to(len(arg) - 1), esc(e.text)})
		}
	}
	if len(eds) == 0 {
		return nil, ""
	}
	return eds, filledNote(p, want)
}

// wordQuoting says how a word is quoted as a whole: ' or " when it is one
// quoted string, 0 when it has no quotes, -1 when it is quoted in parts.
func wordQuoting(raw string) rune {
	n := len(raw)
	switch {
	case !strings.ContainsAny(raw, `'"`):
		return 0
	case n >= 2 && raw[0] == '\'' && raw[n-1] == '\'' && strings.Count(raw, "'") == 2:
		return '\''
	case n >= 2 && raw[0] == '"' && raw[n-1] == '"' && !strings.Contains(raw, "'"):
		inner := raw[1 : n-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' {
				i++
			} else if inner[i] == '"' {
				return -1
			}
		}
		return '"'
	}
	return -1
}

// optEdits sets p's properties in a key=value,... option string.
func optEdits(arg string, p qemuPlace) ([]edit, []propEdit) {
	has := map[string]string{}
	spans := map[string]optSpan{}
	for _, sp := range qemuOptSpans(arg) {
		has[sp.key], spans[sp.key] = arg[sp.start:sp.end], sp
	}
	var (
		eds  []edit
		tail strings.Builder
	)
	want := p.plan(has, false)
	for _, pe := range changes(want, has) {
		if sp, ok := spans[pe.key]; ok {
			eds = append(eds, edit{sp.start, sp.end, pe.text})
			continue
		}
		fmt.Fprintf(&tail, ",%s=%s", pe.key, pe.text)
	}
	if tail.Len() > 0 {
		eds = append(eds, edit{len(arg), len(arg), tail.String()})
	}
	return eds, want
}

func (p qemuPlace) why(want []propEdit) string {
	switch {
	case slices.ContainsFunc(want, func(w propEdit) bool { return w.key == "hostport" }):
		return ": QEMU takes the device at that port again after a replug"
	case p.port == "":
		return " (its port path could not be read)"
	case want[0].key == "hostdevice":
		return fmt.Sprintf("; the device node changes on every replug, and hostbus=%d,hostport=%s in place of hostdevice would follow the device", p.bus, p.port)
	}
	return fmt.Sprintf("; hostaddr changes on every replug, and hostport=%s in its place would follow the device", p.port)
}

// jsonMember is one member of a JSON object: where its value is.
type jsonMember struct {
	key        string
	start, end int
}

// jsonMembers lists the members of the object s holds, or with args of
// its "arguments" object (QMP), and gives where that object's closing
// brace is.
func jsonMembers(s string, args bool) ([]jsonMember, int, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, 0, false
	}
	var (
		ms    []jsonMember
		inner bool // inside "arguments"
	)
	for {
		t, err := dec.Token()
		if err != nil {
			return nil, 0, false
		}
		if t == json.Delim('}') {
			end := int(dec.InputOffset()) - 1
			if args && !inner {
				return nil, 0, false
			}
			return ms, end, true
		}
		key, ok := t.(string)
		if !ok {
			return nil, 0, false
		}
		if args && !inner {
			if key != "arguments" {
				var skip json.RawMessage
				if dec.Decode(&skip) != nil {
					return nil, 0, false
				}
				continue
			}
			if t, err := dec.Token(); err != nil || t != json.Delim('{') {
				return nil, 0, false
			}
			inner = true
			continue
		}
		start := int(dec.InputOffset())
		start += len(s[start:]) - len(strings.TrimLeft(s[start:], ": \t\r\n"))
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, 0, false
		}
		end := int(dec.InputOffset())
		ms = append(ms, jsonMember{key: key, start: start, end: end})
	}
}

// fillQMP is fillQEMU for a stream of QMP commands or JSON -device
// arguments.
func fillQMP(doc []byte, devs []discover.Device) ([]Filled, []edit, error) {
	var (
		filled []Filled
		edits  []edit
	)
	err := qmpDevices(doc, func(q qmpDevice) error {
		r, err := ParseQEMU(q.raw)
		if err != nil {
			return atLine(err, q.line)
		}
		r.Line = q.line
		fl := resolveRef(r, devs)
		if p, ok := fillWanted(r, fl, q.driver); ok {
			if ms, closeAt, ok := jsonMembers(q.raw, q.command); ok {
				eds, want := jsonEdits(q.raw, ms, closeAt, p)
				for i := range eds {
					eds[i].start += q.from
					eds[i].end += q.from
				}
				if len(eds) > 0 {
					edits = append(edits, eds...)
					fl.Changed, fl.Note = true, filledNote(p, want)
				}
			}
		}
		filled = append(filled, fl)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return filled, edits, nil
}

// jsonEdits sets p's properties in a JSON object whose members are ms.
func jsonEdits(s string, ms []jsonMember, closeAt int, p qemuPlace) ([]edit, []propEdit) {
	has := map[string]string{}
	spans := map[string]jsonMember{}
	for _, m := range ms {
		has[m.key], spans[m.key] = s[m.start:m.end], m
	}
	var (
		eds  []edit
		tail strings.Builder
	)
	want := p.plan(has, true)
	for _, pe := range changes(want, has) {
		if m, ok := spans[pe.key]; ok {
			eds = append(eds, edit{m.start, m.end, pe.text})
			continue
		}
		if len(ms) > 0 || tail.Len() > 0 {
			tail.WriteByte(',')
		}
		fmt.Fprintf(&tail, "%q:%s", pe.key, pe.text)
	}
	if tail.Len() > 0 {
		eds = append(eds, edit{closeAt, closeAt, tail.String()})
	}
	return eds, want
}
