package sysfs

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/sysfstest"
)

func TestIOMMUGroups(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(*sysfstest.Host)
		want  []int
	}{
		{"no directory", func(tr *sysfstest.Host) {
			tr.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000})
		}, nil},
		{"empty directory", func(tr *sysfstest.Host) {
			tr.WriteFile("sys/kernel/iommu_groups/.keep", "")
		}, nil},
		{"groups", func(tr *sysfstest.Host) {
			for i, g := range []int{10, 2, 0} {
				tr.AddPCI(sysfstest.PCIFunction{Address: fmt.Sprintf("0000:00:%02x.0", i),
					Vendor: 0x8086, Device: 0x1234, Class: 0x0c0330, IOMMUGroup: &g})
			}
		}, []int{0, 2, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tr := sysfstest.NewHostAt(root)
			tc.build(tr)
			if err := tr.Err(); err != nil {
				t.Fatal(err)
			}
			got, err := openFS(t, root).IOMMUGroups()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
		})
	}
}
