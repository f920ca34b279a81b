package hypervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hostdev/hostdev/internal/spell"
	"github.com/hostdev/hostdev/match"
)

// qemuOptions is QEMU's table of command-line options (qemu-options.hx,
// DEF(name, HAS_ARG or 0, ...)): true for an option that takes the next
// word as its value. It is QEMU 7.2's, every architecture's, checked
// against qemu-system-x86_64 7.2 (Debian 1:7.2+dfsg-7) by giving each
// name alone ("requires an argument") and before an unknown option,
// with the options older and newer releases added or dropped. Knowing
// which options take a value is what lets a whole command line be read:
// in -name usb-host or -append "-device x" the value is not an option.
var qemuOptions = map[string]bool{
	"D": true, "L": true, "M": true, "accel": true, "acpitable": true, "action": true,
	"add-fd": true, "append": true, "audio": true, "audiodev": true, "bios": true,
	"blockdev": true, "boot": true, "cdrom": true, "chardev": true, "chroot": true,
	"compat": true, "cpu": true, "d": true, "debugcon": true, "device": true,
	"dfilter": true, "display": true, "drive": true, "dtb": true, "dump-vmstate": true,
	"echr": true, "fda": true, "fdb": true, "fsdev": true, "fw_cfg": true, "g": true,
	"gdb": true, "global": true, "hda": true, "hdb": true, "hdc": true, "hdd": true,
	"icount": true, "incoming": true, "initrd": true, "iscsi": true, "k": true,
	"kernel": true, "loadvm": true, "m": true, "machine": true, "mem-path": true,
	"mon": true, "monitor": true, "msg": true, "mtdblock": true, "name": true,
	"net": true, "netdev": true, "nic": true, "numa": true, "object": true,
	"option-rom": true, "overcommit": true, "parallel": true, "pflash": true,
	"pidfile": true, "plugin": true, "prom-env": true, "qmp": true, "qmp-pretty": true,
	"qtest": true, "qtest-log": true, "readconfig": true, "rotate": true, "rtc": true,
	"runas": true, "sandbox": true, "sd": true, "seed": true, "semihosting-config": true,
	"serial": true, "set": true, "smbios": true, "smp": true, "spice": true,
	"tpmdev": true, "trace": true, "usbdevice": true, "uuid": true, "vga": true,
	"virtfs": true, "vnc": true, "watchdog-action": true, "xen-domid": true,

	"S": false, "async-teardown": false, "audio-help": false, "daemonize": false,
	"enable-kvm": false, "enable-sync-profile": false, "full-screen": false, "h": false,
	"help": false, "mem-prealloc": false, "no-acpi": false, "no-fd-bootchk": false,
	"no-hpet": false, "no-reboot": false, "no-shutdown": false, "no-user-config": false,
	"nodefaults": false, "nographic": false, "old-param": false, "only-migratable": false,
	"portrait": false, "preconfig": false, "s": false, "semihosting": false,
	"singlestep": false, "snapshot": false, "usb": false, "version": false,
	"win2k-hack": false, "xen-attach": false, "xen-domid-restrict": false,

	// Newer than 7.2 (8.1: -run-with), and gone before it, as saved
	// command lines and scripts still carry them.
	"run-with": true, "soundhw": true, "balloon": true, "tb-size": true, "watchdog": true,
	"startdate": true, "clock": true, "writeconfig": true, "virtioconsole": true,
	"redir": true, "tftp": true, "bootp": true, "smb": true, "pcidevice": true,
	"bt": true, "kvm-shadow-memory": true,
	"no-kvm": false, "sdl": false, "curses": false, "alt-grab": false, "ctrl-grab": false,
	"no-quit": false, "enable-fips": false, "localtime": false, "show-cursor": false,
	"no-frame": false, "nodefconfig": false, "rtc-td-hack": false, "no-kvm-irqchip": false,
	"no-kvm-pit": false, "no-kvm-pit-reinjection": false, "tdf": false,
}

// qemuWord is one word of a command line: where it is in its document
// (start and end bytes, as written, quotes included; both 0 for an
// argument) and on which line it starts.
type qemuWord struct {
	text       string
	line       int
	start, end int
}

// qemuFound is a -device, -usbdevice or device_add of a command line.
// arg is its value: the next word, or the rest of the word itself from
// argOff on ("-device usb-host,..." as one word).
type qemuFound struct {
	usbdevice bool
	arg       qemuWord
	argOff    int
}

// QEMUArgs reads a QEMU command line given as words, as QEMU reads its
// own: an option and its value are two words (-device
// usb-host,hostbus=1,hostaddr=4, -usbdevice host:3.1, -device
// {"driver":"vfio-pci",...}), -option and --option are the same, and a
// word that is neither an option nor an option's value (the program, a
// disk image) is passed over. It returns every host device of every
// -device usb-host, -device vfio-pci and -usbdevice host:, and skips
// every other option with its value, as QEMU's own option table says.
//
// An option QEMU does not have is an error when it is a misspelling of
// one (-devcie), or when the word after it names a host device; any other
// is taken for a newer QEMU's, and its value, if the next word is not an
// option, is passed over. -set and -global that would change which host
// device a -device takes are refused: hostdev does not apply them.
func QEMUArgs(args []string) ([]Ref, error) {
	words := make([]qemuWord, len(args))
	for i, a := range args {
		words[i] = qemuWord{text: a}
	}
	found, err := walkQEMU(words, true)
	if err != nil {
		return nil, err
	}
	refs, err := qemuFoundRefs(found)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, &Error{Dialect: DialectQEMU, Text: strings.Join(args, " "), Msg: "names no host USB or PCI device (" + nothingHint[DialectQEMU] + ")", Err: errors.ErrUnsupported}
	}
	return refs, nil
}

// qemuDocRefs reads a file of QEMU arguments, as a script or a saved
// command line holds them: every -device usb-host, -device vfio-pci,
// -usbdevice host: and HMP device_add, with shell quotes and
// backslash-newlines allowed. Other commands of a script may have options
// QEMU does not know; they are passed over without a word.
func qemuDocRefs(doc []byte) ([]Ref, error) {
	if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '{' {
		return qmpDocRefs(doc)
	}
	found, err := qemuDocFound(doc)
	if err != nil {
		return nil, err
	}
	return qemuFoundRefs(found)
}

func qemuDocFound(doc []byte) ([]qemuFound, error) {
	words, err := shellWords(string(doc))
	if err != nil {
		return nil, err
	}
	return walkQEMU(words, false)
}

// qemuFoundRefs reads each found device; an emulated one is passed over.
func qemuFoundRefs(found []qemuFound) ([]Ref, error) {
	var refs []Ref
	for _, f := range found {
		r, ok, err := f.ref()
		if err != nil {
			return nil, atLine(err, f.arg.line)
		}
		if ok {
			r.Line = f.arg.line
			refs = append(refs, r)
		}
	}
	return refs, nil
}

// value is the option's value.
func (f qemuFound) value() string { return f.arg.text[f.argOff:] }

// ref reads the host device f names; ok is false for an emulated device
// (-device qemu-xhci, -usbdevice tablet).
func (f qemuFound) ref() (Ref, bool, error) {
	arg := f.value()
	if f.usbdevice {
		if !strings.HasPrefix(arg, "host:") {
			return Ref{}, false, nil
		}
		r, err := qemuUSBDevice("-usbdevice "+arg, arg)
		return r, err == nil, err
	}
	if drv, ok := qemuDeviceDriver(arg); ok && !qemuDrivers[drv] {
		return Ref{}, false, nil
	} else if !ok && !strings.Contains(arg, "usb-host") && !strings.Contains(arg, "vfio-pci") {
		return Ref{}, false, nil // unreadable, but not ours: QEMU will say
	}
	r, err := ParseQEMU(arg)
	return r, err == nil, err
}

// qemuDeviceDriver is the driver of a -device value, in either of QEMU's
// forms; ok is false when the value cannot be read.
func qemuDeviceDriver(arg string) (string, bool) {
	if strings.HasPrefix(strings.TrimSpace(arg), "{") {
		var head struct {
			Driver string `json:"driver"`
		}
		if json.Unmarshal([]byte(arg), &head) != nil {
			return "", false
		}
		return head.Driver, true
	}
	opts, err := qemuOpts(arg, arg)
	if err != nil {
		return "", false
	}
	for _, o := range opts {
		if o.key == "driver" {
			return o.value, true
		}
	}
	return "", true
}

// qemuSelecting are the properties of usb-host and vfio-pci that choose
// the host device, in a fixed order.
var qemuSelecting = func() []string {
	var out []string
	for _, ps := range []map[string]bool{usbHostProps, vfioPCIProps} {
		for k, sel := range ps {
			if sel {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}()

// walkQEMU finds the devices of a command line, skipping each option's
// value by qemuOptions. strict is for a command line given as arguments,
// where every word is QEMU's; a script's other commands have options of
// their own.
func walkQEMU(words []qemuWord, strict bool) ([]qemuFound, error) {
	var (
		found []qemuFound
		sets  []qemuWord // -set and -global values, checked at the end
	)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strict && w.text == "device_add" && i+1 < len(words) {
			found = append(found, qemuFound{arg: words[i+1]})
			i++
			continue
		}
		if len(w.text) < 2 || w.text[0] != '-' {
			// The program, a disk image, a script's other words. Among
			// QEMU's options, a hostdev selector would be taken by QEMU
			// for a disk image, and by hostdev for nothing: say so.
			if strict && i > 0 && (strings.HasPrefix(words[0].text, "-") || isQEMUProgram(words[0].text)) {
				if _, err := match.Parse(w.text); err == nil {
					return nil, errorf(DialectQEMU, w.line, w.text, "is a hostdev selector among QEMU's options, where QEMU would take it for a disk image; give it before the QEMU command line")
				}
			}
			continue
		}
		name := strings.TrimPrefix(w.text[1:], "-")
		// "-device usb-host,..." pasted as one word, or -device=...
		if n, rest, ok := strings.Cut(name, " "); ok || strings.Contains(name, "=") {
			if !ok {
				n, rest, _ = strings.Cut(name, "=")
			}
			if n == "device" || n == "usbdevice" {
				val := strings.TrimLeft(rest, " \t=")
				found = append(found, qemuFound{usbdevice: n == "usbdevice", arg: w, argOff: len(w.text) - len(val)})
				continue
			}
		}
		hasArg, known := qemuOptions[name]
		if !known {
			if strict {
				if near := spell.Suggest(name, slices.Sorted(maps.Keys(qemuOptions))); near != "" && len(name) > 3 {
					return nil, errorf(DialectQEMU, w.line, w.text, "no such option; did you mean -%s?", near)
				}
			}
			if i+1 < len(words) && !strings.HasPrefix(words[i+1].text, "-") {
				if strict && qemuHostDevice(words[i+1].text) {
					return nil, errorf(DialectQEMU, w.line, w.text, "no such option, yet a host device follows it; did you mean -device?")
				}
				i++ // a newer QEMU's option and its value
			}
			continue
		}
		if !hasArg {
			continue
		}
		if i+1 >= len(words) {
			if name == "device" || name == "usbdevice" {
				return nil, errorf(DialectQEMU, w.line, w.text, "has no value")
			}
			continue
		}
		i++
		switch name {
		case "device", "usbdevice":
			found = append(found, qemuFound{usbdevice: name == "usbdevice", arg: words[i]})
		case "set", "global":
			sets = append(sets, qemuWord{text: "-" + name + " " + words[i].text, line: words[i].line})
		}
	}
	return found, checkSets(found, sets)
}

// qemuHostDevice says whether a word is a usb-host or vfio-pci -device
// value.
func qemuHostDevice(s string) bool {
	drv, ok := qemuDeviceDriver(s)
	return ok && qemuDrivers[drv]
}

// checkSets refuses -set device.ID.PROP=V for a host device's id and
// -global usb-host.PROP=V (or vfio-pci.) where PROP chooses the host
// device: QEMU applies them, hostdev does not, so what it would resolve
// is not what QEMU takes.
func checkSets(found []qemuFound, sets []qemuWord) error {
	ids := map[string]bool{}
	for _, f := range found {
		if f.usbdevice {
			continue
		}
		arg := f.value()
		if !qemuHostDevice(arg) {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(arg), "{") {
			var head struct {
				ID string `json:"id"`
			}
			json.Unmarshal([]byte(arg), &head)
			ids[head.ID] = true
			continue
		}
		opts, _ := qemuOpts(arg, arg)
		for _, o := range opts {
			if o.key == "id" {
				ids[o.value] = true
			}
		}
	}
	for _, s := range sets {
		opt, v, _ := strings.Cut(s.text, " ")
		target, _, _ := strings.Cut(v, "=")
		var (
			prop string
			ours bool
		)
		if opt == "-set" {
			group, rest, _ := strings.Cut(target, ".")
			i := strings.LastIndexByte(rest, '.')
			if group != "device" || i < 0 {
				continue
			}
			prop, ours = rest[i+1:], ids[rest[:i]]
		} else if strings.HasPrefix(v, "driver=") {
			// -global driver=usb-host,property=hostbus,value=2
			opts, _ := qemuOpts(v, v)
			var drv string
			for _, o := range opts {
				switch o.key {
				case "driver":
					drv = o.value
				case "property":
					prop = o.value
				}
			}
			ours = qemuDrivers[drv]
		} else {
			drv, p, _ := strings.Cut(target, ".")
			prop, ours = p, qemuDrivers[drv]
		}
		if ours && slices.Contains(qemuSelecting, prop) {
			return unsupportedf(DialectQEMU, s.line, s.text, "changes which host device QEMU takes, and hostdev does not apply %s; write %s= into the -device itself", opt, prop)
		}
	}
	return nil
}

// isQEMUProgram says whether a word runs QEMU: qemu-system-ARCH, qemu-kvm
// or kvm, with or without a directory.
func isQEMUProgram(w string) bool {
	b := path.Base(w)
	return strings.HasPrefix(b, "qemu-system-") || b == "qemu-kvm" || b == "kvm"
}

// QEMUArgsStart gives the index in args of the first word that begins a
// QEMU command line, len(args) when none does: a QEMU program
// (qemu-system-x86_64, /usr/bin/qemu-kvm) or an option alone, as the
// shell gives one (-device, -m, --usbdevice). A hostdev selector never
// starts with '-', so the words before it are selectors; from it on,
// QEMUArgs reads them.
func QEMUArgsStart(args []string) int {
	for i, a := range args {
		if isQEMUProgram(a) || (len(a) > 1 && a[0] == '-' && !strings.ContainsAny(a, " \t=")) {
			return i
		}
	}
	return len(args)
}

// shellWords splits a command line as a POSIX shell would for plain words,
// '...' and "..." quotes, backslash escapes and backslash-newline, and
// # comments at the start of a word. It gives each word's line and where
// it is written.
func shellWords(s string) ([]qemuWord, error) {
	words, _, err := shellSplit(s, false)
	return words, err
}

// shellSplit is shellWords; with offs it also gives, for each byte of
// each word, where in s it is spelt ([start, end): "\," is two bytes for
// one), so that an edit of a word's value can be made in s with its
// quoting kept.
func shellSplit(s string, withOffs bool) ([]qemuWord, [][][2]int, error) {
	var (
		words []qemuWord
		offs  [][][2]int
		cur   strings.Builder
		off   [][2]int
		in    bool
		start int
		from  int
		last  int // just past the last byte of the word, quotes included
	)
	line := 1
	flush := func() {
		if in {
			words = append(words, qemuWord{text: cur.String(), line: start, start: from, end: last})
			if withOffs {
				offs = append(offs, off)
				off = nil
			}
			cur.Reset()
			in = false
		}
	}
	begin := func(i int) {
		if !in {
			in, start, from = true, line, i
		}
	}
	put := func(c byte, from, to int) {
		cur.WriteByte(c)
		if withOffs {
			off = append(off, [2]int{from, to})
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			flush()
			line++
		case c == ' ' || c == '\t' || c == '\r':
			flush()
		case c == '#' && !in:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			i--
		case c == '\\':
			if i+1 < len(s) {
				if s[i+1] == '\n' {
					i++
					line++
					continue
				}
				begin(i)
				i++
				put(s[i], i-1, i+1)
				last = i + 1
			}
		case c == '\'':
			begin(i)
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, nil, errorf(DialectQEMU, line, "", "unterminated ' quote")
			}
			for k := i + 1; k < i+1+j; k++ {
				put(s[k], k, k+1)
			}
			line += strings.Count(s[i+1:i+1+j], "\n")
			i += j + 1
			last = i + 1
		case c == '"':
			begin(i)
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				from := i
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				if s[i] == '\n' {
					line++
				}
				put(s[i], from, i+1)
			}
			if i >= len(s) {
				return nil, nil, errorf(DialectQEMU, line, "", "unterminated \" quote")
			}
			last = i + 1
		default:
			begin(i)
			put(c, i, i+1)
			last = i + 1
		}
	}
	flush()
	return words, offs, nil
}

// atLine sets the line of the *Error in err, which a document's reader
// knows and the reader of one reference does not.
func atLine(err error, line int) error {
	if e := (*Error)(nil); errors.As(err, &e) {
		e.Line = line
	}
	return err
}
