package alert

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// reportCodes reads the report.Code constants from package report's source, so that a constant
// added there without a row here fails the test.
func reportCodes(t *testing.T) map[string]report.Code {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "report", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]report.Code{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Code" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: report.%s is not a string literal", path, name.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[name.Name] = report.Code(v)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no report.Code constants found in ../report")
	}
	return out
}

func TestEveryReportCodeHasOneRow(t *testing.T) {
	constants := reportCodes(t)
	rows := map[report.Code]int{}
	for _, m := range Codes() {
		rows[m.Code]++
	}
	names := map[report.Code]string{}
	for name, code := range constants {
		if other, dup := names[code]; dup {
			t.Errorf("report.%s and report.%s are both %q", name, other, code)
		}
		names[code] = name
		if rows[code] != 1 {
			t.Errorf("report.%s (%q) has %d rows in codeTable, want 1", name, code, rows[code])
		}
	}
	for code := range rows {
		if _, ok := names[code]; !ok {
			t.Errorf("codeTable has %q, which is not a report.Code constant", code)
		}
	}
}

func TestCodeTableRows(t *testing.T) {
	priorities := map[int]report.Code{}
	for _, m := range Codes() {
		if !validCode(m.Code) {
			t.Errorf("%q is not a valid code", m.Code)
		}
		if severityRank(m.Severity) == 0 {
			t.Errorf("%s: severity %q", m.Code, m.Severity)
		}
		if other, dup := priorities[m.Priority]; dup {
			t.Errorf("%s and %s share priority %d", m.Code, other, m.Priority)
		}
		priorities[m.Priority] = m.Code
		switch m.FixedBy {
		case "", report.ActionKeyPolicy, report.ActionKMSGrant:
		default:
			t.Errorf("%s: fixed by %q, which coveringAction does not match", m.Code, m.FixedBy)
		}
		if m.remedy == nil || m.remedy.render == nil {
			t.Errorf("%s has no remedy", m.Code)
		}
		if m.Summary == "" || strings.ContainsAny(m.Summary, "\n|`") {
			t.Errorf("%s: summary %q must be one line of plain text (it is a README table cell)", m.Code, m.Summary)
		}
		if got, ok := CodeInfo(m.Code); !ok || got.Code != m.Code || FixedBy(m.Code) != m.FixedBy {
			t.Errorf("CodeInfo/FixedBy(%s) disagree with the table", m.Code)
		}
	}
	if _, ok := CodeInfo("no-such-code"); ok || FixedBy("no-such-code") != "" {
		t.Errorf("an unknown code has a row")
	}
}

// openFinding is a finding of code that nothing fixed, with values every remedy can render.
func openFinding(code report.Code) report.Finding {
	return report.Finding{Code: code, Account: target, KeyARN: keyARN, PrincipalARN: roleARN, Message: "found " + string(code)}
}

// Every row's remedy renders a todo for an open finding of its code, with a concrete step to
// take, the alert takes the row's severity, and the unknown-code fallback is not used.
func TestEveryCodeHasARemedy(t *testing.T) {
	for _, m := range Codes() {
		t.Run(string(m.Code), func(t *testing.T) {
			res := report.Result{Records: []report.Record{shareRecord(openFinding(m.Code))}}
			msg, ok := Compose(res, Context{Mode: "fix"})
			if !ok {
				t.Fatal("nothing composed")
			}
			checkInvariants(t, msg)
			todos := analyze(res, Context{Mode: "fix"}).todos(everything)
			if len(todos) != 1 {
				t.Fatalf("%d todos, want 1: %+v", len(todos), todos)
			}
			td := todos[0]
			if !strings.Contains(td.title, string(m.Code)) || td.why == "" || td.body == "" {
				t.Errorf("the todo does not name %s, say why, or say what to do: %+v", m.Code, td)
			}
			if strings.Contains(td.title, string(m.Code)+" for account ") {
				t.Errorf("%s fell through to the remedy for unknown codes: %+v", m.Code, td)
			}
			if !strings.Contains(msg.Body, "DO THIS NOW") || !strings.Contains(msg.Body, td.title) {
				t.Errorf("the todo is not the alert's DO THIS NOW:\n%s", msg.Body)
			}
			if got := msg.Attributes[AttrSeverity].Value; got != m.Severity {
				t.Errorf("severity = %s, want the row's %s", got, m.Severity)
			}
		})
	}
}

// An applied action of the row's FixedBy type fixes a finding; no action fixes a finding whose
// row says never.
func TestFixedByDecidesWhatAnActionCovers(t *testing.T) {
	for _, m := range Codes() {
		t.Run(string(m.Code), func(t *testing.T) {
			res := report.Result{
				Records: []report.Record{shareRecord(openFinding(m.Code))},
				Actions: []report.Action{
					{Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{target}, Status: report.StatusApplied},
					{Type: report.ActionKMSGrant, Target: keyARN, Accounts: []string{target}, Principal: roleARN, Status: report.StatusApplied},
				},
			}
			a := analyze(res, Context{Mode: "fix"})
			it := a.items[0]
			switch {
			case m.FixedBy == "" && it.st != stateHuman:
				t.Errorf("state %s, want needs a human: no action fixes %s", it.st.label(), m.Code)
			case m.FixedBy != "" && (it.st != stateFixed || it.act == nil || it.act.Type != m.FixedBy):
				t.Errorf("state %s by %v, want fixed by the %s action", it.st.label(), it.act, m.FixedBy)
			}
		})
	}
}

// The subject names the open code with the lowest Priority first; unknown codes come last.
func TestOpenCodesFollowPriority(t *testing.T) {
	rows := Codes()
	var findings []report.Finding
	findings = append(findings, openFinding("code-from-a-newer-remediator"))
	for i := len(rows) - 1; i >= 0; i-- {
		findings = append(findings, openFinding(rows[i].Code))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Priority < rows[j].Priority })
	var want []string
	for _, m := range rows {
		want = append(want, string(m.Code))
	}
	want = append(want, "code-from-a-newer-remediator")
	a := analyze(report.Result{Records: []report.Record{shareRecord(findings...)}}, Context{})
	if got := a.openCodes(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("open codes\n got %v\nwant %v", got, want)
	}
}

// readmeHeader starts the README's table of finding codes.
const readmeHeader = "| code | fixed by | what it means |"

// readmeTable is the README's table of finding codes, rendered from codeTable.
func readmeTable() []string {
	lines := []string{readmeHeader, "|---|---|---|"}
	for _, m := range Codes() {
		fixedBy := "never"
		if m.FixedBy != "" {
			fixedBy = "`" + m.FixedBy + "`"
		}
		lines = append(lines, "| `"+string(m.Code)+"` | "+fixedBy+" | "+m.Summary+" |")
	}
	return lines
}

// The README's list of finding codes is the table's: a missing, extra or changed row fails
// (go test ./pkg/alert -update rewrites it).
func TestREADMEListsEveryCode(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	start := -1
	for i, l := range lines {
		if l == readmeHeader {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("README.md has no line %q", readmeHeader)
	}
	end := start
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	want := readmeTable()
	if *update {
		out := append(append(append([]string{}, lines[:start]...), want...), lines[end:]...)
		if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	got := map[string]string{} // code -> "fixed by | summary"
	for _, l := range lines[start+2 : end] {
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if len(cells) != 3 {
			t.Errorf("README row %q does not have 3 cells", l)
			continue
		}
		got[strings.Trim(cells[0], "`")] = cells[1] + " | " + cells[2]
	}
	for _, row := range want[2:] {
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		code := strings.Trim(cells[0], "`")
		have, ok := got[code]
		switch {
		case !ok:
			t.Errorf("README lacks code %s", code)
		case have != cells[1]+" | "+cells[2]:
			t.Errorf("README says %s is %q, the table says %q", code, have, cells[1]+" | "+cells[2])
		}
		delete(got, code)
	}
	for code := range got {
		t.Errorf("README lists %s, which the table does not have", code)
	}
	if have := strings.Join(lines[start:end], "\n"); have != strings.Join(want, "\n") && !t.Failed() {
		t.Errorf("README's table is not in the table's order or form (go test ./pkg/alert -update rewrites it):\n%s", strings.Join(want, "\n"))
	}
}
