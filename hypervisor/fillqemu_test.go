package hypervisor

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFillQEMUOnlyInserts: filling QEMU options adds hostbus and hostport
// and changes no other byte: taking out what was added gives the input
// back, quotes, comments, spacing and line continuations included.
func TestFillQEMUOnlyInserts(t *testing.T) {
	added := regexp.MustCompile(`,hostbus=\d+,hostport=[0-9.]+|,"hostbus":\d+,"hostport":"[0-9.]+"`)
	for _, tc := range []struct {
		name, doc string
		changed   int
	}{
		{"script", "#!/bin/sh\n# keep me\nqemu-system-x86_64 -m 1G \\\n\t-device 'usb-host,vendorid=0x0403,productid=0x6001'  \\\n" +
			"  -device usb-host,id=cam,vendorid=1133,productid=2085 -name \"vm one\" \\\n" +
			"  -device \"usb-host,vendorid=0x0781,productid=0x5581\"\\\n" +
			"  -device '{\"driver\":\"usb-host\", \"vendorid\": 1027, \"productid\": 24577 }' \\\n" +
			"  -device vfio-pci,host=00:1f.3 # a comment, 'quoted'\r\n" +
			"device_add usb-host,vendorid=0x046d,productid=0x0825\n", 5},
		{"qmp", "{ \"execute\": \"device_add\",\n  \"arguments\": { \"driver\": \"usb-host\", \"vendorid\": 1921, \"productid\": 21889 } }\n\n" +
			"{\"driver\":\"usb-host\",\"vendorid\":1133,\"productid\":2085}", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			out, filled, d, err := Fill([]byte(doc), both(t))
			if err != nil || d != DialectQEMU {
				t.Fatalf("Fill: %s %v", d, err)
			}
			n := 0
			for _, f := range filled {
				if f.Err != nil {
					t.Errorf("line %d: %v", f.Ref.Line, f.Err)
				}
				if f.Changed {
					n++
				}
			}
			if n != tc.changed || len(added.FindAllString(string(out), -1)) != tc.changed {
				t.Errorf("%d changed, %d added; want %d:\n%s", n, len(added.FindAllString(string(out), -1)), tc.changed, out)
			}
			if diff := cmp.Diff(doc, added.ReplaceAllString(string(out), "")); diff != "" {
				t.Errorf("bytes other than the added ones changed (-in +out without them):\n%s", diff)
			}
		})
	}
}
