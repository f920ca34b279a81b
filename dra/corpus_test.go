package dra

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

// TestCorpora builds the slices of every real capture in shared/corpora
// and checks them as the API server would: names, limits, values. The
// names three of them get are a golden file: the same laptop with its four
// FTDI adapters plugged straight in (usbid-laptop-1) and behind a chain of
// hubs with new device numbers (usbid-laptop-3) names them the same.
func TestCorpora(t *testing.T) {
	dir := filepath.Join(testenv.Shared(t), "corpora")
	archives, err := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	if err != nil || len(archives) == 0 {
		testenv.Skip(t, "no corpora in %s: %v", dir, err)
	}
	var mu sync.Mutex
	listed := map[string]*Inventory{}
	t.Run("each", func(t *testing.T) {
		for _, a := range archives {
			name := strings.TrimSuffix(filepath.Base(a), ".tar.gz")
			t.Run(name, func(t *testing.T) {
				t.Parallel() // most of the time is unpacking
				inv := inventory(t, sysfstest.Unpack(t, a))
				checkInventory(t, inv)
				mu.Lock()
				listed[name] = inv
				mu.Unlock()
			})
		}
	})

	var b strings.Builder
	bySerial := map[string]map[string]string{} // corpus: name: sysfs name
	for _, corpus := range []string{"usbid-laptop-1", "usbid-laptop-3", "systemd-thinkpad-2008"} {
		inv := listed[corpus]
		if inv == nil {
			testenv.Skip(t, "corpus %s is not in %s", corpus, dir)
		}
		bySerial[corpus] = map[string]string{}
		fmt.Fprintf(&b, "# %s\n", corpus)
		for _, d := range inv.Devices {
			var taints []string
			for _, tn := range d.API.Taints {
				taints = append(taints, tn.Key)
			}
			line := fmt.Sprintf("%-14s %-7s %s %s", d.Source.Name, d.NamedBy, d.API.Name, strings.Join(taints, ","))
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			if d.NamedBy == BySerial {
				bySerial[corpus][d.API.Name] = d.Source.Name
			}
		}
	}
	testenv.Golden(t, filepath.Join("testdata", "corpus-names.txt"), b.String(), *update)
	for _, serial := range []string{"a7022ooo", "a7022oop", "a7022ooq", "a7022oor"} {
		name := "usb-0403-6001-sn-" + serial
		one, three := bySerial["usbid-laptop-1"][name], bySerial["usbid-laptop-3"][name]
		if one == "" || three == "" || one == three {
			t.Errorf("%s: %q in usbid-laptop-1, %q in usbid-laptop-3; want it in both, at different ports", name, one, three)
		}
	}
}

// checkInventory checks names and slices as the API server would.
func checkInventory(t *testing.T, inv *Inventory) {
	t.Helper()
	seen := map[string]string{}
	for _, d := range inv.Devices {
		if errs := validation.IsDNS1123Label(d.API.Name); len(errs) > 0 {
			t.Errorf("%s: name %q: %v", d.Source.Name, d.API.Name, errs)
		}
		if other, dup := seen[d.API.Name]; dup {
			t.Errorf("%s and %s share %q", other, d.Source.Name, d.API.Name)
		}
		seen[d.API.Name] = d.Source.Name
	}
	for _, s := range inv.Slices("node-1", 1) {
		if err := validateSlice(s); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	for _, w := range inv.Warnings {
		t.Logf("warning: %v", w)
	}
}
