package remediate

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// When the identity side of a launching principal gets a grant, and when it does not. A grant is
// created only for a principal that exists, whose launch its own account's CloudTrail shows, on
// an opted-in key of another account, from the principal's account; never for an Identity
// Center role, the member role, a principal of the central account or of the key's own account.
func TestIdentityGrantIsMadeOnlyWhenConfirmed(t *testing.T) {
	const role = "app-deployer"
	roleARN := "arn:aws:iam::" + scenario.Target + ":role/" + role
	for name, tc := range map[string]struct {
		mode     config.Mode // fix unless set
		scope    string
		seed     func(t *testing.T, u *unit) []byte // the event; the default is a confirmed launch by role on an opted-in key
		granted  bool                               // a grant was created for role
		planned  bool                               // a grant was planned (alert mode)
		why      string                             // the iam findings say why not
		retry    bool
		missing  bool // the record says the grant's confirmation is missing
		lookups  int  // CloudTrail:LookupEvents calls
		findings bool // iam findings are reported
	}{
		"confirmed launch": {granted: true, lookups: 1, findings: true},
		"alert mode":       {mode: config.ModeAlert, planned: true, lookups: 1, findings: true},
		"not in CloudTrail yet": {seed: func(t *testing.T, u *unit) []byte {
			return launchEvent(t, u.image([]string{u.key("")}, scenario.Target), role)
		}, why: "CloudTrail", retry: true, missing: true, lookups: 1, findings: true},
		"CloudTrail shows another principal": {seed: func(t *testing.T, u *unit) []byte {
			event := launchEvent(t, u.image([]string{u.key("")}, scenario.Target), role)
			u.confirmLaunch(t, []byte(strings.ReplaceAll(string(event), role, "someone-else")))
			return event
		}, why: "CloudTrail", retry: true, missing: true, lookups: 1, findings: true},
		"CloudTrail denied": {seed: func(t *testing.T, u *unit) []byte {
			u.cloud.Fail("CloudTrail:LookupEvents", fake.Error("AccessDeniedException", "not authorized"))
			return confirmed(t, u, u.image([]string{u.key("")}, scenario.Target), role)
		}, why: "CloudTrail", missing: true, lookups: 1, findings: true},
		"key not opted in": {seed: func(t *testing.T, u *unit) []byte {
			k := u.cloud.AddUntaggedKey(scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
			return confirmed(t, u, u.image([]string{k}, scenario.Target), role)
		}, why: "aws kms tag-resource --key-id", findings: true},
		"key not opted in, all-keys scope": {scope: config.WriteAllKeys, seed: func(t *testing.T, u *unit) []byte {
			k := u.cloud.AddUntaggedKey(scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
			return confirmed(t, u, u.image([]string{k}, scenario.Target), role)
		}, granted: true, lookups: 1, findings: true},
		"key in the principal's own account": {seed: func(t *testing.T, u *unit) []byte {
			k := u.cloud.AddKey(scenario.Target, scenario.Region, scenario.DefaultKeyPolicy(scenario.Target))
			img := u.cloud.AddImage(scenario.Target, scenario.Region, k)
			return confirmed(t, u, img, role)
		}, why: "own account", findings: true},
		"principal of the central account": {seed: func(t *testing.T, u *unit) []byte {
			k := u.cloud.AddKey(scenario.Target, scenario.Region, scenario.DefaultKeyPolicy(scenario.Target))
			img := u.cloud.AddImage(scenario.Target, scenario.Region, k)
			u.cloud.Share(img, scenario.Owner)
			u.cloud.AddRole(scenario.Owner, "builder")
			raw := unitEvent(t, "launch-failed.json", map[string]string{scenario.PlaceholderImage: img, "app-deployer": "builder", scenario.Target: scenario.Owner})
			u.confirmLaunch(t, raw)
			return raw
		}, why: "central account", findings: true},
		"the member role itself": {seed: func(t *testing.T, u *unit) []byte {
			u.cloud.AddRole(scenario.Target, scenario.MemberRoleName)
			return confirmed(t, u, u.image([]string{u.key("")}, scenario.Target), scenario.MemberRoleName)
		}, why: "own member role", findings: true},
		"a principal IAM does not know": {seed: func(t *testing.T, u *unit) []byte {
			return confirmed(t, u, u.image([]string{u.key("")}, scenario.Target), "gone")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			mode := cmpMode(tc.mode)
			u := newUnit(t, unitSetup{mode: mode, trusted: []string{scenario.Target, scenario.Owner},
				config: func(c *config.Config) { c.KeyWriteScope = tc.scope }})
			var event []byte
			if tc.seed != nil {
				u.cloud.AddRole(scenario.Target, role)
				event = tc.seed(t, u)
			} else {
				u.cloud.AddRole(scenario.Target, role)
				event = confirmed(t, u, u.image([]string{u.key("")}, scenario.Target), role)
			}
			resp := u.receive(1, event)
			rec := resp.Records[0]
			creates := u.cloud.Calls("KMS:CreateGrant")
			if got := len(creates) == 1; got != tc.granted {
				t.Fatalf("%d CreateGrant calls, want granted %v: %+v %+v (notes %v)", len(creates), tc.granted, rec.Findings, resp.Actions, rec.Notes)
			}
			if tc.granted {
				c := creates[0]
				in := c.Input.(*kms.CreateGrantInput)
				if c.Account != scenario.Target || aws.ToString(in.GranteePrincipal) != roleARN ||
					aws.ToString(in.Name) != keypolicy.GrantName(roleARN, keypolicy.LaunchGrantOperations) || len(in.Operations) != len(keypolicy.LaunchGrantOperations) {
					t.Errorf("CreateGrant in %s: %+v", c.Account, in)
				}
				for _, op := range in.Operations {
					if !slices.Contains(keypolicy.LaunchGrantOperations, string(op)) {
						t.Errorf("operation %s is not EC2's", op)
					}
				}
				if in.RetiringPrincipal != nil || in.Constraints != nil {
					t.Errorf("grant with more than asked: %+v", in)
				}
			}
			act := actionOf(report.Result{Actions: resp.Actions}, report.ActionKMSGrant)
			if got := act != nil && act.Status == report.StatusPlanned; got != tc.planned {
				t.Errorf("grant planned %v, want %v: %+v", got, tc.planned, resp.Actions)
			}
			fs := iamFindings(rec)
			if (len(fs) > 0) != tc.findings {
				t.Errorf("iam findings %+v, want some: %v", fs, tc.findings)
			}
			for _, f := range fs {
				if f.Fixable != (tc.granted || tc.planned) || !strings.Contains(f.Message, tc.why) {
					t.Errorf("finding fixable %v, want %v, saying %q: %s", f.Fixable, tc.granted || tc.planned, tc.why, f.Message)
				}
			}
			if got := len(failed(resp)) == 1; got != tc.retry {
				t.Errorf("handed back %v, want %v", got, tc.retry)
			}
			if got := slices.Contains(rec.Incomplete, report.PartIdentityGrant); got != tc.missing {
				t.Errorf("incomplete %v, want the grant's confirmation missing: %v", rec.Incomplete, tc.missing)
			}
			if got := u.cloud.Count("CloudTrail:LookupEvents"); got != tc.lookups {
				t.Errorf("%d CloudTrail lookups, want %d", got, tc.lookups)
			}
		})
	}
}

// A confirmation CloudTrail does not give is looked for again on each delivery and told
// (lookup-unavailable) on the last, which goes to the dead-letter queue for a redrive like any
// missing part; the key side was fixed on the first.
func TestUnconfirmedLaunchIsToldOnTheLastDelivery(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	u.cloud.AddRole(scenario.Target, "app-deployer")
	k := u.key("")
	event := launchEvent(t, u.image([]string{k}, scenario.Target), "app-deployer")
	for receives := 1; receives <= config.DefaultMaxReceiveCount; receives++ {
		resp := u.receive(receives, event)
		last := receives == config.DefaultMaxReceiveCount
		if len(failed(resp)) != 1 {
			t.Errorf("delivery %d: not handed back", receives)
		}
		if got := hasCode(resp.Records[0], report.LookupUnavailable); got != last {
			t.Errorf("delivery %d: lookup-unavailable told %v", receives, got)
		}
	}
	if n := len(u.puts(k)); n != 1 {
		t.Errorf("%d key policy writes, want 1", n)
	}
	if n := u.cloud.Count("KMS:CreateGrant"); n != 0 {
		t.Errorf("%d grants on an unconfirmed launch", n)
	}
}

// confirmed is a failed launch of image by role that the account's CloudTrail shows.
func confirmed(t *testing.T, u *unit, image, role string) []byte {
	t.Helper()
	event := launchEvent(t, image, role)
	u.confirmLaunch(t, event)
	return event
}

func cmpMode(m config.Mode) config.Mode {
	if m == "" {
		return config.ModeFix
	}
	return m
}
