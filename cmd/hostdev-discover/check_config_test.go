package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
)

// TestCheckNamedTwice: one VM naming a device twice is refused by libvirt
// ("Hostdev already exists in the domain configuration") and by QEMU, so
// check reports it as blocking, naming every place, however the two
// references are written; the same device in two VMs' files, or in two of
// hostdev's own selectors, is not named twice.
func TestCheckNamedTwice(t *testing.T) {
	root := workstation(t, true)
	domain := writeFile(t, "guest.xml", `<domain type='kvm'>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x02' slot='0x10' function='0x4'/></source>
    </hostdev>
    <interface type='hostdev' managed='yes'>
      <source><address type='pci' domain='0' bus='2' slot='16' function='4'/></source>
    </interface>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source></hostdev>
    <hostdev mode='subsystem' type='usb'><source><address bus='1' device='6'/></source></hostdev>
  </devices>
</domain>
`)
	const otherDomain = `<domain type='kvm'><devices>
  <hostdev mode='subsystem' type='usb'><source><vendor id='0x0483'/><product id='0x2016'/></source></hostdev>
</devices></domain>
`
	other, other2 := writeFile(t, "other.xml", otherDomain), writeFile(t, "other.xml", otherDomain)
	xl := writeFile(t, "guest.cfg", "name = 'g'\npci = [ '02:10.4', '0000:02:10.4,permissive=1' ]\n")

	// From the file's directory, so that the report names it alike on
	// every run.
	golden, err := filepath.Abs(filepath.Join("testdata", "check-named-twice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(domain))
	code, out, errs := hostdev(t, "check", "-n", "--root", root, "-f", "guest.xml")
	if code != exitNotAssignable || !strings.Contains(errs, "4 of 4 devices are not assignable") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	testenv.Golden(t, golden, out, *update)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		places []string // the places every named-twice reason names, or none
	}{
		{"xl", []string{"-f", xl}, exitNotAssignable, []string{xl + ":2, " + xl + ":2"}},
		{"QEMU options as arguments", []string{"-device vfio-pci,host=02:10.4", "-device vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:02:10.4"}, exitNotAssignable,
			[]string{"-device vfio-pci,host=02:10.4, -device vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:02:10.4"}},
		{"two VMs", []string{"-f", other, "-f", other2}, 0, nil},
		{"hostdev's own selectors", []string{"02:10.4", "0000:02:10.4"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := hostdev(t, append([]string{"check", "-n", "--json", "--root", root}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errs)
			}
			var places []string
			for _, line := range strings.Split(out, "\n") {
				if _, msg, ok := strings.Cut(line, `"message": "The VM's config names `); ok {
					_, p, _ := strings.Cut(msg, "(")
					p, _, _ = strings.Cut(p, ")")
					places = append(places, p)
				}
			}
			want := tc.places
			if len(want) == 1 {
				want = []string{want[0], want[0]}
			}
			if diff := cmp.Diff(want, places); diff != "" {
				t.Errorf("named-twice places (-want +got):\n%s\n%s", diff, out)
			}
		})
	}
}

// TestCheckFileSkipped: an element naming a host device hostdev does not
// resolve is a warning with its place, and the others are still checked;
// an <interface type='hostdev'> is checked, and without managed='yes' on a
// function a host driver holds, says so in its own terms.
func TestCheckFileSkipped(t *testing.T) {
	root := workstation(t, true)
	domain := writeFile(t, "guest.xml", `<domain type='kvm'>
  <devices>
    <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>
    <interface type='hostdev'>
      <source><address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/></source>
    </interface>
  </devices>
</domain>
`)
	code, out, errs := hostdev(t, "check", "-n", "--root", root, "-f", domain)
	if code != exitNotAssignable {
		t.Fatalf("exit %d; stderr %q", code, errs)
	}
	wantErr := "warning: " + domain + ":3: libvirt: <hostdev mode='subsystem' type='scsi'> names a host SCSI device, " +
		"not a USB device, PCI function or mediated device: hostdev neither resolves nor checks it\n"
	if !strings.HasPrefix(errs, wantErr) {
		t.Errorf("stderr:\n got %q\nwant it to start %q", errs, wantErr)
	}
	for _, s := range []string{"pci 0000:00:02.0", "[blocks] unmanaged", "Its <interface type='hostdev'> has no managed='yes'",
		"<interface type='hostdev' managed='yes'>"} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in\n%s", s, out)
		}
	}
	// resolve warns the same way.
	code, _, errs = hostdev(t, "resolve", "-n", "--root", root, "-f", domain)
	if code != 0 || errs != wantErr {
		t.Errorf("resolve: exit %d, stderr\n got %q\nwant %q", code, errs, wantErr)
	}
}

// TestResolveOtherBus: a PCI function's IDs typed in USB's form (copied
// from lspci -nn) are no match, with the selector that takes the device.
func TestResolveOtherBus(t *testing.T) {
	root := workstation(t, true)
	code, out, errs := hostdev(t, "resolve", "-n", "--root", root, "host:10de:1c82")
	const want = "hostdev-discover: no device matches 10de:1c82; nearest: 0000:01:00.0 (10de:1c82) is a PCI function, not a USB device: " +
		"select it with 01:00.0 or vendor=10de,product=1c82\n"
	if code != exitNoMatch || out != "" || errs != want {
		t.Errorf("exit %d, stdout %q, stderr\n got %q\nwant %q", code, out, errs, want)
	}
	if code, out, errs := hostdev(t, "resolve", "-n", "--root", root, "vendor=10de,product=1c82"); code != 0 || !strings.HasPrefix(out, "pci 0000:01:00.0 ") {
		t.Errorf("the advice: exit %d, %q, %q", code, out, errs)
	}
}

// A VM's config that names every endpoint of an IOMMU group that host
// drivers hold takes the group whole: the hypervisor detaches them all, so
// none of them is group-shared. One that leaves a member out still is,
// naming only the member left out.
func TestCheckGroupTakenTogether(t *testing.T) {
	root := workstation(t, true)
	const elem = `<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='1' slot='0' function='%d'/></source></hostdev>`
	both := writeFile(t, "both.xml", "<domain type='kvm'><devices>\n"+fmt.Sprintf(elem, 0)+"\n"+fmt.Sprintf(elem, 1)+"\n</devices></domain>\n")
	gpuOnly := writeFile(t, "gpu.xml", "<domain type='kvm'><devices>\n"+fmt.Sprintf(elem, 0)+"\n</devices></domain>\n")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		shared  bool
		comment string
	}{
		{"both functions in one domain", []string{"-f", both}, 0, false, ""},
		{"the GPU alone", []string{"-f", gpuOnly}, exitNotAssignable, true, "0000:01:00.1 (snd_hda_intel)"},
		{"the two as hostdev's own selectors, which belong to no VM", []string{"01:00.0", "01:00.1"}, exitNotAssignable, true, "0000:01:00.1 (snd_hda_intel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := hostdev(t, append([]string{"check", "-n", "--root", root}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q\n%s", code, tc.code, errs, out)
			}
			if got := strings.Contains(out, "group-shared"); got != tc.shared {
				t.Fatalf("group-shared reported %v, want %v:\n%s", got, tc.shared, out)
			}
			if tc.shared && !strings.Contains(out, "IOMMU group 1 is shared with "+tc.comment+".") {
				t.Errorf("the reason does not name %s:\n%s", tc.comment, out)
			}
		})
	}
}
