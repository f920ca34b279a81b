package hypervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// TestReadGoldenIncusCHV reads every document in testdata/incus and
// testdata/chv (see the README there for where the real ones come from)
// and resolves each reference on the fake host: what each reads as and
// what it takes is in NAME.golden.
func TestReadGoldenIncusCHV(t *testing.T) {
	devs := both(t)
	for _, dir := range []string{"incus", "chv"} {
		ins, err := filepath.Glob(filepath.Join("testdata", dir, "*.in"))
		if err != nil || len(ins) == 0 {
			t.Fatalf("no inputs in testdata/%s: %v", dir, err)
		}
		for _, in := range ins {
			t.Run(filepath.Base(in), func(t *testing.T) {
				doc, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				refs, d, err := Refs(doc)
				fmt.Fprintf(&b, "dialect %s\n", d)
				if err != nil {
					fmt.Fprintf(&b, "error: %v\n", err)
				}
				for _, r := range refs {
					fmt.Fprintf(&b, "\nline %d: %s\n  selector %s, all %v\n", r.Line, r.Text, r.Selector, r.All)
					got, _, err := r.Resolve(devs)
					if err != nil {
						fmt.Fprintf(&b, "  error (unsupported %v): %v\n", errors.Is(err, errors.ErrUnsupported), err)
						continue
					}
					fmt.Fprintf(&b, "  takes %s\n", strings.Join(names(got), ", "))
					if n := r.AttachNote(got); n != "" {
						fmt.Fprintf(&b, "  note: %s\n", n)
					}
				}
				testenv.Golden(t, strings.TrimSuffix(in, ".in")+".golden", b.String(), *update)
			})
		}
	}
}

// TestIncusNearMiss: what Incus would refuse, or would accept and never
// match, is an error that says what to write instead.
func TestIncusNearMiss(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"incus config device add vm u usb vendorid=0x0483 productid=2016",
			`Incus "incus config device add vm u usb vendorid=0x0483 productid=2016": vendorid=0x0483: Incus wants 4 lower case hex digits, which it compares as text with sysfs; write vendorid=0483`},
		{"incus config device add vm u usb vendorid=0483 productid=201F",
			`Incus "incus config device add vm u usb vendorid=0483 productid=201F": productid=201F: Incus wants 4 lower case hex digits, which it compares as text with sysfs; write productid=201f`},
		{"incus config device add vm u usb vendorid=483",
			`Incus "incus config device add vm u usb vendorid=483": vendorid=483: Incus wants 4 lower case hex digits, which it compares as text with sysfs; write vendorid=0483`},
		{"incus config device add vm u usb vendorid=stm",
			`Incus "incus config device add vm u usb vendorid=stm": vendorid=stm: Incus wants 4 lower case hex digits, as lsusb and lspci -nn print an ID (0483)`},
		{"incus config device add vm u usb vendorid=1a86 busnum=001 devnum=6",
			`Incus "incus config device add vm u usb vendorid=1a86 busnum=001 devnum=6": busnum=001 never matches: Incus compares it as text with the kernel's busnum, which has no leading zeros; write busnum=1`},
		{"incus config device add vm u usb devnum=0",
			`Incus "incus config device add vm u usb devnum=0": devnum=0 never matches: a USB device number is 1 to 127`},
		{"incus config device add vm u usb busnum=one",
			`Incus "incus config device add vm u usb busnum=one": busnum=one: Incus wants a decimal number (the kernel's busnum, as lsusb prints it without zeros)`},
		{"incus config device add vm p pci address=1:00.0",
			`Incus "incus config device add vm p pci address=1:00.0": address=1:00.0: Incus wants a PCI address, DDDD:BB:SS.F or BB:SS.F in hex (0000:01:00.0)`},
		{"incus config device add vm p pci address=01:00.8",
			`Incus "incus config device add vm p pci address=01:00.8": address=01:00.8 never matches: a PCI function number is 0 to 7`},
		{"incus config device add vm g gpu pci=01:00.0 vendorid=10de",
			`Incus "incus config device add vm g gpu pci=01:00.0 vendorid=10de": Incus refuses vendorid= together with pci=: pci= alone names the card`},
		{"incus config device add vm g gpu gputype=mdev",
			`Incus "incus config device add vm g gpu gputype=mdev": gputype=mdev needs mdev=TYPE (the mediated device type, as mdev_supported_types names it)`},
		{"incus config device add vm u usb vendorid=0483 productid",
			`Incus "incus config device add vm u usb vendorid=0483 productid": productid is not KEY=VALUE; Incus reads every word after the device type as a key=value setting`},
		{"incus config device add vm u",
			`Incus "incus config device add vm u": wants INSTANCE NAME TYPE [KEY=VALUE...] after "device add"`},
		{"devices:\n  u:\n    type: usb\n    vendorid: 0X0483\n",
			`line 2: Incus "u": vendorid=0X0483: Incus wants 4 lower case hex digits, which it compares as text with sysfs; write vendorid=0483`},
		{"devices:\n  u:\n    type: usb\n    vendorid: [04, 83]\n",
			`line 4: Incus "u": vendorid is not a plain value; Incus device settings are strings`},
		{"devices:\n  u: {type: usb\n",
			`line 1: Incus: not YAML: yaml: line 1: did not find expected ',' or '}'`},
		{"--device path=/sys/bus/pci/devices/01:00.0/",
			`cloud-hypervisor "path=/sys/bus/pci/devices/01:00.0/": path /sys/bus/pci/devices/01:00.0/: 01:00.0 is not a PCI address as sysfs names it (DDDD:BB:SS.F, lower case hex); write /sys/bus/pci/devices/DDDD:BB:SS.F/, the function's directory in sysfs`},
		{"--device path=/dev/vfio/2",
			`cloud-hypervisor "path=/dev/vfio/2": path /dev/vfio/2 is not a PCI function's directory; write /sys/bus/pci/devices/DDDD:BB:SS.F/, the function's directory in sysfs`},
		{"--device path=sys/bus/pci/devices/0000:01:00.0",
			`cloud-hypervisor "path=sys/bus/pci/devices/0000:01:00.0": path sys/bus/pci/devices/0000:01:00.0 is not absolute; write /sys/bus/pci/devices/DDDD:BB:SS.F/, the function's directory in sysfs`},
		{"--device path=/sys/bus/pci/devices/../devices/0000:01:00.0",
			`cloud-hypervisor "path=/sys/bus/pci/devices/../devices/0000:01:00.0": path /sys/bus/pci/devices/../devices/0000:01:00.0 is not in its plain form (no //, . or ..); write /sys/bus/pci/devices/DDDD:BB:SS.F/, the function's directory in sysfs`},
		{"--device path=/sys/devices/pci0000:00/0000:00:01.0/driver",
			`cloud-hypervisor "path=/sys/devices/pci0000:00/0000:00:01.0/driver": path /sys/devices/pci0000:00/0000:00:01.0/driver: driver is not a PCI address; write /sys/bus/pci/devices/DDDD:BB:SS.F/, the function's directory in sysfs`},
		{"--device path=/sys/bus/pci/devices/0000:01:00.0/,iommu=on,bootindex=1",
			`cloud-hypervisor "path=/sys/bus/pci/devices/0000:01:00.0/,iommu=on,bootindex=1": --device has no option bootindex; it takes path, fd, id, iommu, pci_segment, pci_device_id, x_nv_gpudirect_clique, x_exclude_mmap_bars`},
		{"--device id=gpu,iommu=on,path=",
			`cloud-hypervisor "id=gpu,iommu=on,path=": names no device: write path=/sys/bus/pci/devices/DDDD:BB:SS.F/`},
		{"--device path=/sys/bus/pci/devices/0000:01:00.0/,x_exclude_mmap_bars=[2",
			`cloud-hypervisor "path=/sys/bus/pci/devices/0000:01:00.0/,x_exclude_mmap_bars=[2": an unclosed " or [`},
		{"cloud-hypervisor --kernel vmlinux --device",
			`cloud-hypervisor "--device": has no argument`},
		{"crosvm run --vfio /sys/bus/pci/devices/0000:01:00.0,addr=00:05.0",
			`crosvm "/sys/bus/pci/devices/0000:01:00.0,addr=00:05.0": --vfio has no option addr; it takes PATH, guest-address, iommu and dt-symbol`},
		{"/dev/bus/usb/001/000",
			`device node "/dev/bus/usb/001/000": is not a USB device node, /dev/bus/usb/BBB/DDD`},
	} {
		_, err := ParseSelector(tc.in)
		got := fmt.Sprint(err)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseSelector(%q) (-want +got):\n%s", tc.in, d)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("ParseSelector(%q): %T, want a *hypervisor.Error", tc.in, err)
		}
	}
}

// TestIncusUnsupported: an mdev, another gputype, a card by DRM id, an
// mdev or platform sysfs path read, and resolving them says why not,
// wrapping errors.ErrUnsupported.
func TestIncusUnsupported(t *testing.T) {
	devs := both(t)
	for _, tc := range []struct{ in, want string }{
		{"incus config device add vm g gpu gputype=sriov pci=0000:01:00.0",
			`Incus "incus config device add vm g gpu gputype=sriov pci=0000:01:00.0": gputype=sriov: hostdev resolves gputype=physical and gputype=mdev only`},
		{"incus config device add vm g gpu id=1",
			`Incus "incus config device add vm g gpu id=1": id=1 picks a card by its DRM card number, which hostdev does not read; name it with pci=ADDRESS`},
	} {
		refs, err := ParseSelector(tc.in)
		if err != nil || len(refs) != 1 {
			t.Fatalf("ParseSelector(%q): %d refs, %v", tc.in, len(refs), err)
		}
		_, _, err = refs[0].Resolve(devs)
		if d := cmp.Diff(tc.want, fmt.Sprint(err)); d != "" || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Resolve(%q) (-want +got):\n%s (unsupported %v)", tc.in, d, errors.Is(err, errors.ErrUnsupported))
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"--device path=/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001/",
			`cloud-hypervisor "path=/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001/": mdev: not yet: hostdev does not resolve mediated devices (83b8f4f2-509f-382f-3c1e-e6bfe0fa1001) yet`},
		{"--device fd=7",
			`cloud-hypervisor "fd=7": fd= hands over an open VFIO cdev, which names no device hostdev can see; write path=/sys/bus/pci/devices/DDDD:BB:SS.F/`},
		{"crosvm run --vfio /sys/bus/platform/devices/10000000.gpu",
			`crosvm "/sys/bus/platform/devices/10000000.gpu": /sys/bus/platform/devices/10000000.gpu is a platform device; hostdev resolves PCI functions and USB devices`},
	} {
		_, err := ParseSelector(tc.in)
		if d := cmp.Diff(tc.want, fmt.Sprint(err)); d != "" || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("ParseSelector(%q) (-want +got):\n%s (unsupported %v)", tc.in, d, errors.Is(err, errors.ErrUnsupported))
		}
	}
}

// TestIncusGPUAmbiguous: a VM's gpu device that fits two cards is an
// *AmbiguousError whose advice is Incus's pci=, one per card.
func TestIncusGPUAmbiguous(t *testing.T) {
	refs, err := ParseSelector("incus config device add vm g gpu")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = refs[0].Resolve(both(t))
	var amb *AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("Resolve: %v, want an *AmbiguousError", err)
	}
	if d := cmp.Diff([]string{"pci=0000:00:02.0", "pci=0000:01:00.0"}, amb.Picks); d != "" {
		t.Errorf("picks (-want +got):\n%s", d)
	}
	if d := cmp.Diff(`Incus gives a VM's gpu device exactly one card ("VMs cannot match multiple GPUs per device"); write pci=0000:00:02.0 or pci=0000:01:00.0`, amb.Advice); d != "" {
		t.Errorf("advice (-want +got):\n%s", d)
	}
	var mamb *match.AmbiguousError
	if !errors.As(err, &mamb) || len(mamb.Candidates) != 2 {
		t.Errorf("the *match.AmbiguousError inside: %v", mamb)
	}
}

// TestDevnodeNoGroup: a PCI function outside any IOMMU group has no
// /dev/vfio node to give a container.
func TestDevnodeNoGroup(t *testing.T) {
	d := devices(t, "pci-basic")[0]
	p := *d.PCI // the scan is shared: change a copy
	p.IOMMUGroup = nil
	d.PCI = &p
	err := Write(&strings.Builder{}, FormatDevnode, []Resolved{{Device: d}})
	want := "0000:00:00.0 is in no IOMMU group, so it has no /dev/vfio node; turn the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line) and bind it to vfio-pci"
	if diff := cmp.Diff(want, fmt.Sprint(err)); diff != "" || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Write devnode (-want +got):\n%s", diff)
	}
}

// fuzzIncusSeeds are Incus documents: device add lines and YAML, with
// near misses.
var fuzzIncusSeeds = []string{
	"incus config device add vm u usb vendorid=0483 productid=2016",
	"incus config device add vm u usb vendorid=0403 productid=6001 serial=A7022OOP busnum=1 devnum=5",
	"lxc config device add vm p pci address=00:1f.3\nincus config device add vm g gpu pci=0000:00:1f.3 && incus start vm",
	"incus profile device add prof g gpu gputype=mdev mdev=i915-GVTg_V5_4 vendorid=8086",
	"incus config device add --project p vm u usb 'serial=A B' busnum=001",
	"incus config device add vm u usb vendorid=0x0483 \\\n  productid=2016 # a comment with ' and \"\n",
	"devices:\n  u:\n    type: usb\n    vendorid: \"0483\"\n    productid: \"2016\"\n  g:\n    type: gpu\n    pci: 0000:00:1f.3\n",
	"architecture: x86_64\ndevices:\n  root: {path: /, pool: default, type: disk}\n  u: {type: usb, vendorid: 0403, serial: A7022OOQ}\nprofiles:\n- default\n",
	"profiles:\n- name: default\n  devices:\n    u:\n      type: usb\n      busnum: 3\n      devnum: 1\n",
	"devices:\n  u: &x\n    type: usb\n    vendorid: \"0483\"\n  v: *x\n",
}

// FuzzIncus checks Refs and Fill on Incus documents: no panic, errors
// that are *Error, selectors that survive String and match.Parse, and
// Fill's promises (checkDoc).
func FuzzIncus(f *testing.F) {
	for _, s := range fuzzIncusSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		refs, skipped, err := incusRefs(doc)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Dialect != DialectIncus {
				t.Fatalf("incusRefs(%q): error %#v is not an Incus *Error", doc, err)
			}
		}
		for _, e := range skipped {
			if e.Dialect != DialectIncus || !errors.Is(e, errors.ErrUnsupported) {
				t.Fatalf("incusRefs(%q): skipped %#v is not an Incus ErrUnsupported", doc, e)
			}
		}
		devs := fuzzDevices()
		for _, r := range refs {
			checkSelector(t, r.Text, r.Selector)
			if got, _, err := r.Resolve(devs); err == nil && len(got) == 0 {
				t.Fatalf("%q resolves to nothing without an error", r.Text)
			}
		}
		checkDoc(t, doc)
	})
}

// fuzzCHVSeeds are cloud-hypervisor and crosvm command lines and device
// node lists.
var fuzzCHVSeeds = []string{
	"--device path=/sys/bus/pci/devices/0000:00:1f.3/",
	"cloud-hypervisor --device path=/sys/bus/pci/devices/0000:00:1f.3/,iommu=on path=/sys/devices/pci0000:00/0000:00:1f.3",
	"--device \"id=x,path=/sys/bus/pci/devices/0000:00:1f.3\",x_exclude_mmap_bars=[2,3]",
	"ch-remote --api-socket s add-device path=/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
	"crosvm run --vfio /sys/bus/pci/devices/0000:00:1f.3,iommu=viommu,guest-address=00:05.0 vmlinux",
	"crosvm run --vfio=\"/sys/bus/pci/devices/0000:00:1f.3\\\\\",iommu=off",
	"/dev/bus/usb/003/001\n/dev/vfio/7\n",
}

// FuzzCHV checks Refs and Fill on cloud-hypervisor and crosvm command
// lines and device node lists.
func FuzzCHV(f *testing.F) {
	for _, s := range fuzzCHVSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, d := range []Dialect{DialectCloudHypervisor, DialectCrosvm, DialectDevnode} {
			refs, err := otherRefs(d, doc)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Dialect != d {
					t.Fatalf("%s: %q: error %#v is not its *Error", d, doc, err)
				}
			}
			for _, r := range refs {
				checkSelector(t, r.Text, r.Selector)
			}
		}
		checkDoc(t, doc)
	})
}

// TestIncusHostileSerial: --format incus names a device by its serial,
// whatever bytes it holds; what it writes reads back as that serial, which
// takes the device and not its twin with another serial.
func TestIncusHostileSerial(t *testing.T) {
	for _, serial := range []string{`S"},{"execute":"quit"}`, "a b", "it's", "x\ny", "$(reboot)", "A,B|C*", "-", "incus config", "\\", "#1", "k=v;"} {
		d, _ := roundTripDevices(false, "1-2", "2", serial, 1, 4, 0x0483, 0x2016, pciaddr.Address{})
		twin, _ := roundTripDevices(false, "1-3", "3", serial+"x", 1, 5, 0x0483, 0x2016, pciaddr.Address{})
		var b strings.Builder
		if err := Write(&b, FormatIncus, []Resolved{{Device: d}}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "busnum") {
			t.Errorf("%q: written without its serial: %s", serial, b.String())
		}
		refs, _, err := Refs([]byte(b.String()))
		if err != nil || len(refs) != 1 {
			t.Fatalf("%q: %d refs, %v from %s", serial, len(refs), err, b.String())
		}
		got, _, err := refs[0].Resolve([]discover.Device{twin, d})
		if err != nil || len(got) != 1 || got[0].Name != "1-2" {
			t.Errorf("%q: %s resolves to %v, %v; want 1-2 alone", serial, b.String(), names(got), err)
		}
	}
}

// TestREADMEDialects runs the examples of the README's dialect table rows
// for Incus, cloud-hypervisor, crosvm and device nodes: each reads as its
// dialect and resolves on the fake host.
func TestREADMEDialects(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Dialect{"Incus, LXD": DialectIncus, "cloud-hypervisor": DialectCloudHypervisor, "crosvm": DialectCrosvm, "device nodes": DialectDevnode}
	devs := both(t)
	seen, ran := 0, 0
	for line := range strings.SplitSeq(string(readme), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) != 2 || !strings.HasPrefix(cells[0], "| ") {
			continue
		}
		d, ok := want[strings.TrimPrefix(cells[0], "| ")]
		if !ok {
			continue
		}
		seen++
		parts := strings.Split(cells[1], "`")
		for i := 1; i < len(parts); i += 2 {
			ex := strings.TrimPrefix(parts[i], "-- ")
			if ex == "devices:" || ex == "incus config show" || ex == "-f" {
				continue // prose around the examples
			}
			ran++
			refs, err := ParseSelector(ex)
			if err != nil || len(refs) != 1 || refs[0].Dialect != d {
				t.Errorf("README example %q: %d refs, %v; want one %s reference", ex, len(refs), err, d)
				continue
			}
			if got, _, err := refs[0].Resolve(devs); err != nil || len(got) == 0 {
				t.Errorf("README example %q resolves to %v, %v", ex, names(got), err)
			}
		}
	}
	if seen != len(want) || ran != 7 {
		t.Errorf("the README's dialect table has %d of the %d rows, and %d examples, want 7", seen, len(want), ran)
	}
}

// TestSniffOthers: the new dialects are told apart from QEMU's (whose
// -device a --device also contains) and from each other, and a QEMU script
// that only mentions them stays QEMU's.
func TestSniffOthers(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want Dialect
	}{
		{"# unlike cloud-hypervisor and crosvm, QEMU takes USB devices\nqemu-system-x86_64 -device usb-host,hostbus=1,hostaddr=8\n", DialectQEMU},
		{"qemu-system-x86_64 --device vfio-pci,host=01:00.0\n", DialectQEMU},
		{"--device path=/sys/bus/pci/devices/0000:01:00.0/\n", DialectCloudHypervisor},
		{"/usr/bin/cloud-hypervisor --device id=g,path=/sys/bus/pci/devices/0000:01:00.0/\n", DialectCloudHypervisor},
		{"sudo crosvm run --vfio=/sys/bus/pci/devices/0000:01:00.0 vmlinux\n", DialectCrosvm},
		{"/dev/vfio/2\n", DialectDevnode},
		{"incus config device add vm u usb vendorid=0403\n", DialectIncus},
		{"config: {}\ndevices:\n  u:\n    type: usb\n    vendorid: \"0403\"\n", DialectIncus},
		{"usbdevice = ['host:0403:6001']\n", DialectXL},
	} {
		_, d, err := Refs([]byte(tc.doc))
		if d != tc.want {
			t.Errorf("Refs(%q): dialect %q (%v), want %q", tc.doc, d, err, tc.want)
		}
	}
}

// TestArgs: words after -- are cloud-hypervisor's or crosvm's when they
// say so (QEMU's reader would take --device path= for QEMU's --device),
// and QEMU's otherwise.
func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Dialect
		addr string // the PCI address, USB port, or USB bus and device number it names
	}{
		{[]string{"--device", "path=/sys/bus/pci/devices/0000:01:00.0/,iommu=on"}, DialectCloudHypervisor, "0000:01:00.0"},
		{[]string{"cloud-hypervisor", "--kernel", "vmlinux", "--device", "path=/sys/bus/pci/devices/0000:01:00.0/"}, DialectCloudHypervisor, "0000:01:00.0"},
		{[]string{"crosvm", "run", "--vfio", "/sys/bus/pci/devices/0000:01:00.0,iommu=viommu"}, DialectCrosvm, "0000:01:00.0"},
		{[]string{"-device", "usb-host,hostbus=1,hostaddr=4"}, DialectQEMU, "1.4"},
		{[]string{"--device", "vfio-pci,host=01:00.0"}, DialectQEMU, "0000:01:00.0"},
		{[]string{"-usb0", "host=1-2"}, DialectProxmox, "1-2"},
		{[]string{"qm", "set", "100", "--hostpci0", "01:00.0,pcie=1"}, DialectProxmox, "0000:01:00.0"},
	} {
		refs, err := Args(tc.args)
		if err != nil || len(refs) != 1 || refs[0].Dialect != tc.want || refs[0].Line != 0 {
			t.Errorf("Args(%q): %+v, %v; want one %s reference", tc.args, refs, err, tc.want)
			continue
		}
		got, _ := refs[0].Selector.Exact(match.KeyAddress)
		if p, ok := refs[0].Selector.Exact(match.KeyPort); ok {
			got = p
		}
		if b, ok := refs[0].Selector.Exact(match.KeyBusnum); ok {
			d, _ := refs[0].Selector.Exact(match.KeyDevnum)
			got = b + "." + d
		}
		if got != tc.addr {
			t.Errorf("Args(%q) names %s (%s), want %s", tc.args, got, refs[0].Selector, tc.addr)
		}
	}
}

// TestIncusSkipped: a device that gives the instance a host device hostdev
// does not resolve (a physical or SR-IOV nic, infiniband, unix device
// nodes) is a warning with its line, never passed over in silence, and the
// other devices are still read; alone, it is the error.
func TestIncusSkipped(t *testing.T) {
	doc := `devices:
  eth1:
    type: nic
    nictype: sriov
    parent: enp1s0f0
  key:
    type: usb
    vendorid: "1050"
  ib0:
    type: infiniband
    nictype: physical
    parent: ib0
  cams:
    type: unix-hotplug
    vendorid: "046d"
  eth0:
    type: nic
    network: incusbr0
`
	rd, err := Read([]byte(doc))
	if err != nil || rd.Dialect != DialectIncus || len(rd.Refs) != 1 || rd.Refs[0].Line != 6 {
		t.Fatalf("Read: %+v, %v; want the usb device at line 6", rd, err)
	}
	want := []string{
		`line 2: Incus "eth1": a nic of nictype=sriov takes the host network interface enp1s0f0 (or, for sriov, a VF Incus picks from it), which hostdev does not resolve; name the function with a pci device (pci address=...)`,
		`line 9: Incus "ib0": an infiniband device takes a host InfiniBand interface (or a VF of it), which hostdev does not resolve; name the function with a pci device (pci address=...)`,
		`line 13: Incus "cams": a unix-hotplug device gives a container host device nodes, which hostdev does not resolve`,
	}
	var got []string
	for _, e := range rd.Skipped {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	_, err = ParseSelector("incus config device add vm eth1 nic nictype=physical parent=enp2s0")
	if err == nil || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "nictype=physical takes the host network interface enp2s0") {
		t.Errorf("a physical nic alone: %v", err)
	}
}
