package match

import (
	"errors"
	"fmt"
	"testing"
)

// A caller may build an AmbiguousError itself (to report its own
// ambiguity, or in a test); Error must not panic on it, whatever it holds.
func TestAmbiguousErrorBuiltByCaller(t *testing.T) {
	sel, err := Parse("host:067b:2303")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		err  *AmbiguousError
		want string
	}{
		{"zero", &AmbiguousError{}, "several devices match the empty selector"},
		{"no candidates", &AmbiguousError{Selector: sel}, "several devices match 067b:2303"},
		{"stale, no candidates", &AmbiguousError{Selector: sel, Stale: "003.009"}, "067b:2303 is no longer at 003.009, and several devices match 067b:2303"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := func() (s string) {
				defer func() {
					if r := recover(); r != nil {
						s = fmt.Sprintf("panic: %v", r)
					}
				}()
				return tt.err.Error()
			}()
			if got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// errors.As finds each typed failure of the public functions, through a
// caller's own %w wrapping.
func TestErrorsAs(t *testing.T) {
	devs := fakeHost()
	wrap := func(err error) error { return fmt.Errorf("config line 3: %w", err) }
	for _, tt := range []struct {
		name   string
		err    func() error
		target any
	}{
		{"Parse: bad selector", func() error { _, err := Parse("host:zz"); return err }, new(*ParseError)},
		{"Parse: empty", func() error { _, err := Parse(""); return err }, new(*ParseError)},
		{"New: unknown key", func() error { _, err := New(Term{Key: "colour", Values: []string{"red"}}); return err }, new(*ParseError)},
		{"New: no terms", func() error { _, err := New(); return err }, new(*ParseError)},
		{"Resolve: no match", func() error { _, err := Resolve(must(Parse("host:067b:2304")), devs); return err }, new(*NoMatchError)},
		{"Resolve: ambiguous", func() error { _, err := Resolve(must(Parse("host:067b:2303")), devs); return err }, new(*AmbiguousError)},
		{"ResolveAll: no match", func() error { _, err := ResolveAll(must(Parse("serial=nothere")), devs); return err }, new(*NoMatchError)},
		{"ResolveMoved: moved, no match", func() error {
			_, _, err := ResolveMoved(must(Parse("vendor=1234,product=5678,busnum=1,devnum=9")), devs)
			return err
		}, new(*NoMatchError)},
		{"ResolveMoved: moved, ambiguous", func() error {
			_, _, err := ResolveMoved(must(Parse("vendor=067b,product=2303,busnum=3,devnum=9")), devs)
			return err
		}, new(*AmbiguousError)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(wrap(err), tt.target) {
				t.Errorf("errors.As(%T) is false for %T: %v", tt.target, err, err)
			}
		})
	}
}

func must(s Selector, err error) Selector {
	if err != nil {
		panic(err)
	}
	return s
}

// Keys gives the caller its own slice: changing it changes nothing here.
func TestKeysIsACopy(t *testing.T) {
	ks := Keys()
	if len(ks) == 0 || !KeySerial.IsValid() {
		t.Fatalf("Keys() = %v", ks)
	}
	for i := range ks {
		ks[i] = "colour"
	}
	if !KeySerial.IsValid() || Keys()[0] != KeyBus {
		t.Error("changing what Keys returned changed the package's keys")
	}
}
