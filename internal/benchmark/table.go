package benchmark

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Verdict is a row's result against its goal.
type Verdict string

const (
	Pass Verdict = "PASS"
	Over Verdict = "OVER" // measured, and worse than the goal
	Info Verdict = "info" // no goal: shown for context
	Fail Verdict = "FAIL" // could not be measured (the notes say why)
)

// Row is one line of the table.
type Row struct {
	Section  string // "1 cold start", "2 AWS calls", ...
	Measure  string
	Ours     string
	Baseline string
	Ratio    string
	Goal     string
	Verdict  Verdict
	Notes    string
}

// Table is everything `make bench` prints: one Markdown table, so it pastes into the README.
type Table struct{ Rows []Row }

// Add appends a row.
func (t *Table) Add(r Row) { t.Rows = append(t.Rows, r) }

// Counts returns how many rows have each verdict.
func (t *Table) Counts() map[Verdict]int {
	out := map[Verdict]int{}
	for _, r := range t.Rows {
		out[r.Verdict]++
	}
	return out
}

// Render writes the table as GitHub Markdown, followed by a one-line summary.
func (t *Table) Render(w io.Writer) error {
	head := []string{"section", "measure", "ours", "baseline", "ratio", "goal", "result", "notes"}
	var b strings.Builder
	line := func(cells []string) {
		for i := range cells {
			cells[i] = cell(cells[i])
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.Rows {
		line([]string{r.Section, r.Measure, r.Ours, r.Baseline, r.Ratio, r.Goal, string(r.Verdict), r.Notes})
	}
	c := t.Counts()
	var parts []string
	for _, v := range []Verdict{Pass, Over, Fail, Info} {
		if c[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[v], v))
		}
	}
	b.WriteString("\n" + strings.Join(parts, ", ") + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps a value on one Markdown table line.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// Ratio formats a/b as "1.23×" ("n/a" when b is not positive).
func Ratio(a, b float64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// AtMost is the verdict of value against an upper limit.
func AtMost(value, limit float64) Verdict {
	if value <= limit {
		return Pass
	}
	return Over
}

// Median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
