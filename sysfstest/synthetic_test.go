package sysfstest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// busEntries counts the entries of sys/bus/BUS/devices, devices and
// interfaces apart, and checks that every one resolves to a directory.
func busEntries(t *testing.T, root, bus string) (devices, interfaces int) {
	t.Helper()
	dir := filepath.Join(root, "sys/bus", bus, "devices")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, 0
		}
		t.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !fi.IsDir() {
			t.Errorf("sys/bus/%s/devices/%s does not resolve to a directory: %v", bus, e.Name(), err)
		}
		if strings.Contains(e.Name(), ":") && bus == "usb" {
			interfaces++
		} else {
			devices++
		}
	}
	return devices, interfaces
}

func TestSyntheticCounts(t *testing.T) {
	tests := []struct {
		name       string
		nUSB, nPCI int
	}{
		{"nothing", 0, 0},
		{"one root hub", 1, 0},
		{"one PCI function", 0, 1},
		{"two USB buses", 128, 0},
		{"PCI", 0, 40},
		{"both", 130, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := Synthetic(root, tt.nUSB, tt.nPCI); err != nil {
				t.Fatal(err)
			}
			usb, ifs := busEntries(t, root, "usb")
			pci, _ := busEntries(t, root, "pci")
			got := [2]int{usb, pci}
			want := [2]int{tt.nUSB, tt.nPCI + syntheticHostControllers(tt.nUSB)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entries in sys/bus/usb/devices and sys/bus/pci/devices (-want +got):\n%s", diff)
			}
			if ifs < usb {
				t.Errorf("%d USB interfaces for %d devices: every device has one or more", ifs, usb)
			}
		})
	}
}

// TestSyntheticShape checks the properties benchmarks rely on: several
// buses, hubs nested three deep and more, devnums below 128, the same
// vendor:product more than once, and PCI functions behind bridges.
func TestSyntheticShape(t *testing.T) {
	root := t.TempDir()
	if err := Synthetic(root, 130, 20); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "sys/bus/usb/devices")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	buses, ids := map[string]bool{}, map[string]int{}
	maxDepth, maxDevnum := 0, 0
	for _, e := range entries {
		name := e.Name()
		if strings.Contains(name, ":") || strings.HasPrefix(name, "usb") {
			continue
		}
		bus, port, _ := strings.Cut(name, "-")
		buses[bus] = true
		maxDepth = max(maxDepth, strings.Count(port, ".")+1)
		read := func(f string) string {
			b, err := os.ReadFile(filepath.Join(dir, name, f))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		if got := read("devpath"); got != port {
			t.Errorf("%s: devpath %q", name, got)
		}
		ids[read("idVendor")+":"+read("idProduct")]++
		var n int
		for _, c := range read("devnum") {
			n = n*10 + int(c-'0')
		}
		maxDevnum = max(maxDevnum, n)
	}
	if len(buses) != 2 {
		t.Errorf("%d USB buses, want 2", len(buses))
	}
	if maxDepth < 4 {
		t.Errorf("deepest port path has %d levels, want hubs three deep and a device behind", maxDepth)
	}
	if maxDevnum > 127 {
		t.Errorf("devnum %d beyond 127", maxDevnum)
	}
	if ids["1a86:7523"] < 2 || ids["1050:0407"] < 2 {
		t.Errorf("vendor:product counts %v: want repeats", ids)
	}
	// A function three bridges down: root port, switch up, switch down.
	deep, err := filepath.Glob(filepath.Join(root, "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:08.0/0000:03:00.0/config"))
	if err != nil || len(deep) != 1 {
		t.Errorf("no endpoint behind a switch: %v %v", deep, err)
	}
}

// TestSyntheticPlan checks large layouts in memory, where writing them
// would take too long for a test: past one root port and one PCI domain,
// and past one xHCI.
func TestSyntheticPlan(t *testing.T) {
	const nUSB, nPCI = 1000, 30000
	fns, devs := syntheticPlan(nUSB, nPCI)
	if got, want := [2]int{len(devs), len(fns)}, [2]int{nUSB, nPCI + syntheticHostControllers(nUSB)}; got != want {
		t.Fatalf("planned %d USB devices and %d PCI functions, want %v", got[0], got[1], want)
	}

	type bridge struct{ childBus int }
	seen := map[string]*bridge{}
	domains := map[string]bool{}
	for _, f := range fns {
		if _, _, ok := parsePCIAddress(f.Address); !ok {
			t.Fatalf("bad address %q", f.Address)
		}
		if seen[f.Address] != nil {
			t.Fatalf("%s twice", f.Address)
		}
		seen[f.Address] = &bridge{childBus: -1}
		domains[strings.Split(f.Address, ":")[0]] = true
		if f.Parent == "" {
			continue
		}
		p := seen[f.Parent]
		if p == nil {
			t.Fatalf("%s: parent %s not before it", f.Address, f.Parent)
		}
		_, bus, _ := parsePCIAddress(f.Address)
		if p.childBus >= 0 && p.childBus != bus {
			t.Errorf("%s: bus %02x, but its siblings below %s are on %02x", f.Address, bus, f.Parent, p.childBus)
		}
		p.childBus = bus
	}
	for _, d := range []string{"0000", "10000", "0001"} {
		if !domains[d] {
			t.Errorf("no function in domain %s", d)
		}
	}

	type hub struct{ maxChild int }
	hubs := map[string]hub{}
	devnums := map[[2]int]bool{}
	for _, d := range devs {
		name := d.Name()
		if _, ok := hubs[name]; ok {
			t.Fatalf("%s twice", name)
		}
		if d.Port == "" {
			if seen[d.Controller] == nil {
				t.Errorf("%s: controller %s not planned", name, d.Controller)
			}
		} else {
			parent, port := "usb"+strconv.Itoa(d.Bus), d.Port
			if i := strings.LastIndexByte(d.Port, '.'); i >= 0 {
				parent, port = strconv.Itoa(d.Bus)+"-"+d.Port[:i], d.Port[i+1:]
			}
			n, _ := strconv.Atoi(port)
			if h, ok := hubs[parent]; !ok || n > h.maxChild {
				t.Errorf("%s: parent %s (planned %v) has no port %d", name, parent, ok, n)
			}
		}
		hubs[name] = hub{d.MaxChild}
		if d.Devnum < 1 || d.Devnum > 127 || devnums[[2]int{d.Bus, d.Devnum}] {
			t.Errorf("%s: devnum %d out of range or taken", name, d.Devnum)
		}
		devnums[[2]int{d.Bus, d.Devnum}] = true
	}
}

func TestSyntheticDeterministic(t *testing.T) {
	var dumps [2]string
	for i := range dumps {
		root := t.TempDir()
		if err := Synthetic(root, 30, 12); err != nil {
			t.Fatal(err)
		}
		d, err := dump(root)
		if err != nil {
			t.Fatal(err)
		}
		dumps[i] = string(d)
	}
	if dumps[0] != dumps[1] {
		t.Errorf("two Synthetic trees differ:\n%s", cmp.Diff(dumps[0], dumps[1]))
	}
}

func BenchmarkSynthetic(b *testing.B) {
	for _, bm := range []struct {
		name       string
		nUSB, nPCI int
	}{
		{"pci=10000", 0, 10000},
		{"usb=10000", 10000, 0},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				root := b.TempDir()
				if err := Synthetic(root, bm.nUSB, bm.nPCI); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
