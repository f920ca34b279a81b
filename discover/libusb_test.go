//go:build libusb

package discover

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gousb"

	"github.com/hostdev/hostdev/internal/testenv"
)

func TestFromLibusb(t *testing.T) {
	hid := gousb.InterfaceDesc{Number: 0, AltSettings: []gousb.InterfaceSetting{{Number: 0, Alternate: 0, Class: gousb.ClassHID, SubClass: 1, Protocol: 2}}}
	tests := []struct {
		name string
		desc gousb.DeviceDesc
		want Device
	}{{
		name: "root hub",
		desc: gousb.DeviceDesc{
			Bus: 3, Address: 1, Speed: gousb.SpeedHigh, Device: 0x0612,
			Vendor: 0x1d6b, Product: 0x0002, Class: gousb.ClassHub, Protocol: 1,
			Configs: map[int]gousb.ConfigDesc{1: {Number: 1, Interfaces: []gousb.InterfaceDesc{
				{Number: 0, AltSettings: []gousb.InterfaceSetting{{Class: gousb.ClassHub}}},
			}}},
		},
		want: Device{
			Bus: BusUSB, Name: "usb3", VendorID: 0x1d6b, ProductID: 0x0002,
			USB: &USB{
				Busnum: 3, Devnum: 1, Port: "0", Class: 9, Protocol: 1, BCD: 0x0612, Speed: "480",
				Devnode:    "/dev/bus/usb/003/001",
				Interfaces: []Interface{{Name: "3-0:1.0", Class: 9}},
			},
		},
	}, {
		name: "behind a hub, second config and alt settings ignored",
		desc: gousb.DeviceDesc{
			Bus: 1, Address: 12, Port: 1, Path: []int{3, 1}, Speed: gousb.SpeedFull,
			Vendor: 0x0627, Product: 0x0001, Device: 0x0000,
			Configs: map[int]gousb.ConfigDesc{
				2: {Number: 2, Interfaces: []gousb.InterfaceDesc{{Number: 0}, {Number: 1}, {Number: 2}}},
				1: {Number: 1, Interfaces: []gousb.InterfaceDesc{
					{Number: 1, AltSettings: []gousb.InterfaceSetting{
						{Number: 1, Alternate: 1, Class: gousb.ClassAudio, SubClass: 2},
						{Number: 1, Alternate: 0, Class: gousb.ClassAudio, SubClass: 1},
					}},
					hid,
				}},
			},
		},
		want: Device{
			Bus: BusUSB, Name: "1-3.1", VendorID: 0x0627, ProductID: 0x0001, Parent: "1-3",
			USB: &USB{
				Busnum: 1, Devnum: 12, Port: "3.1", Speed: "12",
				Devnode: "/dev/bus/usb/001/012",
				Interfaces: []Interface{
					{Name: "1-3.1:1.0", Number: 0, Class: 3, Subclass: 1, Protocol: 2},
					{Name: "1-3.1:1.1", Number: 1, Class: 1, Subclass: 1},
				},
			},
		},
	}, {
		name: "on a root hub port, super speed plus, no configs",
		desc: gousb.DeviceDesc{Bus: 2, Address: 2, Port: 4, Path: []int{4}, Speed: 5, Vendor: 0x0bda, Product: 0x8153},
		want: Device{
			Bus: BusUSB, Name: "2-4", VendorID: 0x0bda, ProductID: 0x8153, Parent: "usb2",
			USB: &USB{Busnum: 2, Devnum: 2, Port: "4", Speed: "10000", Devnode: "/dev/bus/usb/002/002"},
		},
	}, {
		name: "speed libusb does not know",
		desc: gousb.DeviceDesc{Bus: 1, Address: 5, Path: []int{2}, Speed: gousb.SpeedUnknown},
		want: Device{
			Bus: BusUSB, Name: "1-2", Parent: "usb1",
			USB: &USB{Busnum: 1, Devnum: 5, Port: "2", Devnode: "/dev/bus/usb/001/005"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromLibusb(&tt.desc)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fromLibusb (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromLibusbSpeeds(t *testing.T) {
	want := map[gousb.Speed]Speed{gousb.SpeedLow: "1.5", gousb.SpeedFull: "12", gousb.SpeedHigh: "480", gousb.SpeedSuper: "5000", 5: "10000", 6: "20000", 99: ""}
	for s, w := range want {
		if got := fromLibusb(&gousb.DeviceDesc{Bus: 1, Address: 2, Speed: s}).USB.Speed; got != w {
			t.Errorf("speed %d: got %q, want %q", s, got, w)
		}
	}
}

// TestScanLibusbHost runs the backend on this host: with or without USB,
// libusb must start (or fail with an error, not a panic) and every device
// it lists must be named.
func TestScanLibusbHost(t *testing.T) {
	res, err := Scan(context.Background(), Options{USBBackend: USBLibusb, Buses: []Bus{BusUSB}, Numeric: true})
	if err != nil {
		testenv.Skip(t, "libusb cannot start here: %v", err)
	}
	for _, d := range res.Devices {
		if d.Name == "" || d.USB == nil || d.USB.Busnum == 0 {
			t.Errorf("device %+v", d)
		}
	}
	t.Logf("%d devices, %d warnings", len(res.Devices), len(res.Warnings))
}
