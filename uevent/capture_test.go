package uevent

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestCaptured parses messages captured from a real kernel by
// `go test -run TestCapture -capture` (as root), and compares each with its
// .txt golden file (rewritten by -update).
//
// The files in testdata/capture came from a VM with kernel
// 6.18.44-fc-v1045 (no USB bus; virtio PCI devices), captured as root:
//   - pci-change-nodriver.bin: `echo change > uevent` of 0000:00:00.0, a
//     host bridge without a driver;
//   - pci-change-driver.bin: the same of 0000:00:01.0, bound to virtio-pci;
//   - pci-change-synth-args.bin: "change UUID HOSTDEV=capture" written to
//     0000:00:00.0.
func TestCaptured(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "capture", "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no captures in testdata/capture")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			// The kernel always sends these itself, and ends each string
			// with a NUL.
			for _, k := range []string{"ACTION", "DEVPATH", "SUBSYSTEM", "SEQNUM"} {
				if !bytes.Contains(raw, []byte("\x00"+k+"=")) {
					t.Errorf("no %s= in the message", k)
				}
			}
			if raw[len(raw)-1] != 0 {
				t.Error("the message does not end with NUL")
			}
			out, err := ev.AppendMessage(nil)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ev, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			testenv.Golden(t, strings.TrimSuffix(file, ".bin")+".txt", describe(raw, ev), *update)
		})
	}
}

// describe writes what a reader of the golden file wants to see: the
// message as it came, then the parsed fields.
func describe(raw []byte, ev Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bytes:\n", len(raw))
	for _, s := range bytes.SplitAfter(raw, []byte{0}) {
		if len(s) > 0 {
			fmt.Fprintf(&b, "\t%q\n", s)
		}
	}
	fmt.Fprintf(&b, "Action    %q\nDevpath   %q\nSubsystem %q\nDevtype   %q\nDriver    %q\nSeqnum    %d\n",
		ev.Action, ev.Devpath, ev.Subsystem, ev.Devtype, ev.Driver, ev.Seqnum)
	for _, k := range slices.Sorted(maps.Keys(ev.Env)) {
		fmt.Fprintf(&b, "Env %s=%q\n", k, ev.Env[k])
	}
	return b.String()
}
