package alert

import (
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// humanPart is everything before the machine-readable result: what a person reads, snippets and
// commands included.
func humanPart(body string) string {
	if i := strings.Index(body, "\n"+headingResult+"\n"); i >= 0 {
		return body[:i+1]
	}
	return body
}

// topPart is the body up to its first heading.
func topPart(body string) string {
	for _, h := range Headings() {
		if i := strings.Index(body, "\n"+h+"\n"); i >= 0 {
			body = body[:i+1]
		}
	}
	return body
}

func countLines(s string) (all, nonBlank int) {
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		all++
		if strings.TrimSpace(l) != "" {
			nonBlank++
		}
	}
	return all, nonBlank
}

// Each kind of alert reads in a minute: its top (what happened, what was done, one "do this
// now") within MaxTopLines, the part for people of a planned key-policy fix within 60 non-blank
// lines and of a fixed one within 30, and the key ARN not repeated all over.
func TestAlertSizeBounds(t *testing.T) {
	for name, tc := range goldenAlerts {
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(tc.res(), goldenContext(tc.mode))
			if !ok {
				t.Fatal("nothing composed")
			}
			top, _ := countLines(topPart(m.Body))
			_, human := countLines(humanPart(m.Body))
			t.Logf("%s: top %d lines, part for people %d non-blank lines", name, top, human)
			if top > MaxTopLines {
				t.Errorf("the top has %d lines, want at most %d:\n%s", top, MaxTopLines, topPart(m.Body))
			}
			if strings.Count(topPart(m.Body), "DO THIS NOW") != 1 {
				t.Errorf("the top has not exactly one DO THIS NOW block:\n%s", topPart(m.Body))
			}
			if tc.maxHuman > 0 && human > tc.maxHuman {
				t.Errorf("the part for people has %d non-blank lines, want at most %d:\n%s", human, tc.maxHuman, humanPart(m.Body))
			}
			if n := strings.Count(humanPart(m.Body), keyARN); n > 4 {
				t.Errorf("the key ARN appears %d times in the part for people, want at most 4", n)
			}
		})
	}
}

// However many things need a person, the top stays within bounds and names one of them.
func TestTopIsBoundedForAnyBatch(t *testing.T) {
	for _, n := range []int{1, 3, 50} {
		res := manyKeys(n, 400, 400)
		res.Records = append(res.Records, hostileResult("=== x ===\n"+strings.Repeat("y ", 500)).Records...)
		m, _ := Compose(res, Context{Mode: "alert", Region: "us-east-1"})
		checkInvariants(t, m)
		top, _ := countLines(topPart(m.Body))
		if top > MaxTopLines {
			t.Errorf("%d keys: the top has %d lines:\n%s", n, top, topPart(m.Body))
		}
	}
}

// The remediator's own sentences are shown whole, in the text and in the JSON; values taken from
// events are cut.
func TestSentencesAreNotCut(t *testing.T) {
	res := withPolicyDiff(fixedResult())
	long := "the key policy of " + keyARN + " does not let account 444455556666 use the key: " + strings.Repeat("a reason worth reading, ", 20) + "the end"
	res.Records[0].Findings[0].Message = long
	res.Records[0].ImageID = "ami-" + strings.Repeat("0", 400)
	m, _ := Compose(res, Context{Mode: "fix"})
	checkInvariants(t, m)
	if !strings.Contains(m.Body, keyPolicyReason+"\n") {
		t.Errorf("the action's reason (%d bytes) is not shown whole", len(keyPolicyReason))
	}
	if !strings.Contains(m.Body, withoutKey(long, keyARN)+"\n") {
		t.Errorf("the finding's message is not shown whole")
	}
	got := machineResult(t, m.Body)
	if got.Records[0].Findings[0].Message != long || got.Actions[0].Reason != keyPolicyReason {
		t.Errorf("the JSON cut a sentence: %q / %q", got.Records[0].Findings[0].Message, got.Actions[0].Reason)
	}
	if strings.Contains(m.Body, res.Records[0].ImageID) || !strings.Contains(m.Body, truncatedSuffix) {
		t.Errorf("a 404-character image ID from the event was not cut")
	}
}

// The configuration change keeps every account trusted now, adds the one the alert is about,
// names the organization, and says it affects every trusted account.
func TestConfigurationChangeKeepsEveryTrustedAccount(t *testing.T) {
	ctx := Context{Mode: "alert", Region: "us-east-1", TrustedAccounts: []string{"222233334444", target}, TrustedOrganization: "o-a1b2c3d4e5"}
	m, _ := Compose(untrustedResult(), ctx)
	for _, want := range []string{
		headingConfig + "\n",
		"It affects every trusted account",
		"      sam deploy --parameter-overrides Mode=fix TrustedAccountIds=222233334444,444455556666,999988887777\n",
		"TrustedOrganizationId stays o-a1b2c3d4e5",
		"MODE=fix TRUSTED_ACCOUNT_IDS=222233334444,444455556666,999988887777)",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if i, j := strings.Index(m.Body, headingConfig), strings.Index(m.Body, headingResult); i < 0 || j < i {
		t.Errorf("the configuration change does not end the part for people")
	}
	// Nothing to trust and nothing planned: no configuration change.
	m, _ = Compose(denyResult(), Context{Mode: "fix"})
	if strings.Contains(m.Body, headingConfig) {
		t.Errorf("an explicit deny offers a configuration change:\n%s", m.Body)
	}
	// An unfixed finding says why, in the top.
	for _, res := range []report.Result{untrustedResult(), denyResult(), awsManagedResult(), disabledResult(), errorResult(), plannedResult()} {
		m, _ := Compose(res, Context{Mode: "alert"})
		if !strings.Contains(topPart(m.Body), "   Not fixed: ") {
			t.Errorf("the top does not say why it was not fixed:\n%s", m.Body)
		}
	}
}
