package remediate

import (
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// One alert per invocation with something to tell, to the configured topic, naming the key and
// the gap; the same findings again within the memory window are not told twice; an invocation
// with nothing to tell publishes nothing.
func TestAlertPublishedOnceForTheSameFindings(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
	k := u.key("")
	img := u.image([]string{k}, scenario.Target)
	resp := u.deliver(shareEvent(t, img, scenario.Target))
	pubs := u.cloud.Published()
	if !resp.Alert.Published || len(pubs) != 1 || resp.Alert.MessageID != pubs[0].MessageID || pubs[0].TopicARN != unitTopic {
		t.Fatalf("alert %+v, published %+v", resp.Alert, pubs)
	}
	for _, want := range []string{k, string(report.KeyPolicyMissingUse), scenario.Target} {
		if !strings.Contains(pubs[0].Message, want) {
			t.Errorf("alert does not mention %s:\n%s", want, pubs[0].Message)
		}
	}
	if again := u.deliver(shareEvent(t, img, scenario.Target)); again.Alert.Published || len(u.cloud.Published()) != 1 {
		t.Errorf("the same findings were told again: %+v", again.Alert)
	}

	fine := u.image([]string{u.key(allowingTarget(t))}, scenario.Target)
	if quiet := u.deliver(shareEvent(t, fine, scenario.Target)); quiet.Alert.Published || len(u.cloud.Published()) != 1 {
		t.Errorf("nothing to tell, yet told: %+v", quiet.Alert)
	}
}

// withoutResolvedElsewhere leaves out exactly the fixable gaps another writer closed (by the
// action's cause), and the actions that say so; everything else is told.
func TestAlertLeavesOutWhatAnotherWriterFixed(t *testing.T) {
	const k1, k2 = "arn:aws:kms:us-east-1:111122223333:key/k1", "arn:aws:kms:us-east-1:111122223333:key/k2"
	role := "arn:aws:iam::444455556666:role/app"
	findings := []report.Finding{
		{Code: report.KeyPolicyMissingUse, Account: scenario.Target, KeyARN: k1, Fixable: true},
		{Code: report.KeyPolicyMissingGrant, Account: scenario.Target, KeyARN: k1, Fixable: true},
		{Code: report.KeyPolicyMissingUse, Account: scenario.Target, KeyARN: k2, Fixable: true},
		{Code: report.KeyPolicyMissingUse, Account: scenario.Untrusted, KeyARN: k1},
		{Code: report.IAMMissingUse, Account: scenario.Target, KeyARN: k1, PrincipalARN: role, Fixable: true},
		{Code: report.ExplicitDeny, Account: scenario.Target, KeyARN: k1},
	}
	otherKeyWriter := report.Action{Type: report.ActionKeyPolicy, Target: k1, Accounts: []string{scenario.Target}, Status: report.StatusUnchanged, Cause: report.CauseOtherWriter}
	otherGrantWriter := report.Action{Type: report.ActionKMSGrant, Target: k1, Accounts: []string{scenario.Target}, Principal: role, Status: report.StatusUnchanged, Cause: report.CauseOtherWriter}
	grantOnK2 := otherGrantWriter
	grantOnK2.Target = k2
	alreadyFine := report.Action{Type: report.ActionKeyPolicy, Target: k1, Accounts: []string{scenario.Target}, Status: report.StatusUnchanged}
	for name, tc := range map[string]struct {
		actions []report.Action
		kept    []int // indexes of findings told
		acts    int   // actions told
	}{
		"no other writer":         {actions: []report.Action{alreadyFine}, kept: []int{0, 1, 2, 3, 4, 5}, acts: 1},
		"another key writer":      {actions: []report.Action{otherKeyWriter}, kept: []int{2, 3, 4, 5}},
		"and a plain one":         {actions: []report.Action{otherKeyWriter, alreadyFine}, kept: []int{2, 3, 4, 5}, acts: 1},
		"another grant writer":    {actions: []report.Action{otherGrantWriter}, kept: []int{0, 1, 2, 3, 5}},
		"a grant on another key":  {actions: []report.Action{grantOnK2}, kept: []int{0, 1, 2, 3, 4, 5}},
		"both writers":            {actions: []report.Action{otherKeyWriter, otherGrantWriter, alreadyFine}, kept: []int{2, 3, 5}, acts: 1},
		"unchanged without cause": {actions: []report.Action{alreadyFine, alreadyFine}, kept: []int{0, 1, 2, 3, 4, 5}, acts: 2},
	} {
		t.Run(name, func(t *testing.T) {
			res := report.Result{Records: []report.Record{{Findings: findings}}, Actions: tc.actions}
			told := withoutResolvedElsewhere(res)
			var want []report.Finding
			for _, i := range tc.kept {
				want = append(want, findings[i])
			}
			if got := told.Records[0].Findings; len(got) != len(want) || (len(want) > 0 && !sameFindings(got, want)) {
				t.Errorf("told findings %+v, want %+v", got, want)
			}
			if len(told.Actions) != tc.acts {
				t.Errorf("told actions %+v, want %d", told.Actions, tc.acts)
			}
			if len(res.Records[0].Findings) != len(findings) {
				t.Error("the result itself was changed")
			}
		})
	}
}

func sameFindings(a, b []report.Finding) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
