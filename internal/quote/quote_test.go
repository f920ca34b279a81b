package quote

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		name, in, safe, text, value string
	}{
		{"plain", "A7022OOP", "A7022OOP", "A7022OOP", "A7022OOP"},
		{"space", "HDA Intel", "HDA Intel", "HDA Intel", `"HDA Intel"`},
		{"leading quote", `"x`, `"x`, `"\"x"`, `"\"x"`},
		{"comma", "a,b", "a,b", "a,b", `"a,b"`},
		{"empty", "", "", "", `""`},
		{"escape", "K\x1b[31mX\x07", `"K\x1b[31mX\a"`, `"K\x1b[31mX\a"`, `"K\x1b[31mX\a"`},
		{"newline", "a\nb", `"a\nb"`, `"a\nb"`, `"a\nb"`},
		{"nul", "a\x00", `"a\x00"`, `"a\x00"`, `"a\x00"`},
		{"c1 csi", "a\u009b2J", `"a\u009b2J"`, `"a\u009b2J"`, `"a\u009b2J"`},
		{"bidi", "a\u202eb", `"a\u202eb"`, `"a\u202eb"`, `"a\u202eb"`},
		{"invalid utf-8", "a\xff", `"a\xff"`, `"a\xff"`, `"a\xff"`},
		{"utf-8", "Präzision", "Präzision", "Präzision", "Präzision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Safe(tc.in); got != tc.safe {
				t.Errorf("Safe(%q) = %s, want %s", tc.in, got, tc.safe)
			}
			if got := Text(tc.in); got != tc.text {
				t.Errorf("Text(%q) = %s, want %s", tc.in, got, tc.text)
			}
			if got := Value(tc.in); got != tc.value {
				t.Errorf("Value(%q) = %s, want %s", tc.in, got, tc.value)
			}
			if got, want := Printable(tc.in), tc.safe == tc.in; got != want {
				t.Errorf("Printable(%q) = %v, want %v", tc.in, got, want)
			}
		})
	}
}

// TestShell runs what Shell writes through a real shell, which must give
// back the very bytes.
func TestShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	for _, tc := range []struct{ in, want string }{
		{"0000:01:00.0", "0000:01:00.0"},
		{"1-2.1", "1-2.1"},
		{"", "''"},
		{"HDA Intel", "'HDA Intel'"},
		{"it's", `'it'\''s'`},
		{"$(reboot)", "'$(reboot)'"},
		{"1-2;rm -rf ~", "'1-2;rm -rf ~'"},
		{"`id`\n\\", "'`id`\n\\'"},
		{"'", `''\'''`},
		{"K\x1b[31m*", "'K\x1b[31m*'"},
	} {
		got := Shell(tc.in)
		if got != tc.want {
			t.Errorf("Shell(%q) = %q, want %q", tc.in, got, tc.want)
		}
		out, err := exec.Command(sh, "-c", "printf %s "+got).Output()
		if err != nil || string(out) != tc.in {
			t.Errorf("sh printed %q (%v) for %s, want %q", out, err, got, tc.in)
		}
	}
}
