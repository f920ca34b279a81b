package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hostdev/hostdev/internal/testenv"
)

// pageDevices lists the devices in a report's trees, in page order: USB,
// then PCI.
func pageDevices(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`<div class="dev [^"]*" data-dev="d[0-9]+" data-name="([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	return names
}

// TestREADMEReportExamples runs the README's report examples on the
// README's host (and a snapshot of it, for --root snap.tar.gz): each writes
// a page holding the devices it says, and says where it wrote it.
func TestREADMEReportExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples []string
	for l := range strings.Lines(string(readme)) {
		if cmd, ok := strings.CutPrefix(l, "hostdev-discover report "); ok {
			cmd, _, _ = strings.Cut(cmd, "#")
			examples = append(examples, strings.TrimSpace(cmd))
		}
	}
	root := readmeHost(t)
	t.Chdir(t.TempDir())
	if code, _, errs := hostdev(t, "snapshot", "--root", root, "-o", "snap.tar.gz"); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", code, errs)
	}
	all := []string{"usb1", "1-1", "1-2", "1-2.1", "1-2.2", "1-3", "1-4", "usb3", "3-1",
		"0000:00:14.0", "0000:00:1f.0", "0000:00:1f.3", "0000:01:00.0", "0000:02:10.4", "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"}
	want := map[string][]string{
		"-o host.html":                        all,
		"-o snap.html --root snap.tar.gz":     all,
		"-o ftdi.html host:0403:6001 00:14.0": {"usb1", "1-2", "1-2.1", "1-2.2", "1-3", "0000:00:14.0"},
	}
	got := map[string][]string{}
	for _, ex := range examples {
		args := append([]string{"report"}, strings.Fields(ex)...)
		if !strings.Contains(ex, "--root") {
			args = append(args, "--root", root)
		}
		code, out, errs := hostdev(t, args...)
		file := strings.Fields(ex)[1]
		if code != 0 || out != "" || errs != "wrote "+file+"\n" {
			t.Errorf("README example report %s: exit %d\nstdout: %s\nstderr: %s", ex, code, out, errs)
			continue
		}
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want a file readable by its owner only", file, err, st.Mode())
		}
		got[ex] = pageDevices(t, file)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("devices on the README's pages (-want +got):\n%s", diff)
	}
}

// TestReportCapture makes the page of a real capture, through --root
// FILE.tar.gz as a maintainer would from a user's snapshot: a tree node
// for each device list shows.
func TestReportCapture(t *testing.T) {
	snap := testenv.CorpusArchive(t, "systemd-thinkpad-2008")
	page := filepath.Join(t.TempDir(), "r.html")
	code, _, errs := hostdev(t, "report", "-n", "--root", snap, "-o", page)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	code, out, errs := hostdev(t, "list", "-n", "--root", snap)
	if code != 0 {
		t.Fatalf("list: exit %d\n%s", code, errs)
	}
	var listed []string
	for l := range strings.Lines(out) {
		listed = append(listed, strings.Fields(l)[2])
		if strings.HasPrefix(l, "usb ") {
			continue
		}
		listed[len(listed)-1] = strings.Fields(l)[1]
	}
	got := pageDevices(t, page)
	if diff := cmp.Diff(sorted(listed), sorted(got)); diff != "" {
		t.Errorf("devices on the page and in list (-list +page):\n%s", diff)
	}
}

func sorted(s []string) []string {
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

// TestReportUsage: report without -o, or with a bad selector, is a usage
// error that writes nothing.
func TestReportUsage(t *testing.T) {
	root := readmeHost(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"report", "--root", root},
		{"report", "--root", root, "-o", filepath.Join(dir, "x.html"), "vendor=zz"},
	} {
		if code, _, errs := hostdev(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, errs)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed report left %d files", len(entries))
	}
}
