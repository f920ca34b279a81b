package discover

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

// TestAgreesWithLspci reads the same synthetic tree with lspci and with
// Scan, and compares address, class, IDs, revision and subsystem of every
// function: a check by a tool we did not write.
func TestAgreesWithLspci(t *testing.T) {
	lspci, err := exec.LookPath("lspci")
	if err != nil {
		testenv.Skip(t, "no lspci (apt-get install pciutils)")
	}
	root := t.TempDir()
	if err := sysfstest.Synthetic(root, 20, 300); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lspci, "-A", "linux-sysfs", "-O", "sysfs.path="+root+"/sys/bus/pci", "-n", "-mm", "-D").Output()
	if err != nil {
		t.Fatalf("lspci: %v", err)
	}
	// -mm -n: ADDR "CCSS" "VVVV" "DDDD" [-rRR] [-pPP] "SVVV" "SDDD"
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(strings.ReplaceAll(line, `"`, ""))
		rev, progif := "00", "00"
		var rest []string
		for _, x := range f[4:] {
			switch {
			case strings.HasPrefix(x, "-r"):
				rev = x[2:]
			case strings.HasPrefix(x, "-p"):
				progif = x[2:]
			default:
				rest = append(rest, x)
			}
		}
		sub := strings.Join(rest, ":")
		if sub == "" {
			sub = "0000:0000" // lspci leaves out a zero subsystem
		}
		want = append(want, fmt.Sprintf("%s %s%s %s:%s rev=%s sub=%s", f[0], f[1], progif, f[2], f[3], rev, sub))
	}
	res, err := Scan(context.Background(), Options{Root: root, Buses: []Bus{BusPCI}, Numeric: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range res.Devices {
		p := d.PCI
		var rev uint8
		if p.Revision != nil {
			rev = *p.Revision
		}
		got = append(got, fmt.Sprintf("%s %s %s:%s rev=%02x sub=%s:%s", d.Name, p.Class, d.VendorID, d.ProductID,
			rev, p.SubsystemVendorID, p.SubsystemProductID))
	}
	if len(got) < 300 {
		t.Errorf("scanned %d functions, want at least 300", len(got))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lspci (-) and Scan (+) disagree:\n%s", diff)
	}
}
