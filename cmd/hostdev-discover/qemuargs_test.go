package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestResolveQEMUCommandLine: after --, an option and its value are two
// words, as the shell gives them, and a whole command line resolves every
// host device in it (issue 14, defect 1).
func TestResolveQEMUCommandLine(t *testing.T) {
	root := smallHost(t)
	const (
		ftdi1  = "usb 001.003 1-2.1 0403:6001 FTDI FT232R USB UART serial=A7022OO1 drivers=ftdi_sio\n"
		ftdi2  = "usb 001.004 1-2.2 0403:6001 FTDI FT232R USB UART serial=A7022OO2 drivers=ftdi_sio\n"
		tablet = "usb 001.005 1-3 0627:0001 QEMU USB Tablet serial=28754-0000:00:04.0-1 drivers=usbhid\n"
		audio  = "pci 0000:00:1f.3 8086:a348 040300 driver=snd_hda_intel iommu_group=3\n"
	)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"usb-host", []string{"--", "-device", "usb-host,hostbus=1,hostaddr=4"}, 0, ftdi2, ""},
		{"usbdevice", []string{"--", "-usbdevice", "host:1.3"}, 0, ftdi1, ""},
		{"vfio-pci", []string{"--", "-device", "vfio-pci,host=00:1f.3"}, 0, audio, ""},
		{"JSON", []string{"--", "-device", `{"driver":"usb-host","hostbus":1,"hostport":"2.2","bootindex":1}`}, 0, ftdi2, ""},
		{"libvirt's bootindex", []string{"--", "-device", "usb-host,hostbus=1,hostaddr=5,id=hostdev0,bus=usb.0,port=1,bootindex=1"}, 0, tablet, ""},
		{"whole command line", strings.Fields("-- qemu-system-x86_64 -machine q35 -m 4G -name usb-host -drive file=x.qcow2 -device usb-host,vendorid=0x0627,productid=0x0001 -device vfio-pci,host=0000:00:1f.3 -netdev user,id=n0"),
			0, tablet + audio, ""},
		{"selectors first", []string{"serial=A7022OO1", "--", "-device", "usb-host,hostbus=1,hostport=2.2"}, 0, ftdi1 + ftdi2, ""},
		{"a misspelt option", []string{"--", "-devcie", "usb-host,hostbus=1,hostaddr=4"}, 2, "", `QEMU "-devcie": no such option; did you mean -device?`},
		{"no host device", []string{"--", "-m", "4G", "-device", "qemu-xhci"}, 2, "", "names no host USB or PCI device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := hostdev(t, append([]string{"resolve", "-n", "--root", root}, tc.args...)...)
			if code != tc.code || out != tc.stdout || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d with %q\nstdout (-want +got)\n%s", code, errs, tc.code, tc.stderr, cmp.Diff(tc.stdout, out))
			}
		})
	}
	// check reads the same command line.
	code, out, errs := hostdev(t, "check", "-n", "--root", root, "--", "-device", "usb-host,hostbus=1,hostaddr=3")
	if code != 0 || !strings.HasPrefix(out, strings.TrimSuffix(ftdi1, "\n")) {
		t.Errorf("check: exit %d\n%s%s", code, out, errs)
	}
}

// TestFillQEMU: fill writes hostbus and hostport into a script's
// usb-host chosen by vendor and product, and nothing else (defect 7).
func TestFillQEMU(t *testing.T) {
	root := smallHost(t)
	const script = "#!/bin/sh\nexec qemu-system-x86_64 -m 1G \\\n  -device 'usb-host,vendorid=0x0627,productid=0x0001,bootindex=1' \\\n  -device vfio-pci,host=00:1f.3 # the sound card\n"
	p := writeFile(t, "vm.sh", script)
	code, out, errs := hostdev(t, "fill", "-n", "--root", root, p)
	want := strings.Replace(script, "bootindex=1'", "bootindex=1,hostbus=1,hostport=3'", 1)
	if code != 0 || out != want {
		t.Errorf("exit %d, stderr %q\n(-want +got)\n%s", code, errs, cmp.Diff(want, out))
	}
	if wantErr := p + ":3: wrote hostbus=1,hostport=3: QEMU takes the device at that port again after a replug\n"; errs != wantErr {
		t.Errorf("stderr %q, want %q", errs, wantErr)
	}
	// Two identical adapters: nothing is written, and the error says how
	// to pick one in QEMU's terms.
	p = writeFile(t, "two.sh", "-device usb-host,vendorid=0x0403,productid=0x6001\n")
	code, out, errs = hostdev(t, "fill", "-n", "--root", root, p)
	if code != 4 || out != "" || !strings.Contains(errs, "use hostbus=1,hostport=2.1 or hostbus=1,hostport=2.2") {
		t.Errorf("ambiguous: exit %d\n%s%s", code, out, errs)
	}
}

// TestFillQEMUMoved: a usb-host whose remembered address is stale says
// both that the device moved and what was written.
func TestFillQEMUMoved(t *testing.T) {
	root := smallHost(t)
	p := writeFile(t, "vm.sh", "-device usb-host,vendorid=0x0627,productid=0x0001,hostbus=1,hostaddr=9\n")
	code, out, errs := hostdev(t, "fill", "-n", "--root", root, p)
	if want := "-device usb-host,vendorid=0x0627,productid=0x0001,hostbus=1,hostaddr=5\n"; code != 0 || out != want {
		t.Errorf("exit %d, stderr %q\n(-want +got)\n%s", code, errs, cmp.Diff(want, out))
	}
	if want := p + ":1: 0627:0001 moved from 001.009 to 001.005; wrote hostbus=1,hostaddr=5; hostaddr changes on every replug, and hostport=3 in its place would follow the device\n"; errs != want {
		t.Errorf("stderr (-want +got)\n%s", cmp.Diff(want, errs))
	}
}
