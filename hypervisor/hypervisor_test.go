package hypervisor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/sysfstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// scanned caches the fake trees' devices: every test reads the same ones.
var scanned sync.Map

func devices(t *testing.T, tree string) []discover.Device {
	t.Helper()
	if v, ok := scanned.Load(tree); ok {
		return v.([]discover.Device)
	}
	root := sysfstest.Unpack(t, filepath.Join("..", "testdata", "sysfs", tree+".txtar"))
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	scanned.Store(tree, res.Devices)
	return res.Devices
}

// both gives usb-basic's USB devices and pci-basic's PCI functions; the
// USB tree's own controller would otherwise appear twice.
func both(t *testing.T) []discover.Device {
	var out []discover.Device
	for _, d := range devices(t, "usb-basic") {
		if d.Bus == discover.BusUSB {
			out = append(out, d)
		}
	}
	for _, d := range devices(t, "pci-basic") {
		if d.Bus == discover.BusPCI {
			out = append(out, d)
		}
	}
	return out
}

// TestParseSelector reads every form the issue names, each into the
// selector it means.
func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		in      string
		dialect Dialect
		want    string // the selector, canonical; several joined by " ; "
		all     bool
	}{
		// QEMU usb-host, with 0x hex and bare decimal.
		{"usb-host,vendorid=0x0483,productid=0x2016", DialectQEMU, "bus=usb,vendor=0483,product=2016", false},
		{"usb-host,vendorid=1155,productid=8214", DialectQEMU, "bus=usb,vendor=0483,product=2016", false},
		{"usb-host,hostbus=1,hostaddr=4", DialectQEMU, "bus=usb,busnum=1,devnum=4", false},
		{"usb-host,hostbus=1,hostport=2.1", DialectQEMU, "bus=usb,port=1-2.1", false},
		{"usb-host,hostport=2.1", DialectQEMU, "bus=usb,port=2.1", false},
		{"usb-host,hostbus=0x1,hostaddr=0,vendorid=0x0403", DialectQEMU, "bus=usb,vendor=0403,busnum=1", false},
		{"usb-host,hostdevice=/dev/bus/usb/003/007", DialectQEMU, "bus=usb,busnum=3,devnum=7", false},
		{"usb-host,id=cam,bus=xhci.0,port=2,vendorid=0x046d,productid=0x0825,guest-reset=off", DialectQEMU, "bus=usb,vendor=046d,product=0825", false},
		{"driver=usb-host,vendorid=0x046d,productid=0x0825", DialectQEMU, "bus=usb,vendor=046d,product=0825", false},
		{"-device usb-host,vendorid=0x0483,productid=0x2016", DialectQEMU, "bus=usb,vendor=0483,product=2016", false},
		{"--device=usb-host,hostbus=3,hostaddr=1", DialectQEMU, "bus=usb,busnum=3,devnum=1", false},
		{"device_add usb-host,id=u1,hostbus=1,hostaddr=5", DialectQEMU, "bus=usb,busnum=1,devnum=5", false},
		{"-usbdevice host:003.001", DialectQEMU, "bus=usb,busnum=3,devnum=1", false},
		{"-usbdevice host:008.002", DialectQEMU, "bus=usb,busnum=8,devnum=2", false},
		{"-usbdevice host:0483:2016", DialectQEMU, "bus=usb,vendor=0483,product=2016", false},
		{"vfio-pci,host=0000:01:00.0", DialectQEMU, "bus=pci,address=0000:01:00.0", false},
		{"vfio-pci,host=01:00.0,id=gpu,x-vga=on", DialectQEMU, "bus=pci,address=0000:01:00.0", false},
		{"-device vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:01:00.1", DialectQEMU, "bus=pci,address=0000:01:00.1", false},
		{"-device vfio-pci,sysfsdev=/sys/bus/pci/devices/10000:00:00.0", DialectQEMU, "bus=pci,address=10000:00:00.0", false},
		{`{"execute":"device_add","arguments":{"driver":"usb-host","id":"u1","hostbus":3,"hostaddr":1}}`, DialectQEMU, "bus=usb,busnum=3,devnum=1", false},
		{`{"driver":"vfio-pci","host":"0000:01:00.0"}`, DialectQEMU, "bus=pci,address=0000:01:00.0", false},
		// A whole command line in one argument, as ps shows it.
		{"/usr/bin/qemu-system-x86_64 -name 'usb-host' -m 4G -device usb-host,hostbus=1,hostaddr=4 -device '{\"driver\": \"vfio-pci\", \"host\": \"0000:01:00.0\"}'", DialectQEMU, "bus=usb,busnum=1,devnum=4 ; bus=pci,address=0000:01:00.0", false},
		// Every property QEMU takes, selecting or not: libvirt writes
		// bootindex, and the rest is in QEMU's own lists.
		{"usb-host,vendorid=0x0483,productid=0x2016,bootindex=1", DialectQEMU, "bus=usb,vendor=0483,product=2016", false},
		{"-device usb-host,hostbus=1,hostaddr=4,id=hostdev0,bus=usb.0,port=1,bootindex=1", DialectQEMU, "bus=usb,busnum=1,devnum=4", false},
		{"usb-host,hostbus=1,hostport=2.1,isobufs=8,isobsize=64,guest-reset=off,guest-resets-all=on,loglevel=3,pipeline=off,suppress-remote-wake=off,serial=x,msos-desc=off,pcap=/tmp/u.pcap,attached=on,x-future=1", DialectQEMU, "bus=usb,port=1-2.1", false},
		{"vfio-pci,host=01:00.0,rombar=0,romfile=/x.rom,romsize=65536,x-vga=on,multifunction=on,addr=05.0,bus=pcie.1,failover_pair_id=net0,acpi-index=3,bootindex=2,display=off,xres=0,yres=0,vf-token=4b20d080-1b54-4048-85b3-a6a62d165c01,enable-migration=off,x-igd-opregion=on", DialectQEMU, "bus=pci,address=0000:01:00.0", false},
		{`{"driver":"usb-host","hostdevice":"/dev/bus/usb/014/006","id":"hostdev0","guest-reset":true,"guest-resets-all":false,"bus":"usb.0","port":"1"}`, DialectQEMU, "bus=usb,busnum=14,devnum=6", false},

		// libvirt.
		{`<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source></hostdev>`, DialectLibvirt, "bus=usb,vendor=0483,product=2016", false},
		{`<hostdev mode='subsystem' type='usb'><source startupPolicy='optional'><vendor id='0x0483'/><product id='0x2016'/><address bus='3' device='1'/></source></hostdev>`, DialectLibvirt, "bus=usb,vendor=0483,product=2016,busnum=3,devnum=1", false},
		{`<hostdev mode='subsystem' type='usb'><source><address bus='3' device='1'/></source></hostdev>`, DialectLibvirt, "bus=usb,busnum=3,devnum=1", false},
		{`<hostdev mode='subsystem' type='usb'><source><address bus='003' device='007'/></source></hostdev>`, DialectLibvirt, "bus=usb,busnum=3,devnum=7", false},
		{`<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x1f' function='0x3'/></source></hostdev>`, DialectLibvirt, "bus=pci,address=0000:00:1f.3", false},
		{`<domain type='kvm'><devices>
			<hostdev mode='subsystem' type='usb'><source><vendor id='0x0403'/><product id='0x6001'/></source></hostdev>
			<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>
		</devices></domain>`, DialectLibvirt, "bus=usb,vendor=0403,product=6001 ; bus=pci,address=0000:01:00.0", false},

		// The seed's proposal.
		{`<host bus='usb'><source device='003.001'/></host>`, DialectSeed, "bus=usb,busnum=3,devnum=1", false},
		{`<host bus='usb'><source dev='003.001'/><target dev='001.005'/></host>`, DialectSeed, "bus=usb,busnum=3,devnum=1", false},
		{`<host bus='usb'><source vendor='0483' product='2016'/></host>`, DialectSeed, "bus=usb,vendor=0483,product=2016", false},
		{`<host bus='usb'><source vendor='0483' product='2016'/><target dev='001.005'/></host>`, DialectSeed, "bus=usb,vendor=0483,product=2016,busnum=1,devnum=5", false},
		{`<host bus='pci'><source dev='00:1f.3'/></host>`, DialectSeed, "bus=pci,address=0000:00:1f.3", false},

		// xl.
		{`usbdevice=['host:0483:2016']`, DialectXL, "bus=usb,vendor=0483,product=2016", false},
		{`usbdevice='host:3.1'`, DialectXL, "bus=usb,busnum=3,devnum=1", false},
		{`usbdevice=['tablet', 'host:008.002']`, DialectXL, "bus=usb,busnum=8,devnum=2", false},
		{`usbdev=['type=hostdev,hostbus=3,hostaddr=1']`, DialectXL, "bus=usb,busnum=3,devnum=1", false},
		{`usbdev=['hostbus=3,hostaddr=1,controller=0,port=2']`, DialectXL, "bus=usb,busnum=3,devnum=1", false},
		{`usbdev=['hostbus=0x3,hostaddr=0x1f']`, DialectXL, "bus=usb,busnum=3,devnum=31", false},
		{"usbdevice = 'host:1.1'\nusbdevice = 'host:3.1'\nusbdevice += 'host:3.2'", DialectXL, "bus=usb,busnum=3,devnum=1 ; bus=usb,busnum=3,devnum=2", false},
		{`usbdevice = "\x68ost:3.1"`, DialectXL, "bus=usb,busnum=3,devnum=1", false},
		{`usbdevice = "\150ost:3.1"`, DialectXL, "bus=usb,busnum=3,devnum=1", false},
		{`pci=['0000:00:1f.3,permissive=1']`, DialectXL, "bus=pci,address=0000:00:1f.3", false},
		{`pci=['00:1f.3@4']`, DialectXL, "bus=pci,address=0000:00:1f.3", false},
		{`pci = [ "bdf=0000:03:00.0,seize=1" ]`, DialectXL, "bus=pci,address=0000:03:00.0", false},
		{`pci=['00:1f.*']`, DialectXL, "bus=pci,address=0000:00:1f.*", true},

		// hostdev's own, including driver=, which is not QEMU's.
		{"host:0403:6001,serial=A7022OOP", DialectSelector, "bus=usb,vendor=0403,product=6001,serial=A7022OOP", false},
		{"driver=usb-storage", DialectSelector, "driver=usb-storage", false},
		{"driver=vfio-pci,class=03", DialectSelector, "class=03,driver=vfio-pci", false},
	} {
		refs, err := ParseSelector(tc.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tc.in, err)
			continue
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.Selector.String())
			if r.Dialect != tc.dialect {
				t.Errorf("ParseSelector(%q): dialect %s, want %s", tc.in, r.Dialect, tc.dialect)
			}
			if r.All != tc.all {
				t.Errorf("ParseSelector(%q): All %v, want %v", tc.in, r.All, tc.all)
			}
			// Every selector a dialect gives is one match.Parse reads back.
			back, err := match.Parse(r.Selector.String())
			if err != nil || !cmp.Equal(back, r.Selector) {
				t.Errorf("ParseSelector(%q): %q does not round-trip: %v", tc.in, r.Selector, err)
			}
		}
		if g := strings.Join(got, " ; "); g != tc.want {
			t.Errorf("ParseSelector(%q)\n got %s\nwant %s", tc.in, g, tc.want)
		}
	}
}

// TestParseSelectorRejects feeds near-misses: each must fail with a message
// that says what is wrong, never be read as something else.
func TestParseSelectorRejects(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"usb-host,vendorid=0483,productid=0x2016", "and 0483 is not octal; write 483 for decimal or 0x0483 for hex"},
		{"usb-host,hostbus=1,hostaddr=010", "QEMU reads 010 as octal, 8; write 10 for decimal or 0x010 for hex"},
		{"usb-host,hostbsu=2,hostaddr=2", `usb-host has no property "hostbsu"; did you mean hostbus?`},
		{"usb-host,vendorid=0x0781,prodcutid=0x5581", `did you mean productid?`},
		{"vfio-pci,hots=01:00.0", `vfio-pci has no property "hots"; did you mean host?`},
		{"vfio-pci,host=01:00.0,romfiel=/x.rom", `vfio-pci has no property "romfiel"; did you mean romfile?`},
		{"vfio-pci,host=01:00.0,hostbus=1", `property "hostbus" is usb-host's, not vfio-pci's`},
		{"usb-host,hostbus=1,hostaddr=2,rombar=0", `property "rombar" is vfio-pci's, not usb-host's`},
		{"usb-host,hostbus=1,hostaddr=2,bootindx=1", `usb-host has no property "bootindx"; did you mean bootindex?`},
		{"vfio-pci,fd=12", "by a file descriptor another program opened"},
		{"usb-host,vendorid=0x04g3,productid=0x2016", "vendorid=0x04g3: not a number"},
		{"usb-host,vendorid=0x10000", "out of range 0 to 65535"},
		{"usb-host,hostbus=256,hostaddr=1", "hostbus=256: out of range 0 to 255"},
		{"usb-host,hostbus=-1", "not a number"},
		{"usb-host", "usb-host names no device"},
		{"usb-host,hostbus=0,hostaddr=0", "usb-host names no device"},
		{"usb-host,hostbus=1,hostbus=2", "hostbus is given twice"},
		{"usb-host,hostport=1..2", "hostport=1..2 is not a port path"},
		{"usb-host,hostdevice=/dev/sda", "hostdevice=/dev/sda is not /dev/bus/usb/BBB/DDD"},
		{"usb-host,hostdevice=/dev/bus/usb/001/002,hostaddr=3", "contradicts"},
		{"usb-host,vendorid", `element "vendorid" is not key=value`},
		{"vfio-pci", "vfio-pci names no device"},
		{"vfio-pci,host=0000:01:00", "host=0000:01:00"},
		{"vfio-pci,host=10000:00:00.0", "use sysfsdev=/sys/bus/pci/devices/10000:00:00.0"},
		{"vfio-pci,host=01:00.0,sysfsdev=/sys/bus/pci/devices/0000:01:00.0", "both host= and sysfsdev="},
		{"vfio-pci,sysfsdev=/sys/bus/mdev/devices/4B20D080-1B54-4048-85B3-A6A62D165C01", "mediated device in lower case"},
		{"-device usb-kbd", "usb-kbd is emulated"},
		{"-usbdevice tablet", "only -usbdevice host:BUS.DEV or host:VVVV:PPPP"},
		{"-usbdevice host:3", "neither host:BUS.DEV"},
		{"-drive file=x.img", "option -drive does not name a host device"},
		{`{"execute":"query-status"}`, "is not device_add"},
		{`{"driver":"usb-host","hostbus":"3"}`, `wants a number here, not the string "3"`},
		{`{"driver":"usb-host",`, "not valid JSON"},

		{`<hostdev mode='subsystem' type='usb'><source><vendor id='0483'/><product id='0x2016'/></source></hostdev>`, "libvirt reads a leading zero as octal; write 0x0483"},
		{`<hostdev mode='subsystem' type='usb'><source><address bus='001' device='010'/></source></hostdev>`, "<address device='010'>: libvirt reads 010 as octal, 8; write 10 for decimal"},
		{`<hostdev mode='subsystem' type='usb'><source><address bus='0x1' device='2'/></source></hostdev>`, "write <address bus device> in decimal"},
		{`<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0b1' slot='0' function='0'/></source></hostdev>`, "<address bus='0b1'>: not a number"},
		{`<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='0x20' function='0'/></source></hostdev>`, "out of range 0 to 31"},
		{`<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source><source/></hostdev>`, "more than one <source>"},
		{`<host bus='usb'><source vendor='0483' product='2016'/><target dev='3.1'/><target dev='1.5'/></host>`, "more than one <source> or <target>"},
		{`<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/></source></hostdev>`, "<vendor> without <product>"},
		{`<hostdev mode='subsystem' type='usb'><source/></hostdev>`, "names no device"},
		{`<hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source>`, "broken XML"},
		{`<hostdev mode='subsystem' type='pci'><source><address bus='0x00' slot='0x1f' function='0x3'/></source></hostdev>`, "needs domain=, bus=, slot= and function="},
		{`<hostdev type='usb'/>`, "mode"},

		{`<host bus='usb'><source device='3'/></host>`, `device "3" is not BUS.DEVICE`},
		{`<host bus='usb'><source vendor='0483'/></host>`, "vendor= without product="},
		{`<host bus='usb'><source vendor='04g3' product='2016'/></host>`, `vendor "04g3" is not 4 hex digits`},
		{`<host bus='scsi'><source dev='0:0:0:0'/></host>`, "bus is not usb or pci"},
		{`<host bus='pci'><source dev='00:1g.3'/></host>`, "00:1g.3"},

		{`usbdevice=['host:0483:20166']`, "product"},
		{`usbdev=['type=hostdev,hostbus=3']`, "needs both hostbus= and hostaddr="},
		{`usbdev=['type=hostdev,hostbus=01,hostaddr=010']`, "xl reads 010 as octal, 8"},
		{`usbdev=['type=hostdev,hostbus=1,hostaddr=2,contoller=0']`, `xl has no usbdev option "contoller"; did you mean controller?`},
		{`pci=['0000:00:1f.3@20']`, "virtual slot @20 is not a hex number from 0 to 1f"},
		{`usbdev=['type=pvusb,hostbus=3,hostaddr=1']`, "xl knows only type=hostdev"},
		{`pci=['0000:00:1f.3@zz']`, "virtual slot @zz"},
		{`pci=['0000:00:1f.3,permissive']`, `option "permissive" is not key=value`},
		{`pci=['permissive=1']`, "no address"},
		{`pci=['0000:00:1f']`, "is not a PCI address"},
		{`pci=['10000:00:00.0']`, "16-bit"},
		{`pci=['0000:00:1f.3'`, "has no ]"},
		{`usbdevice='host:3.1`, "not closed"},

		{"vendor=04g3", `vendor "04g3" is not 4 hex digits`},
	} {
		_, err := ParseSelector(tc.in)
		if err == nil {
			t.Errorf("ParseSelector(%q) succeeded; want an error with %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSelector(%q):\n got %v\nwant it to contain %q", tc.in, err, tc.want)
		}
	}
}

// TestRefsDocument reads whole documents, with the line of each device.
func TestRefsDocument(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		dialect   Dialect
		want      string // selector@line, joined by " ; "
	}{
		{"xl", "# a VM\nname = 'x' # not a device\nusbdevice = [ 'tablet',\n  'host:0483:2016', # a comment with ] and '\n  \"host:3.1\" ]\npci = [ '00:1f.3@4,permissive=1' ]; usb = 1\n",
			DialectXL, "bus=usb,vendor=0483,product=2016@4 ; bus=usb,busnum=3,devnum=1@5 ; bus=pci,address=0000:00:1f.3@6"},
		{"qemu script", "#!/bin/sh\nqemu-system-x86_64 -machine q35 \\\n  -device qemu-xhci,id=xhci \\\n  -device 'usb-host,vendorid=0x0483,productid=0x2016' \\\n  -usbdevice tablet -usbdevice host:3.1 \\\n  -device vfio-pci,host=01:00.0\n",
			DialectQEMU, "bus=usb,vendor=0483,product=2016@4 ; bus=usb,busnum=3,devnum=1@5 ; bus=pci,address=0000:01:00.0@6"},
		{"libvirt", "<domain type='kvm'>\n  <devices>\n    <hostdev mode='subsystem' type='usb'>\n      <source><vendor id='0x0403'/><product id='0x6001'/></source>\n    </hostdev>\n  </devices>\n</domain>\n",
			DialectLibvirt, "bus=usb,vendor=0403,product=6001@3"},
		{"qemu in a script", "#!/bin/sh\nset -e\nexec qemu-system-x86_64 -m 1G -device usb-host,hostbus=1,hostaddr=4\n",
			DialectQEMU, "bus=usb,busnum=1,devnum=4@3"},
		{"qmp", "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"usb-kbd\"}}\n\n{\"execute\":\"device_add\",\n \"arguments\":{\"driver\":\"usb-host\",\"hostbus\":1,\"hostaddr\":4}}\n",
			DialectQEMU, "bus=usb,busnum=1,devnum=4@4"},
		{"seed", "<devices>\n<host bus='usb'>\n<source device='003.001'/>\n</host>\n</devices>\n", DialectSeed, "bus=usb,busnum=3,devnum=1@2"},
	} {
		refs, d, err := Refs([]byte(tc.doc))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.Selector.String()+"@"+strconv.Itoa(r.Line))
		}
		if d != tc.dialect || strings.Join(got, " ; ") != tc.want {
			t.Errorf("%s: got %s %s\nwant %s %s", tc.name, d, strings.Join(got, " ; "), tc.dialect, tc.want)
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{"", "empty"},
		{"name = 'x'\n", "names no host USB or PCI device"},
		{"<domain><devices></devices></domain>", "no <hostdev"},
		{"usbdevice = [ 'host:3.1'\n", "line 1: xl: setting usbdevice: the list opened here has no ]"},
		{"a = 1\n= 2\n", "line 2"},
		{"<domain>\n<devices>\n</domain>", "line 3"},
	} {
		_, _, err := Refs([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Refs(%q): got %v, want an error with %q", tc.doc, err, tc.want)
		}
	}
}

// TestWriteGolden writes the same devices in every format and compares
// with testdata/write/*.golden (go test -update rewrites them).
func TestWriteGolden(t *testing.T) {
	usb := devices(t, "usb-basic")
	pci := devices(t, "pci-basic")
	pick := func(devs []discover.Device, sel string) Resolved {
		t.Helper()
		s, err := match.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		d, err := match.Resolve(s, devs)
		if err != nil {
			t.Fatal(err)
		}
		return Resolved{Device: d}
	}
	items := []Resolved{
		pick(usb, "serial=A10K3QKF"),      // 1-1.1.2.3 behind three hubs: id from the serial
		pick(usb, "port=1-1.1.3"),         // no serial: id from the port
		pick(usb, "host:0781:5581"),       // SuperSpeed, bus 2
		pick(pci, "address=0000:00:1f.3"), // a PCI function
	}
	xlRef, err := ParseSelector(`pci=['0000:00:1f.3@4,permissive=1,rdm_policy=relaxed']`)
	if err != nil {
		t.Fatal(err)
	}
	lvRef, err := ParseSelector(`<hostdev mode='subsystem' type='usb' managed='no'><source startupPolicy='optional' guestReset='off'><vendor id='0x1a86'/><product id='0x7523'/></source><boot order='3'/></hostdev>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			var b strings.Builder
			items, kept := items, []Resolved{{Device: items[1].Device, Ref: &lvRef[0]}, {Device: items[3].Device, Ref: &xlRef[0]}}
			if f == FormatCloudHypervisor { // PCI functions only
				items, kept = items[3:], kept[1:]
			}
			if err := Write(&b, f, items); err != nil {
				t.Fatal(err)
			}
			// The same devices again, named by configs whose extras are kept.
			b.WriteString("# from a config\n")
			if err := Write(&b, f, kept); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "write", string(f)+".golden"), b.String(), *update)
		})
	}
}

// TestWriteReadBack: what Write gives in each format, ParseSelector reads
// back into a selector that resolves to the same device.
func TestWriteReadBack(t *testing.T) {
	devs := both(t)
	for _, d := range devs {
		if d.USB != nil && d.USB.Class == 9 {
			continue // hubs are never written: QEMU will not take them
		}
		for _, f := range Formats() {
			var b strings.Builder
			err := Write(&b, f, []Resolved{{Device: d}})
			if d.PCI != nil && d.PCI.Address.Domain > 0xffff && (f == FormatXen || f == FormatXenLegacy || f == FormatIncus) {
				if err == nil || !strings.Contains(err.Error(), "16 bits") {
					t.Errorf("%s %s: %v, want xl's 16-bit domain refused", d.Name, f, err)
				}
				continue
			}
			if d.USB != nil && f == FormatCloudHypervisor {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Errorf("%s %s: %v, want USB refused", d.Name, f, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %s: %v", d.Name, f, err)
				continue
			}
			in := strings.TrimSpace(b.String())
			refs, err := ParseSelector(in)
			if err != nil {
				t.Errorf("%s %s: %q does not read back: %v", d.Name, f, in, err)
				continue
			}
			if len(refs) != 1 {
				t.Errorf("%s %s: %q reads back as %d refs", d.Name, f, in, len(refs))
				continue
			}
			got, _, err := refs[0].Resolve(devs)
			if f == FormatDevnode && d.PCI != nil && err == nil {
				// /dev/vfio/N opens the whole group: d is one of them.
				got = slices.DeleteFunc(got, func(g discover.Device) bool { return g.Name != d.Name })
			}
			if err != nil || len(got) != 1 || got[0].Name != d.Name || got[0].Bus != d.Bus {
				t.Errorf("%s %s: %q resolves to %v, %v", d.Name, f, in, got, err)
			}
		}
	}
}

// TestWriteRefuses: a device without a readable address cannot be named.
func TestWriteRefuses(t *testing.T) {
	d := discover.Device{Bus: discover.BusUSB, Name: "1-9", USB: &discover.USB{}}
	if err := Write(&strings.Builder{}, FormatQEMU, []Resolved{{Device: d}}); err == nil || !strings.Contains(err.Error(), "1-9") {
		t.Errorf("Write of a device without busnum: %v", err)
	}
	if _, err := ParseFormat("vmware"); err == nil || !strings.Contains(err.Error(), "qemu, qmp, libvirt, xen, xen-legacy, seed") {
		t.Errorf("ParseFormat(vmware): %v", err)
	}
}

// TestDeviceID: ids are QEMU-valid, stable, and unique among identical
// devices.
func TestDeviceID(t *testing.T) {
	usb := devices(t, "usb-basic")
	var items []Resolved
	for _, d := range usb {
		if d.VendorID == 0x1a86 { // two identical CH341s without serials
			items = append(items, Resolved{Device: d})
		}
	}
	ids := deviceIDs(items)
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("ids %v: want two different ids", ids)
	}
	for _, id := range ids {
		if !wellFormedID(id) {
			t.Errorf("id %q is not one QEMU accepts", id)
		}
	}
	// Two devices that claim the same serial fall back to their ports.
	a, b := items[0], items[1]
	a.Device.USB = &discover.USB{Busnum: 1, Port: "1.1.1", Serial: new("SAME")}
	b.Device.USB = &discover.USB{Busnum: 1, Port: "1.1.3", Serial: new("SAME")}
	if ids := deviceIDs([]Resolved{a, b}); ids[0] == ids[1] {
		t.Errorf("same serial: ids %v", ids)
	}
	// A serial another plugged device also has is not used either, even
	// when that device is not being written: the next run would clash.
	a.Device.USB.Serial = new("SAME")
	all := []discover.Device{a.Device, b.Device}
	all[1].Name = "other"
	if !SharedSerial(a.Device, all) || SharedSerial(a.Device, all[:1]) {
		t.Errorf("SharedSerial wrong")
	}
	if ids := deviceIDs([]Resolved{{Device: a.Device, SerialShared: true}}); strings.Contains(ids[0], "SAME") {
		t.Errorf("shared serial used in id %q", ids[0])
	}
	// A serial with spaces or punctuation is not used.
	a.Device.USB.Serial = new("A B/C")
	if id := deviceID(a.Device); !wellFormedID(id) || strings.Contains(id, "A B") {
		t.Errorf("odd serial: id %q", id)
	}
}

// wellFormedID is QEMU's rule for ids (util/id.c): a letter, then letters,
// digits, '-', '.' and '_'.
func wellFormedID(id string) bool {
	if id == "" || !('a' <= id[0] && id[0] <= 'z' || 'A' <= id[0] && id[0] <= 'Z') {
		return false
	}
	for _, c := range []byte(id) {
		if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// TestFill fills documents in every dialect against usb-basic and compares
// with goldens; the inputs are testdata/fill/*.in.
func TestFill(t *testing.T) {
	devs := both(t)
	ins, err := filepath.Glob(filepath.Join("testdata", "fill", "*.in"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			doc, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, filled, d, err := Fill(doc, devs)
			if err != nil {
				t.Fatal(err)
			}
			var rep strings.Builder
			rep.WriteString("dialect " + string(d) + "\n")
			for _, f := range filled {
				rep.WriteString("line " + strconv.Itoa(f.Ref.Line) + ": ")
				switch {
				case f.Err != nil:
					rep.WriteString("error: " + f.Err.Error())
				case f.Skipped:
					rep.WriteString("skipped: " + f.Note)
				default:
					var names []string
					for _, d := range f.Devices {
						names = append(names, d.Name)
					}
					rep.WriteString(strings.Join(names, " "))
					if f.Changed {
						rep.WriteString(" (changed)")
					}
					if f.Moved != nil {
						rep.WriteString("; " + f.Moved.String())
					}
					if f.Note != "" {
						rep.WriteString("; " + f.Note)
					}
				}
				rep.WriteString("\n")
			}
			base := strings.TrimSuffix(in, ".in")
			testenv.Golden(t, base+".want", string(out), *update)
			testenv.Golden(t, base+".report", rep.String(), *update)
			// Filling the output again changes nothing: every address is
			// current now.
			again, filled2, _, err := Fill(out, devs)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Errorf("a second fill changed the document:\n%s", cmp.Diff(string(out), string(again)))
			}
			for _, f := range filled2 {
				if f.Moved != nil && !strings.HasPrefix(f.Note, "not filled") {
					t.Errorf("second fill, line %d: still moved: %s", f.Ref.Line, f.Moved)
				}
			}
		})
	}
}

// TestFillErrors: a document that cannot be read is an error; a device that
// does not resolve is reported per reference, with its type.
func TestFillErrors(t *testing.T) {
	devs := devices(t, "usb-basic")
	_, filled, _, err := Fill([]byte("usbdevice = 'host:1050:0407'\n"), devs)
	var amb *match.AmbiguousError
	if err != nil || len(filled) != 1 || !errors.As(filled[0].Err, &amb) {
		t.Errorf("ambiguous: err %v, filled %+v", err, filled)
	}
	_, filled, _, err = Fill([]byte("-device usb-host,vendorid=0x1050,productid=0x0407\n"), devs)
	if err != nil || len(filled) != 1 || !errors.As(filled[0].Err, &amb) || filled[0].Ref.Line != 1 {
		t.Errorf("QEMU, ambiguous: err %v, filled %+v", err, filled)
	}
	_, _, _, err = Fill([]byte("-m 1G\n-device usb-host,\\\nvendorid=0483\n"), devs)
	if err == nil || err.Error() != `line 2: QEMU "usb-host,vendorid=0483": vendorid=0483: QEMU reads a number with a leading zero as octal, and 0483 is not octal; write 483 for decimal or 0x0483 for hex` {
		t.Errorf("QEMU, bad option: %v", err)
	}
	_, _, _, err = Fill([]byte("<domain><devices><hostdev mode='subsystem' type='usb'></devices></domain>"), devs)
	var he *Error
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "broken XML") {
		t.Errorf("broken XML: %v", err)
	}
}

// TestLibvirtSchema checks what we write against libvirt's own schema with
// virt-xml-validate (Debian libvirt-clients, with xmllint from
// libxml2-utils): the filled domain, and every device written as a
// <hostdev> inside a minimal domain.
func TestLibvirtSchema(t *testing.T) {
	for _, tool := range []string{"virt-xml-validate", "xmllint"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s not found (apt-get install libvirt-clients libxml2-utils): %v", tool, err)
		}
	}
	validate := func(name string, doc []byte) {
		t.Helper()
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("virt-xml-validate", p, "domain").CombinedOutput()
		if err != nil {
			t.Errorf("virt-xml-validate %s: %v\n%s\n%s", name, err, out, doc)
		}
	}
	filled, err := os.ReadFile(filepath.Join("testdata", "fill", "libvirt-domain.want"))
	if err != nil {
		t.Fatal(err)
	}
	validate("filled.xml", filled)

	var items []Resolved
	for _, d := range both(t) {
		if d.USB == nil || d.USB.Class != 9 {
			items = append(items, Resolved{Device: d})
		}
	}
	var b strings.Builder
	b.WriteString("<domain type='kvm'>\n  <name>t</name>\n  <memory unit='KiB'>1048576</memory>\n" +
		"  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n  <devices>\n")
	if err := Write(&b, FormatLibvirt, items); err != nil {
		t.Fatal(err)
	}
	b.WriteString("  </devices>\n</domain>\n")
	validate("written.xml", []byte(b.String()))

	// The check itself works: libvirtxml's own order for a USB source
	// (address, product, vendor) is one the schema refuses.
	bad := strings.Replace(b.String(), "<vendor id='0x0403'/>", "", 1)
	bad = strings.Replace(bad, "<address bus='1' device='7'/>", "<address bus='1' device='7'/><vendor id='0x0403'/>", 1)
	p := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(p, []byte(bad), 0o644)
	if err := exec.Command("virt-xml-validate", p, "domain").Run(); err == nil {
		t.Errorf("virt-xml-validate accepted a USB source in the wrong order; the check proves nothing")
	}
}

// TestFillCRLF: a file with CRLF line ends keeps them in what fill adds.
func TestFillCRLF(t *testing.T) {
	doc := strings.ReplaceAll("<domain>\n  <devices>\n    <hostdev mode='subsystem' type='usb'>\n      <source>\n        <vendor id='0x0781'/>\n        <product id='0x5581'/>\n      </source>\n    </hostdev>\n  </devices>\n</domain>\n", "\n", "\r\n")
	out, filled, _, err := Fill([]byte(doc), both(t))
	if err != nil || len(filled) != 1 || !filled[0].Changed {
		t.Fatalf("Fill: %v %+v", err, filled)
	}
	want := strings.Replace(doc, "<product id='0x5581'/>\r\n", "<product id='0x5581'/>\r\n        <address bus='2' device='2'/>\r\n", 1)
	if string(out) != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
}

// TestAmbiguousAdvice: an ambiguity is explained in the terms the config
// can use, in the error Resolve and Fill give, with no call to make.
func TestAmbiguousAdvice(t *testing.T) {
	devs := both(t)
	const libvirt = "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1050'/><product id='0x0407'/></source></hostdev>"
	for _, tc := range []struct{ in, want string }{
		{"usb-host,vendorid=0x1050,productid=0x0407", "QEMU's usb-host cannot select by serial; to pick by port, use hostbus=1,hostport=2 or hostbus=1,hostport=3"},
		{libvirt, "libvirt cannot select by serial; to pick one now, add <address bus='1' device='8'/> or <address bus='1' device='9'/> to <source>"},
		{"<domain><devices>" + libvirt + "</devices></domain>", "add <address bus='1' device='8'/> or <address bus='1' device='9'/> to <source>"},
		{"usbdevice='host:1050:0407'", "xl cannot select by serial; to pick one now, write host:1.8 or host:1.9"},
		{"<host bus='usb'><source vendor='1050' product='0407'/></host>", "write device='001.008' or device='001.009'"},
		{"host:1050:0407", ""},
	} {
		refs, err := ParseSelector(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = refs[0].Resolve(devs)
		var amb *match.AmbiguousError
		if !errors.As(err, &amb) {
			t.Fatalf("%s: %v, want ambiguous", tc.in, err)
		}
		hint := ""
		if _, h, ok := strings.Cut(err.Error(), "\nhint: "); ok {
			hint = h
		}
		if !strings.HasPrefix(err.Error(), amb.Error()) || !strings.Contains(hint, tc.want) || (tc.want == "" && hint != "") {
			t.Errorf("Resolve(%s): %q\nwant match's message and a hint with %q", tc.in, err, tc.want)
		}
		if tc.want == "" || !strings.HasPrefix(tc.in, "<") && !strings.HasPrefix(tc.in, "usbdevice") {
			continue
		}
		// Fill reports the same, in the Filled of that reference.
		_, filled, _, err := Fill([]byte(tc.in), devs)
		if err != nil {
			t.Fatalf("Fill(%s): %v", tc.in, err)
		}
		if len(filled) != 1 || filled[0].Err == nil || !strings.Contains(filled[0].Err.Error(), tc.want) {
			t.Errorf("Fill(%s): %+v, want an error with %q", tc.in, filled, tc.want)
		}
	}
}

// TestAmbiguousError: the error is an *AmbiguousError with one dialect pick
// per candidate, and it still unwraps to match's, through any wrapping.
func TestAmbiguousError(t *testing.T) {
	refs, err := ParseSelector("<hostdev mode='subsystem' type='usb'><source><vendor id='0x1050'/><product id='0x0407'/></source></hostdev>")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = refs[0].Resolve(both(t))
	err = fmt.Errorf("guest.xml:3: %w", err)
	var (
		hamb *AmbiguousError
		amb  *match.AmbiguousError
	)
	if !errors.As(err, &hamb) || !errors.As(err, &amb) {
		t.Fatalf("%v: errors.As finds *AmbiguousError %v, *match.AmbiguousError %v; want both", err, hamb != nil, amb != nil)
	}
	if hamb.Err != amb || hamb.Ref.Dialect != DialectLibvirt {
		t.Errorf("AmbiguousError{Ref.Dialect: %s, Err: %p}, want libvirt and %p", hamb.Ref.Dialect, hamb.Err, amb)
	}
	want := []string{"<address bus='1' device='8'/>", "<address bus='1' device='9'/>"}
	if diff := cmp.Diff(want, hamb.Picks); diff != "" {
		t.Errorf("Picks (-want +got):\n%s", diff)
	}
	if got := (&AmbiguousError{}).Error(); got == "" {
		t.Error("a zero AmbiguousError says nothing")
	}
}

// TestParseSelectorNothing: an argument that names no host device is an
// error, not a selector that quietly matches nothing.
func TestParseSelectorNothing(t *testing.T) {
	for _, in := range []string{"usbdevice=['tablet']", "<domain type='kvm'/>", "<host bus='usb' />x", "pci=[]"} {
		refs, err := ParseSelector(in)
		if err == nil {
			t.Errorf("ParseSelector(%q) = %d refs and no error", in, len(refs))
		}
	}
}
