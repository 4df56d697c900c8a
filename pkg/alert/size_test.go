package alert

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// bigText is n bytes of policy-like lines.
func bigText(n int) string {
	const line = `      "Principal": {"AWS": ["arn:aws:iam::555566667777:root", "arn:aws:iam::444455556666:root"]},` + "\n"
	return strings.Repeat(line, n/len(line)+1)[:n]
}

// manyKeys is a planned fix on each of n keys, each with a diff and a document of the sizes given.
func manyKeys(n, diffBytes, docBytes int) report.Result {
	var res report.Result
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/%08d-0000-0000-0000-000000000000", i)
		rec := shareRecord(report.Finding{Code: report.KeyPolicyMissingUse, Account: target, KeyARN: key, Fixable: true})
		res.Records = append(res.Records, rec)
		res.Actions = append(res.Actions, report.Action{
			Type: report.ActionKeyPolicy, Target: key, Accounts: []string{target}, Status: report.StatusPlanned,
			Diff: bigText(diffBytes), Document: "{\n" + bigText(docBytes) + "}",
		})
	}
	return res
}

// manyRecords is n records, each with findings on its own key and account; when fixed, one
// applied action covers them all (so the text stays short and the JSON is the bulk).
func manyRecords(n int, fixed bool) report.Result {
	var res report.Result
	if fixed {
		res.Actions = []report.Action{{Type: report.ActionKeyPolicy, Target: keyARN, Status: report.StatusApplied}}
	}
	for i := 0; i < n; i++ {
		acc := fmt.Sprintf("%012d", 100000000000+i)
		key := fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/%08d-0000-0000-0000-000000000000", i)
		rec := shareRecord(
			report.Finding{Code: report.KeyPolicyMissingUse, Account: acc, KeyARN: key, Message: "key policy does not allow " + acc},
			report.Finding{Code: report.UntrustedAccount, Account: acc, KeyARN: key, Message: "account " + acc + " is not trusted"})
		if fixed {
			rec = shareRecord(
				report.Finding{Code: report.KeyPolicyMissingUse, Account: acc, KeyARN: keyARN, Message: "key policy does not allow " + acc},
				report.Finding{Code: report.KeyPolicyMissingGrant, Account: acc, KeyARN: keyARN, Message: "key policy does not allow " + acc})
		}
		rec.EventID = fmt.Sprintf("event-%d", i)
		res.Records = append(res.Records, rec)
	}
	return res
}

var noteRE = regexp.MustCompile(`\(message truncated: (\d+) bytes omitted; see the logs for the full result\)\n`)

func TestSizeLimit(t *testing.T) {
	tests := map[string]struct {
		res          report.Result
		wantCut      bool
		wantDiffs    bool
		wantDocs     bool
		wantJSON     bool
		wantHardCut  bool
		wantContains []string
	}{
		"small: nothing cut": {
			res: manyKeys(2, 2000, 2000), wantDiffs: true, wantDocs: true, wantJSON: true,
		},
		"large diffs go first": {
			res: manyKeys(10, 30000, 8000), wantCut: true, wantDocs: true, wantJSON: true,
			wantContains: []string{"  diff: omitted to fit the SNS size limit (30000 bytes)\n"},
		},
		"then the documents": {
			res: manyKeys(10, 30000, 30000), wantCut: true, wantJSON: true,
			wantContains: []string{
				"The whole planned policy (30003 bytes) was omitted to fit the SNS size limit; the statements are enough.",
				// The statements an operator needs stay.
				`"Sid": "Allow use of the key"`,
			},
		},
		"then the JSON block": {
			res: manyRecords(250, true), wantCut: true,
			wantContains: []string{"=== RESULT (JSON) ===\nOmitted to fit the SNS size limit; the logs have the full result.\n"},
		},
		"finally the text, at a line": {
			res: manyRecords(3000, false), wantCut: true, wantHardCut: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(tc.res, Context{Mode: "alert", Region: "us-east-1", RequestID: "r"})
			if !ok {
				t.Fatal("nothing composed")
			}
			checkInvariants(t, m)
			note := noteRE.FindStringSubmatch(m.Body)
			if (note != nil) != tc.wantCut {
				t.Fatalf("truncation note present = %v, want %v", note != nil, tc.wantCut)
			}
			if has := strings.Contains(m.Body, "  diff:\n"); has != tc.wantDiffs {
				t.Errorf("diffs shown = %v, want %v", has, tc.wantDiffs)
			}
			if has := strings.Contains(m.Body, "File key-policy.json: the whole"); has != tc.wantDocs {
				t.Errorf("documents shown = %v, want %v", has, tc.wantDocs)
			}
			if _, has := machineBlock(m.Body); has != tc.wantJSON {
				t.Errorf("JSON block present = %v, want %v", has, tc.wantJSON)
			}
			if has := strings.HasSuffix(m.Body, "\n(message cut here)\n"); has != tc.wantHardCut {
				t.Errorf("hard cut = %v, want %v", has, tc.wantHardCut)
			}
			for _, s := range tc.wantContains {
				if !strings.Contains(m.Body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			if note == nil {
				return
			}
			// The note tells the truth: the full rendering is what was sent plus what it omits.
			head, rest := analyze(tc.res, Context{Mode: "alert", Region: "us-east-1", RequestID: "r"}).render(everything)
			omitted, _ := strconv.Atoi(note[1])
			sent := len(m.Body) - len(note[0])
			if tc.wantHardCut {
				sent -= len("(message cut here)\n")
			}
			if whole := len(head) + len(rest); omitted <= 0 || omitted != whole-sent {
				t.Errorf("note says %d bytes omitted; the full body has %d, %d were sent", omitted, whole, sent)
			}
			if tc.wantHardCut && len(m.Body) < MaxMessageBytes-2048 {
				t.Errorf("cut far more than needed: %d bytes left", len(m.Body))
			}
		})
	}
}

// A value of any size costs at most MaxValueRunes runes (escaped) in the text.
func TestHugeValuesAreCutNotDropped(t *testing.T) {
	res := fixedResult()
	res.Records[0].Error = "AccessDenied: " + strings.Repeat("x", 1<<20)
	m, _ := Compose(res, Context{Mode: "fix"})
	checkInvariants(t, m)
	if noteRE.MatchString(m.Body) {
		t.Errorf("a single long value truncated the whole message")
	}
	if !strings.Contains(m.Body, "AccessDenied: xxxx") || !strings.Contains(m.Body, "x"+truncatedSuffix+"\n") {
		t.Errorf("the long error is not shown cut")
	}
	// It is shown three times (the event, the DO THIS NOW, the JSON), each cut to MaxSentenceBytes.
	if len(m.Body) > 24<<10 {
		t.Errorf("body has %d bytes for one long value", len(m.Body))
	}
}

func BenchmarkComposeLarge(b *testing.B) {
	res := manyRecords(3000, false)
	for i := 0; i < b.N; i++ {
		Compose(res, Context{Mode: "alert"})
	}
}
