package remediate

import (
	"bytes"
	"encoding/json"
	"strings"
)

// PolicyDiff is a unified-style line diff of two policies for people. Compact documents are
// indented first (for display only: the policy itself is never reformatted).
func PolicyDiff(before, after []byte) string {
	a, b := displayLines(before), displayLines(after)
	// Longest common subsequence over lines; policies are small (≤ 32 KB).
	n, m := len(a), len(b)
	if n*m > 4_000_000 {
		return "(policy too large to diff)"
	}
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	// Walk the table: removals before additions, like diff -u.
	type line struct {
		op   byte
		text string
	}
	var ops []line
	for i, j := 0, 0; i < n || j < m; {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, line{' ', a[i]})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', a[i]})
			i++
		default:
			ops = append(ops, line{'+', b[j]})
			j++
		}
	}
	// Keep two lines of context around each change; elide the rest.
	const context = 2
	keep := make([]bool, len(ops))
	for k, o := range ops {
		if o.op == ' ' {
			continue
		}
		for d := max(0, k-context); d <= min(len(ops)-1, k+context); d++ {
			keep[d] = true
		}
	}
	var out strings.Builder
	elided := false
	for k, o := range ops {
		if !keep[k] {
			if !elided {
				out.WriteString("  ...\n")
				elided = true
			}
			continue
		}
		elided = false
		out.WriteByte(o.op)
		out.WriteString(" " + o.text + "\n")
	}
	return out.String()
}

func displayLines(doc []byte) []string {
	text := doc
	if bytes.Count(doc, []byte("\n")) < 2 {
		var buf bytes.Buffer
		if json.Indent(&buf, doc, "", "  ") == nil {
			text = buf.Bytes()
		}
	}
	return strings.Split(strings.TrimRight(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n"), "\n")
}
