package dra

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/readiness"
)

// A report from a full scan may hold mediated device instances, which
// have neither a name nor a DeviceClass here: they are not published, a
// warning says why, and the rest is published.
func TestMdevNotPublished(t *testing.T) {
	rep := &readiness.Report{Devices: []readiness.Verdict{
		{Device: discover.Device{Bus: discover.BusMdev, Name: "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
			Mdev: &discover.Mdev{UUID: "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d", IOMMUGroup: new(12)}}, Assignable: true},
		{Device: discover.Device{Bus: discover.BusUSB, Name: "1-2", VendorID: 0x0483, ProductID: 0x2016,
			USB: &discover.USB{Busnum: 1, Devnum: 4, Port: "2"}}, Assignable: true},
	}}
	inv := Build(rep)
	var names []string
	for _, d := range inv.Devices {
		names = append(names, d.API.Name)
	}
	if len(names) != 1 || names[0] != "usb-0483-2016-port-1-2" {
		t.Errorf("published %q, want only usb-0483-2016-port-1-2", names)
	}
	var warns []string
	for _, w := range inv.Warnings {
		warns = append(warns, w.Error())
	}
	want := []string{"f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d: not published: a mediated device (bus mdev); hostdev-dra publishes USB devices and PCI functions"}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
