package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
	"github.com/hostdev/hostdev/sysfstest"
)

// browser is a headless Debian chromium with one tab, and what the tab
// did that a page of ours must never do: fetch, log an error, throw, open
// a dialog.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []string // every URL the tab asked for
	problems []string // console errors, exceptions, error log entries (CSP violations among them)
	dialogs  []string
}

// chromium finds the browser, or skips (fails under HOSTDEV_REQUIRE_ALL=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("HOSTDEV_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Skip(t, "no chromium (apt-get install chromium, or set HOSTDEV_CHROMIUM)")
	return ""
}

// newBrowser starts chromium with a viewport of w×h CSS pixels.
func newBrowser(t *testing.T, w, h int) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium(t)),
		chromedp.WindowSize(w, h),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox (CI runs as
		// root); the page is our own and loads nothing.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	b := &browser{ctx: ctx}
	if err := chromedp.Listen(ctx, b.event); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// event runs in the tab's loop: it only records.
func (b *browser) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			b.problems = append(b.problems, fmt.Sprintf("console.%s", ev.Type))
		}
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("log %s: %s", ev.Entry.Source, ev.Entry.Text))
		}
	case *cdppage.EventJavascriptDialogOpening:
		b.dialogs = append(b.dialogs, ev.Message)
		// Close it from outside the loop, or the page stays blocked.
		go chromedp.Call(b.ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{})
	}
}

// open loads the page at path and returns its file:// URL.
func (b *browser) open(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "file", Path: abs}).String()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("#count"))); err != nil {
		t.Fatal(err)
	}
	return u
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// quiet checks that the tab asked for nothing but want, logged no error,
// threw nothing and opened no dialog.
func (b *browser) quiet(t *testing.T, want ...string) {
	t.Helper()
	// Wait for the browser to answer once more, so that events of what
	// was done so far have arrived.
	eval[int](t, b, "1")
	b.mu.Lock()
	defer b.mu.Unlock()
	if diff := cmp.Diff(want, nilIfEmpty(b.requests)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if len(b.problems) > 0 {
		t.Errorf("the page logged or threw:\n%s", strings.Join(b.problems, "\n"))
	}
	if len(b.dialogs) > 0 {
		t.Errorf("the page opened dialogs: %q", b.dialogs)
	}
}

// writePage writes rep's page to a file in a temporary folder.
func writePage(t *testing.T, rep *readiness.Report, opts Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, []byte(render(t, rep, opts)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// setFilter types s into the filter box: the first time key by key, as a
// user does; then by setting the value and firing input.
func setFilter(t *testing.T, b *browser, s string) {
	t.Helper()
	eval[bool](t, b, fmt.Sprintf(`(function(){ var i = document.getElementById("filter"); i.value = %q; i.dispatchEvent(new Event("input")); return true })()`, s))
}

// hits are the names of the tree nodes the filter marks, in page order.
func hits(t *testing.T, b *browser) []string {
	return eval[[]string](t, b, `Array.from(document.querySelectorAll(".dev.hit")).map(e => e.dataset.name)`)
}

// visible lists what is not hidden among the elements sel finds, by attr.
func visible(t *testing.T, b *browser, sel, attr string) []string {
	return eval[[]string](t, b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).filter(e => e.offsetParent !== null).map(e => e.getAttribute(%q))`, sel, attr))
}

// goMatches are the names of the devices of rep that s selects in Go.
func goMatches(t *testing.T, rep *readiness.Report, s string) []string {
	t.Helper()
	sel, err := match.Parse(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	var out []string
	for _, v := range rep.Devices {
		if sel.Match(v.Device) {
			out = append(out, v.Device.Name)
		}
	}
	return out
}

// TestBrowser loads the fake host's page in chromium: it loads with no
// request but itself and no error; it has a tree node per device and an
// entry per IOMMU group; the filter narrows it; a click shows the
// device's selector; and the hostile strings show as text and run nothing.
func TestBrowser(t *testing.T) {
	b := newBrowser(t, 1200, 900)
	rep := assess(t, fakeHost(t))
	self := b.open(t, writePage(t, rep, Options{Title: hostileProduct}))

	if got, want := eval[int](t, b, `document.querySelectorAll("ul.tree .dev").length`), len(rep.Devices); got != want {
		t.Errorf("%d tree nodes; the scan has %d devices", got, want)
	}
	if got, want := eval[int](t, b, `document.querySelectorAll("li.group").length`), len(rep.Groups); got != want {
		t.Errorf("%d groups on the page; the scan has %d", got, want)
	}
	if got := eval[int](t, b, `document.querySelectorAll("img, iframe, object, embed").length`); got != 0 {
		t.Errorf("the page has %d img, iframe, object or embed elements", got)
	}
	if got, want := eval[string](t, b, `document.getElementById("title").textContent`), hostileProduct; got != want {
		t.Errorf("title shows %q, want %q", got, want)
	}
	shown := quote.Text(hostileSerial)
	want := []string{"A7022OOO", "A7022OOP", shown, "A7022OOO", "A7022OOP", shown}
	if diff := cmp.Diff(want, eval[[]string](t, b, `Array.from(document.querySelectorAll(".serial")).map(e => e.textContent)`)); diff != "" {
		t.Errorf("serials shown (-want +got):\n%s", diff)
	}

	// Typed key by key, as a user does.
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#filter"), "vendor=0403")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		filter     string
		hits       []string
		trees      []string // visible tree nodes: the hits and their ancestors
		groups     []string
		count, err string
	}{
		{"vendor=0403", []string{"1-2.1", "1-2.2"}, []string{"usb1", "1-2", "1-2.1", "1-2.2"}, []string{}, "2 of 12 devices match", ""},
		{"iommu-group=7", []string{"0000:01:00.0", "0000:01:00.1"}, []string{"0000:00:01.0", "0000:01:00.0", "0000:01:00.1"}, []string{"7"}, "2 of 12 devices match", ""},
		{"serial=*img*", []string{"1-3"}, []string{"usb1", "1-3"}, []string{}, "1 of 12 devices match", ""},
		{"driver=vfio-pci,address=03:*.*", []string{"0000:03:10.0"}, []string{"0000:03:00.0", "0000:03:10.0"}, []string{"11"}, "1 of 12 devices match", ""},
		{"vendor=zz", nil, nil, nil, "12 devices", `vendor "zz" is not 4 hex digits`},
		{"", nil, nil, nil, "12 devices", ""},
	} {
		if c.filter != "vendor=0403" {
			setFilter(t, b, c.filter)
		}
		all := c.hits == nil
		if diff := cmp.Diff(c.hits, nilIfEmpty(hits(t, b))); diff != "" {
			t.Errorf("filter %q: hits (-want +got):\n%s", c.filter, diff)
		}
		trees := visible(t, b, "ul.tree .dev", "data-name")
		if all {
			if len(trees) != len(rep.Devices) {
				t.Errorf("filter %q: %d tree nodes shown, want all %d", c.filter, len(trees), len(rep.Devices))
			}
		} else if diff := cmp.Diff(sortStrings(c.trees), sortStrings(trees)); diff != "" {
			t.Errorf("filter %q: tree nodes shown (-want +got):\n%s", c.filter, diff)
		}
		if groups := visible(t, b, "li.group", "data-group"); !all {
			if diff := cmp.Diff(c.groups, groups); diff != "" {
				t.Errorf("filter %q: groups shown (-want +got):\n%s", c.filter, diff)
			}
		} else if len(groups) != len(rep.Groups) {
			t.Errorf("filter %q: %d groups shown, want all %d", c.filter, len(groups), len(rep.Groups))
		}
		if !all {
			if diff := cmp.Diff(goMatches(t, rep, c.filter), hits(t, b)); diff != "" {
				t.Errorf("filter %q: the page and match.Match differ (-Go +page):\n%s", c.filter, diff)
			}
		}
		if got := eval[string](t, b, `document.getElementById("count").textContent`); got != c.count {
			t.Errorf("filter %q: count says %q, want %q", c.filter, got, c.count)
		}
		if got := eval[string](t, b, `document.getElementById("filter-error").textContent`); got != c.err {
			t.Errorf("filter %q: error says %q, want %q", c.filter, got, c.err)
		}
	}

	// A click on a device shows the selector that picks it alone.
	for _, name := range []string{"1-2.2", "1-3", "0000:01:00.1"} {
		if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`ul.tree .dev[data-name=%q]`, name)))); err != nil {
			t.Fatal(err)
		}
		var dev int
		for i, v := range rep.Devices {
			if v.Device.Name == name {
				dev = i
			}
		}
		devs := make([]discover.Device, len(rep.Devices))
		for i, v := range rep.Devices {
			devs[i] = v.Device
		}
		want, _ := Selector(devs[dev], devs)
		if got := eval[string](t, b, `document.getElementById("picked-selector").value`); got != want {
			t.Errorf("click on %s: selector %q, want %q", name, got, want)
		}
		if got, want := eval[string](t, b, `document.getElementById("picked-command").value`), "hostdev-discover resolve "+shellQuote(want); got != want {
			t.Errorf("click on %s: command %q, want %q", name, got, want)
		}
	}
	b.quiet(t, self)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// filterCases are selectors for the common keys, in every form the page
// reads, some wrong: the page's matcher must agree with match.Parse and
// Match on each.
var filterCases = []string{
	"vendor=0403", "vendor=0x403", "vendor=403", "vendor=04*", "vendor=*", "vendor=0403|8086", "vendor=1d6b",
	"product=6001", "product=60*|0002", "host:0403:6001", "host:1050:0407,serial=*",
	"host:1.1", "host:001.003", "busnum=1,devnum=1", "busnum=1", "devnum=1|2|3", "busnum=*,devnum=*",
	"class=09", "class=0c0330", "class=02", "class=0300|0403", "class=ff", "class=030000", "class=*",
	"driver=vfio-pci", "driver=ftdi*", "driver=*", "driver=xhci_hcd|igb", "driver=hub", "driver=usbhid,vendor=1050",
	"serial=A7022OOP", "serial=A7022OO*", "serial=*", "serial=*>*", `serial="><img src=x onerror=alert(1)>`,
	"name=*usb*", "name=*SCRIPT*", "name=*",
	"port=2.1", "port=1-2.1", "port=2.*", "port=*-2.*", "port=1-2", "port=2", "port=0", "port=1-0", "port=*",
	"address=00:14.0", "00:14.0", "0000:01:00.*", "pci:01:00.1", "*:*.*", "03:10.*", "address=0:3:10.4", "address=*",
	"iommu-group=7", "iommu-group=1|3", "iommu-group=*", "iommu-group=1*", "iommu-group=007",
	"bus=usb", "bus=pci", "bus=pci,driver=vfio-pci", "bus=usb,class=09", "bus=mdev",
	"vendor=8086,iommu-group=10|11|12,driver=igb*",
	// Wrong, in Go and on the page alike.
	"vendor=zz", "vendor=12345", "class=1", "busnum=0", "devnum=128", "port=1-", "port=-2", "port=x",
	"address=00:14", "address=00:1f.8", "00:100.0", "host:1", "host:1.2.3", "iommu-group=-1", "vendr=0403",
	"vendor=", "vendor=0403|", "vendor=0403,,product=6001", "vendor=0403,vendor=8086", "plain", ",",
	"vendor=0403,vendor=0x0403",
}

// agree checks every filter case on the page that is open, rep's.
func agree(t *testing.T, b *browser, rep *readiness.Report) {
	t.Helper()
	names := map[string]string{}
	for i, v := range rep.Devices {
		names[fmt.Sprintf("d%d", i)] = v.Device.Name
	}
	type result struct {
		IDs []string `json:"ids"`
		Err string   `json:"err"`
	}
	// One round trip for all the cases.
	cases, err := json.Marshal(filterCases)
	if err != nil {
		t.Fatal(err)
	}
	results := eval[[]result](t, b, fmt.Sprintf(`%s.map(function (s) { try { return {ids: hostdevFilter(s), err: ""} } catch (e) { return {ids: [], err: String(e)} } })`, cases))
	if len(results) != len(filterCases) {
		t.Fatalf("%d results for %d cases", len(results), len(filterCases))
	}
	for i, s := range filterCases {
		r := results[i]
		sel, err := match.Parse(s)
		if (err != nil) != (r.Err != "") {
			t.Errorf("%q: Go says %v; the page says %q", s, err, r.Err)
			continue
		}
		if err != nil {
			continue
		}
		var want, got []string
		for _, v := range rep.Devices {
			if sel.Match(v.Device) {
				want = append(want, v.Device.Name)
			}
		}
		for _, id := range r.IDs {
			got = append(got, names[id])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: (-Go +page):\n%s", s, diff)
		}
	}
}

// TestBrowserFilterAgreesWithGo runs every filter case through the page's
// matcher in chromium and through match.Parse and Match in Go, on the fake
// host and on a corpus capture: the same devices, and an error for the
// same inputs.
func TestBrowserFilterAgreesWithGo(t *testing.T) {
	b := newBrowser(t, 800, 600)
	for _, name := range []string{"fake", "usbid-laptop-3", "systemd-thinkpad-2008"} {
		t.Run(name, func(t *testing.T) {
			var rep *readiness.Report
			if name == "fake" {
				rep = assess(t, fakeHost(t))
			} else {
				rep = assess(t, sysfstest.Unpack(t, testenv.CorpusArchive(t, name)))
			}
			self := b.open(t, writePage(t, rep, Options{}))
			agree(t, b, rep)
			b.mu.Lock()
			b.requests = slices.DeleteFunc(b.requests, func(u string) bool { return u == self })
			b.mu.Unlock()
		})
	}
	b.quiet(t)
}

// TestBrowserScreenshot draws the page of a real capture, a ThinkPad with
// USB and PCI, with names when the host has usb.ids and pci.ids, checks it
// as TestBrowser does, clicks a device, and writes a screenshot as a test
// artifact: to $HOSTDEV_ARTIFACTS, else a temporary folder. With -update
// it is also the README's picture, docs/report.png.
func TestBrowserScreenshot(t *testing.T) {
	const corpus = "systemd-thinkpad-2008"
	rep := assessNames(t, sysfstest.Unpack(t, testenv.CorpusArchive(t, corpus)), true)
	b := newBrowser(t, 900, 560)
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(900, 560)); err != nil {
		t.Fatal(err)
	}
	self := b.open(t, writePage(t, rep, Options{Title: corpus}))
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`ul.tree .dev[data-name="5-1"]`))); err != nil {
		t.Fatal(err)
	}
	if got, want := eval[string](t, b, `document.getElementById("picked-selector").value`), "host:1043:8012"; got != want {
		t.Errorf("click on 5-1: selector %q, want %q", got, want)
	}
	if got, want := eval[int](t, b, `document.querySelectorAll("ul.tree .dev").length`), len(rep.Devices); got != want {
		t.Errorf("%d tree nodes; the scan has %d devices", got, want)
	}
	if got, want := eval[int](t, b, `document.querySelectorAll("li.group").length`), len(rep.Groups); got != want {
		t.Errorf("%d groups on the page; the scan has %d", got, want)
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	b.quiet(t, self)

	dir := os.Getenv("HOSTDEV_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report-"+corpus+".png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
	if *update {
		if err := os.WriteFile("../docs/report.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
