// Package testenv finds what tests need from outside the module (the
// shared corpora, host tools) and decides whether its absence skips the
// test or fails it.
//
// On a user's machine a missing corpus or tool skips the test with a
// message. CI sets HOSTDEV_REQUIRE_ALL=1, and then the same absence fails
// the test, so that nothing CI is meant to prove is silently skipped.
package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// RequireAllVar is the environment variable that turns skips into failures.
const RequireAllVar = "HOSTDEV_REQUIRE_ALL"

// Required reports whether skips are failures in this run.
func Required() bool { return os.Getenv(RequireAllVar) == "1" }

// Skip skips the test, or fails it when HOSTDEV_REQUIRE_ALL=1.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s=1, and: "+format, append([]any{RequireAllVar}, args...)...)
	}
	tb.Skipf(format, args...)
}

// ModuleRoot is the directory holding go.mod, found from the test's
// working directory upwards.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			tb.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

// Shared is ../shared beside the module (or $HOSTDEV_SHARED), or skips.
func Shared(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("HOSTDEV_SHARED")
	if dir == "" {
		dir = filepath.Join(ModuleRoot(tb), "..", "shared")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		Skip(tb, "no shared folder at %s (set HOSTDEV_SHARED)", dir)
	}
	return dir
}

// CorpusArchive is the path of one archive in shared/corpora, or skips.
func CorpusArchive(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(Shared(tb), "corpora", name+".tar.gz")
	if _, err := os.Stat(p); err != nil {
		Skip(tb, "corpus %s: %v", name, err)
	}
	return p
}

// Golden compares got with the file at path, or with update writes got
// there (creating its folder): the -update flag of the package's tests.
func Golden(tb testing.TB, path, got string, update bool) {
	tb.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		tb.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
