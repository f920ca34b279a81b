package sysfstest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWritePCIControl(t *testing.T) {
	h := NewHost(t)
	g := 1
	h.AddPCI(PCIFunction{Address: "0000:01:00.0", Vendor: 0x10de, Device: 0x2684, Class: 0x030000, Driver: "nouveau", IOMMUGroup: &g})
	driverOf := func() string {
		t.Helper()
		l, err := os.Readlink(filepath.Join(h.Root(), "sys/bus/pci/devices/0000:01:00.0/driver"))
		if err != nil {
			return ""
		}
		return filepath.Base(l)
	}
	override := func() string {
		b, _ := os.ReadFile(filepath.Join(h.Root(), "sys/bus/pci/devices/0000:01:00.0/driver_override"))
		return strings.TrimSpace(string(b))
	}
	steps := []struct {
		rel, value string
		err        error
		driver     string
		override   string
	}{
		{"sys/bus/pci/drivers/vfio-pci/bind", "0000:01:00.0", unix.ENOENT, "nouveau", "(null)"}, // not loaded
		{"sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci\n", nil, "nouveau", "vfio-pci"},
		{"sys/bus/pci/drivers_probe", "0000:01:00.0", nil, "nouveau", "vfio-pci"}, // bound: no change
		{"sys/bus/pci/devices/0000:01:00.0/driver/unbind", "0000:01:00.0", nil, "", "vfio-pci"},
		{"sys/bus/pci/drivers_probe", "0000:01:00.0", nil, "", "vfio-pci"},                // vfio-pci not loaded: stays unbound
		{"sys/bus/pci/drivers/nouveau/bind", "0000:01:00.0", unix.ENODEV, "", "vfio-pci"}, // the override forbids it
		{"sys/bus/pci/drivers_probe", "0000:09:00.0", unix.EINVAL, "", "vfio-pci"},
		{"sys/bus/pci/devices/0000:01:00.0/driver_override", "\n", nil, "", "(null)"},
		{"sys/bus/pci/drivers_probe", "0000:01:00.0", nil, "nouveau", "(null)"}, // back by its ID
		{"sys/bus/pci/drivers/nouveau/unbind", "0000:01:00.0", nil, "", "(null)"},
		{"sys/bus/pci/drivers/nouveau/unbind", "0000:01:00.0", unix.ENODEV, "", "(null)"},
		{"sys/bus/pci/drivers/nouveau/bind", "0000:01:00.0", nil, "nouveau", "(null)"},
	}
	for i, s := range steps {
		err := h.WritePCIControl(s.rel, s.value)
		if !errors.Is(err, s.err) && !(err == nil && s.err == nil) {
			t.Errorf("step %d: %s < %q: %v, want %v", i, s.rel, s.value, err, s.err)
		}
		if d, o := driverOf(), override(); d != s.driver || o != s.override {
			t.Errorf("step %d: %s < %q: driver %q override %q, want %q %q", i, s.rel, s.value, d, o, s.driver, s.override)
		}
	}
	// Loaded, vfio-pci takes it through the override.
	h.WritePCIControl("sys/bus/pci/drivers/nouveau/unbind", "0000:01:00.0")
	h.AddDriver("pci", "vfio-pci")
	h.WritePCIControl("sys/bus/pci/devices/0000:01:00.0/driver_override", "vfio-pci")
	if err := h.WritePCIControl("sys/bus/pci/drivers_probe", "0000:01:00.0"); err != nil || driverOf() != "vfio-pci" {
		t.Errorf("probe with vfio-pci loaded: %v, driver %q", err, driverOf())
	}
}
