package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/internal/testenv"
)

// incusShow is an Incus VM's config (incus config show) whose usb entry
// both FTDI cables of smallHost match.
const incusShow = `architecture: x86_64
devices:
  root:
    path: /
    pool: default
    type: disk
  ftdi:
    productid: "6001"
    type: usb
    vendorid: "0403"
  tablet:
    serial: 28754-0000:00:04.0-1
    type: usb
  audio:
    address: 00:1f.3
    type: pci
profiles:
- default
`

// TestIncusCommands: resolve -f says how many devices an Incus usb entry
// takes, check -f warns when it is more than one, fill checks and writes
// nothing, and the three new --format outputs read back through -f.
func TestIncusCommands(t *testing.T) {
	root := smallHost(t)
	cfg := writeFile(t, "vm.yaml", incusShow)
	var all strings.Builder
	run := func(args ...string) {
		t.Helper()
		code, out, errs := hostdev(t, args...)
		errs = strings.ReplaceAll(errs, cfg, "vm.yaml")
		shown := strings.ReplaceAll(args[0]+" "+strings.Join(args[4:], " "), cfg, "vm.yaml")
		fmt.Fprintf(&all, "$ hostdev-discover %s\nexit %d\n%s", shown, code, out)
		if errs != "" {
			fmt.Fprintf(&all, "stderr:\n%s", errs)
		}
		all.WriteString("\n")
	}
	run("resolve", "-n", "--root", root, "-f", cfg)
	run("check", "-n", "--root", root, "-f", cfg)
	run("fill", "-n", "--root", root, cfg)
	run("resolve", "-n", "--root", root, "incus config device add vm f usb vendorid=0403 productid=6001 busnum=01")
	for _, f := range []string{"incus", "cloud-hypervisor", "devnode"} {
		sels := []string{"serial=A7022OO1", "00:1f.3"}
		if f == "cloud-hypervisor" {
			sels = sels[1:]
		}
		args := append([]string{"resolve", "-n", "--root", root, "--format", f}, sels...)
		code, out, errs := hostdev(t, args...)
		if code != 0 {
			t.Fatalf("--format %s: exit %d: %s", f, code, errs)
		}
		fmt.Fprintf(&all, "$ hostdev-discover %s %s\n%s\n", args[0], strings.Join(args[4:], " "), out)
		// What one run prints, the next reads: one file of it with -f.
		p := writeFile(t, "out."+f, out)
		code, back, errs := hostdev(t, "resolve", "-n", "--root", root, "-f", p)
		want := 2
		if f == "cloud-hypervisor" {
			want = 1
		}
		if f == "devnode" {
			want = 3 // /dev/vfio/3 is the xHCI controller's group too
		}
		if code != 0 || strings.Count(back, "\n") != want || !strings.Contains(back, "0000:00:1f.3") || f != "cloud-hypervisor" && !strings.Contains(back, "1-2.1") {
			t.Errorf("-f of the %s output: exit %d\n%s%s", f, code, back, errs)
		}
	}
	testenv.Golden(t, filepath.Join("testdata", "incus.txt"), all.String(), *update)
}
