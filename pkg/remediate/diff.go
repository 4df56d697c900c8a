package remediate

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// policyDiff is a unified-style line diff of two policies for people. Compact documents are
// indented first (for display only: the policy itself is never reformatted).
func policyDiff(before, after []byte) string {
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
	var out strings.Builder
	for i, j := 0, 0; i < n || j < m; {
		switch {
		case i < n && j < m && a[i] == b[j]:
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + b[j] + "\n")
			j++
		default:
			out.WriteString("- " + a[i] + "\n")
			i++
		}
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

func sortStrings(s []string) { sort.Strings(s) }
