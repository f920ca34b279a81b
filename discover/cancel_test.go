package discover

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/sysfstest"
)

// A scan stops within a device of its context's end, in the middle of a
// bus, rather than reading the rest of the bus first. The context is
// cancelled from the Recorder once a number of devices were read, so the
// test needs no timing.
func TestScanCancelledMidBus(t *testing.T) {
	root := t.TempDir()
	const nUSB, nPCI = 200, 200
	if err := sysfstest.Synthetic(root, nUSB, nPCI); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bus  Bus
		file string // the file read once per device
	}{
		{BusUSB, "/idVendor"},
		{BusPCI, "/modalias"},
	} {
		t.Run(string(tc.bus), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const cancelAt = 50
			read := 0
			rec := hooks{file: func(p string) {
				if strings.HasSuffix(p, tc.file) {
					if read++; read == cancelAt {
						cancel()
					}
				}
			}}
			res, err := Scan(ctx, Options{Root: root, Buses: []Bus{tc.bus}, Numeric: true, Recorder: rec})
			if !errors.Is(err, context.Canceled) || res != nil {
				t.Fatalf("Scan cancelled after %d devices: %v devices, error %v; want context.Canceled", cancelAt, res, err)
			}
			// The device being read when ctx ended is finished; no other
			// is started.
			if read != cancelAt {
				t.Errorf("read %d devices after cancelling at %d", read-cancelAt, cancelAt)
			}
		})
	}
}
