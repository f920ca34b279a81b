package hypervisor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

const (
	gvtUUID     = "f1d3c2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	mttyUUID    = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
	libvirtUUID = "53764d0e-85a0-42b4-af5c-2046b460b1dc" // libvirt's hostdev-mdev-precreated test
)

// mdevScan scans a host shaped as the kernel makes it (see discover's
// mdev.go): an Intel GPU offering GVT-g types with an instance, the mtty
// sample with one, and the instance libvirt's own test names.
func mdevScan(t *testing.T) []discover.Device {
	t.Helper()
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:02.0", Vendor: 0x8086, Device: 0x3e92, Class: 0x030000,
		Driver: "i915", IOMMUGroup: new(0)})
	h.AddMdevType(sysfstest.MdevType{Parent: "0000:00:02.0", ID: "i915-GVTg_V5_4", Name: "GVTg_V5_4", AvailableInstances: 3})
	h.AddMdev(sysfstest.Mdev{UUID: gvtUUID, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4", Driver: "vfio_mdev", IOMMUGroup: new(12)})
	h.AddMdev(sysfstest.Mdev{UUID: libvirtUUID, Parent: "0000:00:02.0", Type: "i915-GVTg_V5_4", Driver: "vfio_mdev", IOMMUGroup: new(14)})
	h.AddMdevType(sysfstest.MdevType{Parent: "sys/devices/virtual/mtty/mtty", ID: "mtty-2", Name: "Dual port serial", AvailableInstances: 12})
	h.AddMdev(sysfstest.Mdev{UUID: mttyUUID, Parent: "sys/devices/virtual/mtty/mtty", Type: "mtty-2", Driver: "mtty", IOMMUGroup: new(13)})
	res, err := discover.Scan(context.Background(), discover.Options{Root: h.Root(), Numeric: true})
	if err != nil || len(res.Warnings) > 0 {
		t.Fatalf("scan: %v %v", err, res.Warnings)
	}
	return res.Devices
}

// Each form that names an instance resolves to it; libvirt's own test
// domain and the QEMU line libvirt makes of it among them.
func TestMdevRefs(t *testing.T) {
	devs := mdevScan(t)
	domain, err := os.ReadFile("testdata/mdev/hostdev-mdev-precreated.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, in, sel, dev string
	}{
		{"libvirt test domain", string(domain), "bus=mdev,uuid=" + libvirtUUID, libvirtUUID},
		{"libvirt JSON -device", `{"driver":"vfio-pci","id":"hostdev0","sysfsdev":"/sys/bus/mdev/devices/` + libvirtUUID +
			`","display":"off","bus":"pci.0","addr":"0x2"}`, "bus=mdev,uuid=" + libvirtUUID, libvirtUUID},
		{"qemu -device", "-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/" + gvtUUID + ",display=on", "bus=mdev,uuid=" + gvtUUID, gvtUUID},
		{"qemu device path", "vfio-pci,sysfsdev=/sys/devices/virtual/mtty/mtty/" + mttyUUID, "bus=mdev,uuid=" + mttyUUID, mttyUUID},
		{"hostdev in upper case", "<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'><source><address uuid='" +
			strings.ToUpper(mttyUUID) + "'/></source></hostdev>", "bus=mdev,uuid=" + mttyUUID, mttyUUID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refs, err := ParseSelector(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 1 || refs[0].Selector.String() != tt.sel {
				t.Fatalf("refs %v, want one with %s", refs, tt.sel)
			}
			got, _, err := refs[0].Resolve(devs)
			if err != nil || len(got) != 1 || got[0].Name != tt.dev {
				t.Fatalf("resolves to %v (%v), want %s", names(got), err, tt.dev)
			}
		})
	}
}

func TestMdevRefErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/" + strings.ToUpper(gvtUUID),
			`QEMU "-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/F1D3C2B4-5E6F-4A7B-8C9D-0E1F2A3B4C5D": sysfsdev=/sys/bus/mdev/devices/F1D3C2B4-5E6F-4A7B-8C9D-0E1F2A3B4C5D: ` +
				`sysfs names a mediated device in lower case; write /sys/bus/mdev/devices/` + gvtUUID},
		{"-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/vgpu0",
			`QEMU "-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/vgpu0": sysfsdev=/sys/bus/mdev/devices/vgpu0 does not end in a PCI address or a mediated device's UUID; ` +
				`write /sys/bus/pci/devices/DDDD:BB:SS.F or /sys/bus/mdev/devices/UUID`},
		{"<hostdev mode='subsystem' type='mdev'><source><address uuid='" + gvtUUID + "'/></source></hostdev>",
			`line 1: libvirt: <hostdev type='mdev'>: has no model=; libvirt needs the type's device API: model='vfio-pci' (or vfio-ccw, vfio-ap)`},
		{"<hostdev mode='subsystem' type='mdev' model='vfio-pci&apos; x=&apos;'><source><address uuid='" + gvtUUID + "'/></source></hostdev>",
			`line 1: libvirt: <hostdev type='mdev'>: model='vfio-pci' x='' is not vfio-pci, vfio-ccw or vfio-ap`},
		{"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source/></hostdev>",
			`line 1: libvirt: <hostdev type='mdev'>: has no <source><address uuid='...'/></source>; give the instance's UUID, as /sys/bus/mdev/devices lists it`},
		{"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='f1d3c2b4-5e6f'/></source></hostdev>",
			`line 1: libvirt: <hostdev>: uuid "f1d3c2b4-5e6f" is not a UUID (want 8-4-4-4-12 hex digits, as in 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001)`},
		{"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='&quot;&lt;&gt;,&#10;'/></source></hostdev>",
			`line 1: libvirt: <hostdev>: uuid "\"<>,\n" is not a UUID (want 8-4-4-4-12 hex digits, as in 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001)`},
	} {
		_, err := ParseSelector(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.in, err, tt.want)
		}
	}
}

// Write names an instance in qemu, qmp, libvirt and devnode (golden files), keeps
// what a libvirt reference said beyond the device, and refuses the
// formats that cannot name one.
func TestMdevWrite(t *testing.T) {
	devs := mdevScan(t)
	var items []Resolved
	for _, d := range devs {
		if d.Bus == discover.BusMdev {
			items = append(items, Resolved{Device: d})
		}
	}
	for _, f := range []Format{FormatQEMU, FormatQMP, FormatLibvirt, FormatDevnode} {
		var out bytes.Buffer
		if err := Write(&out, f, items); err != nil {
			t.Fatal(err)
		}
		testenv.Golden(t, filepath.Join("testdata", "write", "mdev-"+string(f)+".golden"), out.String(), *update)
	}
	for _, f := range []Format{FormatXen, FormatXenLegacy, FormatSeed, FormatCloudHypervisor} {
		err := Write(&bytes.Buffer{}, f, items[:1])
		want := "mediated device " + libvirtUUID + ": the " + string(f) + " format has no way to name one; use qemu, qmp, libvirt or devnode"
		if !errors.Is(err, errors.ErrUnsupported) || err.Error() != want {
			t.Errorf("%s: %v, want ErrUnsupported: %s", f, err, want)
		}
	}
	// Proxmox and Incus make their instances themselves: the error gives
	// the line that asks for a new one of the type, on the same parent.
	for f, want := range map[Format]string{
		FormatProxmox: "Proxmox makes its mediated devices itself when the VM starts and takes no existing one; for a new instance of its type write hostpciN: " +
			items[0].Device.Parent + ",mdev=" + items[0].Device.Mdev.Type.ID,
		FormatIncus: `Incus makes its mediated devices itself and takes no existing one; for a new instance of its type: incus config device add "$VM" NAME gpu gputype=mdev mdev=` +
			items[0].Device.Mdev.Type.ID + " pci=" + items[0].Device.Parent,
	} {
		err := Write(&bytes.Buffer{}, f, items[:1])
		want = "mediated device " + libvirtUUID + ": " + want
		if !errors.Is(err, errors.ErrUnsupported) || err.Error() != want {
			t.Errorf("%s: %v, want ErrUnsupported: %s", f, err, want)
		}
	}

	refs, err := ParseSelector("<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'><source><address uuid='" +
		mttyUUID + "'/></source></hostdev>")
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := refs[0].Resolve(devs)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, FormatLibvirt, []Resolved{{Device: d[0], Ref: &refs[0]}}); err != nil {
		t.Fatal(err)
	}
	want := "<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'>\n  <source>\n    <address uuid='" + mttyUUID + "'/>\n  </source>\n</hostdev>\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("libvirt from a reference (-want +got):\n%s", diff)
	}
}

// Every instance of the fake host, written in each format that can name
// it, reads back as a reference that resolves to it alone.
func TestMdevRoundTrip(t *testing.T) {
	devs := mdevScan(t)
	n := 0
	for i, d := range devs {
		if d.Bus != discover.BusMdev {
			continue
		}
		others := append(append([]discover.Device{}, devs[:i]...), devs[i+1:]...)
		for _, f := range Formats() {
			var out bytes.Buffer
			if err := Write(&out, f, []Resolved{{Device: d}}); err != nil {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatalf("%s: %v", f, err)
				}
				continue
			}
			checkRoundTrip(t, f, out.Bytes(), d, others)
			n++
		}
	}
	if n != 12 {
		t.Errorf("%d round trips, want 12 (3 instances, 4 formats)", n)
	}
}

// FuzzMdev writes an instance whose type and device API are anything,
// reads it back in every format that can name it, and wants it alone; and
// reads mdev references of any content without a panic.
func FuzzMdev(f *testing.F) {
	f.Add(gvtUUID, "i915-GVTg_V5_4", "vfio-pci", "<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='"+gvtUUID+"'/></source></hostdev>")
	f.Add(mttyUUID, "mtty-2", "vfio-ccw", "-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/"+mttyUUID)
	f.Add("x'\"<>,\n", "a,b\"<", "vfio-ap", `{"driver":"vfio-pci","sysfsdev":"/sys/bus/mdev/devices/`+libvirtUUID+`"}`)
	f.Fuzz(func(t *testing.T, uuid, typ, api, ref string) {
		_, _ = ParseSelector(ref) // must not panic
		d := discover.Device{Bus: discover.BusMdev, Name: uuid,
			Mdev: &discover.Mdev{UUID: uuid, Type: discover.MdevType{ID: typ, DeviceAPI: api}}}
		decoy := d
		decoy.Name = "decoy"
		decoy.Mdev = &discover.Mdev{UUID: "00000000-0000-0000-0000-000000000000"}
		if uuid == decoy.Mdev.UUID {
			decoy.Mdev.UUID = "00000000-0000-0000-0000-000000000001"
		}
		for _, format := range Formats() {
			var out bytes.Buffer
			if err := Write(&out, format, []Resolved{{Device: d}}); err != nil {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatalf("%s: Write: %v", format, err)
				}
				continue
			}
			if !discover.IsMdevUUID(uuid) {
				t.Fatalf("%s: wrote an instance whose UUID %q is none:\n%s", format, uuid, out.Bytes())
			}
			checkRoundTrip(t, format, out.Bytes(), d, []discover.Device{decoy})
		}
	})
}

// The README's dialect table rows for mediated devices: every example in
// them reads and resolves to the instance it names.
func TestMdevREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	devs := mdevScan(t)
	n := 0
	for line := range strings.SplitSeq(string(readme), "\n") {
		if !strings.HasPrefix(line, "| mediated devices") {
			continue
		}
		cells := strings.Split(line, "|")
		for i, ex := range strings.Split(cells[2], "`") {
			if i%2 == 0 {
				continue
			}
			n++
			refs, err := ParseSelector(ex)
			if err != nil || len(refs) != 1 {
				t.Errorf("%s: %v, %d references", ex, err, len(refs))
				continue
			}
			got, _, err := refs[0].Resolve(devs)
			if err != nil || len(got) != 1 || got[0].Name != mttyUUID {
				t.Errorf("%s resolves to %v (%v), want %s", ex, names(got), err, mttyUUID)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d examples in the README's mediated device rows, want 2", n)
	}
}

// The <hostdev type='mdev'> elements Write makes pass libvirt's own
// schema (virt-xml-validate, as TestLibvirtSchema does for USB and PCI).
func TestMdevLibvirtSchema(t *testing.T) {
	for _, tool := range []string{"virt-xml-validate", "xmllint"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s not found (apt-get install libvirt-clients libxml2-utils): %v", tool, err)
		}
	}
	written, err := os.ReadFile(filepath.Join("testdata", "write", "mdev-libvirt.golden"))
	if err != nil {
		t.Fatal(err)
	}
	doc := "<domain type='kvm'>\n  <name>t</name>\n  <memory unit='KiB'>1048576</memory>\n" +
		"  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n  <devices>\n" + string(written) +
		"<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'><source><address uuid='" + mttyUUID + "'/></source></hostdev>\n" +
		"  </devices>\n</domain>\n"
	p := filepath.Join(t.TempDir(), "mdev.xml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("virt-xml-validate", p, "domain").CombinedOutput(); err != nil {
		t.Errorf("virt-xml-validate: %v\n%s\n%s", err, out, doc)
	}
	// The check itself works: a model libvirt does not know is refused.
	bad := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(bad, []byte(strings.Replace(doc, "model='vfio-pci'", "model='vfio-xyz'", 1)), 0o644)
	if exec.Command("virt-xml-validate", bad, "domain").Run() == nil {
		t.Errorf("virt-xml-validate accepted model='vfio-xyz'; the check proves nothing")
	}
}

// Proxmox's hostpci mdev=TYPE and Incus's gpu gputype=mdev name the card
// an instance is made on: they resolve to the function that offers the
// type (and, for Incus, to it alone: no audio function goes with an
// instance), MDevType says the type for check, and a type nothing offers
// is an error that says what is offered.
func TestMdevConfigDialects(t *testing.T) {
	devs := mdevScan(t)
	for _, tt := range []struct {
		in, want string
	}{
		{"hostpci0: 00:02.0,mdev=i915-GVTg_V5_4", "0000:00:02.0"},
		{"hostpci0: 00:02,mdev=i915-GVTg_V5_4,pcie=1", "0000:00:02.0"},
		{"incus config device add vm g gpu gputype=mdev mdev=i915-GVTg_V5_4 pci=0000:00:02.0", "0000:00:02.0"},
		{"incus config device add vm g gpu gputype=mdev mdev=i915-GVTg_V5_4", "0000:00:02.0"},
		{"incus config device add vm g gpu gputype=mdev mdev=i915-GVTg_V5_4 vendorid=8086", "0000:00:02.0"},
	} {
		refs, err := ParseSelector(tt.in)
		if err != nil || len(refs) != 1 {
			t.Fatalf("%s: %d refs, %v", tt.in, len(refs), err)
		}
		if got := refs[0].MDevType(); got != "i915-GVTg_V5_4" {
			t.Errorf("%s: MDevType %q", tt.in, got)
		}
		got, _, err := refs[0].Resolve(devs)
		if err != nil || len(got) != 1 || got[0].Name != tt.want {
			t.Errorf("%s: resolves to %v, %v; want %s alone", tt.in, names(got), err, tt.want)
		}
	}
	for _, tt := range []struct {
		in, want string
	}{
		{"hostpci0: 00:02.0,mdev=i915-GVTg_V5_8",
			`line 1: Proxmox "hostpci0: 00:02.0,mdev=i915-GVTg_V5_8": mdev=i915-GVTg_V5_8: 0000:00:02.0 offers only i915-GVTg_V5_4; Proxmox cannot make the instance`},
		{"incus config device add vm g gpu gputype=mdev mdev=i915-GVTg_V5_8 pci=0000:00:02.0",
			"no device matches bus=pci,class=03,address=0000:00:02.0,mdev-type=i915-GVTg_V5_8; nearest: 0000:00:02.0 (8086:3e92) offers mdev-type i915-GVTg_V5_4"},
	} {
		refs, err := ParseSelector(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := refs[0].Resolve(devs); err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.in, err, tt.want)
		}
	}
}
