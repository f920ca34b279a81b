package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/discover"
)

func TestListUSBBackendUsage(t *testing.T) {
	root := smallHost(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"list", "--usb-backend", "usbfs"}, `--usb-backend "usbfs": want sysfs, libusb or both`},
		{[]string{"list", "--usb-backend="}, `--usb-backend "": want`},
		{[]string{"list", "--usb-backend", "both", "--bus", "pci"}, "cannot be used with --bus pci"},
	}
	if discover.HasLibusb {
		tests = append(tests,
			struct {
				args []string
				want string
			}{[]string{"list", "--usb-backend", "libusb", "--root", root}, "cannot be used with --root " + root},
			struct {
				args []string
				want string
			}{[]string{"list", "--usb-backend", "both", "--root", root}, "cannot be used with --root " + root},
		)
	} else {
		for _, b := range []string{"libusb", "both"} {
			tests = append(tests, struct {
				args []string
				want string
			}{[]string{"list", "--usb-backend", b}, "this build has no libusb backend; build with -tags libusb"})
		}
	}
	for _, tt := range tests {
		code, stdout, stderr := hostdev(t, tt.args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
	// sysfs, named, is the default.
	code, stdout, _ := hostdev(t, "list", "--usb-backend", "sysfs", "--root", root)
	_, want, _ := hostdev(t, "list", "--root", root)
	if code != exitOK || stdout != want {
		t.Errorf("--usb-backend sysfs: exit %d, stdout\n%s\nwant\n%s", code, stdout, want)
	}
}

// libusbView is what the libusb backend would make of devs: no strings,
// drivers, sysfs paths or maxchild.
func libusbView(devs []discover.Device) []discover.Device {
	var out []discover.Device
	for _, d := range devs {
		if d.USB == nil {
			continue
		}
		u := *d.USB
		u.Manufacturer, u.Product, u.Serial = nil, nil, nil
		u.MaxChild, u.Controller = 0, ""
		u.Interfaces = append([]discover.Interface(nil), u.Interfaces...)
		for i := range u.Interfaces {
			u.Interfaces[i].Driver = ""
		}
		d.USB, d.SysfsPath = &u, ""
		out = append(out, d)
	}
	return out
}

func TestReportUSBDifferences(t *testing.T) {
	res, err := discover.Scan(context.Background(), discover.Options{Root: smallHost(t), Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := reportUSBDifferences(&out, res.Devices, libusbView(res.Devices)); err != nil {
		t.Errorf("agreeing views: %v", err)
	}
	if got, want := out.String(), "usb-backend: sysfs and libusb agree on 5 USB devices\n"; got != want {
		t.Errorf("agreeing views printed %q, want %q", got, want)
	}

	lib := libusbView(res.Devices)
	lib = slicesDelete(lib, "1-2.2")
	for i := range lib {
		if lib[i].Name == "1-3" {
			lib[i].USB.Devnum = 99
			lib[i].USB.Speed = "12"
		}
	}
	lib = append(lib, discover.Device{Bus: discover.BusUSB, Name: "1-4", USB: &discover.USB{Busnum: 1, Devnum: 7, Port: "4"}})
	out.Reset()
	err = reportUSBDifferences(&out, res.Devices, lib)
	var bd *backendsDiffer
	if !errors.As(err, &bd) || bd.n != 4 {
		t.Errorf("differing views: error %v, want 4 differences", err)
	}
	want := `usb-backend: 1-2.2: only in sysfs
usb-backend: 1-3: devnum: sysfs 5, libusb 99
usb-backend: 1-3: speed: sysfs 480, libusb 12
usb-backend: 1-4: only in libusb
`
	if got := out.String(); got != want {
		t.Errorf("differing views printed\n%s\nwant\n%s", got, want)
	}
}

func slicesDelete(devs []discover.Device, name string) []discover.Device {
	var out []discover.Device
	for _, d := range devs {
		if d.Name != name {
			out = append(out, d)
		}
	}
	return out
}
