package remediate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// An action's outcome is read from the error that ended it: the remediator's own sentinels, a
// refusal, or the AWS error's class; never from its text.
func TestEndedDecidesByErrorValue(t *testing.T) {
	act := report.Action{Type: report.ActionKeyPolicy, Target: "k"}
	for name, tc := range map[string]struct {
		err    error
		status string
		cause  report.Cause
		prefix string // of the reason people read
	}{
		"deadline":                 {err: errDeadline, status: report.StatusFailed, cause: report.CauseDeadline},
		"concurrent writer":        {err: fmt.Errorf("key policy k: %w", errConcurrentWriter), status: report.StatusFailed, cause: report.CauseConcurrentWriter, prefix: "transient: "},
		"throttled":                {err: fmt.Errorf("put key policy k: %w", fake.Error("ThrottlingException", "")), status: report.StatusFailed, cause: report.CauseTransient, prefix: "transient: "},
		"server error":             {err: fake.Error("InternalFailure", ""), status: report.StatusFailed, cause: report.CauseTransient, prefix: "transient: "},
		"context deadline":         {err: fmt.Errorf("put key policy k: %w", context.DeadlineExceeded), status: report.StatusFailed, cause: report.CauseTransient, prefix: "transient: "},
		"access denied":            {err: fake.Error("AccessDeniedException", ""), status: report.StatusFailed},
		"malformed":                {err: fake.Error("MalformedPolicyDocumentException", ""), status: report.StatusFailed},
		"refused":                  {err: refuse(errors.New("too-large")), status: report.StatusRefused},
		"wrapped refusal":          {err: fmt.Errorf("plan: %w", refuse(errors.New("x"))), status: report.StatusRefused},
		"text that says transient": {err: errors.New("transient: " + reasonDeadline), status: report.StatusFailed, prefix: "transient: "},
	} {
		t.Run(name, func(t *testing.T) {
			got := ended(act, tc.err)
			if got.Status != tc.status || got.Cause != tc.cause || !strings.HasPrefix(got.Reason, tc.prefix) || !strings.Contains(got.Reason, tc.err.Error()) {
				t.Errorf("ended = %s/%q %q, want %s/%q with prefix %q", got.Status, got.Cause, got.Reason, tc.status, tc.cause, tc.prefix)
			}
		})
	}
}

// Rewording every reason (the sentences people read) changes neither what is retried nor what the
// alert leaves out: both read the status and the cause only. The actions are those real runs
// made: a deadline, a writer that kept replacing the policy, throttling, access denied, another
// writer in the process, a grant that exists, plain unchanged.
func TestRewordedReasonsDecideNothing(t *testing.T) {
	var actions []report.Action
	for _, err := range []error{errDeadline, fmt.Errorf("k: %w", errConcurrentWriter), fake.Error("Throttling", ""), fake.Error("AccessDenied", "")} {
		actions = append(actions, ended(report.Action{Type: report.ActionKeyPolicy, Target: "k1", Accounts: []string{"444455556666"}}, err))
	}
	actions = append(actions,
		report.Action{Type: report.ActionKeyPolicy, Target: "k2", Accounts: []string{"444455556666"}, Status: report.StatusUnchanged, Cause: report.CauseOtherWriter, Reason: reasonOtherWriter},
		report.Action{Type: report.ActionKMSGrant, Target: "k2", Principal: "arn:aws:iam::444455556666:role/app", Status: report.StatusUnchanged, Reason: "the grant exists"},
		report.Action{Type: report.ActionKeyPolicy, Target: "k3", Accounts: []string{"444455556666"}, Status: report.StatusUnchanged, Reason: "already fine"},
	)
	findings := []report.Finding{
		{Code: report.KeyPolicyMissingUse, Account: "444455556666", KeyARN: "k2", Fixable: true},
		{Code: report.IAMMissingUse, Account: "444455556666", PrincipalARN: "arn:aws:iam::444455556666:role/app", Fixable: true},
		{Code: report.KeyPolicyMissingUse, Account: "444455556666", KeyARN: "k3", Fixable: true},
	}
	decide := func(acts []report.Action) string {
		var b strings.Builder
		for _, a := range acts {
			fmt.Fprintf(&b, "%s retry=%v; ", a.Target+a.Principal, a.Retry())
		}
		told := withoutResolvedElsewhere(report.Result{Records: []report.Record{{Findings: findings}}, Actions: acts})
		fmt.Fprintf(&b, "told %d findings, %d actions", len(told.Records[0].Findings), len(told.Actions))
		return b.String()
	}
	want := decide(actions)
	if !strings.Contains(want, "told 2 findings, 6 actions") || strings.Count(want, "retry=true") != 3 {
		t.Fatalf("the decisions themselves are wrong: %s", want)
	}
	for _, wording := range []string{"", "reworded", reasonDeadline, reasonOtherWriter, "transient: anything"} {
		reworded := make([]report.Action, len(actions))
		for i, a := range actions {
			a.Reason = wording
			reworded[i] = a
		}
		if got := decide(reworded); got != want {
			t.Errorf("reasons %q: %s, want %s", wording, got, want)
		}
	}
}
