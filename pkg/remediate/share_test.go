package remediate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// allowsAccount evaluates a policy read back from KMS, independently of the remediator's verify step.
func allowsAccount(t *testing.T, keyARN, doc, account string) bool {
	t.Helper()
	d, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy in KMS does not parse: %v", err)
	}
	principal := "arn:aws:iam::" + account + ":root"
	for _, a := range []string{"kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:DescribeKey", "kms:CreateGrant"} {
		res := evaluate.KMS(evaluate.KMSInput{KeyPolicy: d, KeyAccount: scenario.Owner, Request: evaluate.Request{
			PrincipalARN: principal, Action: a, Resource: keyARN, Context: evaluate.EC2Context(scenario.Region, principal, a == "kms:CreateGrant")}})
		if res.KeyPolicy.Decision != evaluate.Allow {
			return false
		}
	}
	return true
}

func TestShareWithTrustedAccountIsFixed(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	before := keyPolicy(t, f.key)
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})

	res := invokeEvent(t, rm, "share-image.json", f.replace())

	if len(res.Records) != 1 {
		t.Fatalf("records: %+v", res.Records)
	}
	rec := res.Records[0]
	if rec.Trigger != "share-image" || rec.ImageID != f.image || rec.Error != "" {
		t.Fatalf("record: %+v", rec)
	}
	if got := joined(codes(rec)); got != "key-policy-missing-grant,key-policy-missing-use" {
		t.Errorf("findings = %s", got)
	}
	for _, fd := range rec.Findings {
		if !fd.Fixable || fd.Account != scenario.Target || fd.KeyARN != f.key {
			t.Errorf("finding %+v", fd)
		}
	}
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied || res.Actions[0].Target != f.key || joined(res.Actions[0].Accounts) != scenario.Target {
		t.Fatalf("actions: %+v", res.Actions)
	}
	after := keyPolicy(t, f.key)
	if after == before {
		t.Fatal("key policy unchanged in KMS")
	}
	if allowsAccount(t, f.key, before, scenario.Target) || !allowsAccount(t, f.key, after, scenario.Target) {
		t.Error("policy in KMS does not now allow the target account (or allowed it before)")
	}
	if allowsAccount(t, f.key, after, scenario.Untrusted) {
		t.Error("policy allows an account nobody asked for")
	}
	if n := res.Stats["KMS:PutKeyPolicy"]; n != 1 {
		t.Errorf("PutKeyPolicy calls = %d, want 1 (stats %v)", n, res.Stats)
	}
	if !res.Alert.Published || res.Alert.MessageID == "" {
		t.Errorf("alert: %+v", res.Alert)
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("alerts read back: %d", len(alerts))
	}
	a := alerts[0]
	if len(a.Subject) > 100 || !strings.Contains(a.Subject, f.image[:8]) || !strings.Contains(a.Message, scenario.Target) || !strings.Contains(a.Message, f.key) {
		t.Errorf("alert subject %q / message does not name image, account and key:\n%s", a.Subject, a.Message)
	}
	for _, attr := range []string{"severity", "account", "finding_codes"} {
		if a.MessageAttributes[attr].Value == "" {
			t.Errorf("alert attribute %s missing: %+v", attr, a.MessageAttributes)
		}
	}

	// Re-running the same event changes nothing: no finding, no write, no alert.
	again := invokeEvent(t, rm, "share-image.json", f.replace())
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || again.Alert.Published {
		t.Errorf("re-run did something: %+v", again)
	}
	if again.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Errorf("re-run wrote: %v", again.Stats)
	}
	if keyPolicy(t, f.key) != after {
		t.Error("re-run changed the policy")
	}
}

func TestShareInAlertModeOnlyPlans(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	before := keyPolicy(t, f.key)
	rm, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})

	res := invokeEvent(t, rm, "share-image.json", f.replace())

	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusPlanned {
		t.Fatalf("actions: %+v", res.Actions)
	}
	if keyPolicy(t, f.key) != before {
		t.Error("alert mode changed the key policy")
	}
	if res.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Errorf("alert mode wrote: %v", res.Stats)
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, "arn:aws:iam::"+scenario.Target+":root") {
		t.Fatalf("alert should carry the planned policy naming the account: %+v", alerts)
	}
}

func TestShareWithUntrustedAccountChangesNothing(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Untrusted)
	before := keyPolicy(t, f.key)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "share-image.json", map[string]string{scenario.PlaceholderImage: f.image, `"userId": "444455556666"`: `"userId": "` + scenario.Untrusted + `"`})

	rec := res.Records[0]
	if !hasCode(rec, report.UntrustedAccount) || !hasCode(rec, report.KeyPolicyMissingUse) {
		t.Fatalf("findings: %+v", rec.Findings)
	}
	for _, fd := range rec.Findings {
		if fd.Fixable {
			t.Errorf("untrusted finding marked fixable: %+v", fd)
		}
	}
	if len(res.Actions) != 0 || keyPolicy(t, f.key) != before {
		t.Errorf("untrusted account led to a change: %+v", res.Actions)
	}
}

func TestAlreadyFineDoesNotWrite(t *testing.T) {
	needsLocalAWS(t)
	pol := strings.Replace(scenario.DefaultKeyPolicy(scenario.Owner), `"arn:aws:iam::111122223333:role/ImageBuilder"`,
		`["arn:aws:iam::111122223333:role/ImageBuilder", "arn:aws:iam::444455556666:root"]`, 2)
	f := newFixture(t, pol, scenario.Target)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	res := invokeEvent(t, rm, "share-image.json", f.replace())
	if len(res.Records[0].Findings) != 0 || len(res.Actions) != 0 || res.Alert.Published {
		t.Fatalf("nothing to do expected: %+v", res)
	}
	if res.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Errorf("wrote: %v", res.Stats)
	}
}

// An awkward policy keeps every byte the fix did not need: unknown members, a Deny, conditions,
// odd spacing. The only lines the fix adds name the new account; no line is removed.
func TestAwkwardPolicyKeepsEveryByte(t *testing.T) {
	needsLocalAWS(t)
	pol := `{
  "Version" : "2012-10-17",
  "Id": "awkward",
  "x-team-owner": {"name": "platform", "ticket": 12345678901234567890},
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {
      "Sid": "DenyOutsideOrg",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "kms:ScheduleKeyDeletion",
      "Resource": "*",
      "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ["111122223333"]}}
    },
    {
      "Sid": "Allow use of the key",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/ImageBuilder"},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*",
      "x-note": ["mixed", true, 1.50]
    }
  ]
}`
	f := newFixture(t, pol, scenario.Target)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "share-image.json", f.replace())
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions %+v records %+v", res.Actions, res.Records)
	}
	after := keyPolicy(t, f.key)
	for _, line := range strings.Split(PolicyDiff([]byte(pol), []byte(after)), "\n") {
		// The only rewrite allowed: a string principal that gains a value becomes a list.
		if strings.HasPrefix(line, "- ") && !strings.Contains(line, `"AWS": "arn:aws:iam::111122223333:role/ImageBuilder"`) {
			t.Errorf("fix removed or rewrote a line: %q\nfull policy:\n%s", line, after)
		}
	}
	for _, keep := range []string{`"x-team-owner": {"name": "platform", "ticket": 12345678901234567890}`, `"x-note": ["mixed", true, 1.50]`, `"Version" : "2012-10-17"`, `"Sid": "DenyOutsideOrg"`} {
		if !strings.Contains(after, keep) {
			t.Errorf("lost %s", keep)
		}
	}
	if !allowsAccount(t, f.key, after, scenario.Target) {
		t.Error("target not allowed after fix")
	}
	var v any
	if err := json.Unmarshal([]byte(after), &v); err != nil {
		t.Errorf("policy is not JSON: %v", err)
	}
}

func TestExplicitDenyIsNeverFixed(t *testing.T) {
	needsLocalAWS(t)
	pol := strings.Replace(scenario.DefaultKeyPolicy(scenario.Owner), `"Statement": [`, `"Statement": [
        {"Sid": "DenyTarget", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": ["kms:CreateGrant", "kms:Decrypt"], "Resource": "*"},`, 1)
	f := newFixture(t, pol, scenario.Target)
	before := keyPolicy(t, f.key)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "share-image.json", f.replace())
	if !hasCode(res.Records[0], report.ExplicitDeny) || len(res.Actions) != 0 {
		t.Fatalf("want explicit-deny and no action: %+v %+v", res.Records[0].Findings, res.Actions)
	}
	if keyPolicy(t, f.key) != before {
		t.Error("policy changed")
	}
}

func TestTwoSnapshotsOnTwoKeys(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	k1, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	img, err := world.EncryptedImage(ctx, scenario.Owner, scenario.Region, "two-keys", k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Share(ctx, scenario.Owner, scenario.Region, img, scenario.Target); err != nil {
		t.Fatal(err)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "share-image.json", map[string]string{scenario.PlaceholderImage: img})
	if len(res.Actions) != 2 {
		t.Fatalf("want one action per key: %+v", res.Actions)
	}
	for _, k := range []string{k1, k2} {
		if !allowsAccount(t, k, keyPolicy(t, k), scenario.Target) {
			t.Errorf("key %s not fixed", k)
		}
	}
	if res.Stats["EC2:DescribeSnapshots"] != 1 || res.Stats["KMS:PutKeyPolicy"] != 2 {
		t.Errorf("calls: %v", res.Stats)
	}
}

func TestMalformedInput(t *testing.T) {
	needsLocalAWS(t)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	for name, raw := range map[string]string{
		"not json":       `{"detail-type": `,
		"no detail":      `{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","account":"111122223333","region":"us-east-1"}`,
		"detail string":  `{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","account":"111122223333","region":"us-east-1","detail":"oops"}`,
		"number at root": `42`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rm.Invoke(context.Background(), []byte(raw))
			var ue *UnusableInputError
			if err == nil || !asUnusable(err, &ue) {
				t.Fatalf("want UnusableInputError, got %v", err)
			}
		})
	}
}

func asUnusable(err error, target **UnusableInputError) bool {
	e, ok := err.(*UnusableInputError)
	if ok {
		*target = e
	}
	return ok
}
