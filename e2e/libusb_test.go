package e2e

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hostdev/hostdev/internal/testenv"
)

// libusbBinary is the guest's hostdev-discover-libusb: the build with the
// libusb tag, dynamically linked, and the shared objects it loads, by the
// absolute paths ldd gives, for the initramfs.
type libusbBinary struct {
	path string
	libs []string
}

// buildLibusbBinary builds hostdev-discover with -tags libusb into dir and
// finds its shared objects with ldd, or skips without libusb-1.0-0-dev.
func buildLibusbBinary(t *testing.T, dir string) libusbBinary {
	t.Helper()
	out := filepath.Join(dir, "hostdev-discover-libusb")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "libusb", "-o", out, "./cmd/hostdev-discover")
	cmd.Dir = testenv.ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		testenv.Skip(t, "no libusb build (Debian libusb-1.0-0-dev and a C compiler): %v\n%s", err, b)
	}
	b, err := exec.Command("ldd", out).Output()
	if err != nil {
		testenv.Skip(t, "ldd %s: %v", out, err)
	}
	libs, err := parseLdd(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return libusbBinary{path: out, libs: libs}
}

// lddLine is "libusb-1.0.so.0 => /lib/x86_64-linux-gnu/libusb-1.0.so.0 (0x...)"
// or "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
var lddLine = regexp.MustCompile(`^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$`)

func parseLdd(out string) ([]string, error) {
	var libs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if m := lddLine.FindStringSubmatch(l); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, nil
}

// addLibs puts each shared object at its path in the initramfs, with the
// folders above it.
func addLibs(t *testing.T, dir func(string), file func(string, []byte), libs []string) {
	t.Helper()
	for _, l := range libs {
		rel := strings.TrimPrefix(path.Clean(l), "/")
		parts := strings.Split(path.Dir(rel), "/")
		for i := range parts {
			dir(strings.Join(parts[:i+1], "/"))
		}
		b, err := os.ReadFile(l) // follows the symlink to the real file
		if err != nil {
			t.Fatal(err)
		}
		file(rel, b)
	}
}

func TestParseLdd(t *testing.T) {
	out := `	linux-vdso.so.1 (0x00007ffc0e1f4000)
	libusb-1.0.so.0 => /lib/x86_64-linux-gnu/libusb-1.0.so.0 (0x00007f0c0a2b1000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c0a0d0000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f0c0a2e3000)
`
	got, _ := parseLdd(out)
	want := []string{"/lib/x86_64-linux-gnu/libusb-1.0.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("parseLdd: got %v, want %v", got, want)
	}
}

// agree is what list --usb-backend both says when the views agree.
var agree = regexp.MustCompile(`(?m)^usb-backend: sysfs and libusb agree on (\d+) USB devices$`)

// checkBackends checks that the guest's sysfs and libusb views of USB
// agreed, on the wanted number of devices, in the named section.
func checkBackends(t *testing.T, v *vm, section string, want int) {
	t.Helper()
	text, rc := v.section(t, section)
	m := agree.FindStringSubmatch(text)
	if rc != 0 || m == nil {
		t.Fatalf("%s: rc=%d, want 0 and the views agreeing:\n%s", section, rc, text)
	}
	t.Logf("%s: %s", section, m[0])
	if m[1] != strconv.Itoa(want) {
		t.Errorf("%s: agree on %s USB devices, want %d", section, m[1], want)
	}
}
