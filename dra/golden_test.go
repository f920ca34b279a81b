package dra

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hostdev/hostdev/internal/testenv"
)

// render writes slices as the YAML documents kubectl would apply, after
// the warnings as comments.
func render(t testing.TB, inv *Inventory, node string) string {
	t.Helper()
	var b strings.Builder
	for _, w := range inv.Warnings {
		b.WriteString("# " + w.Error() + "\n")
	}
	for i, s := range inv.Slices(node, 1) {
		if err := validateSlice(s); err != nil {
			t.Errorf("slice %d: %v", i, err)
		}
		y, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.String()
}

// TestGolden: a fake host in, the node's ResourceSlices out. Refresh with
// go test ./dra -run TestGolden -update.
func TestGolden(t *testing.T) {
	h := workstation(t)
	inv := inventory(t, h.Root())
	testenv.Golden(t, filepath.Join("testdata", "workstation.yaml"), render(t, inv, "node-1"), *update)
}

// TestNeverPublished: hubs, root hubs and bridges of every kind are left
// out; every other device is in.
func TestNeverPublished(t *testing.T) {
	h := workstation(t)
	inv := inventory(t, h.Root())
	var got []string
	for _, d := range inv.Devices {
		got = append(got, d.Source.Name)
	}
	want := []string{"1-2.1", "1-2.2", "1-2.3", "1-2.4", "1-3", "1-4",
		"0000:00:14.0", "0000:01:00.0", "0000:01:00.1", "0000:03:00.0", "0000:04:00.0", "0000:05:00.0", "0000:05:10.0"}
	if !slices.Equal(got, want) {
		t.Errorf("published %v, want %v (no usb1, 1-2, 00:00.0, 00:01.0, 00:1c.0, 00:1f.0)", got, want)
	}
}

// TestPreparable: who can be prepared, what a prepare takes, and the taints
// and attributes that say so.
func TestPreparable(t *testing.T) {
	h := workstation(t)
	inv := inventory(t, h.Root())
	for _, tc := range []struct {
		name       string
		preparable bool
		viable     bool
		takes      string
		blockedBy  string
		taints     []string
	}{
		{"0000:01:00.0", true, false, "1", "", nil},
		{"0000:01:00.1", true, false, "0", "", nil},
		{"0000:03:00.0", false, false, "", "0000:04:00.0", []string{"hostdev.io/group-shared"}},
		{"0000:04:00.0", false, false, "", "0000:03:00.0", []string{"hostdev.io/group-shared"}},
		{"0000:05:10.0", true, true, "", "", nil},
		{"1-4", false, false, "", "", []string{"hostdev.io/unauthorized"}},
		{"1-2.1", true, false, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := bySource(inv, tc.name)
			if !ok {
				t.Fatal("not published")
			}
			a := d.API.Attributes
			if d.Preparable != tc.preparable || *a[AttrPreparable].BoolValue != tc.preparable {
				t.Errorf("preparable %v, attribute %v, want %v", d.Preparable, *a[AttrPreparable].BoolValue, tc.preparable)
			}
			var taints []string
			for _, tn := range d.API.Taints {
				taints = append(taints, tn.Key)
				if tn.Effect != "NoSchedule" || tn.Value != "" {
					t.Errorf("taint %s: value %q, effect %s, want none and NoSchedule", tn.Key, tn.Value, tn.Effect)
				}
			}
			if !slices.Equal(taints, tc.taints) {
				t.Errorf("taints %v, want %v", taints, tc.taints)
			}
			if d.Source.PCI == nil {
				return
			}
			if got := *a[AttrIOMMUGroupViable].BoolValue; got != tc.viable {
				t.Errorf("iommuGroupViable %v, want %v", got, tc.viable)
			}
			if got := *a[AttrPrepareTakes].StringValue; got != tc.takes {
				t.Errorf("prepareTakesFunctions %q, want %q", got, tc.takes)
			}
			if got := *a[AttrPrepareBlockedBy].StringValue; got != tc.blockedBy {
				t.Errorf("prepareBlockedBy %q, want %q", got, tc.blockedBy)
			}
		})
	}
}
