package remediate

import (
	"strings"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// What the remediator finds and plans (alert mode: nothing is written) for each kind of gap.
func TestDiagnoseFindsAndPlans(t *testing.T) {
	target := []string{scenario.Target}
	allowTarget := allowingTarget(t)
	for name, tc := range map[string]struct {
		trusted []string
		event   func(u *unit) []byte // seeds the cloud and returns the event
		codes   string               // sorted finding codes of the one record
		fixable bool                 // the key-policy and IAM findings are fixable
		actions string               // sorted type:status of the actions
		err     bool                 // the record failed (and, being final, is acknowledged)
	}{
		"share with a trusted account": {
			trusted: target,
			event:   shareOnKey(t, "", scenario.Target),
			codes:   "key-policy-missing-grant,key-policy-missing-use", fixable: true, actions: "key-policy:planned",
		},
		"share the key policy already allows": {
			trusted: target,
			event:   shareOnKey(t, allowTarget, scenario.Target),
		},
		"share with an untrusted account": {
			event: shareOnKey(t, "", scenario.Target),
			codes: "key-policy-missing-grant,key-policy-missing-use,untrusted-account",
		},
		"share event naming an account EC2 does not report": {
			trusted: []string{scenario.Target, scenario.Untrusted},
			event:   shareOnKey(t, "", scenario.Untrusted),
			codes:   "key-policy-missing-grant,key-policy-missing-use", fixable: true, actions: "key-policy:planned",
		},
		"public image": {
			trusted: target,
			event: func(u *unit) []byte {
				img := u.image([]string{u.key(allowTarget)}, scenario.Target)
				u.cloud.Image(img, func(i *fake.Image) { i.Public = true })
				return shareEvent(t, img, scenario.Target)
			},
			codes: "public-image",
		},
		"key disabled":         {trusted: target, event: shareOfKeyIn(t, kmstypes.KeyStateDisabled), codes: "key-disabled"},
		"key pending deletion": {trusted: target, event: shareOfKeyIn(t, kmstypes.KeyStatePendingDeletion), codes: "key-pending-deletion"},
		"AWS managed key": {
			trusted: target,
			event: func(u *unit) []byte {
				k := u.cloud.AddAWSManagedKey(scenario.Owner, scenario.Region)
				return shareEvent(t, u.image([]string{k}, scenario.Target), scenario.Target)
			},
			codes: "aws-managed-key",
		},
		"key missing": {
			trusted: target,
			event: func(u *unit) []byte {
				gone := "arn:aws:kms:us-east-1:" + scenario.Owner + ":key/00000000-0000-0000-0000-000000000000"
				return shareEvent(t, u.image([]string{gone}, scenario.Target), scenario.Target)
			},
			codes: "key-not-found",
		},
		"explicit deny in the key policy": {
			trusted: target,
			event:   shareOnKey(t, withStatement(t, denyStatement(scenario.Target)), scenario.Target),
			codes:   "explicit-deny",
		},
		"image of an untrusted owner": {
			trusted: target,
			event: func(u *unit) []byte {
				k := u.cloud.AddKey(scenario.Untrusted, scenario.Region, scenario.DefaultKeyPolicy(scenario.Untrusted))
				img := u.cloud.AddImage(scenario.Untrusted, scenario.Region, k)
				u.cloud.Share(img, scenario.Target)
				u.cloud.AddRole(scenario.Target, "app-deployer")
				return launchEvent(t, img, "app-deployer")
			},
			codes: "iam-missing-grant,iam-missing-use,untrusted-account",
		},
		"launch failure of a role without identity policies": {
			trusted: target,
			event: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				event := launchEvent(t, u.image([]string{u.key("")}, scenario.Target), "app-deployer")
				u.confirmLaunch(t, event)
				return event
			},
			codes:   "iam-missing-grant,iam-missing-use,key-policy-missing-grant,key-policy-missing-use",
			fixable: true, actions: "key-policy:planned,kms-grant:planned",
		},
		"launch failure of a role its policies and the key policy allow": {
			trusted: target,
			event: func(u *unit) []byte {
				k := u.key(allowTarget)
				role := u.cloud.AddRole(scenario.Target, "app-deployer")
				u.cloud.Principal(role, func(p *fake.Principal) {
					p.Inline["kms"] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"` + k + `"}]}`
				})
				return launchEvent(t, u.image([]string{k}, scenario.Target), "app-deployer")
			},
		},
		"launch failure of a role its own policy denies": {
			trusted: target,
			event: func(u *unit) []byte {
				k := u.key(allowTarget)
				role := u.cloud.AddRole(scenario.Target, "app-deployer")
				u.cloud.Principal(role, func(p *fake.Principal) {
					p.Inline["kms"] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
				})
				return launchEvent(t, u.image([]string{k}, scenario.Target), "app-deployer")
			},
			codes: "explicit-deny",
		},
		"launch of an image the account cannot see": {
			trusted: target,
			event: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				return launchEvent(t, u.image([]string{u.key("")}), "app-deployer")
			},
			codes: "image-not-found", // a record that ends in an error carries its failure's finding
			err:   true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{trusted: tc.trusted})
			resp := u.deliver(tc.event(u))
			if len(resp.Records) != 1 {
				t.Fatalf("records: %+v", resp.Records)
			}
			rec := resp.Records[0]
			if got := findingCodes(resp.Records); got != tc.codes {
				t.Errorf("findings %s, want %s: %+v", got, tc.codes, rec.Findings)
			}
			for _, f := range rec.Findings {
				if (strings.HasPrefix(string(f.Code), "key-policy-") || strings.HasPrefix(string(f.Code), "iam-")) && f.Fixable != tc.fixable {
					t.Errorf("%s fixable = %v, want %v", f.Code, f.Fixable, tc.fixable)
				}
			}
			if got := statuses(resp.Actions); got != tc.actions {
				t.Errorf("actions %s, want %s: %+v", got, tc.actions, resp.Actions)
			}
			if (rec.Error != "") != tc.err {
				t.Errorf("record error %q, want an error: %v", rec.Error, tc.err)
			}
			if got := failed(resp); len(got) != 0 {
				t.Errorf("handed back %v: nothing here can succeed on a retry", got)
			}
			if n := u.cloud.Count("KMS:PutKeyPolicy") + u.cloud.Count("KMS:CreateGrant"); n != 0 {
				t.Errorf("%d writes in alert mode", n)
			}
		})
	}
}

// A share names the accounts EC2 reports, and only trusted ones are planned; the plan's
// document adds exactly them.
func TestPlanAddsOnlyTrustedSharedAccounts(t *testing.T) {
	u := newUnit(t, unitSetup{trusted: []string{scenario.Target}})
	k := u.key("")
	img := u.image([]string{k}, scenario.Target, scenario.Untrusted)
	resp := u.deliver(shareEvent(t, img, scenario.Target))
	if len(resp.Actions) != 1 {
		t.Fatalf("actions: %+v", resp.Actions)
	}
	act := resp.Actions[0]
	if act.Status != report.StatusPlanned || joined(act.Accounts) != scenario.Target {
		t.Errorf("action %+v, want planned for %s only", act, scenario.Target)
	}
	if !grantsAccount(t, k, act.Document, scenario.Target) || grantsAccount(t, k, act.Document, scenario.Untrusted) {
		t.Errorf("planned document grants the wrong accounts:\n%s", act.Document)
	}
	if !hasCode(resp.Records[0], report.UntrustedAccount) {
		t.Errorf("no untrusted-account finding for %s: %+v", scenario.Untrusted, resp.Records[0].Findings)
	}
}

// shareOfKeyIn seeds an image shared with Target on a key in state and returns its share event.
func shareOfKeyIn(t *testing.T, state kmstypes.KeyState) func(u *unit) []byte {
	return func(u *unit) []byte {
		k := u.key("")
		u.cloud.Key(k, func(k *fake.Key) { k.State = state })
		return shareEvent(t, u.image([]string{k}, scenario.Target), scenario.Target)
	}
}

// shareOnKey seeds an image shared with Target on a new key with policy ("" for the console's
// default) and returns a share event naming eventAccount.
func shareOnKey(t *testing.T, policy, eventAccount string) func(u *unit) []byte {
	return func(u *unit) []byte {
		return shareEvent(t, u.image([]string{u.key(policy)}, scenario.Target), eventAccount)
	}
}
