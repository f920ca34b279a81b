package hypervisor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hostdev/hostdev/internal/quote"
	"github.com/hostdev/hostdev/internal/spell"
	"github.com/hostdev/hostdev/internal/usbnum"
	"github.com/hostdev/hostdev/match"
	"github.com/hostdev/hostdev/pciaddr"
)

// An xl config is a list of settings, KEY = VALUE, ended by a newline or
// ";". A VALUE is a number, a '...' or "..." string, or a [ ... ] list of
// them that may span lines; # starts a comment (xl.cfg(5)). We lex the
// whole file, so that a # or ] inside a string is not misread, and keep the
// byte span of every string so that fill can rewrite one string and leave
// every other byte alone.

// xlString is one string value and where its contents sit in the file.
type xlString struct {
	value      string // unquoted
	start, end int    // contents, between the quotes
	line       int
}

// xlSetting is KEY = VALUE; strings holds the string values in order.
type xlSetting struct {
	key     string
	line    int
	appends bool // KEY += VALUE
	strings []xlString
}

type xlLexer struct {
	src  string
	i    int
	line int
}

func (l *xlLexer) fail(format string, args ...any) error {
	return errorf(DialectXL, l.line, "", format, args...)
}

// skip passes blanks, comments and (when newlines is true) line ends.
func (l *xlLexer) skip(newlines bool) {
	for l.i < len(l.src) {
		switch c := l.src[l.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\\' && l.i+1 < len(l.src) && l.src[l.i+1] == '\n':
			l.i += 2
			l.line++
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case c == '\n' && newlines:
			l.i++
			l.line++
		default:
			return
		}
	}
}

func isIdent(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// parseXL lexes a whole xl config into its settings.
func parseXL(src string) ([]xlSetting, error) {
	l := &xlLexer{src: src, line: 1}
	var out []xlSetting
	for {
		l.skip(true)
		if l.i >= len(src) {
			return out, nil
		}
		if src[l.i] == ';' {
			l.i++
			continue
		}
		start := l.i
		for l.i < len(src) && isIdent(src[l.i], l.i == start) {
			l.i++
		}
		if l.i == start {
			return nil, l.fail("expected a setting name, found %q", nextWord(src[l.i:]))
		}
		s := xlSetting{key: src[start:l.i], line: l.line}
		l.skip(false)
		if strings.HasPrefix(src[l.i:], "+=") {
			l.i += 2
			s.appends = true
		} else if l.i < len(src) && src[l.i] == '=' {
			l.i++
		} else {
			return nil, l.fail("setting %s: expected = after the name", quote.Text(s.key))
		}
		l.skip(false)
		if l.i < len(src) && src[l.i] == '[' {
			l.i++
			for {
				l.skip(true)
				if l.i >= len(src) {
					return nil, errorf(DialectXL, s.line, "", "setting %s: the list opened here has no ]", quote.Text(s.key))
				}
				if src[l.i] == ']' {
					l.i++
					break
				}
				v, err := l.atom(&s)
				if err != nil {
					return nil, err
				}
				_ = v
				l.skip(true)
				if l.i < len(src) && src[l.i] == ',' {
					l.i++
				} else if l.i < len(src) && src[l.i] != ']' {
					return nil, l.fail("setting %s: expected , or ] in the list, found %q", s.key, nextWord(src[l.i:]))
				}
			}
		} else if _, err := l.atom(&s); err != nil {
			return nil, err
		}
		l.skip(false)
		if l.i < len(src) && src[l.i] != '\n' && src[l.i] != ';' {
			return nil, l.fail("setting %s: unexpected %q after the value", s.key, nextWord(src[l.i:]))
		}
		out = append(out, s)
	}
}

func nextWord(s string) string {
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20] + "..."
	}
	return s
}

// atom reads a string or a bare number; strings are recorded in s.
func (l *xlLexer) atom(s *xlSetting) (string, error) {
	src := l.src
	if l.i >= len(src) {
		return "", l.fail("setting %s has no value", quote.Text(s.key))
	}
	q := src[l.i]
	if q != '\'' && q != '"' {
		start := l.i
		for l.i < len(src) && strings.IndexByte(" \t\r\n,;]#", src[l.i]) < 0 {
			l.i++
		}
		if l.i == start {
			return "", l.fail("setting %s: expected a value, found %q", s.key, nextWord(src[l.i:]))
		}
		return src[start:l.i], nil
	}
	line := l.line
	l.i++
	start := l.i
	// Most strings have no escape, and their value is the file's own bytes:
	// b is used only once an escape is met, so that a long list costs no
	// copy of each entry.
	var b strings.Builder
	escaped := false
	for {
		if l.i >= len(src) {
			return "", errorf(DialectXL, line, "", "setting %s: the string opened here is not closed", quote.Text(s.key))
		}
		c := src[l.i]
		if c == q {
			break
		}
		if c == '\n' {
			return "", errorf(DialectXL, line, "", "setting %s: the string opened here runs past the end of the line", quote.Text(s.key))
		}
		if c == '\\' && l.i+1 < len(src) {
			if !escaped {
				escaped = true
				b.WriteString(src[start:l.i])
			}
			l.i++
			switch e := src[l.i]; e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case 'x':
				// \xHH, as libxlu reads it.
				if l.i+2 < len(src) && isHexDigit(src[l.i+1]) && isHexDigit(src[l.i+2]) {
					n, _ := strconv.ParseUint(src[l.i+1:l.i+3], 16, 8)
					b.WriteByte(byte(n))
					l.i += 2
				} else {
					return "", l.fail("setting %s: \\x needs two hex digits", quote.Text(s.key))
				}
			default:
				if '0' <= e && e <= '7' {
					// \ooo: up to three octal digits.
					j := l.i
					for j < len(src) && j < l.i+3 && '0' <= src[j] && src[j] <= '7' {
						j++
					}
					n, _ := strconv.ParseUint(src[l.i:j], 8, 16)
					b.WriteByte(byte(n))
					l.i = j
					continue
				}
				return "", l.fail("setting %s: escape \\%c is not one xl reads", s.key, e)
			}
			l.i++
			continue
		}
		if escaped {
			b.WriteByte(c)
		}
		l.i++
	}
	value := src[start:l.i]
	if escaped {
		value = b.String()
	}
	if len(s.strings) == cap(s.strings) {
		// Double, rather than append's 1.25 for long slices: a list of
		// n entries then allocates 2n xlStrings in all, not 5n.
		s.strings = slices.Grow(s.strings, len(s.strings)+1)
	}
	s.strings = append(s.strings, xlString{value: value, start: start, end: l.i, line: line})
	l.i++
	return value, nil
}

// xlRefs reads the host devices an xl config names.
func xlRefs(doc []byte) ([]Ref, error) {
	settings, err := parseXL(string(doc))
	if err != nil {
		return nil, err
	}
	settings = effective(settings)
	n := 0
	for _, s := range settings {
		n += len(s.strings)
	}
	refs := make([]Ref, 0, n) // at most one per string
	for _, s := range settings {
		for _, str := range s.strings {
			r, ok, err := xlRef(s.key, str)
			if err != nil {
				return nil, err
			}
			if ok {
				refs = append(refs, r)
			}
		}
	}
	return refs, nil
}

// xlRef reads one entry of usbdevice, usbdev or pci. ok is false for an
// entry that names no host device (usbdevice='tablet').
func xlRef(key string, s xlString) (Ref, bool, error) {
	fail := func(format string, args ...any) (Ref, bool, error) {
		return Ref{}, false, errorf(DialectXL, s.line, s.value, "%s entry: %s", key, fmt.Sprintf(format, args...))
	}
	r := Ref{Dialect: DialectXL, Text: s.value, Line: s.line}
	switch key {
	case "usbdevice":
		if !strings.HasPrefix(s.value, "host:") {
			return Ref{}, false, nil // an emulated device: 'tablet', 'mouse'
		}
		sel, err := match.Parse(s.value)
		if err != nil {
			return Ref{}, false, selectorError(DialectXL, s.line, s.value, err)
		}
		r.Selector = sel
		r.noHub = true // the legacy form goes to QEMU's usb-host
	case "usbdev":
		var bus, addr string
		var keep []string
		for opt := range strings.SplitSeq(s.value, ",") {
			k, v, ok := strings.Cut(opt, "=")
			if !ok {
				return fail("%q is not key=value", opt)
			}
			switch k {
			case "type":
				if v != "hostdev" {
					return Ref{}, false, unsupportedf(DialectXL, s.line, s.value, "%s entry: type=%s: xl knows only type=hostdev", key, v)
				}
			case "hostbus", "hostaddr":
				// xl reads these with strtoul base 0: 010 is 8.
				n, err := cUint("xl", v, map[string]uint64{"hostbus": 255, "hostaddr": usbnum.MaxDevnum}[k])
				if err != nil || n == 0 {
					if err == nil {
						err = fmt.Errorf("0 names no device")
					}
					return fail("%s=%s: %v", k, v, err)
				}
				if k == "hostbus" {
					bus = strconv.FormatUint(n, 10)
				} else {
					addr = strconv.FormatUint(n, 10)
				}
			case "controller", "port":
				keep = append(keep, opt)
			default:
				hint := ""
				if near := spell.Suggest(k, []string{"type", "hostbus", "hostaddr", "controller", "port"}); near != "" {
					hint = "; did you mean " + near + "?"
				}
				return fail("xl has no usbdev option %q%s", k, hint)
			}
		}
		if bus == "" || addr == "" {
			return fail("xl needs both hostbus= and hostaddr=")
		}
		sel, err := match.New(
			match.Term{Key: match.KeyBus, Values: []string{"usb"}},
			match.Term{Key: match.KeyBusnum, Values: []string{bus}},
			match.Term{Key: match.KeyDevnum, Values: []string{addr}})
		if err != nil {
			return selectorFail(key, s, err)
		}
		r.Selector = sel
		if len(keep) > 0 {
			r.xlOpts = "," + strings.Join(keep, ",")
		}
	case "pci":
		// Positional [DDDD:]BB:SS.F[@VSLOT] first, or bdf= among the options.
		bdf, rest, _ := strings.Cut(s.value, ",")
		if strings.Contains(bdf, "=") {
			bdf, rest = "", s.value
		}
		var kept []string
		if rest != "" {
			for o := range strings.SplitSeq(rest, ",") {
				k, v, ok := strings.Cut(o, "=")
				switch {
				case !ok:
					return fail("option %q is not key=value", o)
				case k == "bdf":
					bdf = v
				default:
					kept = append(kept, o)
				}
			}
		}
		if bdf == "" {
			return fail("no address; write [DDDD:]BB:SS.F first, or bdf=")
		}
		opts := ""
		if len(kept) > 0 {
			opts = "," + strings.Join(kept, ",")
		}
		vslot := ""
		if a, v, ok := strings.Cut(bdf, "@"); ok {
			if n, err := strconv.ParseUint(v, 16, 8); err != nil || v == "" || n > 0x1f {
				return fail("virtual slot @%s is not a hex number from 0 to 1f", v)
			}
			bdf, vslot = a, "@"+v
		}
		addr := bdf
		if strings.Count(addr, ":") == 1 {
			addr = "0000:" + addr
		}
		r.All = strings.HasSuffix(addr, ".*")
		probe := addr
		if r.All {
			probe = strings.TrimSuffix(addr, "*") + "0"
		}
		if a, err := pciaddr.Parse(probe); err != nil {
			return fail("%q is not a PCI address [DDDD:]BB:SS.F (function may be *)", bdf)
		} else if a.Domain > 0xffff {
			return fail("xl reads 16-bit PCI domains only")
		}
		sel, err := match.New(
			match.Term{Key: match.KeyBus, Values: []string{"pci"}},
			match.Term{Key: match.KeyAddress, Values: []string{addr}})
		if err != nil {
			return selectorFail(key, s, err)
		}
		r.Selector = sel
		r.xlOpts = vslot + opts
	default:
		return Ref{}, false, nil
	}
	return r, true, nil
}

func selectorFail(key string, s xlString, err error) (Ref, bool, error) {
	e := selectorError(DialectXL, s.line, s.value, err)
	e.Msg = key + " entry: " + e.Msg
	return Ref{}, false, e
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// effective drops settings that a later one replaces: in xl the last
// KEY = VALUE wins, and KEY += VALUE appends to it.
func effective(settings []xlSetting) []xlSetting {
	last := map[string]int{}
	for i, s := range settings {
		if !s.appends {
			last[s.key] = i
		}
	}
	var out []xlSetting
	for i, s := range settings {
		if j, ok := last[s.key]; ok && i < j {
			continue
		}
		out = append(out, s)
	}
	return out
}
