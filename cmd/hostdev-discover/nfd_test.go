package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfstest"
)

// Kubernetes' forms for a label's name (without a prefix) and value
// (k8s.io/apimachinery/pkg/util/validation: IsQualifiedName, IsValidLabelValue).
var (
	labelName  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
)

// readFeatureFile reads a feature file as Node Feature Discovery's local
// source does: "# +" lines are directives, other "#" lines comments, and
// NAME=VALUE or NAME a label. It fails the test on any line NFD would
// complain about, or a label Kubernetes would refuse.
func readFeatureFile(t *testing.T, doc string) (labels map[string]string, expiry string) {
	t.Helper()
	labels = map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(doc, "\n"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "# +"):
			k, v, _ := strings.Cut(line[3:], "=")
			if k != "expiry-time" {
				t.Errorf("directive %q", line)
			}
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				t.Errorf("%q: %v", line, err)
			}
			expiry = v
		case strings.HasPrefix(line, "#"), line == "":
		default:
			k, v, _ := strings.Cut(line, "=")
			if !labelName.MatchString(k) || !labelValue.MatchString(v) {
				t.Errorf("label %q is not one Kubernetes takes", line)
			}
			if _, dup := labels[k]; dup {
				t.Errorf("label %s given twice", k)
			}
			labels[k] = v
		}
	}
	return labels, expiry
}

func TestNFD(t *testing.T) {
	root := smallHost(t)
	code, out, errs := hostdev(t, "nfd", "--root", root, "one=serial=A7022OO1", "ftdi=host:0403:6001", "tablet=host:0627:0001", "none=host:dead:beef", "audio=00:1f.3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got, expiry := readFeatureFile(t, out)
	if expiry != "" {
		t.Errorf("an expiry without --expiry: %s", expiry)
	}
	// 0000:00:14.0 and 0000:00:1f.3 share group 3, both on host drivers.
	want := map[string]string{
		"hostdev-iommu":         "true",
		"hostdev-viable-groups": "0",
		"hostdev-one":           "true", "hostdev-one.count": "1",
		"hostdev-ftdi": "true", "hostdev-ftdi.count": "2",
		"hostdev-tablet": "true", "hostdev-tablet.count": "1",
		"hostdev-audio": "true", "hostdev-audio.count": "1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s\n%s", diff, out)
	}
}

// The name of NAME=SELECTOR goes into a label's name: only the form a
// label takes is accepted, and a bad selector is the usual usage error.
func TestNFDArguments(t *testing.T) {
	root := smallHost(t)
	for _, args := range [][]string{
		{"Yubikey=host:1050:0407"},
		{"host:1050:0407"},
		{"a_b=host:1050:0407"},
		{strings.Repeat("x", 41) + "=host:1050:0407"},
		{"x=serial="},
		{"x=host:1050:0407", "x=host:1050:0408"},
		{"--expiry", "-1s", "x=host:1050:0407"},
	} {
		code, out, errs := hostdev(t, append([]string{"nfd", "--root", root}, args...)...)
		if code != exitUsage || out != "" || errs == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want a usage error", args, code, out, errs)
		}
	}
	_, _, errs := hostdev(t, "nfd", "--root", root, "serial=A7022OO1")
	if !strings.Contains(errs, "without a NAME; give NAME=SELECTOR, as in mykey=serial=A7022OO1") {
		t.Errorf("a selector without a name: %q", errs)
	}
}

// With --watch and -o, the file follows the devices: a plug that matches
// adds labels, its unplug takes them away, and the file is always whole.
func TestNFDWatch(t *testing.T) {
	tr := pluggable(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "hostdev")
	f := start(t, "nfd", "--watch", "--expiry", "1h", "-o", file, "--root", tr.Root(), "key=host:0483:2016")
	waitLabels := func(what string, ok func(map[string]string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			doc, err := os.ReadFile(file)
			if err == nil {
				labels, expiry := readFeatureFile(t, string(doc))
				if expiry == "" {
					t.Fatalf("no expiry in %q", doc)
				}
				if ok(labels) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not in 10s; file %q (%v); stderr %q", what, doc, err, f.err.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLabels("first write", func(l map[string]string) bool { return l["hostdev-iommu"] == "false" && l["hostdev-key"] == "" })
	tr.Plug(stick("1", "K1"))
	tr.Plug(stick("2", "K2"))
	waitLabels("two keys", func(l map[string]string) bool { return l["hostdev-key.count"] == "2" })
	tr.Unplug("1-1")
	waitLabels("one key", func(l map[string]string) bool { return l["hostdev-key.count"] == "1" })
	tr.Unplug("1-2")
	waitLabels("no key", func(l map[string]string) bool { _, ok := l["hostdev-key"]; return !ok })
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("%s: %v, mode %v; want 0644 for NFD to read", file, err, st.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".hostdev-nfd-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
	if f.out.String() != "" {
		t.Errorf("stdout %q, want nothing with -o", f.out.String())
	}
}

// A group whose endpoints are all free for VFIO is viable; its bridges do
// not count, and neither does a shared group's endpoint.
func TestNFDViable(t *testing.T) {
	tr := sysfstest.NewHostAt(t.TempDir())
	g1, g2 := 1, 2
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x1901, Class: 0x060400, Driver: "pcieport", IOMMUGroup: &g1})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Driver: "vfio-pci", IOMMUGroup: &g1})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x10de, Device: 0x22ba, Class: 0x040300, Driver: "vfio-pci", IOMMUGroup: &g1})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.0", Vendor: 0x8086, Device: 0xa36d, Class: 0x0c0330, Driver: "xhci_hcd", IOMMUGroup: &g2})
	tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:14.2", Vendor: 0x8086, Device: 0xa36f, Class: 0x050000, IOMMUGroup: &g2})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := hostdev(t, "nfd", "--root", tr.Root(), "--expiry", "10m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got, expiry := readFeatureFile(t, out)
	if at, err := time.Parse(time.RFC3339, expiry); err != nil || time.Until(at) < 9*time.Minute || time.Until(at) > 11*time.Minute {
		t.Errorf("expiry %q, want in 10 minutes", expiry)
	}
	want := map[string]string{
		"hostdev-iommu": "true", "hostdev-viable-groups": "1",
		"hostdev-pci-10de-2684.viable": "1", "hostdev-pci-10de-22ba.viable": "1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s\n%s", diff, out)
	}
}
