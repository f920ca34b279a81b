package uevent

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// msg joins a header and KEY=VALUE pairs the way the kernel does: every
// string ends with a NUL.
func msg(header string, pairs ...string) []byte {
	b := []byte(header + "\x00")
	for _, p := range pairs {
		b = append(b, p+"\x00"...)
	}
	return b
}

// The messages below are written by hand in the order the kernel builds
// them (lib/kobject_uevent.c adds ACTION, DEVPATH, SUBSYSTEM, then the
// device core's MAJOR/MINOR/DEVNAME/DEVTYPE/DRIVER, then the bus's own
// pairs, and SEQNUM last). Values follow drivers/usb/core and
// drivers/pci/pci-driver.c: PRODUCT is %x/%x/%x, BUSNUM and DEVNUM %03d,
// PCI_CLASS %X without padding. Messages captured on a real machine are in
// testdata/capture.
var (
	usbDeviceAdd = msg("add@/devices/pci0000:00/0000:00:14.0/usb3/3-2",
		"ACTION=add",
		"DEVPATH=/devices/pci0000:00/0000:00:14.0/usb3/3-2",
		"SUBSYSTEM=usb",
		"MAJOR=189",
		"MINOR=264",
		"DEVNAME=bus/usb/003/009",
		"DEVTYPE=usb_device",
		"PRODUCT=483/2016/200",
		"TYPE=0/0/0",
		"BUSNUM=003",
		"DEVNUM=009",
		"SEQNUM=5121",
	)
	usbInterfaceAdd = msg("add@/devices/pci0000:00/0000:00:14.0/usb3/3-2/3-2:1.0",
		"ACTION=add",
		"DEVPATH=/devices/pci0000:00/0000:00:14.0/usb3/3-2/3-2:1.0",
		"SUBSYSTEM=usb",
		"DEVTYPE=usb_interface",
		"PRODUCT=483/2016/200",
		"TYPE=0/0/0",
		"INTERFACE=3/1/2",
		"MODALIAS=usb:v0483p2016d0200dc00dsc00dp00ic03isc01ip02in00",
		"SEQNUM=5122",
	)
	// bind comes after the driver's probe succeeded, so DRIVER= is set.
	usbDeviceBind = msg("bind@/devices/pci0000:00/0000:00:14.0/usb3/3-2",
		"ACTION=bind",
		"DEVPATH=/devices/pci0000:00/0000:00:14.0/usb3/3-2",
		"SUBSYSTEM=usb",
		"MAJOR=189",
		"MINOR=264",
		"DEVNAME=bus/usb/003/009",
		"DEVTYPE=usb_device",
		"DRIVER=usb",
		"PRODUCT=483/2016/200",
		"TYPE=0/0/0",
		"BUSNUM=003",
		"DEVNUM=009",
		"SEQNUM=5125",
	)
	pciBindVFIO = msg("bind@/devices/pci0000:00/0000:00:1c.0/0000:03:00.0",
		"ACTION=bind",
		"DEVPATH=/devices/pci0000:00/0000:00:1c.0/0000:03:00.0",
		"SUBSYSTEM=pci",
		"DRIVER=vfio-pci",
		"PCI_CLASS=C0330",
		"PCI_ID=1B21:1242",
		"PCI_SUBSYS_ID=1043:8675",
		"PCI_SLOT_NAME=0000:03:00.0",
		"MODALIAS=pci:v00001B21d00001242sv00001043sd00008675bc0Csc03i30",
		"SEQNUM=6001",
	)
	// The kernel clears dev->driver before it sends unbind
	// (drivers/base/dd.c, __device_release_driver), so there is no DRIVER=.
	pciUnbind = msg("unbind@/devices/pci0000:00/0000:00:1c.0/0000:03:00.0",
		"ACTION=unbind",
		"DEVPATH=/devices/pci0000:00/0000:00:1c.0/0000:03:00.0",
		"SUBSYSTEM=pci",
		"PCI_CLASS=C0330",
		"PCI_ID=1B21:1242",
		"PCI_SUBSYS_ID=1043:8675",
		"PCI_SLOT_NAME=0000:03:00.0",
		"MODALIAS=pci:v00001B21d00001242sv00001043sd00008675bc0Csc03i30",
		"SEQNUM=6000",
	)
	pciRemove = msg("remove@/devices/pci0000:00/0000:00:1c.0/0000:03:00.0",
		"ACTION=remove",
		"DEVPATH=/devices/pci0000:00/0000:00:1c.0/0000:03:00.0",
		"SUBSYSTEM=pci",
		"PCI_CLASS=C0330",
		"PCI_ID=1B21:1242",
		"PCI_SUBSYS_ID=1043:8675",
		"PCI_SLOT_NAME=0000:03:00.0",
		"MODALIAS=pci:v00001B21d00001242sv00001043sd00008675bc0Csc03i30",
		"SEQNUM=6010",
	)
)

func TestParse(t *testing.T) {
	const (
		usbDev  = "/devices/pci0000:00/0000:00:14.0/usb3/3-2"
		usbIf   = "/devices/pci0000:00/0000:00:14.0/usb3/3-2/3-2:1.0"
		pciDev  = "/devices/pci0000:00/0000:00:1c.0/0000:03:00.0"
		modUSB  = "usb:v0483p2016d0200dc00dsc00dp00ic03isc01ip02in00"
		modPCI  = "pci:v00001B21d00001242sv00001043sd00008675bc0Csc03i30"
		slotPCI = "0000:03:00.0"
	)
	pciEnv := func(action, driver, seq string) map[string]string {
		env := map[string]string{
			"ACTION": action, "DEVPATH": pciDev, "SUBSYSTEM": "pci",
			"PCI_CLASS": "C0330", "PCI_ID": "1B21:1242", "PCI_SUBSYS_ID": "1043:8675",
			"PCI_SLOT_NAME": slotPCI, "MODALIAS": modPCI, "SEQNUM": seq,
		}
		if driver != "" {
			env["DRIVER"] = driver
		}
		return env
	}
	tests := []struct {
		name string
		msg  []byte
		want Event
	}{
		{
			name: "usb device add",
			msg:  usbDeviceAdd,
			want: Event{
				Action: "add", Devpath: usbDev, Subsystem: "usb", Devtype: "usb_device", Seqnum: 5121,
				Env: map[string]string{
					"ACTION": "add", "DEVPATH": usbDev, "SUBSYSTEM": "usb",
					"MAJOR": "189", "MINOR": "264", "DEVNAME": "bus/usb/003/009",
					"DEVTYPE": "usb_device", "PRODUCT": "483/2016/200", "TYPE": "0/0/0",
					"BUSNUM": "003", "DEVNUM": "009", "SEQNUM": "5121",
				},
			},
		},
		{
			name: "usb interface add",
			msg:  usbInterfaceAdd,
			want: Event{
				Action: "add", Devpath: usbIf, Subsystem: "usb", Devtype: "usb_interface", Seqnum: 5122,
				Env: map[string]string{
					"ACTION": "add", "DEVPATH": usbIf, "SUBSYSTEM": "usb",
					"DEVTYPE": "usb_interface", "PRODUCT": "483/2016/200", "TYPE": "0/0/0",
					"INTERFACE": "3/1/2", "MODALIAS": modUSB, "SEQNUM": "5122",
				},
			},
		},
		{
			name: "usb device bind",
			msg:  usbDeviceBind,
			want: Event{
				Action: "bind", Devpath: usbDev, Subsystem: "usb", Devtype: "usb_device", Driver: "usb", Seqnum: 5125,
				Env: map[string]string{
					"ACTION": "bind", "DEVPATH": usbDev, "SUBSYSTEM": "usb",
					"MAJOR": "189", "MINOR": "264", "DEVNAME": "bus/usb/003/009",
					"DEVTYPE": "usb_device", "DRIVER": "usb", "PRODUCT": "483/2016/200", "TYPE": "0/0/0",
					"BUSNUM": "003", "DEVNUM": "009", "SEQNUM": "5125",
				},
			},
		},
		{
			name: "pci bind vfio-pci",
			msg:  pciBindVFIO,
			want: Event{
				Action: "bind", Devpath: pciDev, Subsystem: "pci", Driver: "vfio-pci", Seqnum: 6001,
				Env: pciEnv("bind", "vfio-pci", "6001"),
			},
		},
		{
			name: "pci unbind",
			msg:  pciUnbind,
			want: Event{
				Action: "unbind", Devpath: pciDev, Subsystem: "pci", Seqnum: 6000,
				Env: pciEnv("unbind", "", "6000"),
			},
		},
		{
			name: "pci remove",
			msg:  pciRemove,
			want: Event{
				Action: "remove", Devpath: pciDev, Subsystem: "pci", Seqnum: 6010,
				Env: pciEnv("remove", "", "6010"),
			},
		},
		{
			name: "header only, with its NUL",
			msg:  []byte("change@/devices/virtual/misc/foo\x00"),
			want: Event{
				Action: "change", Devpath: "/devices/virtual/misc/foo",
				Env: map[string]string{"ACTION": "change", "DEVPATH": "/devices/virtual/misc/foo"},
			},
		},
		{
			name: "header only, no NUL",
			msg:  []byte("change@/devices/virtual/misc/foo"),
			want: Event{
				Action: "change", Devpath: "/devices/virtual/misc/foo",
				Env: map[string]string{"ACTION": "change", "DEVPATH": "/devices/virtual/misc/foo"},
			},
		},
		{
			name: "last pair without NUL",
			msg:  []byte("add@/devices/x\x00ACTION=add\x00SUBSYSTEM=usb\x00SEQNUM=7"),
			want: Event{
				Action: "add", Devpath: "/devices/x", Subsystem: "usb", Seqnum: 7,
				Env: map[string]string{"ACTION": "add", "DEVPATH": "/devices/x", "SUBSYSTEM": "usb", "SEQNUM": "7"},
			},
		},
		{
			name: "value with '=', empty value, '@' in devpath",
			msg:  msg("add@/devices/a@b", "SUBSYSTEM=", "X=a=b"),
			want: Event{
				Action: "add", Devpath: "/devices/a@b",
				Env: map[string]string{"ACTION": "add", "DEVPATH": "/devices/a@b", "SUBSYSTEM": "", "X": "a=b"},
			},
		},
		{
			name: "repeated key: the last wins",
			msg:  msg("add@/devices/x", "X=1", "X=2"),
			want: Event{
				Action: "add", Devpath: "/devices/x",
				Env: map[string]string{"ACTION": "add", "DEVPATH": "/devices/x", "X": "2"},
			},
		},
		{
			name: "unknown action",
			msg:  msg("frobnicate@/devices/x", "ACTION=frobnicate"),
			want: Event{
				Action: "frobnicate", Devpath: "/devices/x",
				Env: map[string]string{"ACTION": "frobnicate", "DEVPATH": "/devices/x"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.msg)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.msg, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.msg, diff)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name   string
		msg    []byte
		offset int // of the *SyntaxError
		want   string
	}{
		{"empty", nil, 0, `uevent: byte 0: empty message`},
		{"no '@'", msg("add/devices/x", "ACTION=add"), 0, `uevent: byte 0: header "add/devices/x" has no '@'`},
		{"only a NUL", []byte{0}, 0, `uevent: byte 0: header "" has no '@'`},
		{"pair first", msg("ACTION=add", "DEVPATH=/devices/x"), 0, `uevent: byte 0: header "ACTION=add" has no '@'`},
		{"no action", msg("@/devices/x"), 0, `uevent: byte 0: header "@/devices/x" has no action`},
		{"no devpath", msg("add@"), 4, `uevent: byte 4: header "add@": devpath does not start with '/'`},
		{"relative devpath", msg("add@devices/x"), 4, `uevent: byte 4: header "add@devices/x": devpath does not start with '/'`},
		{"key without '='", msg("add@/devices/x", "FOO"), 15, `uevent: byte 15: "FOO" has no '='`},
		{"key without '=', no NUL", []byte("add@/devices/x\x00ACTION=add\x00FOO"), 26, `uevent: byte 26: "FOO" has no '='`},
		{"empty key", msg("add@/devices/x", "=1"), 15, `uevent: byte 15: "=1" has no key`},
		{"empty field", []byte("add@/devices/x\x00\x00ACTION=add\x00"), 15, `uevent: byte 15: empty field`},
		{"trailing NULs", []byte("add@/devices/x\x00ACTION=add\x00\x00"), 26, `uevent: byte 26: empty field`},
		{"action mismatch", msg("add@/devices/x", "ACTION=remove"), 15, `uevent: byte 15: ACTION="remove" disagrees with the header's "add"`},
		{"devpath mismatch", msg("add@/devices/x", "ACTION=add", "DEVPATH=/devices/y"), 26, `uevent: byte 26: DEVPATH="/devices/y" disagrees with the header's "/devices/x"`},
		{"bad seqnum", msg("add@/devices/x", "SEQNUM=12a"), 15, `uevent: byte 15: SEQNUM="12a" is not a decimal number`},
		{"signed seqnum", msg("add@/devices/x", "SEQNUM=+1"), 15, `uevent: byte 15: SEQNUM="+1" is not a decimal number`},
		{"seqnum too big", msg("add@/devices/x", "SEQNUM=18446744073709551616"), 15, `uevent: byte 15: SEQNUM="18446744073709551616" is not a decimal number`},
		{"long field is cut in the error", msg("add@/devices/x", strings.Repeat("A", 100)), 15,
			`uevent: byte 15: "` + strings.Repeat("A", 64) + `"... has no '='`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.msg)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.msg)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): %v is not a *SyntaxError", tt.msg, err)
			}
			if se.Offset != tt.offset {
				t.Errorf("Parse(%q): offset %d, want %d", tt.msg, se.Offset, tt.offset)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q):\n got %s\nwant %s", tt.msg, got, tt.want)
			}
		})
	}
}

func TestParseLibudev(t *testing.T) {
	// What udev sends on group 2: "libudev\0", then a binary header
	// (magic 0xfeedcafe in network order) and the properties.
	m := append([]byte("libudev\x00\xfe\xed\xca\xfe"), msg("ACTION=add", "SUBSYSTEM=usb")...)
	_, err := Parse(m)
	if !errors.Is(err, ErrNotKernel) {
		t.Fatalf("Parse(libudev message) = %v, want ErrNotKernel", err)
	}
	// Only the exact prefix counts: this is a kernel header.
	if _, err := Parse(msg("libudev@/devices/x")); err != nil {
		t.Errorf(`Parse("libudev@/devices/x"): %v`, err)
	}
}

func TestAppendMessage(t *testing.T) {
	// The kernel's own order is not kept (Env is a map), but what comes out
	// parses back to the same event.
	for _, m := range [][]byte{usbDeviceAdd, usbInterfaceAdd, usbDeviceBind, pciBindVFIO, pciUnbind, pciRemove} {
		ev, err := Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ev.AppendMessage(nil)
		if err != nil {
			t.Fatalf("AppendMessage(%q): %v", m, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(AppendMessage(%q)) = Parse(%q): %v", m, out, err)
		}
		if diff := cmp.Diff(ev, back); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", m, diff)
		}
	}
}

func TestAppendMessageFromFields(t *testing.T) {
	ev := Event{
		Action:    "add",
		Devpath:   "/devices/pci0000:00/0000:00:14.0/usb1/1-1",
		Subsystem: "usb",
		Devtype:   "usb_device",
		Seqnum:    42,
		Env:       map[string]string{"BUSNUM": "001", "DEVNUM": "002"},
	}
	got, err := ev.AppendMessage([]byte("prefix:"))
	if err != nil {
		t.Fatal(err)
	}
	want := "prefix:" + string(msg("add@/devices/pci0000:00/0000:00:14.0/usb1/1-1",
		"ACTION=add",
		"DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-1",
		"SUBSYSTEM=usb",
		"BUSNUM=001",
		"DEVNUM=002",
		"DEVTYPE=usb_device",
		"SEQNUM=42",
	))
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("AppendMessage (-want +got):\n%s", diff)
	}
}

func TestAppendMessageRejects(t *testing.T) {
	ok := Event{Action: "add", Devpath: "/devices/x"}
	with := func(f func(*Event)) Event {
		e := ok
		f(&e)
		return e
	}
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"no action", with(func(e *Event) { e.Action = "" }), `uevent: no Action`},
		{"'@' in action", with(func(e *Event) { e.Action = "a@b" }), `uevent: Action "a@b" contains '@' or NUL`},
		{"relative devpath", with(func(e *Event) { e.Devpath = "devices/x" }), `uevent: Devpath "devices/x" does not start with '/'`},
		{"NUL in devpath", with(func(e *Event) { e.Devpath = "/x\x00" }), `uevent: Devpath "/x\x00" contains NUL`},
		{"empty key", with(func(e *Event) { e.Env = map[string]string{"": "1"} }), `uevent: Env has an empty key`},
		{"'=' in key", with(func(e *Event) { e.Env = map[string]string{"A=B": "1"} }), `uevent: Env key "A=B" contains '=' or NUL`},
		{"NUL in value", with(func(e *Event) { e.Env = map[string]string{"A": "1\x002"} }), `uevent: Env A="1\x002" contains NUL`},
		{"action disagrees", with(func(e *Event) { e.Env = map[string]string{"ACTION": "remove"} }), `uevent: Action "add" disagrees with Env ACTION="remove"`},
		{"subsystem disagrees", with(func(e *Event) { e.Subsystem = "pci"; e.Env = map[string]string{"SUBSYSTEM": "usb"} }), `uevent: Subsystem "pci" disagrees with Env SUBSYSTEM="usb"`},
		{"seqnum disagrees", with(func(e *Event) { e.Seqnum = 3; e.Env = map[string]string{"SEQNUM": "4"} }), `uevent: Seqnum 3 disagrees with Env SEQNUM="4"`},
		{"bad seqnum", with(func(e *Event) { e.Env = map[string]string{"SEQNUM": "x"} }), `uevent: Env SEQNUM="x" is not a decimal number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.ev.AppendMessage([]byte("keep"))
			if err == nil {
				t.Fatalf("AppendMessage(%+v) = %q, want an error", tt.ev, out)
			}
			if err.Error() != tt.want {
				t.Errorf("AppendMessage(%+v):\n got %v\nwant %s", tt.ev, err, tt.want)
			}
			if string(out) != "keep" {
				t.Errorf("AppendMessage changed dst to %q on error", out)
			}
		})
	}
}
