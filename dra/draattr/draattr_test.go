package draattr

import (
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

func hash8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

func TestValue(t *testing.T) {
	exact := strings.Repeat("x", MaxValueLength)
	long := strings.Repeat("y", MaxValueLength+1)
	wide := strings.Repeat("é", 40) // 80 bytes, 40 characters
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "FT232R USB UART", "FT232R USB UART"},
		{"empty", "", ""},
		{"quote inside", `a"b`, `a"b`},
		{"leading quote", `"a`, `"\"a"`},
		{"escape", "K\x1b[31m", `"K\x1b[31m"`},
		{"not UTF-8", "a\xffb", `"a\xffb"`},
		{"bidi", "a\u202eb", `"a\u202eb"`},
		{"64 bytes", exact, exact},
		{"65 bytes", long, long[:55] + "~" + hash8(long)},
		{"80 bytes of é", wide, wide[:54] + "~" + hash8(wide)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Value(tc.in)
			if got != tc.want {
				t.Errorf("Value(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if len(got) > MaxValueLength || !utf8.ValidString(got) {
				t.Errorf("Value(%q) = %q: %d bytes, valid UTF-8 %v", tc.in, got, len(got), utf8.ValidString(got))
			}
		})
	}
	// Two long values that share their first 64 bytes stay apart.
	if a, b := Value(long+"1"), Value(long+"2"); a == b {
		t.Errorf("String shortens two values to one: %q", a)
	}
}

// TestNoKubernetes: hostdev-discover may import this package; it must not
// bring Kubernetes with it.
func TestNoKubernetes(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") {
			t.Errorf("draattr depends on %s", p)
		}
	}
}
