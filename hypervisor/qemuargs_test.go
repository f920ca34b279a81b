package hypervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refStrings gives each reference as selector@line.
func refStrings(refs []Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Selector.String()+"@"+strconv.Itoa(r.Line))
	}
	return out
}

// TestQEMUArgs reads command lines as the shell splits them: an option
// and its value are two words, and every other option is passed over
// with its value.
func TestQEMUArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // selectors
	}{
		{"usb-host", []string{"-device", "usb-host,hostbus=1,hostaddr=4"}, []string{"bus=usb,busnum=1,devnum=4"}},
		{"usbdevice", []string{"-usbdevice", "host:3.1"}, []string{"bus=usb,busnum=3,devnum=1"}},
		{"vfio-pci", []string{"-device", "vfio-pci,host=01:00.0"}, []string{"bus=pci,address=0000:01:00.0"}},
		{"JSON", []string{"-device", `{"driver":"usb-host","vendorid":1155,"productid":8214,"bootindex":1}`}, []string{"bus=usb,vendor=0483,product=2016"}},
		{"double dash", []string{"--device", "usb-host,hostbus=1,hostport=2.1"}, []string{"bus=usb,port=1-2.1"}},
		{"whole command line", strings.Fields("qemu-system-x86_64 -machine q35 -m 4G -drive file=x.qcow2 -device usb-host,vendorid=0x0483,productid=0x2016 -device vfio-pci,host=0000:01:00.0 -netdev user,id=n0"),
			[]string{"bus=usb,vendor=0483,product=2016", "bus=pci,address=0000:01:00.0"}},
		{"values are not options", []string{"/usr/bin/qemu-kvm", "-name", "usb-host", "-append", "-device usb-host,hostbus=9,hostaddr=9", "-device", "usb-host,hostbus=1,hostaddr=4", "disk.img"},
			[]string{"bus=usb,busnum=1,devnum=4"}},
		{"a value that looks like a device", []string{"-name", "-device", "-device", "vfio-pci,host=01:00.0"}, []string{"bus=pci,address=0000:01:00.0"}},
		{"emulated devices", []string{"-usb", "-device", "qemu-xhci,id=xhci", "-usbdevice", "tablet", "-device", "usb-host,bus=xhci.0,hostbus=1,hostaddr=4"}, []string{"bus=usb,busnum=1,devnum=4"}},
		{"a newer QEMU's option", []string{"-frobnicate", "on", "-device", "usb-host,hostbus=1,hostaddr=4", "-newflag"}, []string{"bus=usb,busnum=1,devnum=4"}},
		{"pasted as one word", []string{"-device usb-host,hostbus=1,hostaddr=4", "-m", "1G"}, []string{"bus=usb,busnum=1,devnum=4"}},
		{"a -global that does not choose", []string{"-global", "usb-host.pipeline=off", "-set", "device.u1.bootindex=1", "-device", "usb-host,id=u1,hostbus=1,hostaddr=4"}, []string{"bus=usb,busnum=1,devnum=4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refs, err := QEMUArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range refs {
				got = append(got, r.Selector.String())
				if r.Dialect != DialectQEMU {
					t.Errorf("dialect %s", r.Dialect)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestQEMUArgsRejects(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		want        string
		unsupported bool
	}{
		{[]string{"-devcie", "usb-host,hostbus=1,hostaddr=4"}, `QEMU "-devcie": no such option; did you mean -device?`, false},
		{[]string{"-frobnicate", "usb-host,hostbus=1,hostaddr=4"}, `QEMU "-frobnicate": no such option, yet a host device follows it; did you mean -device?`, false},
		{[]string{"-m", "4G", "-device"}, `QEMU "-device": has no value`, false},
		{[]string{"-m", "4G", "-name", "usb-host,hostbus=1"}, "names no host USB or PCI device", true},
		{[]string{"-device", "usb-host,hostbsu=1,hostaddr=4"}, `usb-host has no property "hostbsu"; did you mean hostbus?`, false},
		{[]string{"-device", "usb-host,id=u1,hostbus=1,hostaddr=4", "-set", "device.u1.hostaddr=5"}, `QEMU "-set device.u1.hostaddr=5": changes which host device QEMU takes, and hostdev does not apply -set; write hostaddr= into the -device itself`, true},
		{[]string{"-global", "vfio-pci.host=02:00.0", "-device", "vfio-pci,host=01:00.0"}, `QEMU "-global vfio-pci.host=02:00.0": changes which host device`, true},
		{[]string{"-global", "driver=usb-host,property=hostbus,value=2", "-device", "usb-host,hostaddr=4"}, `QEMU "-global driver=usb-host,property=hostbus,value=2": changes which host device`, true},
		{[]string{"-device", "usb-host,hostbus=1,hostaddr=4", "serial=K1"}, `QEMU "serial=K1": is a hostdev selector among QEMU's options, where QEMU would take it for a disk image; give it before the QEMU command line`, false},
		{[]string{"qemu-system-x86_64", "-m", "1G", "host:3.1"}, `QEMU "host:3.1": is a hostdev selector among QEMU's options`, false},
	} {
		_, err := QEMUArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("QEMUArgs(%q): %v\nwant an error with %q", tc.args, err, tc.want)
			continue
		}
		if e := (*Error)(nil); !errors.As(err, &e) {
			t.Errorf("QEMUArgs(%q): %T is not an *Error", tc.args, err)
		}
		if errors.Is(err, errors.ErrUnsupported) != tc.unsupported {
			t.Errorf("QEMUArgs(%q): errors.Is(ErrUnsupported) is %v", tc.args, !tc.unsupported)
		}
	}
}

// TestQEMUArgsStart: selectors come first, the QEMU words from the first
// program or option word on.
func TestQEMUArgsStart(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"serial=K1", "host:3.1"}, 2},
		{[]string{"serial=K1", "-device", "usb-host,hostbus=1,hostaddr=4"}, 1},
		{[]string{"serial=K1", "qemu-system-x86_64", "disk.img"}, 1},
		{[]string{" -device usb-host,hostbus=1,hostaddr=4", "-device=usb-host,hostbus=1,hostaddr=4"}, 2},
	} {
		if got := QEMUArgsStart(tc.args); got != tc.want {
			t.Errorf("QEMUArgsStart(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}

// TestQEMUArgsReal reads the command lines libvirt's own tests expect it
// to give QEMU (testdata/qemu/README.md), as a file and as the words a
// shell would make of it.
func TestQEMUArgsReal(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"libvirt-hostdev-usb-address.args", []string{"bus=usb,busnum=14,devnum=6@33"}},
		{"libvirt-hostdev-vfio.args", []string{"bus=pci,address=0000:06:12.1@33", "bus=pci,address=0000:06:12.2@34", "bus=pci,address=0000:06:12.3@35", "bus=pci,address=0000:06:12.4@36"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join("testdata", "qemu", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			refs, d, err := Refs(doc)
			if err != nil || d != DialectQEMU {
				t.Fatalf("Refs: %s %v", d, err)
			}
			if diff := cmp.Diff(tc.want, refStrings(refs)); diff != "" {
				t.Errorf("Refs (-want +got)\n%s", diff)
			}
			words, err := shellWords(string(doc))
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			for _, w := range words {
				args = append(args, w.text)
			}
			refs, err = QEMUArgs(args)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range tc.want {
				want = append(want, s[:strings.IndexByte(s, '@')]+"@0")
			}
			if diff := cmp.Diff(want, refStrings(refs)); diff != "" {
				t.Errorf("QEMUArgs (-want +got)\n%s", diff)
			}
		})
	}
}
