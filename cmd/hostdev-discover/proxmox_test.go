package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/internal/testenv"
)

const pveVM = `#a VM%3A passthrough
boot: order=scsi0
hostpci0: 00:14.0,pcie=1
hostpci1: mapping=audio
usb0: host=0627:0001
usb1: host=1-2.2,usb3=1
usb2: mapping=ftdi
vmgenid: 54d1c06c-8f5b-440f-b5b2-6eab1380e13d

[snap1]
usb0: host=0403:6001
`

const pveUSBMap = `ftdi
	map id=0403:6001,node=pve1,path=1-2.1
	map id=0403:6001,node=pve2,path=3-1
`

const pvePCIMap = `audio
	description the onboard audio
	map id=8086:a348,iommugroup=3,node=pve1,path=0000:00:1f.3
`

// resolve, check and fill read a Proxmox config, with its mappings.
func TestProxmoxCLI(t *testing.T) {
	root := smallHost(t)
	vm := writeFile(t, "100.conf", pveVM)
	usb := writeFile(t, "usb.cfg", pveUSBMap)
	pci := writeFile(t, "pci.cfg", pvePCIMap)
	maps := []string{"--mapping", usb, "--mapping", pci, "--node", "pve1"}
	var all strings.Builder
	for _, tc := range []struct {
		args []string
		code int
	}{
		{append([]string{"resolve", "-n", "--root", root, "-f", vm}, maps...), 0},
		{append([]string{"resolve", "-n", "--root", root, "-f", vm, "--format", "proxmox"}, maps...), 0},
		{[]string{"resolve", "-n", "--root", root, "--format", "proxmox", "serial=A7022OO1", "host:0627:0001", "00:1f.3"}, 0},
		{[]string{"resolve", "-n", "--root", root, "-f", vm}, 2},
		{[]string{"resolve", "-n", "--root", root, "usb0: host=0403:6001"}, 4},
		{append([]string{"resolve", "-n", "--root", root, "-f", vm}, "--mapping", usb, "--mapping", pci, "--node", "pve2"), 2},
		{[]string{"resolve", "-n", "--root", root, "--node", "pve1", "host=0627:0001"}, 2},
		// hostpci0 and the mapping's hostpci1 fill IOMMU group 3: the VM
		// takes it whole.
		{append([]string{"check", "-n", "--root", root, "-f", vm}, maps...), 0},
	} {
		code, out, errs := hostdev(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out, errs)
		}
		args := strings.Join(tc.args, " ")
		args = strings.NewReplacer(root, "ROOT", filepath.Dir(vm), "DIR", filepath.Dir(usb), "DIR", filepath.Dir(pci), "DIR").Replace(args)
		errs = strings.NewReplacer(filepath.Dir(vm), "DIR", filepath.Dir(usb), "DIR", filepath.Dir(pci), "DIR").Replace(errs)
		all.WriteString("$ hostdev-discover " + args + "\n" + out + errs + "\n")
	}
	testenv.Golden(t, filepath.Join("testdata", "proxmox.txt"), all.String(), *update)

	// fill checks and changes no byte.
	code, out, errs := hostdev(t, append([]string{"fill", "-n", "--root", root, vm}, maps...)...)
	if code != 0 || out != pveVM {
		t.Errorf("fill: exit %d\n%s%s", code, out, errs)
	}
	// Without the mappings, fill says what to give.
	code, _, errs = hostdev(t, "fill", "-n", "--root", root, vm)
	if code == 0 || !strings.Contains(errs, "mapping=ftdi: give the cluster's mappings (/etc/pve/mapping/usb.cfg) to resolve it") {
		t.Errorf("fill without mappings: exit %d\n%s", code, errs)
	}
}
