package pciaddr

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Address
		str      string
	}{
		{"full", "0000:00:1f.3", Address{0, 0x00, 0x1f, 3}, "0000:00:1f.3"},
		{"no domain", "00:1f.3", Address{0, 0x00, 0x1f, 3}, "0000:00:1f.3"},
		{"32-bit domain", "10000:00:00.0", Address{0x10000, 0, 0, 0}, "10000:00:00.0"},
		{"upper case", "0000:AF:1F.7", Address{0, 0xaf, 0x1f, 7}, "0000:af:1f.7"},
		{"max", "ffffffff:ff:1f.7", Address{0xffffffff, 0xff, 0x1f, 7}, "ffffffff:ff:1f.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "is not [DDDD:]BB:SS.F"},
		{"no function", "0000:00:1f", "has no function"},
		{"slot too big", "0000:00:20.0", "slot"},
		{"function too big", "0000:00:1f.8", "function"},
		{"bus not hex", "0000:zz:1f.0", "bus"},
		{"domain too long", "123456789:00:00.0", "domain"},
		{"usb interface", "1-1:1.0", "bus"},
		{"too many colons", "0:0:00:00.0", "is not [DDDD:]BB:SS.F"},
		{"bus too long", "0000:000:00.0", "bus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tc.in)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("Parse(%q) error %q: want it to quote the input and mention %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	order := []string{"0000:00:00.0", "0000:00:02.0", "0000:00:1f.0", "0000:00:1f.3", "0000:01:00.0", "0001:00:00.0", "10000:00:00.0"}
	for i := range order {
		for j := range order {
			a, b := MustParse(order[i]), MustParse(order[j])
			got := a.Compare(b)
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
		}
	}
}
