package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// A key the remediator cannot decide about gets the finding that says why: KMS answers
// NotFoundException for a key that does not exist and AccessDeniedException for one the caller
// may not read (AWS KMS API Reference, DescribeKey and GetKeyPolicy, Errors:
// https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html#API_DescribeKey_Errors,
// https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html#API_GetKeyPolicy_Errors);
// a policy that does not parse cannot be evaluated or edited. Only the first is key-not-found.
func TestKeyReadProblemsHaveTheirOwnCodes(t *testing.T) {
	tests := map[string]struct {
		setup func(u *unit, key string)
		want  report.Code
		says  string
	}{
		"key does not exist": {
			setup: func(u *unit, key string) {
				u.cloud.FailIf("KMS:DescribeKey", nil, fake.Error("NotFoundException", "Key '"+key+"' does not exist"))
			},
			want: report.KeyNotFound, says: "does not exist in account " + scenario.Owner,
		},
		"describe key denied": {
			setup: func(u *unit, key string) {
				u.cloud.FailIf("KMS:DescribeKey", nil, fake.Error("AccessDeniedException", "not authorized to perform: kms:DescribeKey"))
			},
			want: report.KeyUnreadable, says: "kms:DescribeKey and kms:GetKeyPolicy are needed",
		},
		"get key policy denied": {
			setup: func(u *unit, key string) {
				u.cloud.FailIf("KMS:GetKeyPolicy", nil, fake.Error("AccessDeniedException", "not authorized to perform: kms:GetKeyPolicy"))
			},
			want: report.KeyUnreadable, says: "get key policy",
		},
		"policy does not parse": {
			setup: func(u *unit, key string) { u.cloud.Key(key, func(k *fake.Key) { k.Policy = `{"Statement": [` }) },
			want:  report.KeyPolicyInvalid, says: "does not parse",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
			key := u.key("")
			img := u.image([]string{key}, scenario.Target)
			tc.setup(u, key)
			resp := u.deliver(shareEvent(t, img, scenario.Target))
			if len(resp.BatchItemFailures) != 0 || resp.Records[0].Error != "" {
				t.Fatalf("want the record acknowledged with a finding: %+v %+v", resp.BatchItemFailures, resp.Records)
			}
			fs := resp.Records[0].Findings
			if len(fs) != 1 || fs[0].Code != tc.want || fs[0].Fixable || !strings.Contains(fs[0].Message, tc.says) {
				t.Fatalf("findings %+v, want one %s saying %q", fs, tc.want, tc.says)
			}
			if len(u.puts(key)) != 0 || len(resp.Actions) != 0 {
				t.Errorf("a key that could not be read was written: %+v", resp.Actions)
			}
			if len(u.cloud.Published()) != 1 {
				t.Errorf("want one alert for the unreadable key, got %d", len(u.cloud.Published()))
			}
		})
	}
}

// A write is proven by reading it back, or it failed: when the policy KMS holds after the write
// is exactly the one written and it still does not allow the account, nothing another writer did
// explains it, so the action fails for good (not handed back: a redelivery would write the same)
// and the findings stay.
func TestIneffectiveWriteFailsForGood(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	keyARN := u.key("")
	r := &run{Remediator: u.rm, inv: newInventory(u.rm.clients), log: u.rm.log, needs: map[string]*keyNeed{}}
	k, err := r.inv.key(context.Background(), keyARN, scenario.Owner, scenario.Region)
	if err != nil || k.Err != nil {
		t.Fatal(err, k.Err)
	}
	// A plan that changes bytes but not who may use the key: what an editor that disagreed with
	// the evaluator would produce.
	useless := keypolicy.Edit{Changed: true, Document: append(append([]byte{}, k.Policy...), ' ')}
	act := report.Action{Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{scenario.Target}}
	err = r.writeKeyPolicy(context.Background(), &act, k, keypolicy.Key{ARN: keyARN}, keypolicy.Want{Accounts: []string{scenario.Target}}, useless)
	if !errors.Is(err, errNotProven) {
		t.Fatalf("err = %v, want the write not proven", err)
	}
	act = ended(act, err)
	if act.Status != report.StatusFailed || act.Retry() || act.Cause == report.CauseOtherWriter {
		t.Fatalf("action %+v (cause %s): want failed, not retried, not another writer's", act, act.Cause)
	}
	if !strings.Contains(act.Reason, scenario.Target) {
		t.Errorf("reason %q does not name the account still not allowed", act.Reason)
	}
	if n := len(u.puts(keyARN)); n != 1 {
		t.Errorf("%d writes, want 1 (no re-plan loop when nobody else wrote)", n)
	}
}

// A delivery never reports its own write as another writer's: when someone writes right after
// this delivery's write (keeping it, or dropping it), the action is still this delivery's and
// applied.
func TestOwnWriteIsNeverAnotherWriters(t *testing.T) {
	other := `{"Sid":"Someone else","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + scenario.Owner + `:role/Auditor"},"Action":"kms:DescribeKey","Resource":"*"}`
	tests := map[string]struct {
		keepOurs bool
		puts     int
	}{
		"the other writer keeps our statements": {keepOurs: true, puts: 1},
		"the other writer drops our statements": {keepOurs: false, puts: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
			key := u.key("")
			original := u.cloud.KeyPolicy(key)
			img := u.image([]string{key}, scenario.Target)
			interfered := false
			u.cloud.After("KMS:PutKeyPolicy", func(c fake.Call) {
				if interfered {
					return
				}
				interfered = true
				base := original
				if tc.keepOurs {
					base = u.cloud.KeyPolicy(key)
				}
				u.cloud.Key(key, func(k *fake.Key) { k.Policy = appendStatement(t, base, other) })
			})
			resp := u.deliver(shareEvent(t, img, scenario.Target))
			if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied || resp.Actions[0].Cause == report.CauseOtherWriter {
				t.Fatalf("actions %+v: want this delivery's write applied", resp.Actions)
			}
			if n := len(u.puts(key)); n != tc.puts {
				t.Errorf("%d writes, want %d", n, tc.puts)
			}
			final := u.cloud.KeyPolicy(key)
			if !grantsAccount(t, key, final, scenario.Target) || !strings.Contains(final, "Someone else") {
				t.Errorf("final policy lost the account or the other writer's statement:\n%s", final)
			}
			if len(u.cloud.Published()) != 1 {
				t.Errorf("want one alert telling this delivery's change, got %d", len(u.cloud.Published()))
			}
		})
	}
}

func appendStatement(t *testing.T, doc, stmt string) string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	var s any
	if err := json.Unmarshal([]byte(stmt), &s); err != nil {
		t.Fatal(err)
	}
	d["Statement"] = append(d["Statement"].([]any), s)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const unitOrg = "o-a1b2c3d4e5"

// EC2's requests carry aws:PrincipalOrgID of the launching account (IAM User Guide, global
// condition context keys: aws:PrincipalOrgID). The remediator knows it only when Organizations
// confirms membership of TRUSTED_ORGANIZATION_ID; then AWS's documented organization guard (a
// Deny unless aws:PrincipalOrgID is the organization) does not deny a member, and an org-wide
// Allow (Principal "*" with aws:PrincipalOrgID) is access already: no account root is added.
// When the organization is not known the guard is not evaluated, and the editor refuses a write
// it cannot prove.
func TestOrganizationConditions(t *testing.T) {
	guard := `{"Sid":"DenyOutsideOrg","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"` + unitOrg + `"}}}`
	orgUse := `{"Sid":"OrgUse","Effect":"Allow","Principal":"*","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + unitOrg + `"}}}`
	orgGrant := `{"Sid":"OrgGrant","Effect":"Allow","Principal":"*","Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + unitOrg + `"},"Bool":{"kms:GrantIsForAWSResource":"true"}}}`
	tests := map[string]struct {
		stmts    []string
		org      string // TRUSTED_ORGANIZATION_ID ("" lists Target in TRUSTED_ACCOUNT_IDS)
		findings string
		actions  string
		describe int // Organizations:DescribeAccount calls
	}{
		"guard, member confirmed: the gap is fixed, not a deny": {
			stmts: []string{guard}, org: unitOrg,
			findings: "key-policy-missing-grant,key-policy-missing-use", actions: "key-policy:applied", describe: 1,
		},
		"guard, organization not known: no write that cannot be proven": {
			stmts:    []string{guard},
			findings: "key-policy-missing-grant,key-policy-missing-use", actions: "key-policy:refused",
		},
		"org-wide allow, member confirmed: nothing to add": {
			stmts: []string{orgUse, orgGrant}, org: unitOrg, describe: 1,
		},
		"no organization condition: Organizations is not asked": {
			org:      unitOrg,
			findings: "key-policy-missing-grant,key-policy-missing-use", actions: "key-policy:applied", describe: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := unitSetup{mode: config.ModeFix, org: tc.org}
			if tc.org == "" {
				s.trusted = []string{scenario.Target}
			}
			u := newUnit(t, s)
			u.cloud.Organization(unitOrg, scenario.Owner, scenario.Target)
			doc := scenario.DefaultKeyPolicy(scenario.Owner)
			for _, st := range tc.stmts {
				doc = appendStatement(t, doc, st)
			}
			key := u.key(doc)
			img := u.image([]string{key}, scenario.Target)
			resp := u.deliver(shareEvent(t, img, scenario.Target))
			if got := findingCodes(resp.Records); got != tc.findings {
				t.Errorf("findings %q, want %q (%+v)", got, tc.findings, resp.Records)
			}
			if got := statuses(resp.Actions); got != tc.actions {
				t.Errorf("actions %q, want %q (%+v)", got, tc.actions, resp.Actions)
			}
			if n := u.cloud.Count("Organizations:DescribeAccount"); n != tc.describe {
				t.Errorf("DescribeAccount calls = %d, want %d", n, tc.describe)
			}
			if tc.actions == "key-policy:applied" && !strings.Contains(u.cloud.KeyPolicy(key), `"arn:aws:iam::`+scenario.Target+`:root"`) {
				t.Errorf("the applied policy does not name the account:\n%s", u.cloud.KeyPolicy(key))
			}
		})
	}
}

// A key owned by a member account is read (and, when that account is trusted, written) in that
// account, through the member role: KMS key policies can be read and changed only by callers in
// the key's own account (AWS KMS API Reference, GetKeyPolicy and PutKeyPolicy, "Cross-account
// use: No").
func TestMemberOwnedKeyIsReadAndWrittenInItsAccount(t *testing.T) {
	for name, trustOwner := range map[string]bool{"owner trusted": true, "owner not trusted": false} {
		t.Run(name, func(t *testing.T) {
			trusted := []string{scenario.Untrusted}
			if trustOwner {
				trusted = []string{scenario.Target, scenario.Untrusted}
			}
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: trusted})
			key := u.cloud.AddKey(scenario.Target, scenario.Region, scenario.DefaultKeyPolicy(scenario.Target))
			img := u.cloud.AddImage(scenario.Target, scenario.Region, key)
			u.cloud.Share(img, scenario.Untrusted)
			ev := shareEvent(t, img, scenario.Untrusted)
			ev = []byte(strings.ReplaceAll(string(ev), scenario.Owner, scenario.Target))
			resp := u.deliver(ev)
			for _, op := range []string{"KMS:DescribeKey", "KMS:GetKeyPolicy", "KMS:PutKeyPolicy"} {
				for _, c := range u.cloud.Calls(op) {
					if c.Account != scenario.Target {
						t.Errorf("%s made in account %s, want the key's account %s", op, c.Account, scenario.Target)
					}
				}
			}
			if trustOwner {
				if statuses(resp.Actions) != "key-policy:applied" || !grantsAccount(t, key, u.cloud.KeyPolicy(key), scenario.Untrusted) {
					t.Fatalf("want the trusted member's key fixed: %+v", resp)
				}
				return
			}
			if len(resp.Actions) != 0 || len(u.puts(key)) != 0 || !strings.Contains(findingCodes(resp.Records), "untrusted-account") {
				t.Fatalf("want nothing written for an untrusted owner: %+v", resp)
			}
		})
	}
}
