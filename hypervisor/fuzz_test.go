package hypervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// fuzzQEMUSeeds are the forms qemu.go's and ParseSelector's doc comments
// name, and a few near misses that take the error paths.
var fuzzQEMUSeeds = []string{
	"-device usb-host,vendorid=0x0483,productid=0x2016",
	"usb-host,hostbus=1,hostaddr=4",
	"usb-host,hostbus=1,hostport=2.1",
	"usb-host,hostdevice=/dev/bus/usb/001/004",
	"-usbdevice host:3.1",
	"-usbdevice host:0483:2016",
	"vfio-pci,host=0000:01:00.0",
	"vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:01:00.0",
	"device_add usb-host,id=u1,hostbus=1,hostaddr=4",
	`{"execute":"device_add","arguments":{"driver":"usb-host","hostbus":1,"hostaddr":4}}`,
	`{"driver":"vfio-pci","host":"0000:01:00.0"}`,
	"usb-host,vendorid=0483,productid=0x2016",
	"--device=usb-host,id=x,,y,hostbus=3,hostaddr=1,hostport=1.2",
	"driver=usb-host,vendorid=0x483,productid=0X2016",
	"usb-host,hostdevice=/dev/bus/usb/003/001,hostbus=3",
	"vfio-pci,host=01:00.0",
	"-device usb-kbd",
	"-usbdevice tablet",
	"usb_add host:0483:2016",
	`{"execute":"device_add","arguments":{"driver":"usb-host","vendorid":1155,"productid":8214}}`,
	`{"driver":"usb-host","hostbus":"3","hostaddr":1}`,
	"qemu-system-x86_64 -machine q35 \\\n  -device 'usb-host,vendorid=0x0483,productid=0x2016' \\\n  -usbdevice host:3.1 -device vfio-pci,host=01:00.0\n",
	// ParseSelector's other dialects.
	"host:0403:6001,serial=A7022OOP",
	"host:008.002",
	"00:1f.*",
	"vendor=0403|067b,port=1-2.1",
	"usbdevice=['host:0483:2016']",
	"usbdev=['type=hostdev,hostbus=3,hostaddr=1']",
	"pci=['0000:00:1f.3,permissive=1']",
	"<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source></hostdev>",
	"<interface type='hostdev' managed='yes'>\n  <mac address='52:54:00:6d:90:02'/>\n  <source>\n    <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x3'/>\n  </source>\n</interface>\n",
	"<domain type='kvm'><devices><interface type='hostdev'><source><address type='usb' bus='1' device='2'/></source></interface>" +
		"<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>" +
		"<hostdev mode='capabilities' type='misc'><source><char>/dev/input/event3</char></source></hostdev></devices></domain>",
	"<host bus='usb'><source device='003.001'/></host>",
}

// fuzzXLSeeds are xl configs: every form xlRef reads, comments, lists
// over several lines, and the separators xl.cfg(5) allows.
var fuzzXLSeeds = []string{
	"usbdevice=['host:0483:2016']",
	"usbdevice='host:3.1'",
	"usbdevice = 'host:0483:2016'\n",
	"usbdevice='host:003.001'",
	"usbdev=['type=hostdev,hostbus=3,hostaddr=1']",
	"usbdev=['type=hostdev,hostbus=1,hostaddr=5,controller=0,port=1']",
	"pci=['0000:00:1f.3,permissive=1']",
	"pci=['00:1f.*@3']",
	"pci = [ 'bdf=00:1f.3,seize=1' ]",
	"# a VM\nname = 'x' # not a device\nusbdevice = [ 'tablet',\n  'host:0483:2016', # a comment with ] and '\n  \"host:3.1\" ]\npci = [ '00:1f.3@4,permissive=1' ]; usb = 1\n",
	"# xl config: only the device strings may change.\nname = \"hvm1\"\nbuilder='hvm'\nusb = 1\nusbdevice = [ 'tablet', \"host:0403:6001\", # the FTDI\n              'host:001.008' ]\nusbdev=['type=hostdev,hostbus=2,hostaddr=2,controller=0,port=1']\npci = [ '0000:00:1f.3@4,permissive=1', '00:1f.*' ] ; vcpus = 2\n",
	"usbdevice = [\n\t'host:0483:2016',\n\t'host:0403:6001,serial=A7022OOP',\n]\n",
	"usbdevice=\"host:0403:6001,serial=A7022OO\\\"P\"",
	"memory = 2048\r\nusbdevice = 'host:1.5' \\\n\r\n",
	"usbdevice += ['host:3.1']",
}

// fuzzXMLSeeds are libvirt domains and hostdevs, and seed documents.
var fuzzXMLSeeds = []string{
	"<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/><address bus='3' device='1'/></source></hostdev>",
	"<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source></hostdev>",
	"<hostdev mode='subsystem' type='usb' managed='yes'>\n  <source startupPolicy='optional'>\n    <vendor id='0x0403'/>\n    <product id='0x6001'/>\n  </source>\n</hostdev>\n",
	"<hostdev mode=\"subsystem\" type=\"usb\"><source><address bus=\"1\" device=\"5\"/></source></hostdev>",
	"<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x1f' function='0x3'/></source></hostdev>",
	"<hostdev mode='subsystem' type='pci' managed='yes'>\n  <driver name='vfio'/>\n  <source>\n    <address domain='0x0000' bus='0x00' slot='0x1f' function='0x3'/>\n  </source>\n  <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>\n</hostdev>",
	"<?xml version=\"1.0\"?>\n<!-- my VM; keep this comment -->\n<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n  <name>win10</name>\n  <memory unit='KiB'>1048576</memory>\n  <devices>\n    <!-- the FTDI cable -->\n    <hostdev mode='subsystem' type='usb' managed='yes'>\n      <source startupPolicy='optional'>\n        <vendor id='0x0483'/>\n        <product id='0x2016'/>\n      </source>\n      <boot order='2'/>\n    </hostdev>\n    <hostdev mode='subsystem' type='usb'>\n      <source>\n        <vendor id='0x0403'/>\n        <product id='0x6001'/>\n        <address bus='1' device='8'/>\n      </source>\n    </hostdev>\n    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source><address domain='0x0000' bus='0x00' slot='0x1f' function='0x3'/></source>\n    </hostdev>\n  </devices>\n  <qemu:commandline>\n    <qemu:arg value='-S'/>\n  </qemu:commandline>\n</domain>\n",
	"<host bus='usb'><source device='003.001'/></host>",
	"<host bus='usb'><source vendor='0483' product='2016'/><target dev='001.005'/></host>",
	"<host bus='pci'><source dev='00:1f.3'/></host>",
	"<!-- The 2007 proposal -->\n<devices>\n  <host bus='usb'>\n    <source vendor='0483' product='2016'/>\n  </host>\n  <host bus=\"usb\">\n    <source vendor=\"0403\" product=\"6001\"/>\n    <target dev=\"001.008\"/>\n  </host>\n  <host bus='pci'>\n    <source dev='00:1f.3'/>\n  </host>\n</devices>\n",
}

// fuzzDevices is a small fixed machine: 0483:2016 alone on bus 3, two
// FTDI cables told apart only by serial, a root hub, and one PCI function.
func fuzzDevices() []discover.Device {
	usb := func(vid, pid discover.ID, bus, dev int, port string, serial *string, class uint8) discover.Device {
		return discover.Device{
			Bus: discover.BusUSB, Name: fmt.Sprintf("%d-%s", bus, port),
			VendorID: vid, ProductID: pid,
			USB: &discover.USB{
				Busnum: bus, Devnum: dev, Port: discover.PortPath(port), Class: discover.Class(class),
				Serial: serial,
			},
		}
	}
	devs := []discover.Device{
		usb(0x1d6b, 0x0002, 1, 1, "0", nil, 0x09),
		usb(0x0483, 0x2016, 3, 1, "1", new("0483SER"), 0),
		usb(0x0403, 0x6001, 1, 5, "2.1", new("A7022OOP"), 0),
		usb(0x0403, 0x6001, 1, 8, "2.2", new("A7022OOQ"), 0),
		{
			Bus: discover.BusPCI, Name: "0000:00:1f.3",
			VendorID: 0x8086, ProductID: 0xa348,
			PCI: &discover.PCI{Address: new(pciaddr.MustParse("0000:00:1f.3")), Class: 0x040300},
		},
	}
	devs[0].Name = "usb1"
	for i := range devs {
		if u := devs[i].USB; u != nil {
			u.Devnode = fmt.Sprintf("/dev/bus/usb/%03d/%03d", u.Busnum, u.Devnum)
		}
	}
	return devs
}

// checkSelector checks that a selector a reference was read into is not
// empty and that its canonical form reads back to the same selector.
func checkSelector(t *testing.T, in string, sel match.Selector) {
	t.Helper()
	if len(sel.Terms) == 0 {
		t.Fatalf("%q: read into an empty selector", in)
	}
	str := sel.String()
	again, err := match.Parse(str)
	if err != nil {
		t.Fatalf("%q: selector %q does not parse again: %v", in, str, err)
	}
	if diff := cmp.Diff(sel, again); diff != "" {
		t.Fatalf("%q: selector %q parses again differently (-read +reparsed):\n%s", in, str, diff)
	}
}

// FuzzParseQEMU checks that ParseQEMU, ParseSelector and Refs never panic,
// that their errors are *Error (qemuDocRefs relies on it), and that every
// selector they give is non-empty and survives String and match.Parse.
func FuzzParseQEMU(f *testing.F) {
	for _, s := range fuzzQEMUSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, qerr := ParseQEMU(s)
		if qerr != nil {
			e, ok := qerr.(*Error)
			if !ok || e.Dialect != DialectQEMU {
				t.Fatalf("ParseQEMU(%q): error %#v is not a QEMU *Error", s, qerr)
			}
		} else {
			if r.Dialect != DialectQEMU {
				t.Fatalf("ParseQEMU(%q): dialect %q", s, r.Dialect)
			}
			checkSelector(t, s, r.Selector)
		}

		refs, err := ParseSelector(s)
		if err == nil {
			if len(refs) == 0 {
				// list would then filter on nothing, and resolve
				// resolve nothing, both without a word.
				t.Fatalf("ParseSelector(%q) names no device, and says nothing", s)
			}
			for _, ref := range refs {
				if noSelector(ref) {
					continue
				}
				checkSelector(t, s, ref.Selector)
			}
			if len(refs) == 1 && refs[0].Dialect == DialectQEMU && !isQEMUProgram(strings.Fields(s + " x")[0]) {
				if qerr != nil {
					t.Fatalf("ParseSelector(%q) read it as QEMU, but ParseQEMU fails: %v", s, qerr)
				}
				if diff := cmp.Diff(r.Selector, refs[0].Selector); diff != "" {
					t.Fatalf("ParseSelector(%q) and ParseQEMU disagree (-ParseQEMU +ParseSelector):\n%s", s, diff)
				}
			}
		} else {
			var e *Error
			var pe *match.ParseError
			if !errors.As(err, &e) && !errors.As(err, &pe) {
				t.Fatalf("ParseSelector(%q): error %#v is neither *Error nor *match.ParseError", s, err)
			}
		}

		// The same text as a document: a QEMU script, mostly.
		drefs, _, err := Refs([]byte(s))
		if err == nil {
			for _, ref := range drefs {
				if noSelector(ref) {
					continue
				}
				checkSelector(t, s, ref.Selector)
			}
		}
	})
}

// checkDoc runs Refs and Fill on doc and checks what they promise: Fill
// succeeds exactly when Refs does (for the dialects Fill writes) with one
// Filled per reference; a Fill that changes nothing gives doc back byte for
// byte; a reference whose device moved is rewritten; Fill's output reads
// again to as many references, in the same dialect, each resolving to the
// device Fill found and none of them stale; and filling the output again
// changes nothing.
func checkDoc(t *testing.T, doc []byte) {
	devs := fuzzDevices()
	refs, rd, rerr := Refs(doc)
	if rerr == nil {
		for _, r := range refs {
			if noSelector(r) {
				continue
			}
			checkSelector(t, r.Text, r.Selector)
		}
	}
	orig := bytes.Clone(doc)
	out, filled, fd, err := Fill(doc, devs)
	if !bytes.Equal(doc, orig) {
		t.Fatalf("Fill modified its input:\n%q\nis now\n%q", orig, doc)
	}
	if err != nil {
		if rerr == nil {
			t.Fatalf("Refs reads %q (%d refs, %s), but Fill fails: %v", doc, len(refs), rd, err)
		}
		return
	}
	if rerr != nil {
		t.Fatalf("Fill reads %q (%s), but Refs fails: %v", doc, fd, rerr)
	}
	if fd != rd || len(filled) != len(refs) {
		t.Fatalf("%q: Refs gives %d refs (%s), Fill %d (%s)", doc, len(refs), rd, len(filled), fd)
	}
	changed := false
	for i, f := range filled {
		if diff := cmp.Diff(refs[i].Selector, f.Ref.Selector); diff != "" {
			t.Fatalf("%q: Refs and Fill read reference %d differently (-Refs +Fill):\n%s", doc, i, diff)
		}
		if f.Changed {
			changed = true
			if f.Err != nil {
				t.Fatalf("%q: Filled[%d] changed but has error %v", doc, i, f.Err)
			}
		}
		if f.Moved != nil && !f.Changed && !strings.HasPrefix(f.Note, "not filled") {
			t.Fatalf("%q: Filled[%d] says %s, but Fill wrote nothing", doc, i, f.Moved)
		}
	}
	if !changed && !bytes.Equal(out, doc) {
		t.Fatalf("Fill changed nothing, but the output differs:\n in: %q\nout: %q", doc, out)
	}
	if changed && bytes.Equal(out, doc) {
		t.Fatalf("Fill says it changed a reference, but the output is the input: %q", doc)
	}
	refs2, d2, err := Refs(out)
	if err != nil {
		t.Fatalf("Fill's output does not read again: %v\n in: %q\nout: %q", err, doc, out)
	}
	if len(refs2) != len(refs) || d2 != rd {
		t.Fatalf("Fill's output reads to %d refs (%s), the input to %d (%s)\n in: %q\nout: %q", len(refs2), d2, len(refs), rd, doc, out)
	}
	// What Fill wrote means the device it found.
	for i, f := range filled {
		if f.Err != nil || f.Skipped {
			continue
		}
		got, _, err := refs2[i].Resolve(devs)
		if err != nil {
			t.Fatalf("reference %d resolved to %s before Fill, and after to %v\n in: %q\nout: %q", i, f.Devices[0].Name, err, doc, out)
		}
		if diff := cmp.Diff(f.Devices, got); diff != "" {
			t.Fatalf("reference %d resolves differently after Fill (-before +after):\n%s\n in: %q\nout: %q", i, diff, doc, out)
		}
	}
	out2, filled2, _, err := Fill(out, devs)
	if err != nil {
		t.Fatalf("Fill's output does not fill again: %v\n in: %q\nout: %q", err, doc, out)
	}
	for i, f := range filled2 {
		if f.Changed {
			t.Fatalf("filling twice changes reference %d again (%s)\n in: %q\nout: %q\nout2: %q", i, f.Note, doc, out, out2)
		}
		if f.Moved != nil && !strings.HasPrefix(f.Note, "not filled") {
			t.Fatalf("after Fill, reference %d still says %s\n in: %q\nout: %q", i, f.Moved, doc, out)
		}
	}
	if !bytes.Equal(out, out2) {
		t.Fatalf("filling twice is not idempotent\n in: %q\nout: %q\nout2: %q", doc, out, out2)
	}
}

// FuzzXL checks Refs and Fill on xl configs.
func FuzzXL(f *testing.F) {
	for _, s := range fuzzXLSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		// Read as xl whatever sniff would make of it.
		if refs, err := xlRefs(doc); err == nil {
			for _, r := range refs {
				checkSelector(t, r.Text, r.Selector)
			}
		}
		checkDoc(t, doc)
	})
}

// FuzzXML checks Refs and Fill on libvirt domain XML, lone <hostdev>
// elements and seed documents.
func FuzzXML(f *testing.F) {
	for _, s := range fuzzXMLSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		// Read as XML whatever sniff would make of it.
		if refs, skipped, err := xmlRefs(doc); err == nil {
			for _, r := range refs {
				checkSelector(t, r.Text, r.Selector)
			}
			for _, e := range skipped {
				if e.Line < 1 || !errors.Is(e, errors.ErrUnsupported) {
					t.Errorf("skipped %v: want a line and errors.ErrUnsupported", e)
				}
			}
		}
		checkDoc(t, doc)
	})
}

// noSelector says a reference has no selector of its own, rightly: a
// Proxmox mapping=NAME before the mappings are given, or a hostpci whose
// every address is one no device has (resolving says so).
func noSelector(r Ref) bool {
	return r.Dialect == DialectProxmox && len(r.Selector.Terms) == 0
}

// fuzzProxmoxSeeds are Proxmox VM configs and qm commands: every form
// pveParse reads and a few near misses.
var fuzzProxmoxSeeds = []string{
	"usb0: host=0483:2016\n",
	"usb0: 0x0403:0X6001,usb3=1\nusb1: host=1-2.1\nusb2: spice\n",
	"usb0: mapping=yubikey\n",
	"hostpci0: 01:00,pcie=1,x-vga=1\nhostpci1: 0000:02:10.0;0000:02:10.4,rombar=0\n",
	"hostpci0: 00:1f.3,vendor-id=0x8086,device-id=0x10ca,sub-vendor-id=0x0000\n",
	"hostpci0: 00:02.0,mdev=i915-GVTg_V5_4\nhostpci1: mapping=gpu,mdev=nvidia-35\n",
	"hostpci0: f0:43\nhostpci1: 1234:f0:43.1\n",
	"#description%3A x\nboot: order=scsi0\nusb0: host=1-1.1.3\n\n[PENDING]\nusb1: host=1-2\n\n[snap]\nhostpci0: 01:00\n",
	"qm set 100 -usb0 host=0483:2016 --hostpci0 '01:00,pcie=1'\n",
	"qm create 101 --usb1=\"host=1-2\" \\\n  --hostpci2 00:1f.3\n",
	"usb0: host=001-02\n",
	"hostpci0: 01:00.0\nhostpci1: 01:00\n",
	"vmgenid: x\nargs: -cpu host -device 'vfio-pci,host=0000:00:1f.3' -device usb-tablet\nusb0: host=3-1\n",
}

// FuzzProxmox checks Refs and Fill on Proxmox configs, and the mapping
// reader, which must never panic and fail only with a Proxmox *Error.
func FuzzProxmox(f *testing.F) {
	for _, s := range fuzzProxmoxSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("gpu\n\tmap id=10de:1e87,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=1043:8712\n\nkey\n\tmap id=1050:0407,node=pve1,path=1-2\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		refs, err := proxmoxRefs(doc)
		if err != nil {
			// A QEMU option in args: fails as QEMU's.
			if e := (*Error)(nil); !errors.As(err, &e) || e.Dialect != DialectProxmox && e.Dialect != DialectQEMU || e.Line == 0 {
				t.Fatalf("%q: error %#v is not a Proxmox or QEMU *Error with a line", doc, err)
			}
		}
		for _, r := range refs {
			if !noSelector(r) {
				checkSelector(t, r.Text, r.Selector)
			}
		}
		ms := &ProxmoxMappings{Node: "pve1"}
		if err := ms.Add("mapping.cfg", doc); err != nil {
			if e := (*Error)(nil); !errors.As(err, &e) || e.Dialect != DialectProxmox {
				t.Fatalf("%q: mapping error %#v is not a Proxmox *Error", doc, err)
			}
		}
		for _, r := range ms.Apply(refs) {
			r.Resolve(fuzzDevices())
		}
		checkDoc(t, doc)
	})
}

// FuzzQEMUDoc checks Refs and Fill on files of QEMU options and QMP
// commands: scripts, saved command lines, HMP device_add lines.
func FuzzQEMUDoc(f *testing.F) {
	for _, s := range fuzzQEMUSeeds {
		f.Add([]byte(s))
	}
	for _, glob := range []string{"testdata/fill/qemu-*.in", "testdata/fill/qmp*.in", "testdata/fill/hmp*.in", "testdata/qemu/*.args"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if refs, err := qemuDocRefs(doc); err == nil {
			for _, r := range refs {
				checkSelector(t, r.Text, r.Selector)
			}
		} else if e := (*Error)(nil); !errors.As(err, &e) {
			t.Fatalf("qemuDocRefs(%q): error %#v is not an *Error", doc, err)
		}
		checkDoc(t, doc)
	})
}

// FuzzQEMUArgs checks QEMUArgs on command lines given as words (split
// here at NUL, which no argument can hold): it never panics, fails only
// with an *Error, gives no empty selector, and reads the words as the
// same command line written into a file reads.
func FuzzQEMUArgs(f *testing.F) {
	for _, s := range []string{
		"-device\x00usb-host,hostbus=1,hostaddr=4",
		"qemu-system-x86_64\x00-m\x004G\x00-device\x00usb-host,vendorid=0x0483,productid=0x2016\x00-device\x00vfio-pci,host=0000:01:00.0",
		"-name\x00usb-host\x00-usbdevice\x00host:3.1",
		"-device\x00{\"driver\":\"usb-host\",\"hostbus\":1,\"hostaddr\":4}",
		"-set\x00device.u.hostbus=2\x00-device\x00usb-host,id=u,hostbus=1,hostaddr=4",
		"-devcie\x00usb-host,hostbus=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		refs, err := QEMUArgs(args)
		if err != nil {
			if e := (*Error)(nil); !errors.As(err, &e) || e.Dialect != DialectQEMU {
				t.Fatalf("QEMUArgs(%q): error %#v is not a QEMU *Error", args, err)
			}
			return
		}
		if len(refs) == 0 {
			t.Fatalf("QEMUArgs(%q) names no device, and says nothing", args)
		}
		for _, r := range refs {
			checkSelector(t, r.Text, r.Selector)
		}
		// Quoted for the shell, one word a line, the same words read
		// from a file give the same devices.
		var doc strings.Builder
		for _, a := range args {
			doc.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'\n")
		}
		words, err := shellWords(doc.String())
		if err != nil {
			t.Fatalf("shellWords of quoted %q: %v", args, err)
		}
		var back []string
		for _, w := range words {
			back = append(back, w.text)
		}
		if diff := cmp.Diff(args, back); diff != "" {
			t.Fatalf("quoted words do not read back (-args +read):\n%s", diff)
		}
	})
}
