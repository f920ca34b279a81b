package readiness

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/snapshot"
)

// TestCorpusI7 checks the verdicts on ghw-i7-1270P, a laptop (Alder Lake-P)
// captured with its iommu_group links but without /sys/kernel/iommu_groups
// itself. The links alone name the groups; read from the capture
// (class, driver):
//
//	 0  00:02.0 VGA 0300 i915
//	 1  00:00.0 host bridge 0600 igen6_edac
//	 2  00:04.0 signal processing 1180 proc_thermal_pci
//	 3  00:06.0 PCI bridge 0604 pcieport
//	 4  00:07.0 PCI bridge 0604 pcieport
//	 5  00:07.2 PCI bridge 0604 pcieport
//	 6  00:08.0 system peripheral 0880, no driver
//	 7  00:0a.0 signal processing 1180 intel_vsec
//	 8  00:0d.0 USB 0c03 xhci_hcd; 00:0d.2, 00:0d.3 USB4 0c03 thunderbolt
//	 9  00:14.0 USB 0c03 xhci_hcd; 00:14.2 RAM 0500, no driver
//	10  00:14.3 network 0280 iwlwifi
//	11  00:15.0, 00:15.1 serial bus 0c80 intel-lpss
//	12  00:16.0 communication 0780 mei_me; 00:16.3 serial 0700 serial
//	13  00:1f.0 ISA bridge 0601, no driver; 00:1f.3 audio 0403
//	    sof-audio-pci-intel-tgl; 00:1f.4 SMBus 0c05 i801_smbus;
//	    00:1f.5 serial bus 0c80 intel-spi
//	14  04:00.0 NVMe 0108 nvme
//
// By hand, with VFIO's rule (every endpoint of a group must be unbound or
// on vfio-pci/pci-stub; bridges do not count):
//   - groups of one endpoint (0, 2, 6, 7, 10, 14) are viable; the host
//     bridge's (1) and the root ports' (3, 4, 5) hold nothing to assign;
//   - 8, 11 and 12 have two or three endpoints, all on host drivers:
//     shared with all of them, and each is group-shared and host-driver;
//   - 9: 00:14.2 has no driver, so 00:14.0 is only host-driver, while
//     00:14.2 is group-shared because of 00:14.0 (xhci_hcd);
//   - 13: the ISA bridge is no endpoint, is unbound, and does not count
//     either way; the three others share the group with each other.
//
// The IOMMU counts as on: the links say it was, though the group
// directories were not captured. The file reset_method, boot_vga and
// config were not captured either, so no-reset, boot-vga and the header
// type play no part.
func TestCorpusI7(t *testing.T) {
	root, cleanup, err := snapshot.Unpack(testenv.CorpusArchive(t, "ghw-i7-1270P"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	res, err := discover.Scan(context.Background(), discover.Options{Root: root, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Assess(res.Devices, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.IOMMU || rep.Vendor != "intel" {
		t.Errorf("IOMMU %v, vendor %q; want on, intel", rep.IOMMU, rep.Vendor)
	}
	shared := []Code{no, GroupShared, HostDriver}
	want := map[string][]Code{
		"0000:00:00.0": {no, HostBridge},
		"0000:00:02.0": {HostDriver},
		"0000:00:04.0": {HostDriver},
		"0000:00:06.0": {no, Bridge},
		"0000:00:07.0": {no, Bridge},
		"0000:00:07.2": {no, Bridge},
		"0000:00:08.0": {},
		"0000:00:0a.0": {HostDriver},
		"0000:00:0d.0": shared,
		"0000:00:0d.2": shared,
		"0000:00:0d.3": shared,
		"0000:00:14.0": {HostDriver},
		"0000:00:14.2": {no, GroupShared},
		"0000:00:14.3": {HostDriver},
		"0000:00:15.0": shared,
		"0000:00:15.1": shared,
		"0000:00:16.0": shared,
		"0000:00:16.3": shared,
		"0000:00:1f.0": {no, ISABridge},
		"0000:00:1f.3": shared,
		"0000:00:1f.4": shared,
		"0000:00:1f.5": shared,
		"0000:04:00.0": {HostDriver},
	}
	if diff := cmp.Diff(want, codes(rep)); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	wantGroups := map[int]string{
		0: "viable", 1: "nothing", 2: "viable", 3: "nothing", 4: "nothing", 5: "nothing", 6: "viable", 7: "viable",
		8:  "shared with 0000:00:0d.0 (xhci_hcd), 0000:00:0d.2 (thunderbolt), 0000:00:0d.3 (thunderbolt)",
		9:  "shared with 0000:00:14.0 (xhci_hcd)",
		10: "viable",
		11: "shared with 0000:00:15.0 (intel-lpss), 0000:00:15.1 (intel-lpss)",
		12: "shared with 0000:00:16.0 (mei_me), 0000:00:16.3 (serial)",
		13: "shared with 0000:00:1f.3 (sof-audio-pci-intel-tgl), 0000:00:1f.4 (i801_smbus), 0000:00:1f.5 (intel-spi)",
		14: "viable",
	}
	if diff := cmp.Diff(wantGroups, verdicts(rep)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	// A device's group-shared names the others only.
	v, _ := rep.Verdict("0000:00:1f.3")
	if !strings.Contains(v.Reasons[0].Message, "shared with 0000:00:1f.4 (i801_smbus), 0000:00:1f.5 (intel-spi).") {
		t.Errorf("1f.3: %s", v.Reasons[0].Message)
	}
}
