package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/hostdev/hostdev/discover"
	"github.com/hostdev/hostdev/internal/testenv"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/readiness"
)

var update = flag.Bool("update", false, "rewrite the golden files (and docs/report.png, in the browser test)")

func render(t testing.TB, rep *readiness.Report, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, rep, opts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGolden: the page of the fake host, whole.
func TestGolden(t *testing.T) {
	page := render(t, assess(t, fakeHost(t)), Options{Title: "fake host"})
	testenv.Golden(t, "testdata/fake.html", page, *update)
}

// TestGoldenOnly: selectors keep the devices they match and, dimmed, their
// ancestors; groups without a kept member go.
func TestGoldenOnly(t *testing.T) {
	sel, err := match.Parse("serial=A7022OOP")
	if err != nil {
		t.Fatal(err)
	}
	vf, err := match.Parse("03:10.4")
	if err != nil {
		t.Fatal(err)
	}
	page := render(t, assess(t, fakeHost(t)), Options{Title: "fake host", Only: []match.Selector{sel, vf}})
	testenv.Golden(t, "testdata/fake-only.html", page, *update)
}

// parsed is what a browser's parser makes of a page: every element's
// name, the text of each script, and the text of every .serial element.
type parsed struct {
	Tags    map[string]int
	Scripts []string
	Serials []string
}

func parse(t *testing.T, page string) parsed {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{Tags: map[string]int{}}
	var walk func(n *html.Node)
	text := func(n *html.Node) string {
		var b strings.Builder
		var all func(*html.Node)
		all = func(n *html.Node) {
			if n.Type == html.TextNode {
				b.WriteString(n.Data)
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				all(c)
			}
		}
		all(n)
		return b.String()
	}
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			p.Tags[n.Data]++
			if n.Data == "script" {
				p.Scripts = append(p.Scripts, text(n))
			}
			for _, a := range n.Attr {
				if a.Key == "class" && a.Val == "serial" {
					p.Serials = append(p.Serials, text(n))
				}
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("element %s has an event handler attribute %s=%q", n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p
}

// TestHostileStrings: a serial and a product string made to break out of
// HTML and of a script stay text: the page parses to exactly the elements
// it has without them, its scripts are its own two, and the data block
// gives the strings back unchanged.
func TestHostileStrings(t *testing.T) {
	rep := assess(t, fakeHost(t))
	got := parse(t, render(t, rep, Options{Title: hostileSerial}))

	// The same host with tame strings in their place.
	tame := *rep
	tame.Devices = nil
	for _, v := range rep.Devices {
		if u := v.Device.USB; u != nil && u.Serial != nil && *u.Serial == hostileSerial {
			c := *u
			c.Serial, c.Product = new("S1"), new("P1")
			v.Device.USB = &c
		}
		tame.Devices = append(tame.Devices, v)
	}
	want := parse(t, render(t, &tame, Options{Title: "tame"}))
	if diff := cmp.Diff(want.Tags, got.Tags); diff != "" {
		t.Errorf("elements (-tame +hostile):\n%s", diff)
	}
	if len(got.Scripts) != 2 || got.Scripts[1] != pageJS {
		t.Fatalf("the page has %d scripts; want the data block and pageJS", len(got.Scripts))
	}
	var d data
	if err := json.Unmarshal([]byte(got.Scripts[0]), &d); err != nil {
		t.Fatal(err)
	}
	var serials, names []string
	for _, f := range d.Devices {
		if f.Serial != nil {
			serials = append(serials, *f.Serial)
		}
		names = append(names, f.Names...)
	}
	if diff := cmp.Diff([]string{"A7022OOO", "A7022OOP", hostileSerial}, serials); diff != "" {
		t.Errorf("serials in the data block (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(names, "\n"), hostileProduct) {
		t.Errorf("the data block lost the product string %q: %q", hostileProduct, names)
	}
	// Shown through quote.Text, which quotes a string starting with '"'.
	wantShown := []string{"A7022OOO", "A7022OOP", `"\"><img src=x onerror=alert(1)>"`}
	wantShown = append(wantShown, wantShown...) // in the tree and in the device's details
	if diff := cmp.Diff(sortStrings(wantShown), sortStrings(got.Serials)); diff != "" {
		t.Errorf("serials shown (-want +got):\n%s", diff)
	}
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestSelector: each device's selector is the one resolve would advise,
// and resolves to it alone.
func TestSelector(t *testing.T) {
	rep := assess(t, fakeHost(t))
	var all []discover.Device
	for _, v := range rep.Devices {
		all = append(all, v.Device)
	}
	got := map[string]string{}
	for _, d := range all {
		s, ok := Selector(d, all)
		if !ok {
			s = "(none)"
		}
		got[d.Name] = s
	}
	want := map[string]string{
		"usb1":         "port=1-0",
		"1-2":          "port=1-2",
		"1-2.1":        "host:0403:6001,serial=A7022OOO",
		"1-2.2":        "host:0403:6001,serial=A7022OOP",
		"1-3":          "host:1050:0407",
		"0000:00:01.0": "0000:00:01.0",
		"0000:00:14.0": "0000:00:14.0",
		"0000:01:00.0": "0000:01:00.0",
		"0000:01:00.1": "0000:01:00.1",
		"0000:03:00.0": "0000:03:00.0",
		"0000:03:10.0": "0000:03:10.0",
		"0000:03:10.4": "0000:03:10.4",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selectors (-want +got):\n%s", diff)
	}
}
