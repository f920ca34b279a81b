package hypervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/pciaddr"
)

// qemuIDForm is what QEMU accepts as an id (util/id.c, id_wellformed).
var qemuIDForm = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)

// FuzzWriteRoundTrip writes a device whose strings are anything (a forged
// capture's, or a Device a program built) in every format, reads what was
// written back with that format's reader, and wants exactly one reference
// that resolves to that device and to none of its look-alikes. A value
// that breaks out of its place (a comma into a QEMU option, a quote into
// JSON, XML or an xl string, a newline into a second line) fails it. ref,
// when it reads as one xl or libvirt reference of the device's bus, is the
// reference the device came from, whose extra options the writer keeps.
func FuzzWriteRoundTrip(f *testing.F) {
	f.Add(false, "1-2", "2", "A7022OOP", uint16(3), uint16(9), uint16(0x0403), uint16(0x6001), uint32(0), uint8(1), uint8(0), uint8(0), "")
	f.Add(false, "1-2", "2,hostdevice=/dev/sda", `x"},{"execute":"quit`, uint16(1), uint16(4), uint16(0x0483), uint16(0x2016), uint32(0), uint8(0), uint8(0), uint8(0), "")
	f.Add(false, "1-2.1", "2.1", "A,B", uint16(1), uint16(4), uint16(0x0483), uint16(0x2016), uint32(0), uint8(0), uint8(0), uint8(0),
		"usbdev=['type=hostdev,hostbus=1,hostaddr=4,controller=0,port=1']")
	f.Add(false, "3-1", "1\n-device usb-host,hostbus=1", "</source>", uint16(3), uint16(1), uint16(0), uint16(0), uint32(0), uint8(0), uint8(0), uint8(0),
		"<hostdev mode='subsystem' type='usb' managed='yes'><source startupPolicy='optional'><vendor id='0x0483'/><product id='0x2016'/></source><alias name='ua-x&apos;y'/></hostdev>")
	f.Add(true, "0000:01:00.0", "", "", uint16(0), uint16(0), uint16(0x10de), uint16(0x2684), uint32(0), uint8(1), uint8(0), uint8(0), "")
	f.Add(true, "10000:00:02.0", "", "", uint16(0), uint16(0), uint16(0x8086), uint16(0x1237), uint32(0x10000), uint8(0), uint8(2), uint8(0), "")
	f.Add(true, "0000:00:1f.3", "", "", uint16(0), uint16(0), uint16(0x8086), uint16(0xa348), uint32(0), uint8(0), uint8(0x1f), uint8(3),
		`pci=['0000:00:1f.3@4,permissive=1,msitranslate=0']`)
	f.Add(true, "0000:00:1f.3", "", "", uint16(0), uint16(0), uint16(0x8086), uint16(0xa348), uint32(0), uint8(0), uint8(0x1f), uint8(3),
		`pci=["0000:00:1f.3,rdm_policy=relaxed'], usbdevice=['host:1.1"]`)
	f.Fuzz(func(t *testing.T, isPCI bool, name, port, serial string, busnum, devnum, vendor, product uint16,
		domain uint32, bus, slot, fn uint8, refText string) {
		d, decoys := roundTripDevices(isPCI, name, port, serial, int(busnum), int(devnum), vendor, product,
			pciaddr.Address{Domain: domain, Bus: bus, Slot: slot & 0x1f, Function: fn & 7})
		var ref *Ref
		if refs, err := ParseSelector(refText); err == nil && len(refs) == 1 && !refs[0].All &&
			(refs[0].Dialect == DialectXL || refs[0].Dialect == DialectLibvirt) && refBus(refs[0]) == d.Bus {
			ref = &refs[0]
		}
		for _, format := range Formats() {
			var out bytes.Buffer
			// The decoys share d's serial, so a serial cannot single d out.
			err := Write(&out, format, []Resolved{{Device: d, Ref: ref, SerialShared: SharedSerial(d, decoys)}})
			if err != nil {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatalf("%s: Write: %v", format, err)
				}
				continue
			}
			ds := decoys
			if format == FormatProxmox {
				// Proxmox names a USB device by its port, and no two
				// devices are ever in one port at once.
				ds = slices.DeleteFunc(slices.Clone(decoys), func(o discover.Device) bool {
					return o.USB != nil && o.USB.Busnum == d.USB.Busnum && o.USB.Port == d.USB.Port
				})
			}
			checkRoundTrip(t, format, out.Bytes(), d, ds)
		}
	})
}

// roundTripDevices makes the device to write and look-alikes that differ
// from it only in what a written reference pins: the bus and device
// number, or the address.
func roundTripDevices(isPCI bool, name, port, serial string, busnum, devnum int, vendor, product uint16, a pciaddr.Address) (discover.Device, []discover.Device) {
	d := discover.Device{Name: name, VendorID: discover.ID(vendor), ProductID: discover.ID(product)}
	if isPCI {
		d.Bus = discover.BusPCI
		d.PCI = &discover.PCI{Address: &a, Class: 0x030000}
		other := a
		other.Function ^= 1
		o := d
		o.Name = other.String() + "-decoy"
		o.PCI = &discover.PCI{Address: &other, Class: 0x030000}
		return d, []discover.Device{o}
	}
	d.Bus = discover.BusUSB
	d.USB = &discover.USB{Busnum: busnum, Devnum: devnum, Port: discover.PortPath(port), Serial: &serial}
	var decoys []discover.Device
	for i, bd := range [][2]int{{busnum + 1, devnum}, {busnum, devnum%127 + 1}} {
		o := d
		o.Name = fmt.Sprintf("%s-decoy%d", name, i)
		u := *d.USB
		u.Busnum, u.Devnum = bd[0], bd[1]
		o.USB = &u
		decoys = append(decoys, o)
	}
	return d, decoys
}

func refBus(r Ref) discover.Bus {
	if r.Dialect == DialectLibvirt && r.hostdev != nil && r.hostdev.SubsysUSB != nil {
		return discover.BusUSB
	}
	for _, t := range r.Selector.Terms {
		if t.Key == "bus" && slices.Contains(t.Values, "pci") {
			return discover.BusPCI
		}
	}
	if r.Dialect == DialectXL && strings.Contains(r.Text, "host") {
		return discover.BusUSB
	}
	if r.Dialect == DialectXL {
		return discover.BusPCI
	}
	return discover.BusUSB
}

// checkRoundTrip reads out back and wants one reference to d alone, and,
// for QEMU and QMP, exactly the properties written.
func checkRoundTrip(t *testing.T, format Format, out []byte, d discover.Device, decoys []discover.Device) {
	t.Helper()
	refs, _, err := Refs(out)
	if err != nil {
		t.Fatalf("%s: what Write wrote does not read back: %v\n%s", format, err, out)
	}
	if len(refs) != 1 {
		t.Fatalf("%s: %d references read back, want 1:\n%s", format, len(refs), out)
	}
	devs := append([]discover.Device{d}, decoys...)
	got, _, err := refs[0].Resolve(devs)
	if err != nil || len(got) != 1 || got[0].Name != d.Name {
		t.Fatalf("%s: %q resolves to %v (%v), want %q alone:\n%s", format, refs[0].Text, names(got), err, d.Name, out)
	}
	switch format {
	case FormatQEMU:
		line, ok := strings.CutPrefix(string(out), "-device ")
		if !ok || strings.Count(line, "\n") != 1 {
			t.Fatalf("qemu: want one -device line:\n%s", out)
		}
		opts, err := qemuOpts(line, strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]string{}
		for _, o := range opts {
			keys[o.key] = o.value
		}
		checkKeys(t, format, keys, d)
	case FormatQMP:
		var cmd struct {
			Execute   string            `json:"execute"`
			Arguments map[string]any    `json:"arguments"`
			Extra     map[string]string `json:"-"`
		}
		if bytes.Count(out, []byte("\n")) != 1 {
			t.Fatalf("qmp: want one line:\n%s", out)
		}
		if err := json.Unmarshal(out, &cmd); err != nil || cmd.Execute != "device_add" {
			t.Fatalf("qmp: %v, execute %q:\n%s", err, cmd.Execute, out)
		}
		keys := map[string]string{}
		for k, v := range cmd.Arguments {
			keys[k] = fmt.Sprint(v)
		}
		checkKeys(t, format, keys, d)
	}
}

// checkKeys wants the driver, an id in QEMU's alphabet, and the one way
// of naming the device that Write uses, and nothing else.
func checkKeys(t *testing.T, format Format, keys map[string]string, d discover.Device) {
	t.Helper()
	want := []string{"driver", "hostaddr", "hostbus", "id"}
	if d.Bus == discover.BusPCI {
		want = []string{"driver", "id", vfioKey(d)}
	}
	if d.Bus == discover.BusMdev {
		want = []string{"driver", "id", "sysfsdev"}
	}
	got := make([]string, 0, len(keys))
	for k := range keys {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: properties %q, want %q", format, got, want)
	}
	if id := keys["id"]; !qemuIDForm.MatchString(id) {
		t.Fatalf("%s: id %q is not a QEMU id", format, id)
	}
}

func names(devs []discover.Device) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.Name)
	}
	return out
}
