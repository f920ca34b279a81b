package discover

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/pciaddr"
)

// TestJSONUnclean: unclean names the device strings the text output
// would quote, and is absent when there are none.
func TestJSONUnclean(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		usb  USB
		want []string
		// lossy: JSON holds invalid UTF-8 as U+FFFD, so it does not
		// read back the same.
		lossy bool
	}{
		{"clean", USB{Manufacturer: str("ACME"), Product: str("Überkabel™ \"Pro\""), Serial: str("A 1")}, nil, false},
		{"none", USB{}, nil, false},
		{"escape in serial", USB{Product: str("Key"), Serial: str("K\x1b[31mX\x07")}, []string{"serial"}, false},
		{"c1 and bidi", USB{Manufacturer: str("a\u009b2J"), Product: str("abc\u202edef"), Serial: str("")}, []string{"manufacturer", "product"}, false},
		{"invalid utf-8", USB{Serial: str("Caf\xe9")}, []string{"serial"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Device{Bus: BusUSB, Name: "1-1", USB: &tc.usb}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Unclean []string `json:"unclean"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Unclean); diff != "" {
				t.Errorf("unclean (-want +got):\n%s\n%s", diff, b)
			}
			if tc.want == nil && strings.Contains(string(b), `"unclean"`) {
				t.Errorf("unclean given for a clean device: %s", b)
			}
			if tc.lossy {
				return
			}
			var back Device
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(d, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// Strings a captured tree supplies besides the device's own (its paths,
// its drivers) are anyone's too, on either bus.
func TestJSONUncleanTreeStrings(t *testing.T) {
	addr := func(s string) *pciaddr.Address { a, _ := pciaddr.Parse(s); return &a }
	for _, tc := range []struct {
		name string
		d    Device
		want []string
	}{
		{"usb interface driver and path", Device{Bus: BusUSB, Name: "1-1", SysfsPath: "/sys/devices/\x1b]0;x\x07/1-1",
			USB: &USB{Interfaces: []Interface{{Name: "1-1:1.0", Driver: "ok"}, {Name: "1-1:1.1", Driver: "HDA\u202eIntel"}}}},
			[]string{"sysfs_path", "interfaces[1].driver"}},
		{"pci driver and override", Device{Bus: BusPCI, Name: "0000:01:00.0",
			PCI: &PCI{Address: addr("0000:01:00.0"), Driver: "nv\x1b[2J", DriverOverride: "vfio-pci\n"}},
			[]string{"driver", "driver_override"}},
		{"pci clean, spaces allowed", Device{Bus: BusPCI, Name: "0000:00:1b.0",
			PCI: &PCI{Address: addr("0000:00:1b.0"), Driver: "HDA Intel"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Unclean []string `json:"unclean"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Unclean); diff != "" {
				t.Errorf("unclean (-want +got):\n%s\n%s", diff, b)
			}
		})
	}
}
