package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
)

const iommuGroupsDir = "sys/kernel/iommu_groups"

// IOMMUGroups lists the group numbers in /sys/kernel/iommu_groups, sorted.
// The kernel makes that directory when it boots, and fills it only when an
// IOMMU is on: a missing or empty one means DMA remapping is off. Entries
// that are not numbers are skipped.
func (f *FS) IOMMUGroups() ([]int, error) {
	d, err := f.openDir("", iommuGroupsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", show(iommuGroupsDir), unwrapPath(err))
	}
	defer d.Close()
	names, err := d.List()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", show(iommuGroupsDir), unwrapPath(err))
	}
	var groups []int
	for _, n := range names {
		if !isDigits(n) {
			continue
		}
		if g, err := strconv.Atoi(n); err == nil {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	return groups, nil
}
