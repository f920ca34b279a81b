// Package quote is the one rule for printing a string that came from a
// device, a capture, a config or a command line: left alone when it is
// printable, written as a Go string literal otherwise, so that no escape
// sequence, bell, NUL, newline or bidi override reaches a terminal raw.
// The CLI's list and watch lines, and match's and hypervisor's error
// messages, all use it.
package quote

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable reports whether s is valid UTF-8 that strconv.Quote would leave
// alone but for quotes and backslashes: no control characters (C0, DEL or
// C1, whose CSI some terminals act on), no format characters such as bidi
// overrides, no spaces other than U+0020.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// Safe gives s itself when it is printable, else strconv.Quote(s). It is
// for a value inside a form that has its own syntax, such as a selector
// term, where a printable value must stay as the user would type it.
func Safe(s string) string {
	if Printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// Text is Safe for free text, where a string that starts with a quote is
// quoted too, so that a quoted field always means this.
func Text(s string) string {
	if Printable(s) && !strings.HasPrefix(s, `"`) {
		return s
	}
	return strconv.Quote(s)
}

// Value is Text for the value of key=value, which must also end at the
// next space and, in a list, at the next comma: "HDA Intel" is quoted.
func Value(s string) string {
	if s != "" && Printable(s) && !strings.ContainsAny(s, ` ",`) {
		return s
	}
	return strconv.Quote(s)
}

// Values is a comma-separated list of Value.
func Values(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Value(s)
	}
	return strings.Join(out, ",")
}

// Shell writes s as one word of a POSIX shell command: as it is when it
// holds only letters, digits and @%+=:,./_-, else inside single quotes,
// where the shell expands nothing; a single quote in s closes the quotes,
// is written escaped, and opens them again. It is for a
// command hostdev advises, which a user pastes into a shell.
func Shell(s string) string {
	if s != "" && strings.Trim(s, shellPlain) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

const shellPlain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-"
