package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The one device set, booted once: every check runs in this boot.
var boot = vmConfig{
	disks: []string{"da", "db", "dss"},
	devices: []string{
		"qemu-xhci,id=xhci,addr=0x4",
		"usb-ehci,id=ehci,addr=0x5",
		// Alone in its IOMMU group, and bound to vfio-pci: assignable.
		"edu,addr=0x6",
		// Alone in its group, on e1000e: vfio takes it and gives it back.
		"e1000e,addr=0x8",
		// Where a PCI device is hotplugged.
		"pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x7",
		// The identical pair: same vendor and product, told apart by serial.
		"usb-storage,bus=ehci.0,port=1,drive=da,serial=E2E-A",
		"usb-storage,bus=ehci.0,port=2,drive=db,serial=E2E-B",
		// A hub behind a hub, and a keyboard behind both.
		"usb-hub,bus=xhci.0,port=1,id=hub1",
		"usb-hub,bus=xhci.0,port=1.1,id=hub2",
		"usb-kbd,bus=xhci.0,port=1.1.2,serial=KBD-DEEP",
		// SuperSpeed storage: xHCI puts it on its USB 3 root hub.
		"usb-storage,bus=xhci.0,port=2,drive=dss,serial=E2E-SS",
		// Six mice beside the inner hub, so that bus 1 hands out devnums
		// past 9 (where decimal and hex differ) before the list, and the
		// hotplugged tablet gets two more.
		"usb-mouse,bus=xhci.0,port=1.2", "usb-mouse,bus=xhci.0,port=1.3", "usb-mouse,bus=xhci.0,port=1.4",
		"usb-mouse,bus=xhci.0,port=1.5", "usb-mouse,bus=xhci.0,port=1.6", "usb-mouse,bus=xhci.0,port=1.7",
	},
	params: []string{
		// 3 root hubs, 2 hubs, the keyboard, 6 mice and 3 storage devices.
		"e2e.usbdevs=15",
		// 00:1f.3 shares group 5 with 00:1f.2, which ahci holds.
		"e2e.vfio=0000:00:06.0", "e2e.vfio=0000:00:1f.3",
		"e2e.resolve=host:46f4:0001", "e2e.resolve=serial=E2E-B",
		"e2e.check=00:06.0", "e2e.check=00:1f.3",
		"e2e.hotplug=serial=HOT1",
		"e2e.vfiotake=0000:00:08.0", "e2e.vfioblocked=0000:00:1f.3",
	},
}

// hotplugged is what the test plugs in over QMP.
var hotUSB = map[string]any{"driver": "usb-tablet", "id": "hot", "bus": "xhci.0", "port": "3", "serial": "HOT1"}
var hotPCI = map[string]any{"driver": "virtio-rng-pci", "id": "hotpci", "bus": "rp1"}

func TestGuest(t *testing.T) {
	start := time.Now()
	v := bootVM(t, boot)
	ready, _ := v.expect(0, 180*time.Second, regexp.MustCompile(`^==READY==$`))
	t.Logf("guest ready for hotplug %v after start", time.Since(v.started).Round(time.Millisecond))
	hotplug(t, v, ready)
	v.send("done")
	v.expect(ready, 30*time.Second, regexp.MustCompile(`^==POWEROFF==$`))
	v.waitExit(30 * time.Second)

	sys := parseSysfs(t, v)
	list := parseList(t, v)
	t.Run("list-vs-sysfs", func(t *testing.T) { checkList(t, sys, list) })
	t.Run("topology", func(t *testing.T) { checkTopology(t, list) })
	t.Run("resolve", func(t *testing.T) { checkResolve(t, v, list) })
	t.Run("readiness", func(t *testing.T) { checkReadiness(t, v, sys) })
	t.Run("hotplug", func(t *testing.T) { checkHotplug(t, v, ready, len(list)) })
	t.Run("vfio", func(t *testing.T) { checkVFIO(t, v) })
	t.Run("usb-backends", func(t *testing.T) {
		checkBackends(t, v, "usb-backend both", len(sys.usb))
		checkBackends(t, v, "usb-backend both after hotplug", len(sys.usb)+1)
	})
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// hotplug drives QMP while watch, follow and wait run in the guest: a USB
// tablet in, out and in again, then a PCI function in and out, each step
// after the guest's watch has reported the last.
func hotplug(t *testing.T, v *vm, ready int) {
	event := func(op, bus, field string) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`^W \{"op":"%s".*"device":\{"bus":"%s".*%s`, op, bus, regexp.QuoteMeta(field)))
	}
	step := func(what string, f func()) {
		t0 := time.Now()
		f()
		t.Logf("%s: %v", what, time.Since(t0).Round(time.Millisecond))
	}
	at := ready
	plugTablet := func() {
		v.qmp.do("device_add", hotUSB)
		at, _ = v.expect(at, 30*time.Second, event("add", "usb", `"serial":"HOT1"`))
		// Unplugged before its configuration is set, the device fails
		// enumeration (a 5 s timeout, "can't set config"): wait for the
		// watch to show usbhid bound, in the add or a change after it.
		v.expect(at, 30*time.Second, regexp.MustCompile(`^W \{"op":"(add|change)".*"serial":"HOT1".*"driver":"usbhid"`))
	}
	step("usb add seen", plugTablet)
	step("usb remove seen", func() {
		v.qmp.do("device_del", map[string]any{"id": "hot"})
		v.qmp.waitEvent("DEVICE_DELETED", "hot", 30*time.Second)
		at, _ = v.expect(at, 30*time.Second, event("remove", "usb", `"serial":"HOT1"`))
	})
	step("usb add again seen", plugTablet)
	step("pci add seen", func() {
		v.qmp.do("device_add", hotPCI)
		at, _ = v.expect(at, 30*time.Second, event("add", "pci", `"vendor_id":"1af4"`))
	})
	step("pci remove seen", func() {
		// pciehp waits 5 s after the attention button before it lets go.
		v.qmp.do("device_del", map[string]any{"id": "hotpci"})
		v.qmp.waitEvent("DEVICE_DELETED", "hotpci", 60*time.Second)
		at, _ = v.expect(at, 30*time.Second, event("remove", "pci", `"vendor_id":"1af4"`))
	})
	// Whatever else the watch would say about these changes, give it time.
	time.Sleep(time.Second)
}

// sysfsView is what init.sh read with cat and readlink: device, attribute,
// value.
type sysfsView struct {
	usb, usbif, pci map[string]map[string]string
}

func parseSysfs(t *testing.T, v *vm) sysfsView {
	t.Helper()
	text, rc := v.section(t, "sysfs")
	if rc != 0 {
		t.Fatalf("sysfs section: rc=%d", rc)
	}
	s := sysfsView{map[string]map[string]string{}, map[string]map[string]string{}, map[string]map[string]string{}}
	for _, l := range strings.Split(text, "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 {
			t.Fatalf("sysfs line %q", l)
		}
		val := ""
		if len(f) == 4 {
			val = f[3]
		}
		m := map[string]map[string]map[string]string{"usb": s.usb, "usbif": s.usbif, "pci": s.pci}[f[0]]
		if m == nil {
			t.Fatalf("sysfs line %q", l)
		}
		if m[f[1]] == nil {
			m[f[1]] = map[string]string{}
		}
		m[f[1]][f[2]] = val
	}
	if len(s.usb) == 0 || len(s.pci) == 0 {
		t.Fatalf("the guest read %d USB devices and %d PCI functions", len(s.usb), len(s.pci))
	}
	return s
}

// device is the part of list --json's device object the suite checks.
type device struct {
	Bus        string  `json:"bus"`
	Name       string  `json:"name"`
	VendorID   string  `json:"vendor_id"`
	ProductID  string  `json:"product_id"`
	Parent     string  `json:"parent"`
	Busnum     int     `json:"busnum"`
	Devnum     int     `json:"devnum"`
	Port       string  `json:"port"`
	Class      string  `json:"class"`
	Speed      string  `json:"speed"`
	Serial     *string `json:"serial"`
	Controller string  `json:"controller"`
	Hub        bool    `json:"hub"`
	Interfaces []struct {
		Name   string `json:"name"`
		Number int    `json:"number"`
		Driver string `json:"driver"`
	} `json:"interfaces"`
	Address        string `json:"address"`
	Driver         string `json:"driver"`
	DriverOverride string `json:"driver_override"`
	IOMMUGroup     *int   `json:"iommu_group"`
	Assignable     bool   `json:"assignable"`
}

func parseList(t *testing.T, v *vm) map[string]device {
	t.Helper()
	text, rc := v.section(t, "list")
	if rc != 0 {
		t.Fatalf("list --json: rc=%d\n%s", rc, text)
	}
	var out struct {
		Devices  []device        `json:"devices"`
		Warnings json.RawMessage `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("list --json: %v\n%s", err, text)
	}
	if w := string(out.Warnings); w != "" && w != "null" && w != "[]" {
		t.Errorf("list --json gave warnings on a real kernel: %s", w)
	}
	m := map[string]device{}
	for _, d := range out.Devices {
		m[d.Name] = d
	}
	return m
}

func checkList(t *testing.T, sys sysfsView, list map[string]device) {
	var want []string
	for n := range sys.usb {
		want = append(want, n)
	}
	for n := range sys.pci {
		want = append(want, n)
	}
	var got []string
	for n := range list {
		got = append(got, n)
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("devices listed:\n got %v\nwant %v (sysfs)", got, want)
	}
	eq := func(dev, field, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s %s: list --json says %q, sysfs %q", dev, field, got, want)
		}
	}
	for n, a := range sys.usb {
		d := list[n]
		eq(n, "bus", d.Bus, "usb")
		eq(n, "busnum", strconv.Itoa(d.Busnum), a["busnum"])
		eq(n, "devnum", strconv.Itoa(d.Devnum), a["devnum"])
		eq(n, "port", d.Port, a["devpath"])
		eq(n, "vendor_id", d.VendorID, a["idVendor"])
		eq(n, "product_id", d.ProductID, a["idProduct"])
		eq(n, "speed", d.Speed, a["speed"])
		eq(n, "class", d.Class, a["bDeviceClass"])
		serial, ok := a["serial"]
		switch {
		case ok && d.Serial == nil:
			t.Errorf("%s: no serial in list --json, sysfs has %q", n, serial)
		case !ok && d.Serial != nil:
			t.Errorf("%s: serial %q in list --json, none in sysfs", n, *d.Serial)
		case ok:
			eq(n, "serial", *d.Serial, serial)
		}
		// Interfaces: the same names, numbers and drivers.
		ifs := map[string]string{}
		for ifn, ia := range sys.usbif {
			if strings.HasPrefix(ifn, n+":") || (strings.HasPrefix(n, "usb") && strings.HasPrefix(ifn, n[3:]+"-0:")) {
				ifs[ifn] = ia["bInterfaceNumber"] + " " + ia["driver"]
			}
		}
		gotIfs := map[string]string{}
		for _, i := range d.Interfaces {
			gotIfs[i.Name] = fmt.Sprintf("%02x %s", i.Number, i.Driver)
		}
		if fmt.Sprint(gotIfs) != fmt.Sprint(ifs) {
			t.Errorf("%s interfaces (number driver): list --json %v, sysfs %v", n, gotIfs, ifs)
		}
	}
	for n, a := range sys.pci {
		d := list[n]
		eq(n, "bus", d.Bus, "pci")
		eq(n, "address", d.Address, n)
		eq(n, "vendor_id", "0x"+d.VendorID, a["vendor"])
		eq(n, "product_id", "0x"+d.ProductID, a["device"])
		eq(n, "class", "0x"+d.Class, a["class"])
		eq(n, "driver", d.Driver, a["driver"])
		override := a["driver_override"]
		if override == "(null)" {
			override = ""
		}
		eq(n, "driver_override", d.DriverOverride, override)
		group := ""
		if d.IOMMUGroup != nil {
			group = strconv.Itoa(*d.IOMMUGroup)
		}
		eq(n, "iommu_group", group, a["iommu_group"])
	}
}

// bySerial finds the one listed device with the serial.
func bySerial(t *testing.T, list map[string]device, serial string) device {
	t.Helper()
	for _, d := range list {
		if d.Serial != nil && *d.Serial == serial {
			return d
		}
	}
	t.Fatalf("no device with serial %s", serial)
	return device{}
}

// checkTopology checks that the device set is what the suite means to
// test: otherwise agreeing with sysfs would prove less than it seems.
func checkTopology(t *testing.T, list map[string]device) {
	deep := bySerial(t, list, "KBD-DEEP")
	if deep.Port != "1.1.2" || deep.Parent != list[deep.Parent].Name || list[deep.Parent].Port != "1.1" || !list[deep.Parent].Hub {
		t.Errorf("the keyboard is not two hubs deep: port %q, parent %q", deep.Port, deep.Parent)
	}
	ss, a, b := bySerial(t, list, "E2E-SS"), bySerial(t, list, "E2E-A"), bySerial(t, list, "E2E-B")
	if ss.Speed != "5000" || a.Speed != "480" {
		t.Errorf("speeds: E2E-SS %s, E2E-A %s; want 5000 and 480", ss.Speed, a.Speed)
	}
	if ss.Busnum == deep.Busnum || ss.Controller != deep.Controller {
		t.Errorf("SuperSpeed storage on bus %d (%s), keyboard on bus %d (%s): want another bus of the same xHCI",
			ss.Busnum, ss.Controller, deep.Busnum, deep.Controller)
	}
	if a.Busnum != b.Busnum || a.Controller != "0000:00:05.0" || a.Busnum == deep.Busnum {
		t.Errorf("the pair is not on the EHCI bus: %d/%s and %d/%s", a.Busnum, a.Controller, b.Busnum, b.Controller)
	}
	maxDevnum := 0
	for _, d := range list {
		maxDevnum = max(maxDevnum, d.Devnum)
	}
	if maxDevnum < 10 {
		t.Errorf("no devnum above 9 (the highest is %d): decimal and hex would read alike", maxDevnum)
	}
	for _, d := range []device{a, b, ss} {
		if d.VendorID != "46f4" || d.ProductID != "0001" || len(d.Interfaces) != 1 || d.Interfaces[0].Driver != "usb-storage" {
			t.Errorf("%s: %s:%s %+v, want 46f4:0001 on usb-storage", d.Name, d.VendorID, d.ProductID, d.Interfaces)
		}
	}
}

func checkResolve(t *testing.T, v *vm, list map[string]device) {
	text, rc := v.section(t, "resolve host:46f4:0001")
	want := "hostdev-discover: 3 devices match 46f4:0001; add serial=E2E-A, serial=E2E-B or serial=E2E-SS"
	if rc != 4 || text != want {
		t.Errorf("resolve host:46f4:0001: rc=%d\n%s\nwant rc=4\n%s", rc, text, want)
	}
	b := bySerial(t, list, "E2E-B")
	text, rc = v.section(t, "resolve serial=E2E-B")
	prefix := fmt.Sprintf("usb %03d.%03d %s 46f4:0001 ", b.Busnum, b.Devnum, b.Name)
	if rc != 0 || !strings.HasPrefix(text, prefix) || strings.Contains(text, "\n") {
		t.Errorf("resolve serial=E2E-B: rc=%d\n%s\nwant rc=0 and one line starting %q", rc, text, prefix)
	}
}

func checkReadiness(t *testing.T, v *vm, sys sysfsView) {
	text, rc := v.section(t, "groups")
	if rc != 0 {
		t.Fatalf("groups: rc=%d\n%s", rc, text)
	}
	var g struct {
		IOMMU  bool `json:"iommu"`
		Groups []struct {
			Group   int    `json:"group"`
			Viable  bool   `json:"viable"`
			Verdict string `json:"verdict"`
			Members []struct {
				Address string `json:"address"`
			} `json:"members"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(text), &g); err != nil {
		t.Fatalf("groups --json: %v\n%s", err, text)
	}
	if !g.IOMMU {
		t.Errorf("groups: iommu false under intel_iommu=on")
	}
	// Every group the kernel has, with the members the kernel gives it.
	want := map[string][]string{}
	for n, a := range sys.pci {
		want[a["iommu_group"]] = append(want[a["iommu_group"]], n)
	}
	got := map[string][]string{}
	viable := map[string]bool{}
	for _, gr := range g.Groups {
		k := strconv.Itoa(gr.Group)
		for _, m := range gr.Members {
			got[k] = append(got[k], m.Address)
		}
		viable[k] = gr.Viable
	}
	for k := range want {
		sort.Strings(want[k])
		sort.Strings(got[k])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups:\n got %v\nwant %v (sysfs)", got, want)
	}
	edu, ich := sys.pci["0000:00:06.0"]["iommu_group"], sys.pci["0000:00:1f.3"]["iommu_group"]
	if !viable[edu] || viable[ich] {
		t.Errorf("verdicts: group %s (00:06.0 alone on vfio-pci) viable=%v, group %s (00:1f.x, ahci on 1f.2) viable=%v; want true and false",
			edu, viable[edu], ich, viable[ich])
	}

	text, rc = v.section(t, "check 00:06.0")
	if rc != 0 || !strings.Contains(text, "\n  assignable\n") || !strings.Contains(text, "IOMMU group "+edu+": 0000:00:06.0 (vfio-pci)") {
		t.Errorf("check 00:06.0: rc=%d, want 0 and assignable in group %s alone:\n%s", rc, edu, text)
	}
	text, rc = v.section(t, "check 00:1f.3")
	if rc != 5 || !strings.Contains(text, "NOT ASSIGNABLE") || !strings.Contains(text, "[blocks] group-shared") ||
		!strings.Contains(text, "IOMMU group "+ich+" is shared with 0000:00:1f.2 (ahci).") {
		t.Errorf("check 00:1f.3: rc=%d, want 5 and group-shared with 0000:00:1f.2 (ahci):\n%s", rc, text)
	}
}

// watchEvent is one line of watch --json.
type watchEvent struct {
	Op     string `json:"op"`
	Device device `json:"device"`
}

func (e watchEvent) String() string {
	d := e.Device
	if d.Bus == "pci" {
		return fmt.Sprintf("%s pci %s %s:%s", e.Op, d.Address, d.VendorID, d.ProductID)
	}
	serial := "-"
	if d.Serial != nil {
		serial = *d.Serial
	}
	return fmt.Sprintf("%s usb %s %03d.%03d serial=%s", e.Op, d.Name, d.Busnum, d.Devnum, serial)
}

func checkHotplug(t *testing.T, v *vm, ready, devices int) {
	lines := v.snapshotLines()
	var initial, events []watchEvent
	var follow, wait []string
	var watchReady bool
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "W "):
			var e watchEvent
			if err := json.Unmarshal([]byte(l[2:]), &e); err != nil {
				t.Errorf("watch --json line %q: %v", l, err)
				continue
			}
			switch {
			case e.Op == "ready": // after the initial adds, once
				if i >= ready || watchReady || len(initial) != devices {
					t.Errorf("watch --json: ready at line %d after %d adds, want it once, after the %d initial adds and before READY", i, len(initial), devices)
				}
				watchReady = true
			case i < ready:
				initial = append(initial, e)
			default:
				events = append(events, e)
			}
		case strings.HasPrefix(l, "F "):
			// TIME attach|detach usb BBB.DDD NAME ..., or TIME ready
			_, rest, _ := strings.Cut(l[2:], " ")
			if rest == "ready" {
				continue
			}
			follow = append(follow, rest)
		case strings.HasPrefix(l, "A "):
			wait = append(wait, l[2:])
		}
	}
	// Warnings: a real kernel makes a USB interface's directory before its
	// files, and the watch may read it in between. Logged, not failed: see
	// the suite's notes.
	for _, name := range []string{"watch stderr", "follow stderr", "wait stderr"} {
		if text, _ := v.section(t, name); text != "" {
			t.Logf("%s:\n%s", name, text)
		}
	}

	if !watchReady {
		t.Errorf("watch --json printed no ready line")
	}
	// --initial: an add for each device present, before the guest said READY.
	if len(initial) != devices {
		t.Errorf("watch --initial gave %d events before READY, want an add for each of the %d devices", len(initial), devices)
	}
	for _, e := range initial {
		if e.Op != "add" {
			t.Errorf("initial event %v, want add", e)
		}
	}

	// The adds and removes must be these, in this order, and no others.
	// A real kernel also makes the watch report changes: the device comes
	// before its interface and driver, and at device_del the driver lets
	// go before the device goes. Each change must be of the tablet at the
	// devnum it has then; the last state of each plug-in has usbhid bound.
	var seq []string
	for _, e := range events {
		seq = append(seq, fmt.Sprintf("%s %s@%d", e.Op, e.Device.Name, e.Device.Devnum))
	}
	t.Logf("watch saw: %s", strings.Join(seq, ", "))
	var got []string
	var plugs []watchEvent
	bound := map[int]bool{} // devnum: some event showed usbhid bound
	var last *watchEvent
	for i, e := range events {
		d := e.Device
		if d.Bus == "usb" && len(d.Interfaces) == 1 && d.Interfaces[0].Driver == "usbhid" {
			bound[d.Devnum] = true
		}
		if e.Op == "change" {
			if d.Bus != "usb" || last == nil || last.Op == "remove" || d.Name != last.Device.Name || d.Devnum != last.Device.Devnum {
				t.Errorf("change event %v, not of the tablet plugged in", e)
			}
			continue
		}
		if e.Op == "add" && d.Bus == "usb" {
			plugs = append(plugs, e)
		}
		last = &events[i]
		got = append(got, e.String())
	}
	for _, p := range plugs {
		if !bound[p.Device.Devnum] {
			t.Errorf("no event showed the tablet at devnum %d with usbhid bound", p.Device.Devnum)
		}
	}
	if len(got) != 5 || len(plugs) != 2 {
		t.Fatalf("watch --json after READY gave these adds and removes, want 5 (usb add, remove, add; pci add, remove):\n%s", strings.Join(got, "\n"))
	}
	first, second := plugs[0].Device, plugs[1].Device
	var pci device
	for _, e := range events {
		if e.Device.Bus == "pci" {
			pci = e.Device
			break
		}
	}
	want := []string{
		fmt.Sprintf("add usb %s %03d.%03d serial=HOT1", first.Name, first.Busnum, first.Devnum),
		fmt.Sprintf("remove usb %s %03d.%03d serial=HOT1", first.Name, first.Busnum, first.Devnum),
		fmt.Sprintf("add usb %s %03d.%03d serial=HOT1", first.Name, first.Busnum, second.Devnum),
		fmt.Sprintf("add pci %s 1af4:%s", pci.Address, pci.ProductID),
		fmt.Sprintf("remove pci %s 1af4:%s", pci.Address, pci.ProductID),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("watch events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var all []string
	for _, e := range events {
		all = append(all, e.String())
	}
	t.Logf("watch --json after READY:\n%s", strings.Join(all, "\n"))
	if first.Port != "3" || second.Port != "3" || first.Name != second.Name {
		t.Errorf("the tablet on xhci port 3: got ports %q and %q, names %s and %s", first.Port, second.Port, first.Name, second.Name)
	}
	if second.Devnum < 10 {
		t.Errorf("the tablet plugged in again has devnum %d, want one past 9, where decimal and hex differ", second.Devnum)
	}
	if second.Devnum == first.Devnum {
		t.Errorf("plugged in again, the tablet kept devnum %d", first.Devnum)
	}
	if pci.Parent != "0000:00:07.0" {
		t.Errorf("hotplugged PCI function %s has parent %q, want the root port 0000:00:07.0", pci.Address, pci.Parent)
	}

	// follow serial=HOT1: attach, detach, attach at the new devnum.
	at := func(d device) string { return fmt.Sprintf("usb %03d.%03d %s ", d.Busnum, d.Devnum, d.Name) }
	wantFollow := []string{"attach " + at(first), "detach " + at(first), "attach " + at(second)}
	ok := len(follow) == len(wantFollow)
	for i := 0; ok && i < len(follow); i++ {
		ok = strings.HasPrefix(follow[i], wantFollow[i])
	}
	if !ok {
		t.Errorf("follow serial=HOT1:\n%s\nwant lines starting:\n%s", strings.Join(follow, "\n"), strings.Join(wantFollow, "\n"))
	}

	// wait serial=HOT1: returned with the first tablet, exit 0.
	if len(wait) != 2 || !strings.HasPrefix(wait[0], at(first)) || wait[1] != "rc=0" {
		t.Errorf("wait serial=HOT1:\n%s\nwant a line starting %q, then rc=0", strings.Join(wait, "\n"), at(first))
	}
}

// checkVFIO: on the guest's real kernel, vfio takes 00:08.0 from e1000e
// to vfio-pci (its group's device node appears) and gives it back, and it
// refuses 00:1f.3, whose group ahci holds through 00:1f.2.
func checkVFIO(t *testing.T, v *vm) {
	sec := func(name string) string {
		t.Helper()
		text, rc := v.section(t, name)
		if rc != 0 {
			t.Fatalf("%s: rc=%d\n%s", name, rc, text)
		}
		return strings.TrimSpace(text)
	}
	if got := sec("vfio before"); got != "e1000e\n(null)" {
		t.Fatalf("before: %q, want e1000e with no override", got)
	}
	var held []struct{ Address, Driver, Override string }
	if err := json.Unmarshal([]byte(sec("vfio take")), &held); err != nil || len(held) != 1 ||
		held[0].Address != "0000:00:08.0" || held[0].Driver != "e1000e" || held[0].Override != "" {
		t.Fatalf("take: %+v (%v), want 0000:00:08.0 held from e1000e", held, err)
	}
	if got := sec("vfio taken"); got != "vfio-pci\nvfio-pci" {
		t.Errorf("taken: %q, want vfio-pci with the override", got)
	}
	var plan struct {
		Group    int      `json:"group"`
		DevNodes []string `json:"devnodes"`
		Error    string   `json:"error"`
		Take     []string `json:"take"`
	}
	if err := json.Unmarshal([]byte(sec("vfio plan 0000:00:1f.3")), &plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.Error, "0000:00:1f.2 (ahci)") {
		t.Errorf("plan for 00:1f.3: %+v, want it refused for 00:1f.2 on ahci", plan)
	}
	nodes := strings.Fields(sec("vfio devnodes"))
	if !slices.Contains(nodes, "vfio") || len(nodes) < 2 {
		t.Errorf("/dev/vfio after take: %q, want vfio and the group's node", nodes)
	}
	sec("vfio release")
	if got := sec("vfio after"); got != "e1000e\n(null)" {
		t.Errorf("after release: %q, want e1000e again with no override", got)
	}
}
