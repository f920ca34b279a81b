package hypervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refSummary is what a test compares of a Ref.
type refSummary struct {
	Selector  string
	Line      int
	Element   string
	Unmanaged bool
}

func summarize(refs []Ref) []refSummary {
	var out []refSummary
	for _, r := range refs {
		out = append(out, refSummary{r.Selector.String(), r.Line, r.Element(), r.Unmanaged()})
	}
	return out
}

func skippedTexts(es []*Error) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

// TestInterfaceHostdev: libvirt's <interface type='hostdev'> (an SR-IOV VF
// given to the guest as its network card) is a PCI reference like a
// <hostdev type='pci'>, with managed= as there; alone, it is libvirt's,
// not a malformed seed <host>.
func TestInterfaceHostdev(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("testdata", "libvirt", "net-hostdev.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc string
		want      []refSummary
	}{
		{"libvirt's own test domain", string(real), []refSummary{{"bus=pci,address=0000:03:07.1", 25, "interface", false}}},
		{"alone, unmanaged", "<interface type='hostdev'>\n  <source>\n    <address type='pci' domain='0' bus='0x42' slot='0x02' function='0x5'/>\n  </source>\n</interface>\n",
			[]refSummary{{"bus=pci,address=0000:42:02.5", 1, "interface", true}}},
		{"managed='no'", "<interface type='hostdev' managed='no'><source><address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x0'/></source></interface>",
			[]refSummary{{"bus=pci,address=0000:03:10.0", 1, "interface", true}}},
		{"beside hostdevs and other interfaces", `<domain type='kvm'>
  <devices>
    <interface type='network'><source network='default'/></interface>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x0403'/><product id='0x6001'/></source></hostdev>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:00:12:53'/>
      <source><address type='pci' domain='0x0000' bus='0x42' slot='0x02' function='0x5'/></source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x0b' function='0x0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>
  </devices>
</domain>
`, []refSummary{
			{"bus=usb,vendor=0403,product=6001", 4, "hostdev", false},
			{"bus=pci,address=0000:42:02.5", 5, "interface", false},
			{"bus=pci,address=0000:01:00.0", 10, "hostdev", false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := Read([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if rd.Dialect != DialectLibvirt || len(rd.Skipped) != 0 {
				t.Errorf("dialect %s, skipped %q; want libvirt and nothing skipped", rd.Dialect, skippedTexts(rd.Skipped))
			}
			if diff := cmp.Diff(tc.want, summarize(rd.Refs)); diff != "" {
				t.Errorf("refs (-want +got):\n%s", diff)
			}
			// One argument reads the same.
			refs, err := ParseSelector(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(refs)); diff != "" {
				t.Errorf("ParseSelector (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInterfaceHostdevRejects: a broken <interface type='hostdev'> says
// what is wrong with it, as libvirt would refuse it.
func TestInterfaceHostdevRejects(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<interface type='hostdev'/>`,
			"line 1: libvirt: <interface type='hostdev'>: has no <source><address type='pci' domain=... bus=... slot=... function=.../></source>"},
		{`<interface type='hostdev'><source><address domain='0' bus='3' slot='0' function='0'/></source></interface>`,
			"line 1: libvirt: <interface type='hostdev'>: <source><address> needs type='pci', as libvirt does"},
		{`<interface type='hostdev'><source><address type='ccw' cssid='0xfe' ssid='0' devno='1'/></source></interface>`,
			"line 1: libvirt: <interface type='hostdev'>: <source><address type='ccw'>: the host device's address is type='pci'"},
		{`<interface type='hostdev'><source><address type='pci' bus='3' slot='0' function='0'/></source></interface>`,
			"line 1: libvirt: <interface type='hostdev'>: <address> needs domain=, bus=, slot= and function="},
		{`<interface type='hostdev'><source><address type='pci' domain='0' bus='0x100' slot='040' function='8'/></source></interface>`,
			"line 1: libvirt: <interface type='hostdev'>: <address bus='0x100'>: out of range 0 to 255 (0xff); " +
				"<address slot='040'>: libvirt reads 040 as octal, 32; write 40 for decimal or 0x040 for hex; <address function='8'>: out of range 0 to 7 (0x7)"},
		{`<interface type='hostdev'><source><address type='pci' domain='0' bus='3' slot='0' function='0'/></source><source/></interface>`,
			"line 1: libvirt: <interface type='hostdev'>: has more than one <source>"},
		{`<interface type='hostdev'><source><address type='pci' domain='0' bus='3' slot='0' function='0'/><address type='pci' domain='0' bus='4' slot='0' function='0'/></source></interface>`,
			"line 1: libvirt: <interface type='hostdev'>: <source> repeats <address>; give one"},
		{"<domain>\n<devices>\n<interface type='hostdev'>\n<source><address type='usb' bus='1' device='3'/></source>\n</interface>\n</devices>\n</domain>",
			"line 3: libvirt: <interface type='hostdev'> with a USB <source>: hostdev reads only a PCI function here; name a USB device in a <hostdev mode='subsystem' type='usb'>"},
	} {
		_, err := ParseSelector(tc.in)
		if err == nil {
			t.Errorf("ParseSelector(%q) succeeded; want %q", tc.in, tc.want)
			continue
		}
		if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
			t.Errorf("ParseSelector(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

// TestReadSkipped: an element that names a host device hostdev does not
// resolve is listed, with its line and why, never passed over in silence;
// the other devices are still read. Alone in a document, it is the error.
func TestReadSkipped(t *testing.T) {
	doc := `<domain type='kvm'>
  <devices>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x0403'/><product id='0x6001'/></source></hostdev>
    <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>
    <hostdev mode='subsystem' type='scsi_host'><source protocol='vhost' wwpn='naa.5123456789abcde0'/></hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
    <hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>
    <hostdev mode='capabilities' type='misc'><source><char>/dev/input/event3</char></source></hostdev>
    <hostdev mode='capabilities' type='net'><source><interface>eth0</interface></source></hostdev>
    <interface type='hostdev'><source><address type='usb' bus='1' device='3'/></source></interface>
    <redirdev bus='usb' type='spicevmc'/>
    <interface type='hostdev' managed='yes'><source><address type='pci' domain='0' bus='3' slot='0x10' function='1'/></source></interface>
  </devices>
</domain>
`
	rd, err := Read([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	wantRefs := []refSummary{
		{"bus=usb,vendor=0403,product=6001", 3, "hostdev", false},
		{"bus=mdev,uuid=c2177883-f1bb-47f0-914d-32a22e3a8804", 6, "hostdev", false},
		{"bus=pci,address=0000:03:10.1", 12, "interface", false},
	}
	if diff := cmp.Diff(wantRefs, summarize(rd.Refs)); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
	const tail = ", not a USB device, PCI function or mediated device: hostdev neither resolves nor checks it"
	wantSkipped := []string{
		"line 4: libvirt: <hostdev mode='subsystem' type='scsi'> names a host SCSI device" + tail,
		"line 5: libvirt: <hostdev mode='subsystem' type='scsi_host'> names a vhost-scsi target" + tail,
		"line 7: libvirt: <hostdev mode='capabilities' type='storage'> names a host block device (for containers)" + tail,
		"line 8: libvirt: <hostdev mode='capabilities' type='misc'> names a host character device (for containers)" + tail,
		"line 9: libvirt: <hostdev mode='capabilities' type='net'> names a host network interface (for containers)" + tail,
		"line 10: libvirt: <interface type='hostdev'> with a USB <source>: hostdev reads only a PCI function here; name a USB device in a <hostdev mode='subsystem' type='usb'>",
	}
	if diff := cmp.Diff(wantSkipped, skippedTexts(rd.Skipped)); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	for _, e := range rd.Skipped {
		if !errors.Is(e, errors.ErrUnsupported) {
			t.Errorf("%v: not errors.ErrUnsupported", e)
		}
	}
	// Refs gives the same devices.
	refs, d, err := Refs([]byte(doc))
	if err != nil || d != DialectLibvirt {
		t.Fatalf("Refs: %s, %v", d, err)
	}
	if diff := cmp.Diff(wantRefs, summarize(refs)); diff != "" {
		t.Errorf("Refs (-want +got):\n%s", diff)
	}
	// One argument has no room for a warning: the first skip is its error.
	if _, err := ParseSelector(doc); err == nil || err.Error() != wantSkipped[0] {
		t.Errorf("ParseSelector: got %v, want %q", err, wantSkipped[0])
	}

	// Nothing else: the document names nothing hostdev resolves, and says
	// why, element by element.
	only := "<domain>\n<devices>\n" + strings.Join(strings.Split(doc, "\n")[3:5], "\n") + "\n</devices>\n</domain>\n"
	_, err = Read([]byte(only))
	want := "libvirt: names no host USB or PCI device that hostdev resolves: " +
		"line 3: libvirt: <hostdev mode='subsystem' type='scsi'> names a host SCSI device" + tail + "; " +
		"line 4: libvirt: <hostdev mode='subsystem' type='scsi_host'> names a vhost-scsi target" + tail
	if err == nil || err.Error() != want || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Read(SCSI only):\n got %v\nwant %s", err, want)
	}
}

// TestREADMEInterface reads the README's <interface type='hostdev'>
// example as the dialect table promises.
func TestREADMEInterface(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "| libvirt | ")
	if !ok {
		t.Fatal("README has no libvirt row in its dialect table")
	}
	row, _, _ := strings.Cut(rest, "\n")
	_, ex, ok := strings.Cut(row, "`<interface ")
	if !ok {
		t.Fatalf("the libvirt row has no <interface> example: %s", row)
	}
	ex, _, _ = strings.Cut("<interface "+ex, "`")
	refs, err := ParseSelector(ex)
	if err != nil {
		t.Fatal(err)
	}
	want := []refSummary{{"bus=pci,address=0000:02:10.4", 1, "interface", false}}
	if diff := cmp.Diff(want, summarize(refs)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", ex, diff)
	}
}

// TestInterfaceWrite: --format libvirt for an <interface type='hostdev'>
// writes the same function as a <hostdev>, keeping managed=, which reads
// back to the same device.
func TestInterfaceWrite(t *testing.T) {
	devs := both(t)
	refs, err := ParseSelector("<interface type='hostdev' managed='yes'><mac address='52:54:00:00:12:53'/><source><address type='pci' domain='0' bus='0' slot='0x1f' function='3'/></source></interface>")
	if err != nil {
		t.Fatal(err)
	}
	found, _, err := refs[0].Resolve(devs)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Write(&b, FormatLibvirt, []Resolved{{Device: found[0], Ref: &refs[0]}}); err != nil {
		t.Fatal(err)
	}
	const want = "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    <address domain='0x0000' bus='0x00' slot='0x1f' function='0x3'/>\n  </source>\n</hostdev>\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	back, err := ParseSelector(b.String())
	if err != nil || len(back) != 1 || back[0].Selector.String() != refs[0].Selector.String() {
		t.Errorf("read back: %v, %v", back, err)
	}
}
