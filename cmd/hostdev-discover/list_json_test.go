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

// indentCases are JSON documents as encoding/json writes them, with what
// could trip an indenter that does not parse: brackets, commas, colons and
// escaped quotes and backslashes inside strings, empty and nested
// containers.
var indentCases = []any{
	map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{[]any{}, map[string]any{"x": nil}}},
	[]string{`{"}`, `\`, `\\"`, `[,:]`, "\u2028<&>", "tab\tnew\nline"},
	map[string]any{`k"ey:`: 1.5, "n": -3, "t": true, "f": false},
	struct {
		A []int `json:"a"`
		B string
	}{[]int{1, 2, 3}, `ends with \`},
	"plain",
	42,
	[]any{map[string]any{"deep": []any{map[string]any{"deeper": []any{1}}}}},
}

func checkIndent(t *testing.T, v any) {
	t.Helper()
	src, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, src, "    ", "  "); err != nil {
		t.Fatal(err)
	}
	if got := indentJSON(nil, src, "    ", "  "); string(got) != want.String() {
		t.Errorf("indentJSON(%s):\n%s\nwant (json.Indent):\n%s", src, got, want.String())
	}
}

func TestIndentJSON(t *testing.T) {
	for _, v := range indentCases {
		checkIndent(t, v)
	}
}

// FuzzIndentJSON puts arbitrary strings, as keys and values, into what
// encoding/json writes, and compares with json.Indent.
func FuzzIndentJSON(f *testing.F) {
	f.Add(`{"}`, `\`, 1)
	f.Add("[,:]", `"`, 0)
	f.Add("", "\xff\u2028", 3)
	f.Fuzz(func(t *testing.T, key, val string, n int) {
		list := make([]any, (n%5+5)%5)
		for i := range list {
			list[i] = map[string]any{key: val, "i": i, "e": []any{}}
		}
		checkIndent(t, map[string]any{key: list, val: map[string]string{key: val}})
	})
}
