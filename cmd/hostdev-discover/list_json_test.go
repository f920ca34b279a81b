package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/readiness"
)

// TestWriteJSONAsEncoder checks that the streamed list --json is, byte for
// byte, what an indented json.Encoder writes for the whole document: the
// contract other tools read did not change when it stopped being built in
// memory. Strings carry what Encoder escapes (<, >, &, U+2028).
func TestWriteJSONAsEncoder(t *testing.T) {
	serial := "<a&b>\u2028"
	usb := discover.Device{Bus: discover.BusUSB, Name: "1-2", VendorID: 0x0403, ProductID: 0x6001,
		USB: &discover.USB{Busnum: 1, Devnum: 5, Port: "2", Serial: &serial,
			Interfaces: []discover.Interface{{Name: "1-2:1.0", Driver: "ftdi_sio"}}}}
	pci := discover.Device{Bus: discover.BusPCI, Name: "0000:00:1f.3", PCI: &discover.PCI{Class: 0x040300}}
	verdicts := []readiness.Verdict{
		{Device: usb, Assignable: true},
		{Device: pci, Reasons: []readiness.Reason{{Code: readiness.NoIOMMU, Message: "off", Fix: []string{"a", "b"}}}},
	}
	warns := []discover.Warning{{Device: "1-2", Path: "/sys/x", Err: errors.New("bad")}}
	for _, tc := range []struct {
		name  string
		devs  []readiness.Verdict
		warns []discover.Warning
	}{
		{"both", verdicts, warns},
		{"no warnings", verdicts, nil},
		{"nothing", nil, nil},
		{"one device", verdicts[1:], warns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			devs, ws := tc.devs, tc.warns
			if devs == nil {
				devs = []readiness.Verdict{}
			}
			if ws == nil {
				ws = []discover.Warning{}
			}
			if err := enc.Encode(struct {
				Devices  []readiness.Verdict `json:"devices"`
				Warnings []discover.Warning  `json:"warnings"`
			}{devs, ws}); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeJSON(&got, tc.devs, tc.warns); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("writeJSON differs from json.Encoder (-want +got):\n%s", diff)
			}
		})
	}
}
