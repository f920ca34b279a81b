package uevent

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

var (
	// ErrNotKernel is returned for a message udev re-broadcast (it starts
	// with "libudev\0"), which is not in the kernel's format.
	ErrNotKernel = errors.New("uevent: message is from libudev, not the kernel")

	// ErrOverflow means the socket's receive buffer overflowed and the
	// kernel dropped events. The caller must rescan everything.
	ErrOverflow = errors.New("uevent: receive buffer overflowed, events were lost")
)

// Event is one kernel uevent.
type Event struct {
	Action    string            // "add", "remove", "change", "move", "bind", "unbind", "online", "offline"
	Devpath   string            // "/devices/pci0000:00/0000:00:14.0/usb1/1-1" as the kernel sends it (no /sys prefix)
	Subsystem string            // SUBSYSTEM=
	Devtype   string            // DEVTYPE= (usb_device, usb_interface, ...), may be empty
	Driver    string            // DRIVER=, may be empty
	Seqnum    uint64            // SEQNUM=, 0 if absent
	Env       map[string]string // every KEY=VALUE pair, the above included
}

// A SyntaxError says where a message breaks the kernel's format.
type SyntaxError struct {
	Offset int    // byte offset in the message where the bad field starts
	Msg    string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("uevent: byte %d: %s", e.Offset, e.Msg)
}

func syntaxErr(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// udevPrefix starts the messages udev sends to its own listeners (group 2).
var udevPrefix = []byte("libudev\x00")

// Parse reads one kernel message: "ACTION@DEVPATH\0KEY=VALUE\0...".
//
// The kernel ends every string with a NUL; a missing NUL after the last one
// is accepted. A message with only the header is accepted too. Env always
// holds ACTION and DEVPATH, taken from the header when the message lacks
// them. When a key repeats, its last value wins. Errors are *SyntaxError,
// or ErrNotKernel for a libudev message.
func Parse(msg []byte) (Event, error) {
	if len(msg) == 0 {
		return Event{}, syntaxErr(0, "empty message")
	}
	if bytes.HasPrefix(msg, udevPrefix) {
		return Event{}, ErrNotKernel
	}

	hdr, _, _ := bytes.Cut(msg, []byte{0})
	action, devpath, ok := bytes.Cut(hdr, []byte{'@'})
	switch {
	case !ok:
		return Event{}, syntaxErr(0, "header %s has no '@'", quote(hdr))
	case len(action) == 0:
		return Event{}, syntaxErr(0, "header %s has no action", quote(hdr))
	case len(devpath) == 0 || devpath[0] != '/':
		return Event{}, syntaxErr(len(action)+1, "header %s: devpath does not start with '/'", quote(hdr))
	}
	ev := Event{Action: string(action), Devpath: string(devpath), Env: map[string]string{}}

	for off := len(hdr) + 1; off < len(msg); {
		field, _, _ := bytes.Cut(msg[off:], []byte{0})
		key, val, ok := bytes.Cut(field, []byte{'='})
		switch {
		case len(field) == 0:
			return Event{}, syntaxErr(off, "empty field")
		case !ok:
			return Event{}, syntaxErr(off, "%s has no '='", quote(field))
		case len(key) == 0:
			return Event{}, syntaxErr(off, "%s has no key", quote(field))
		}
		k, v := string(key), string(val)
		switch k {
		case "ACTION":
			if v != ev.Action {
				return Event{}, syntaxErr(off, "ACTION=%s disagrees with the header's %q", quote(val), ev.Action)
			}
		case "DEVPATH":
			if v != ev.Devpath {
				return Event{}, syntaxErr(off, "DEVPATH=%s disagrees with the header's %q", quote(val), ev.Devpath)
			}
		case "SEQNUM":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return Event{}, syntaxErr(off, "SEQNUM=%s is not a decimal number", quote(val))
			}
			ev.Seqnum = n
		}
		ev.Env[k] = v
		off += len(field) + 1
	}

	ev.Env["ACTION"] = ev.Action
	ev.Env["DEVPATH"] = ev.Devpath
	ev.Subsystem = ev.Env["SUBSYSTEM"]
	ev.Devtype = ev.Env["DEVTYPE"]
	ev.Driver = ev.Env["DRIVER"]
	return ev, nil
}

// quote quotes b for an error message, cut short if long.
func quote(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}

// AppendMessage appends e in the kernel's format to dst, so that Parse
// reads it back as e. It writes Env, with ACTION, DEVPATH and SUBSYSTEM
// first and SEQNUM last. A field that is set and missing from Env is
// written too; a field that is set and disagrees with Env is an error.
func (e Event) AppendMessage(dst []byte) ([]byte, error) {
	env, err := e.env()
	if err != nil {
		return dst, err
	}
	dst = append(dst, e.Action...)
	dst = append(dst, '@')
	dst = append(dst, e.Devpath...)
	dst = append(dst, 0)
	for _, k := range envOrder(env) {
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, env[k]...)
		dst = append(dst, 0)
	}
	return dst, nil
}

// env checks e and returns the pairs AppendMessage writes.
func (e Event) env() (map[string]string, error) {
	switch {
	case e.Action == "":
		return nil, errors.New("uevent: no Action")
	case strings.ContainsAny(e.Action, "@\x00"):
		return nil, fmt.Errorf("uevent: Action %q contains '@' or NUL", e.Action)
	case !strings.HasPrefix(e.Devpath, "/"):
		return nil, fmt.Errorf("uevent: Devpath %q does not start with '/'", e.Devpath)
	case strings.Contains(e.Devpath, "\x00"):
		return nil, fmt.Errorf("uevent: Devpath %q contains NUL", e.Devpath)
	}
	env := make(map[string]string, len(e.Env)+6)
	for k, v := range e.Env {
		switch {
		case k == "":
			return nil, errors.New("uevent: Env has an empty key")
		case strings.ContainsAny(k, "=\x00"):
			return nil, fmt.Errorf("uevent: Env key %q contains '=' or NUL", k)
		case strings.Contains(v, "\x00"):
			return nil, fmt.Errorf("uevent: Env %s=%q contains NUL", k, v)
		}
		env[k] = v
	}
	for _, f := range []struct{ name, key, val string }{
		{"Action", "ACTION", e.Action},
		{"Devpath", "DEVPATH", e.Devpath},
		{"Subsystem", "SUBSYSTEM", e.Subsystem},
		{"Devtype", "DEVTYPE", e.Devtype},
		{"Driver", "DRIVER", e.Driver},
	} {
		if f.val == "" {
			continue
		}
		if v, ok := env[f.key]; !ok {
			env[f.key] = f.val
		} else if v != f.val {
			return nil, fmt.Errorf("uevent: %s %q disagrees with Env %s=%q", f.name, f.val, f.key, v)
		}
	}
	if v, ok := env["SEQNUM"]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("uevent: Env SEQNUM=%q is not a decimal number", v)
		}
		if e.Seqnum != 0 && n != e.Seqnum {
			return nil, fmt.Errorf("uevent: Seqnum %d disagrees with Env SEQNUM=%q", e.Seqnum, v)
		}
	} else if e.Seqnum != 0 {
		env["SEQNUM"] = strconv.FormatUint(e.Seqnum, 10)
	}
	return env, nil
}

// envOrder puts ACTION, DEVPATH and SUBSYSTEM first and SEQNUM last, as the
// kernel does, and the other keys sorted between them.
func envOrder(env map[string]string) []string {
	rank := func(k string) int {
		switch k {
		case "ACTION":
			return 0
		case "DEVPATH":
			return 1
		case "SUBSYSTEM":
			return 2
		case "SEQNUM":
			return 4
		}
		return 3
	}
	return slices.SortedFunc(maps.Keys(env), func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}
