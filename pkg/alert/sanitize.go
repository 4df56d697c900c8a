package alert

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text that reaches an alert from events (image IDs, ARNs, error messages, notes) is untrusted:
// anyone who can call ec2:ModifyImageAttribute or put an event on the bus chooses it. The rules
// that keep it from forging the alert's structure:
//
//   - Structure lines (section headings "=== X ===", the result markers "-----BEGIN/END ...-----")
//     always start in column 0, and we never start a line with untrusted text: a value follows a
//     label, a block line (diff, document) is indented.
//   - Untrusted text never carries a line break: control and format characters (C0, C1, DEL,
//     bidi overrides, zero-width characters, line/paragraph separators) are shown escaped.
//   - Runs that look like our markers ("===", "-----") are broken up, so even a human skimming
//     cannot mistake a value for a heading.
//   - A value taken from an event (an ID, an ARN, an account) is cut at MaxValueRunes runes. The
//     remediator's own sentences (finding messages, action reasons, notes, errors) are not cut:
//     they embed event values only after the remediator has bounded them, so only a sentence
//     longer than MaxSentenceBytes, which the remediator never writes, is cut, at a word.

// MaxValueRunes is how much of one value taken from an event an alert shows.
const MaxValueRunes = 256

// MaxSentenceBytes bounds one of the remediator's own sentences: far above any it writes (a
// finding message or an action reason is a few hundred bytes), so that only garbage is cut.
const MaxSentenceBytes = 4096

const truncatedSuffix = "…(truncated)"

// maxBlockLineBytes bounds one line of a diff or document. A minified 32 KB key policy is a
// single line, and cutting it would make it useless, so the bound is the policy size limit.
const maxBlockLineBytes = 32768

// cleanValue makes one untrusted value safe to print on one line of the body.
func cleanValue(s string) string {
	s, cut := cutRunes(s, MaxValueRunes)
	out := defang(escapeControls(s))
	if cut {
		out += truncatedSuffix
	}
	return out
}

// cleanSentence makes one of the remediator's own sentences safe to print on one line of the
// body, like cleanValue, but without cutting it (see MaxSentenceBytes).
func cleanSentence(s string) string {
	if len(s) <= MaxSentenceBytes {
		return defang(escapeControls(strings.ToValidUTF8(s, "\uFFFD")))
	}
	cut := cutBytes(s, MaxSentenceBytes)
	if i := strings.LastIndexByte(cut, ' '); i > MaxSentenceBytes/2 {
		cut = cut[:i]
	}
	return defang(escapeControls(strings.ToValidUTF8(cut, "\uFFFD"))) + truncatedSuffix
}

// cutRunes returns at most n runes of s (as valid UTF-8) and whether anything was cut.
func cutRunes(s string, n int) (string, bool) {
	i, count := 0, 0
	for i < len(s) {
		if count == n {
			return strings.ToValidUTF8(s[:i], "\uFFFD"), true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return strings.ToValidUTF8(s, "\uFFFD"), false
}

// cutBytes returns a prefix of s no longer than n bytes that ends on a rune boundary.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// isHazard reports runes that can change how text is laid out or read: controls (including
// newline, carriage return and tab), format characters (bidi overrides, zero-width joiners, BOM),
// line and paragraph separators.
func isHazard(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return false
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) ||
		unicode.Is(unicode.Zp, r) || r == utf8.RuneError
}

// escapeControls shows hazardous runes as Go-style escapes (\n, \x1b, \u202e) so the reader sees
// that they were there.
func escapeControls(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !isHazard(r) {
			b.WriteRune(r)
			continue
		}
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

// defang breaks runs of '=' (3 or more) and '-' (5 or more) so that no untrusted text contains
// the shape of a heading or a result marker.
func defang(s string) string {
	if !strings.Contains(s, "===") && !strings.Contains(s, "-----") {
		return s
	}
	var b strings.Builder
	run, last := 0, rune(0)
	for _, r := range s {
		if r == last {
			run++
		} else {
			run, last = 1, r
		}
		if (r == '=' && run == 3) || (r == '-' && run == 5) {
			b.WriteByte(' ')
			run = 1
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cleanDiffLine makes one line of a diff (display only) safe: like cleanValue, but long lines
// are kept up to maxBlockLineBytes.
func cleanDiffLine(line string) string {
	line = strings.ReplaceAll(line, "\t", "    ")
	cut := len(line) > maxBlockLineBytes
	line = strings.ToValidUTF8(cutBytes(line, maxBlockLineBytes), "\uFFFD")
	out := defang(escapeControls(line))
	if cut {
		out += truncatedSuffix
	}
	return out
}

// cleanJSONLine makes one line of a JSON document that an operator will apply safe to show
// without changing what it means. In valid JSON, hazardous runes and marker-like runs can only
// occur inside strings, where the \uXXXX escape denotes the same character; outside strings they
// were invalid anyway. Tabs (JSON whitespace) become spaces.
func cleanJSONLine(line string) string {
	line = strings.ToValidUTF8(strings.ReplaceAll(line, "\t", "    "), "\uFFFD")
	var b strings.Builder
	run, last := 0, rune(0)
	for _, r := range line {
		if r == last {
			run++
		} else {
			run, last = 1, r
		}
		switch {
		case isHazard(r) && r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		case isHazard(r):
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		case (r == '=' && run == 3) || (r == '-' && run == 5):
			fmt.Fprintf(&b, `\u%04x`, r)
			run = 0
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}

// block indents each line of a multi-line text by prefix after cleaning it with clean. Carriage
// returns are line breaks too (\r\n and lone \r), so none survives into the body.
func block(text, prefix string, clean func(string) string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.TrimRight(text, "\n")
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		b.WriteString(prefix)
		b.WriteString(clean(line))
		b.WriteByte('\n')
	}
	return b.String()
}

// asciiSubject keeps printable ASCII, turns controls and whitespace into single spaces and other
// runes into '?', and cuts to max bytes with "..." when needed.
func asciiSubject(s string, max int) string {
	s, _ = cutRunes(s, 4*max) // enough to fill max after collapsing spaces; bounds the work
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || isHazard(r) || unicode.IsSpace(r):
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		case r > 0x20 && r < 0x7f:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
		space = false
	}
	out := strings.TrimRight(b.String(), " ")
	if len(out) > max {
		out = strings.TrimRight(out[:max-3], " ") + "..."
	}
	return out
}

// shellQuote quotes a value for a POSIX shell unless it is made only of characters that need no
// quoting. Commands in the alert are meant to be pasted: a crafted ARN must not run anything.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,:/@+=%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// shellArg is an untrusted value as a shell argument on one line of the body: shell-quoted, with
// control characters escaped (they cannot appear in a real ARN or ID anyway) and marker-like runs
// broken. A value is never cut (a cut ARN would be a different ARN): one too long to be a real
// ID or ARN becomes a placeholder.
func shellArg(s string) string {
	if len(s) > maxArgBytes {
		return "'VALUE-TOO-LONG-SEE-THE-LOGS'"
	}
	return defang(escapeControls(shellQuote(strings.ToValidUTF8(s, "\uFFFD"))))
}

// maxArgBytes is far above any real ARN (IAM ARNs are at most 2048 characters).
const maxArgBytes = 2048
