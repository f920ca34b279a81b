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
)

// pveMappings reads testdata/proxmox/mapping as node pve1 sees it.
func pveMappings(t *testing.T) *ProxmoxMappings {
	t.Helper()
	ms := &ProxmoxMappings{Node: "pve1"}
	for _, f := range []string{"usb.cfg", "pci.cfg"} {
		p := filepath.Join("testdata", "proxmox", "mapping", f)
		doc, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ms.Add(p, doc); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// pveReport reads doc as Refs does, binds the mappings, resolves every
// reference on the fake host, and says what came of each.
func pveReport(t *testing.T, doc []byte, ms *ProxmoxMappings) string {
	t.Helper()
	var b strings.Builder
	refs, d, err := Refs(doc)
	fmt.Fprintf(&b, "dialect %s\n", d)
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	if ms != nil {
		refs = ms.Apply(refs)
	}
	devs := both(t)
	for _, r := range refs {
		fmt.Fprintf(&b, "line %d: %s\n  selector %s", r.Line, r.Text, r.Selector)
		if r.All {
			b.WriteString(" (all)")
		}
		if m := r.MDevType(); m != "" {
			b.WriteString(" mdev " + m)
		}
		b.WriteString("\n")
		got, _, err := r.Resolve(devs)
		if err != nil {
			fmt.Fprintf(&b, "  error: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
			continue
		}
		fmt.Fprintf(&b, "  -> %s\n", strings.Join(names(got), " "))
	}
	return b.String()
}

// TestProxmoxConfigs reads our VM config and Proxmox's own test configs
// and checks, against goldens, every reference read and what each
// resolves to on the fake host.
func TestProxmoxConfigs(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "proxmox", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("testdata", "proxmox", "qemu-server", "*.conf"))
	ins = append(ins, more...)
	if len(ins) < 5 {
		t.Fatalf("inputs: %v", ins)
	}
	ms := pveMappings(t)
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			doc, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := pveReport(t, doc, ms)
			testenv.Golden(t, strings.TrimSuffix(in, ".conf")+".golden", got, *update)
		})
	}
}

// TestProxmoxNoMappings: a mapping=NAME resolved without the mapping
// files says which file to give, and the other references still resolve.
func TestProxmoxNoMappings(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "proxmox", "vm100.conf"))
	if err != nil {
		t.Fatal(err)
	}
	refs, _, err := Refs(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		_, _, err := r.Resolve(both(t))
		if err != nil {
			got = append(got, err.Error())
			if !errors.Is(err, ErrNoMapping) {
				t.Errorf("%s: %v is not ErrNoMapping", r.Text, err)
			}
		}
	}
	want := []string{
		`line 19: Proxmox "usb4: mapping=yubikey": mapping=yubikey: give the cluster's mappings (/etc/pve/mapping/usb.cfg) to resolve it`,
		`line 9: Proxmox "hostpci2: mapping=sriov-nic": mapping=sriov-nic: give the cluster's mappings (/etc/pve/mapping/pci.cfg) to resolve it`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestProxmoxSelector reads the lone forms: a host= value, a config
// line, a qm command, a -usb0 option.
func TestProxmoxSelector(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		all      bool
	}{
		{"host=0483:2016", "bus=usb,vendor=0483,product=2016", false},
		{"host=0x0483:0X2016,usb3=1", "bus=usb,vendor=0483,product=2016", false},
		{"host=1-2.3", "bus=usb,port=1-2.3", false},
		{"host=01:00", "bus=pci,address=0000:01:00.*", true},
		{"host=01:00.0,pcie=1,x-vga=1", "bus=pci,address=0000:01:00.0", false},
		{"host=02:10.0;02:10.4", "bus=pci,address=0000:02:10.0|0000:02:10.4", true},
		{"host=1234:f0:13.1", "bus=pci,address=1234:f0:13.1", false},
		{"usb0: host=0483:2016", "bus=usb,vendor=0483,product=2016", false},
		{"usb0: 0483:2016", "bus=usb,vendor=0483,product=2016", false},
		{"hostpci3: 00:1f.3,rombar=0", "bus=pci,address=0000:00:1f.3", false},
		{"qm set 100 -usb0 host=1-1.1.3", "bus=usb,port=1-1.1.3", false},
		{"qm set 100 --hostpci0 '01:00,pcie=1' --skiplock", "bus=pci,address=0000:01:00.*", true},
		{"qm create 101 --hostpci1=00:02.0", "bus=pci,address=0000:00:02.0", false},
		{"-usb0 host=0403:6001", "bus=usb,vendor=0403,product=6001", false},
		{"--hostpci0 01:00.1", "bus=pci,address=0000:01:00.1", false},
	} {
		refs, err := ParseSelector(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if len(refs) != 1 || refs[0].Dialect != DialectProxmox || refs[0].Selector.String() != tc.want || refs[0].All != tc.all {
			var got []string
			for _, r := range refs {
				got = append(got, fmt.Sprintf("%s %s all=%v", r.Dialect, r.Selector, r.All))
			}
			t.Errorf("%q: got %q, want proxmox %s all=%v", tc.in, got, tc.want, tc.all)
		}
	}
	// A lone value's bus comes from its shape, uppercase too.
	_, err := ParseSelector("host=0A:00.0")
	if want := `Proxmox "hostpci0: host=0A:00.0": host=0A:00.0: Proxmox takes lowercase hex only: write 0a:00.0`; err == nil || err.Error() != want {
		t.Errorf("host=0A:00.0: got %v\nwant %s", err, want)
	}
	// The same as words, as a shell gives them.
	refs, err := ParseProxmoxArgs([]string{"qm", "set", "100", "-usb0", "host=1-1.1.3,usb3=1", "--hostpci0", "01:00,pcie=1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Text+" => "+r.Selector.String())
	}
	want := []string{"usb0: host=1-1.1.3,usb3=1 => bus=usb,port=1-1.1.3", "hostpci0: 01:00,pcie=1 => bus=pci,address=0000:01:00.*"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseProxmoxArgs (-want +got):\n%s", diff)
	}
}

// TestProxmoxErrors: near misses get a message that says what is wrong
// and what to write.
func TestProxmoxErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"usb0: host=483:2016", `line 1: Proxmox "usb0: host=483:2016": host=483:2016: Proxmox takes VVVV:PPPP (hex vendor and product, as lsusb shows), BUS-PORT (as 1-2.3) or spice`},
		{"usb0: host=01:00.0", `line 1: Proxmox "usb0: host=01:00.0": host=01:00.0: is a PCI address; a PCI device goes in hostpciN: 01:00.0`},
		{"usb0: host=001-2", `line 1: Proxmox "usb0: host=001-2": host=001-2: bus 001 has a leading zero, which QEMU reads as octal; write 1`},
		{"usb0: host=1-02", `line 1: Proxmox "usb0: host=1-02": host=1-02: the port path 02 never matches: sysfs writes hub ports as numbers 1 to 255 without leading zeros, at most 6 deep`},
		{"usb0: host=0483:2016,mapping=xy", `line 1: Proxmox "usb0: host=0483:2016,mapping=xy": gives both host= and mapping=; Proxmox takes one`},
		{"usb0: usb3=1", `line 1: Proxmox "usb0: usb3=1": names no device; write host=... or mapping=NAME`},
		{"usb0: host=0483:2016,usb2=1", `line 1: Proxmox "usb0: host=0483:2016,usb2=1": Proxmox's usb has no property usb2; did you mean usb3?`},
		{"usb14: host=0483:2016", `line 1: Proxmox "usb14: host=0483:2016": Proxmox has usb0 to usb13`},
		{"hostpci0: 01:00.0,pcie=1\nhostpci0: 02:00.0", `line 2: Proxmox: hostpci0 is set again (first on line 1); Proxmox keeps one`},
		{"hostpci0: 0A:00.0", `line 1: Proxmox "hostpci0: 0A:00.0": host=0A:00.0: Proxmox takes lowercase hex only: write 0a:00.0`},
		{"hostpci0: 01:00.9", `line 1: Proxmox "hostpci0: 01:00.9": host=01:00.9: function 9: a PCI function is 0 to 7`},
		{"hostpci0: 0403:6001", `line 1: Proxmox "hostpci0: 0403:6001": host=0403:6001: 0403:6001 is a USB device; it goes in usbN: host=0403:6001`},
		{"hostpci0: 01:00,x-gva=1", `line 1: Proxmox "hostpci0: 01:00,x-gva=1": Proxmox's hostpci has no property x-gva; did you mean x-vga?`},
		{"hostpci0: 01:00,mdev=a/b", `line 1: Proxmox "hostpci0: 01:00,mdev=a/b": mdev=a/b is not a mediated device type (no /, . or :)`},
		{"hostpci0: 01:00,pcie=1,pcie=0", `line 1: Proxmox "hostpci0: 01:00,pcie=1,pcie=0": pcie is given twice`},
		{"hostpci16: 01:00", `line 1: Proxmox "hostpci16: 01:00": Proxmox has hostpci0 to hostpci15`},
		{"vmgenid: x\nusb0 host=1-2", `line 2: Proxmox: usb0 is not a Proxmox config line (key: value)`},
		{"qm set 100 -usb0 'host=1-2", `line 1: Proxmox: qm command: the ' quote opened on line 1 is not closed`},
		{"qm set 100 -usb0", `line 1: Proxmox "-usb0": -usb0 has no value`},
		{"qm set 100 usb0 host=1-2", `line 1: Proxmox "usb0": qm takes -OPTION VALUE pairs; this word is neither`},
		{"vmgenid: 54d1c06c\nusb0: spice", `Proxmox: names no host USB or PCI device (no usbN: host=... or hostpciN: line before the first [section])`},
	} {
		_, _, err := Refs([]byte(tc.in))
		if err == nil {
			t.Errorf("%q: no error, want %s", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, err, tc.want)
		}
		if e := (*Error)(nil); !errors.As(err, &e) || e.Dialect != DialectProxmox {
			t.Errorf("%q: %#v is not a Proxmox *Error", tc.in, err)
		}
	}
}

// TestProxmoxResolveErrors: what Proxmox would refuse at the VM's start
// is an error that says so.
func TestProxmoxResolveErrors(t *testing.T) {
	ms := pveMappings(t)
	for _, tc := range []struct{ in, want string }{
		{"usb0: host=1a86:7523", "2 devices match 1a86:7523; add port=1.1.1 or port=1.1.3\nhint: Proxmox cannot select by serial; to pick one by its port, write host=1-1.1.1 or host=1-1.1.3"},
		{"usb0: host=1-1.1", `no device matches bus=usb,port=1-1.1; nearest: 1-1.1 (05e3:0610) is a hub; QEMU's usb-host never takes a hub`},
		{"hostpci0: 01:00.0\nhostpci1: 01:00", `line 2: Proxmox "hostpci1: 01:00": 0000:01:00.0 is already passed through by hostpci0; Proxmox refuses to start the VM (assigned more than once)`},
		{"hostpci0: 01:00,mdev=nvidia-35", `line 1: Proxmox "hostpci0: 01:00,mdev=nvidia-35": mdev=nvidia-35: 0000:01:00.0, 0000:01:00.1 offer no mediated device type at all (no driver made it an mdev parent); Proxmox cannot make the instance`},
		{"hostpci0: mapping=gpu-moved", `line 1: Proxmox "hostpci0: mapping=gpu-moved": mapping gpu-moved, pci.cfg line 12 (node pve1): 0000:01:00.0 is in IOMMU group 2, the map entry says iommugroup=3; the groups changed (a new kernel, BIOS or card), and Proxmox refuses to start the VM`},
		{"hostpci0: mapping=nic-changed", `line 1: Proxmox "hostpci0: mapping=nic-changed": mapping nic-changed, pci.cfg line 15 (node pve1): 0000:02:10.0 is 8086:1520, the map entry says id=8086:1521; the hardware changed, and Proxmox refuses to start the VM`},
		{"hostpci0: mapping=no-subsystem", `line 1: Proxmox "hostpci0: mapping=no-subsystem": mapping no-subsystem, pci.cfg line 18 (node pve1): 0000:02:10.0 has subsystem-id 8086:0001, the map entry names none; Proxmox refuses such an entry: add subsystem-id=8086:0001`},
		{"hostpci0: mapping=sriov-nic\nhostpci1: mapping=sriov-nic\nhostpci2: mapping=sriov-nic", `line 3: Proxmox "hostpci2: mapping=sriov-nic": every map entry of sriov-nic for node pve1 is taken by an earlier hostpci: 0000:02:10.0 (hostpci0), 0000:02:10.4 (hostpci1); Proxmox finds no free device`},
		{"hostpci0: mapping=nosuch", `line 1: Proxmox "hostpci0: mapping=nosuch": no mapping nosuch in the pci mappings given (sriov-nic,gpu,gpu-moved,nic-changed,no-subsystem); Proxmox refuses to start the VM`},
		{"usb0: mapping=ch340-twice", `line 1: Proxmox "usb0: mapping=ch340-twice": mapping ch340-twice has 2 entries for node pve1 (lines 10 and 11); Proxmox takes one USB device per node and mapping`},
		{"usb0: mapping=moved", `line 1: Proxmox "usb0: mapping=moved": mapping moved, usb.cfg line 14 (node pve1): the device at path 1-4 is 046d:0825, the map entry says id=0403:6001; the hardware changed, and Proxmox refuses to start the VM`},
	} {
		refs, _, err := Refs([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		refs = ms.Apply(refs)
		_, _, err = refs[len(refs)-1].Resolve(both(t))
		if err == nil {
			t.Errorf("%q: resolves, want %s", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, err, tc.want)
		}
	}
	// Another node: its entries, or a clear word that it has none.
	other := *ms
	other.Node = "pve3"
	refs, _, _ := Refs([]byte("usb0: mapping=yubikey"))
	_, _, err := other.Apply(refs)[0].Resolve(both(t))
	want := `line 1: Proxmox "usb0: mapping=yubikey": mapping yubikey has no entry for node pve3 (it has entries for pve1,pve2); give the node's name with --node if this is another node`
	if err == nil || err.Error() != want {
		t.Errorf("node pve3:\n got %v\nwant %s", err, want)
	}
}

// TestProxmoxMappingFiles: what is wrong in a mapping file is said with
// its line.
func TestProxmoxMappingFiles(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"pci.cfg", "pci: gpu\n\tmap id=10de:1e87,node=pve1,path=0000:01:00\n", `line 1: Proxmox "pci: gpu": pci.cfg: Proxmox's mapping files name the section alone: write gpu`},
		{"pci.cfg", "gpu\n\tmap id=10de:1e87,node=pve1,path=01:00\n", `line 2: Proxmox "gpu": pci mapping: path=01:00: 01:00 has no domain (write 0000:01:00)`},
		{"usb.cfg", "key\n\tmap id=1050:0407,node=pve1,path=1-2,port=3\n", `line 2: Proxmox "id=1050:0407,node=pve1,path=1-2,port=3": usb.cfg: map: no property port`},
		{"usb.cfg", "key\n\tmap node=pve1,path=1-2\n", `line 2: Proxmox "node=pve1,path=1-2": usb.cfg: map: needs node= and id=`},
		{"usb.cfg", "key\n\tmap id=1050:0407,node=pve1\nkey2\n", `line 3: Proxmox "key2": usb.cfg: a mapping's lines are indented; a new mapping starts after a blank line`},
		{"mine.cfg", "ab\n\tmap id=1050:0407,node=pve1,path=1-2\n\tmap id=10de:1e87,node=pve1,path=0000:01:00\n", `line 3: Proxmox: mine.cfg: mixes USB and PCI paths; give usb.cfg and pci.cfg as they are`},
	} {
		err := (&ProxmoxMappings{Node: "pve1"}).Add(tc.name, []byte(tc.doc))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.doc, err, tc.want)
		}
	}
	// The kind comes from the paths when the name does not say it.
	ms := &ProxmoxMappings{Node: "pve1"}
	if err := ms.Add("a", []byte("gpu\n\tmap id=10de:1e87,node=pve1,path=0000:01:00\n")); err != nil || len(ms.PCI) != 1 {
		t.Errorf("PCI by its path: %v, %d PCI mappings", err, len(ms.PCI))
	}
}

// TestProxmoxWrite writes every device of the fake host, and devices
// from a Proxmox config, against a golden.
func TestProxmoxWrite(t *testing.T) {
	devs := both(t)
	var items []Resolved
	for _, d := range devs {
		if d.USB != nil && (d.USB.IsHub() || d.USB.IsRootHub()) {
			continue
		}
		items = append(items, Resolved{Device: d, IDUnique: UniqueID(d, devs)})
	}
	var b strings.Builder
	if err := Write(&b, FormatProxmox, items); err != nil {
		t.Fatal(err)
	}
	b.WriteString("# from a config\n")
	doc, err := os.ReadFile(filepath.Join("testdata", "proxmox", "vm100.conf"))
	if err != nil {
		t.Fatal(err)
	}
	refs, _, err := Refs(doc)
	if err != nil {
		t.Fatal(err)
	}
	refs = pveMappings(t).Apply(refs)
	items = nil
	for i := range refs {
		got, _, err := refs[i].Resolve(devs)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			items = append(items, Resolved{Device: d, Ref: &refs[i], IDUnique: UniqueID(d, devs)})
		}
	}
	if err := Write(&b, FormatProxmox, items); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "write", "proxmox-config.golden"), b.String(), *update)

	// More than Proxmox has keys for.
	items = nil
	for range 17 {
		items = append(items, Resolved{Device: devs[len(devs)-1]})
	}
	err = Write(&strings.Builder{}, FormatProxmox, items)
	if !errors.Is(err, errors.ErrUnsupported) || err.Error() != "Proxmox has hostpci0 to hostpci15 only: more devices than that do not fit one VM" {
		t.Errorf("17 devices: %v", err)
	}
}

// TestProxmoxRoundTrip: for every device of the fake host, what Write
// gives reads back, as a document, into one reference that resolves to
// that device alone, whether vendor:product is unique or the port is
// written.
func TestProxmoxRoundTrip(t *testing.T) {
	devs := both(t)
	for _, d := range devs {
		if d.USB != nil && (d.USB.IsHub() || d.USB.IsRootHub()) {
			continue
		}
		for _, unique := range []bool{false, true} {
			if unique && !UniqueID(d, devs) {
				continue
			}
			var b strings.Builder
			if err := Write(&b, FormatProxmox, []Resolved{{Device: d, IDUnique: unique}}); err != nil {
				t.Errorf("%s: %v", d.Name, err)
				continue
			}
			refs, dialect, err := Refs([]byte(b.String()))
			if err != nil || dialect != DialectProxmox || len(refs) != 1 {
				t.Errorf("%s: %q reads back as %d refs (%s), %v", d.Name, b.String(), len(refs), dialect, err)
				continue
			}
			got, _, err := refs[0].Resolve(devs)
			if err != nil || len(got) != 1 || got[0].Name != d.Name {
				t.Errorf("%s: %q resolves to %v, %v", d.Name, b.String(), names(got), err)
			}
		}
	}
}

// TestProxmoxFill: fill checks a Proxmox config and changes no byte.
func TestProxmoxFill(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "proxmox", "vm100.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out, filled, err := FillProxmox(doc, both(t), pveMappings(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(doc) {
		t.Errorf("fill changed the config:\n%s", out)
	}
	var got []string
	for _, f := range filled {
		s := fmt.Sprintf("%s: %s", f.Ref.Text, strings.Join(names(f.Devices), " "))
		if f.Err != nil || f.Changed {
			s += fmt.Sprintf(" err=%v changed=%v", f.Err, f.Changed)
		}
		got = append(got, s)
	}
	want := []string{
		"usb0: host=0403:6001: 1-1.1.2.3",
		"usb1: host=1-1.1.3,usb3=1: 1-1.1.3",
		"usb2: 0x0781:0X5581,usb3=1: 2-1",
		"usb4: mapping=yubikey: 1-2",
		"hostpci0: 01:00,pcie=1,x-vga=1: 0000:01:00.0 0000:01:00.1",
		"hostpci1: 0000:02:10.0,rombar=0,vendor-id=0x8086,device-id=0x10ca: 0000:02:10.0",
		"hostpci2: mapping=sriov-nic: 0000:02:10.4",
		"-device usb-host,vendorid=0x1209,productid=0x0001,id=key2: 1-5", // from args:
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Through Fill, which has no mappings: the two mapping= references
	// are errors that say what to give, and the document is still read.
	_, filled, d, err := Fill(doc, both(t))
	if err != nil || d != DialectProxmox || len(filled) != 8 {
		t.Fatalf("Fill: %v, %s, %d", err, d, len(filled))
	}
	if !errors.Is(filled[3].Err, ErrNoMapping) || !errors.Is(filled[6].Err, ErrNoMapping) {
		t.Errorf("Fill without mappings: %v, %v", filled[3].Err, filled[6].Err)
	}
}

// TestProxmoxSniff: Proxmox configs are told from xl configs, QEMU
// scripts and YAML, and those still read as before.
func TestProxmoxSniff(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want Dialect
	}{
		{"usb0: host=0483:2016\n", DialectProxmox},
		{"# my VM\nboot: order=scsi0\nhostpci0: 01:00\n", DialectProxmox},
		{"vmgenid: 54d1c06c\nargs: -device vfio-pci,host=01:00.0\n", DialectProxmox},
		{"qm set 100 -usb0 host=1-2\n", DialectProxmox},
		{"usbdevice = ['host:0483:2016']\n", DialectXL},
		{"name = 'usb0: x'\npci = ['01:00.0']\n", DialectXL},
		{"qemu-system-x86_64 -device usb-host,hostbus=1,hostaddr=4\n", DialectQEMU},
		{"devices:\n  usb0:\n    type: usb\n", DialectIncus}, // indented keys: never Proxmox
	} {
		got, err := sniff([]byte(tc.doc))
		if err != nil || got != tc.want {
			t.Errorf("%q: %s, %v; want %s", tc.doc, got, err, tc.want)
		}
	}
}

// TestProxmoxMDevType: mdev= is kept in the reference, and resolves to
// the function that offers the type (TestMdevConfigDialects has more).
func TestProxmoxMDevType(t *testing.T) {
	refs, _, err := Refs([]byte("hostpci0: 00:02.0,mdev=i915-GVTg_V5_4\nhostpci1: 01:00\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{refs[0].MDevType(), refs[1].MDevType()}; !cmp.Equal(got, []string{"i915-GVTg_V5_4", ""}) {
		t.Errorf("MDevType: %q", got)
	}
	_, _, err = refs[0].Resolve(both(t))
	want := `line 1: Proxmox "hostpci0: 00:02.0,mdev=i915-GVTg_V5_4": mdev=i915-GVTg_V5_4: 0000:00:02.0 offers no mediated device type at all (no driver made it an mdev parent); Proxmox cannot make the instance`
	if err == nil || err.Error() != want {
		t.Errorf("resolve of an mdev on a GPU that offers none:\n got %v\nwant %s", err, want)
	}
}

// discoverIgnore keeps the import when tests above change.
var _ = discover.BusUSB

// TestProxmoxArgs: a host device in args: is read as QEMU's, at args'
// line, and what QEMU would refuse there is an error.
func TestProxmoxArgs(t *testing.T) {
	refs, d, err := Refs([]byte("vmgenid: x\nargs: -cpu host -device vfio-pci,host=0000:01:00.1 -device usb-tablet\n"))
	if err != nil || d != DialectProxmox || len(refs) != 1 || refs[0].Dialect != DialectQEMU || refs[0].Line != 2 || refs[0].Selector.String() != "bus=pci,address=0000:01:00.1" {
		t.Fatalf("%v, %s, %+v", err, d, refs)
	}
	_, _, err = Refs([]byte("vmgenid: x\nargs: -device usb-host,vendorid=0483,productid=0x2016\n"))
	want := `line 2: QEMU "-device usb-host,vendorid=0483,productid=0x2016": vendorid=0483: QEMU reads a number with a leading zero as octal, and 0483 is not octal; write 483 for decimal or 0x0483 for hex`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestProxmoxWriteKeys: two references that had the same key, from two
// configs, are written under two keys; a USB mapping whose id is in
// uppercase is one Proxmox finds nothing for.
func TestProxmoxWriteKeys(t *testing.T) {
	devs := both(t)
	a, _ := ParseSelector("hostpci0: 01:00,pcie=1")
	b, _ := ParseSelector("hostpci0: 00:1f.3,rombar=0")
	var items []Resolved
	for _, r := range [][]Ref{a, b} {
		got, _, err := r[0].Resolve(devs)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			items = append(items, Resolved{Device: d, Ref: &r[0]})
		}
	}
	var out strings.Builder
	if err := Write(&out, FormatProxmox, items); err != nil {
		t.Fatal(err)
	}
	if want := "hostpci0: 01:00,pcie=1\nhostpci1: 0000:00:1f.3,rombar=0\n"; out.String() != want {
		t.Errorf("got\n%swant\n%s", out.String(), want)
	}

	ms := &ProxmoxMappings{Node: "pve1"}
	if err := ms.Add("usb.cfg", []byte("ftdi\n\tmap id=0403:6001,node=pve1\n\nup\n\tmap id=0403:6001,node=pve1\n")); err != nil {
		t.Fatal(err)
	}
	ms.USB[1].Map[0].ID = "0403:600A"
	refs, _, _ := Refs([]byte("usb0: mapping=ftdi\nusb1: mapping=up\n"))
	refs = ms.Apply(refs)
	if got, _, err := refs[0].Resolve(devs); err != nil || got[0].Name != "1-1.1.2.3" {
		t.Errorf("mapping by id: %v, %v", names(got), err)
	}
	_, _, err := refs[1].Resolve(devs)
	want := `line 2: Proxmox "usb1: mapping=up": mapping up, usb.cfg line 5 (node pve1): id=0403:600A: Proxmox looks for the text of sysfs's lowercase IDs, so it finds no device: write id=0403:600a`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
