package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/sysfstest"
)

// utf8Env makes the locale UTF-8 for the rest of the test, so that the
// tree is drawn with line-drawing characters whatever the machine's is.
func utf8Env(t *testing.T) {
	t.Setenv("LC_ALL", "C.UTF-8")
}

// treeGolden runs list --tree with args and compares its output with
// testdata/tree/NAME.
func treeGolden(t *testing.T, name string, args ...string) {
	t.Helper()
	code, out, errs := hostdev(t, append([]string{"list", "--tree", "-n"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	testenv.Golden(t, filepath.Join("testdata", "tree", name), out, *update)
}

// TestTreeCorpora draws the real captures: a laptop with a chain of hubs
// (read from its .tar.gz, as a user's snapshot would be), a whole 2008
// ThinkPad, an Alder Lake with IOMMU groups, and a server with a 32-bit
// PCI domain, 10000.
func TestTreeCorpora(t *testing.T) {
	utf8Env(t)
	for _, name := range []string{"usbid-laptop-3", "systemd-thinkpad-2008", "ghw-i7-1270P", "hwloc-2pa-pcidomain32bits"} {
		t.Run(name, func(t *testing.T) {
			treeGolden(t, name+".txt", "--root", testenv.CorpusArchive(t, name))
		})
	}
}

// deepHubs builds the deepest chain USB allows: a device on tier 7, the
// root hub being tier 1, so five external hubs between them (USB 2.0
// spec 4.1.1 and the kernel's MAX_TOPO_LEVEL, 6 ports in a port path),
// with a second device on each hub's last port.
func deepHubs(t *testing.T) string {
	h := sysfstest.NewHost(t)
	h.AddUSB(sysfstest.RootHub(1, "480"))
	port := ""
	for tier := 2; tier <= 6; tier++ {
		if port == "" {
			port = "1"
		} else {
			port += ".1"
		}
		h.AddUSB(sysfstest.Hub(1, port))
		h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: port + ".4", IDVendor: 0x046d, IDProduct: 0xc077, Speed: "1.5",
			Product: new("Mouse"), Interfaces: []sysfstest.USBInterface{{Class: 0x03, Driver: "usbhid"}}})
	}
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: port + ".1", IDVendor: 0x0781, IDProduct: 0x5581, Speed: "480",
		Manufacturer: new("SanDisk"), Product: new("Ultra"), Serial: new("4C530001"),
		Interfaces: []sysfstest.USBInterface{{Class: 0x08, SubClass: 0x06, Protocol: 0x50, Driver: "usb-storage"}}})
	return h.Root()
}

// sriovHost has an Intel X710 PF behind a root port with three of its VFs,
// one on vfio-pci, and a second PF function without VFs.
func sriovHost(t *testing.T) string {
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:01.0", Vendor: 0x8086, Device: 0x460d, Class: 0x060400, Driver: "pcieport", IOMMUGroup: new(1)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.0", Parent: "0000:00:01.0", Vendor: 0x8086, Device: 0x1572,
		Class: 0x020000, Driver: "i40e", TotalVFs: 32, IOMMUGroup: new(2), ResetMethod: "flr bus"})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:00.1", Parent: "0000:00:01.0", Vendor: 0x8086, Device: 0x1572,
		Class: 0x020000, Driver: "i40e", TotalVFs: 32, IOMMUGroup: new(3), ResetMethod: "flr bus"})
	for i, drv := range []string{"iavf", "vfio-pci", "iavf"} {
		h.AddPCI(sysfstest.PCIFunction{Address: "0000:01:02." + string(rune('0'+i)), PhysFn: "0000:01:00.0", Vendor: 0x8086, Device: 0x154c,
			Class: 0x020000, Driver: drv, IOMMUGroup: new(20 + i), ResetMethod: "flr"})
	}
	return h.Root()
}

// vmdHost has an Intel VMD endpoint, 0000:00:0e.0, with the domain it
// makes, 10000:e0, behind it: a root port and an NVMe drive. The kernel's
// vmd driver creates the root bus "pci10000:e0" as a child of the
// endpoint's device, so the functions live in
// .../0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0. The IOMMU sees
// only the endpoint, whose requester ID the domain's DMA carries, so the
// functions behind it have no iommu_group. sysfstest puts a function with
// a Parent straight in its parent's directory, so the test moves them into
// the root bus directory.
func vmdHost(t *testing.T) string {
	h := sysfstest.NewHost(t)
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:00.0", Vendor: 0x8086, Device: 0x4660, Class: 0x060000, IOMMUGroup: new(0)})
	h.AddPCI(sysfstest.PCIFunction{Address: "0000:00:0e.0", Vendor: 0x8086, Device: 0x467f, Class: 0x010400, Driver: "vmd", IOMMUGroup: new(2)})
	h.AddPCI(sysfstest.PCIFunction{Address: "10000:e0:06.0", Parent: "0000:00:0e.0", Vendor: 0x8086, Device: 0x464d, Class: 0x060400, Driver: "pcieport"})
	h.AddPCI(sysfstest.PCIFunction{Address: "10000:e1:00.0", Parent: "10000:e0:06.0", Vendor: 0x144d, Device: 0xa80a, Class: 0x010802, Driver: "nvme"})
	ep := filepath.Join(h.Root(), "sys/devices/pci0000:00/0000:00:0e.0")
	if err := os.Mkdir(filepath.Join(ep, "pci10000:e0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(ep, "10000:e0:06.0"), filepath.Join(ep, "pci10000:e0", "10000:e0:06.0")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"10000:e0:06.0", "10000:e0:06.0/10000:e1:00.0"} {
		link := "sys/bus/pci/devices/" + filepath.Base(f)
		if err := os.Remove(filepath.Join(h.Root(), link)); err != nil {
			t.Fatal(err)
		}
		h.Link(link, "sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/"+f)
	}
	return h.Root()
}

// hostileHost has a device whose strings would act on a terminal if they
// reached it raw: an escape sequence, a newline, a bidi override.
func hostileHost(t *testing.T) string {
	h := sysfstest.NewHost(t)
	h.AddUSB(sysfstest.RootHub(1, "480"))
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "1", IDVendor: 0x1234, IDProduct: 0x5678, Speed: "12",
		Manufacturer: new("\x1b]0;pwned\a"), Product: new("Evil\nDevice"), Serial: new("\u202eK1 x"),
		Interfaces: []sysfstest.USBInterface{{Class: 0xff, Driver: "evil\x1b[2J"}}})
	h.AddUSB(sysfstest.USBDevice{Bus: 1, Port: "2", IDVendor: 0x1050, IDProduct: 0x0407, Speed: "12", Unauthorized: true})
	return h.Root()
}

func TestTreeFake(t *testing.T) {
	utf8Env(t)
	small := smallHost(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"hubs-7-tiers.txt", []string{"--root", deepHubs(t)}},
		{"sriov.txt", []string{"--root", sriovHost(t)}},
		{"vmd.txt", []string{"--root", vmdHost(t)}},
		{"hostile.txt", []string{"--root", hostileHost(t)}},
		{"small.txt", []string{"--root", small}},
		{"small-ascii.txt", []string{"--ascii", "--root", small}},
		{"small-bus-usb.txt", []string{"--bus", "usb", "--root", small}},
		// Both FTDI adapters and the sound card, and the way to each.
		{"small-selected.txt", []string{"--root", small, "vendor=0403", "0000:00:1f.3"}},
		{"sriov-selected.txt", []string{"--root", sriovHost(t), "0000:01:02.1"}},
		{"vmd-selected.txt", []string{"--root", vmdHost(t), "class=0108"}},
	} {
		t.Run(tc.golden, func(t *testing.T) { treeGolden(t, tc.golden, tc.args...) })
	}
}

// TestTreeLocale: with no --ascii, the locale chooses.
func TestTreeLocale(t *testing.T) {
	root := smallHost(t)
	_, ascii, _ := hostdev(t, "list", "--tree", "-n", "--ascii", "--root", root)
	utf8Env(t)
	_, uni, _ := hostdev(t, "list", "--tree", "-n", "--root", root)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"LC_ALL UTF-8", map[string]string{"LC_ALL": "en_US.UTF-8", "LANG": "C"}, uni},
		{"LC_ALL C wins over LANG", map[string]string{"LC_ALL": "C", "LANG": "en_US.UTF-8"}, ascii},
		{"LC_CTYPE utf8", map[string]string{"LC_ALL": "", "LC_CTYPE": "de_DE.utf8", "LANG": "C"}, uni},
		{"LANG UTF-8 with a modifier", map[string]string{"LC_ALL": "", "LC_CTYPE": "", "LANG": "sr_RS.UTF-8@latin"}, uni},
		{"LANG Latin-1", map[string]string{"LC_ALL": "", "LC_CTYPE": "", "LANG": "de_DE.ISO-8859-1"}, ascii},
		{"POSIX", map[string]string{"LC_ALL": "", "LC_CTYPE": "", "LANG": "POSIX"}, ascii},
		{"nothing set", map[string]string{"LC_ALL": "", "LC_CTYPE": "", "LANG": ""}, ascii},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, got, _ := hostdev(t, "list", "--tree", "-n", "--root", root)
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	if ascii == uni || strings.ContainsAny(ascii, "├└│─") {
		t.Errorf("--ascii drew\n%s", ascii)
	}
}

func TestTreeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"list", "--ascii"},
		{"list", "--tree", "--json"},
		{"list", "--tree", "--assignable"},
		{"list", "--tree", "-v"},
	} {
		code, out, errs := hostdev(t, append(args, "--root", t.TempDir())...)
		if code != 2 || out != "" || errs == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want a usage error", args, code, out, errs)
		}
	}
}

// TestREADMETree runs every `$ hostdev-discover list --tree` example of
// the README on the corpus its --root names, and compares the output with
// the lines the README shows under it.
func TestREADMETree(t *testing.T) {
	utf8Env(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type example struct {
		args []string
		want string
	}
	var (
		examples []example
		cur      *example
		inBlock  bool
	)
	for l := range strings.Lines(string(readme)) {
		switch {
		case strings.HasPrefix(l, "```"):
			inBlock = !inBlock
			cur = nil
		case inBlock && strings.HasPrefix(l, "$ hostdev-discover list --tree"):
			examples = append(examples, example{args: strings.Fields(l)[2:]})
			cur = &examples[len(examples)-1]
		case inBlock && cur != nil:
			cur.want += l
		}
	}
	if len(examples) < 2 {
		t.Fatalf("the README has %d list --tree examples, want 2", len(examples))
	}
	for _, ex := range examples {
		t.Run(strings.Join(ex.args, " "), func(t *testing.T) {
			args := slices.Clone(ex.args)
			i := slices.Index(args, "--root")
			if i < 0 || i+1 == len(args) {
				t.Fatal("the example has no --root CORPUS.tar.gz")
			}
			args[i+1] = testenv.CorpusArchive(t, strings.TrimSuffix(args[i+1], ".tar.gz"))
			code, out, errs := hostdev(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			if diff := cmp.Diff(ex.want, out); diff != "" {
				t.Errorf("README example output (-README +got):\n%s", diff)
			}
		})
	}
}
