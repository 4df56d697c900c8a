package remediate

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The launch guardrails (SECURITY.md): the only principal other than an account root the
// remediator ever adds to a key policy is the exact Auto Scaling service-linked role that
// DescribeAutoScalingGroups reports for the group, in the key's own account; across accounts it
// adds only the group account's root to the one AllowEC2LaunchGrants statement (own principals,
// EC2's operations); a group reporting anything else as its role gets nothing. Every write is
// recorded as KMS received it and checked by checkWrites (principals, statement shape, and what
// each added principal may now do).
func TestGuardrailLaunchWritesOnlyTheGroupRoleAndLaunchGrants(t *testing.T) {
	needsLocalAWS(t)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	initial, mayAdd := map[string]string{}, map[string][]string{}

	t.Run("own account: the group's role", func(t *testing.T) {
		f := newFixture(t, "")
		role := "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_" + uniq("g")
		initial[f.key], mayAdd[f.key] = keyPolicy(t, f.key), []string{role}
		name := uniq("own-asg")
		group(t, scenario.Owner, name, role, template(t, scenario.Owner, f.image))
		res := invokeRaw(t, rm, asgEvent(t, scenario.Owner, name))
		if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied || !strings.Contains(keyPolicy(t, f.key), role) {
			t.Fatalf("actions %+v", res.Actions)
		}
	})
	t.Run("across accounts: the account's root, launch grants only", func(t *testing.T) {
		f := newFixture(t, "", scenario.Target)
		initial[f.key], mayAdd[f.key] = keyPolicy(t, f.key), []string{scenario.Target}
		name := uniq("asg")
		group(t, scenario.Target, name, "", template(t, scenario.Target, f.image))
		res := invokeRaw(t, rm, asgEvent(t, scenario.Target, name))
		if len(res.Actions) != 2 || !strings.Contains(keyPolicy(t, f.key), keypolicy.LaunchGrantSid) {
			t.Fatalf("actions %+v", res.Actions)
		}
	})
	// What a group reports as its role is read from AWS, but it must still be an Auto Scaling
	// service-linked role of the group's own account to be written anywhere.
	for name, role := range map[string]string{
		"an ordinary role":              "arn:aws:iam::111122223333:role/Admin",
		"another service's path":        "arn:aws:iam::111122223333:role/aws-service-role/ec2.amazonaws.com/AWSServiceRoleForAutoScaling",
		"another account's role":        "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
		"a path escaping the directory": "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/../../Admin",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "")
			before := keyPolicy(t, f.key)
			initial[f.key], mayAdd[f.key] = before, nil
			g := uniq("odd-asg")
			group(t, scenario.Owner, g, role, template(t, scenario.Owner, f.image))
			res := invokeRaw(t, rm, asgEvent(t, scenario.Owner, g))
			if after := keyPolicy(t, f.key); after != before {
				t.Errorf("the key policy changed for %s:\n%s", role, PolicyDiff([]byte(before), []byte(after)))
			}
			for _, a := range res.Actions {
				if a.Type == report.ActionKeyPolicy || a.Type == report.ActionKMSGrant {
					t.Errorf("action %+v", a)
				}
			}
			rec := res.Records[0]
			for _, fd := range rec.Findings {
				if fd.Fixable || fd.PrincipalARN == role {
					t.Errorf("finding %+v", fd)
				}
			}
			if !strings.Contains(strings.Join(rec.Notes, "\n"), "is not an Auto Scaling service-linked role of account 111122223333: ignored") {
				t.Errorf("notes %q", rec.Notes)
			}
		})
	}
	checkWrites(t, rec.Writes(), initial, mayAdd)
	if n := len(rec.Writes()); n != 2 {
		t.Errorf("%d key-policy writes, want 2 (one per fixable group)", n)
	}
}

// The launch checks of checkWrites catch what they are for (no local AWS: -short too): the
// editor's own writes pass; a service-linked role given a CreateGrant of its own, a launch-grant
// statement for any grantee or with more operations, and roles other than the key account's
// Auto Scaling role as read from the group, do not.
func TestLaunchWriteChecksCatchWiderWrites(t *testing.T) {
	const keyARN = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000001"
	slr := "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	before := scenario.DefaultKeyPolicy(scenario.Owner)
	good, err := keypolicy.EnsureForKey([]byte(before), keypolicy.Key{ARN: keyARN}, keypolicy.Want{ServiceLinkedRoles: []string{slr},
		LaunchGrantees: []string{"arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}})
	if err != nil {
		t.Fatal(err)
	}
	added := addedPrincipals(before, string(good.Document))
	if errs := launchPowers(keyARN, before, string(good.Document), added); len(errs) != 0 {
		t.Fatalf("the editor's own write: %v", errs)
	}
	for _, p := range added {
		if !allowedPrincipal(p, keyARN, []string{scenario.Target, slr}) {
			t.Errorf("%s not allowed", p)
		}
	}
	launchStmt := func(grantee string, ops ...string) string {
		b, _ := json.Marshal(ops)
		return `{"Sid":"AllowEC2LaunchGrants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:CreateGrant","Resource":"*",` +
			`"Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":` + string(b) + `},"StringLike":{"kms:GranteePrincipal":"` + grantee + `"}}}`
	}
	own := "arn:aws:iam::${aws:PrincipalAccount}:*"
	for name, stmt := range map[string]string{
		"a role's own CreateGrant": `{"Sid":"x","Effect":"Allow","Principal":{"AWS":"` + slr + `"},"Action":"kms:CreateGrant","Resource":"*"}`,
		"any grantee":              launchStmt("*", keypolicy.LaunchGrantOperations...),
		"more operations":          launchStmt(own, append(slices.Clone(keypolicy.LaunchGrantOperations), "RetireGrant")...),
		"no conditions":            `{"Sid":"AllowEC2LaunchGrants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:CreateGrant","Resource":"*"}`,
	} {
		after := strings.Replace(before, "\n    ]\n}", ",\n"+stmt+"\n    ]\n}", 1)
		if after == before {
			t.Fatal("the statement was not appended")
		}
		if errs := launchPowers(keyARN, before, after, addedPrincipals(before, after)); len(errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	for _, p := range []string{
		"arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",       // another account's
		"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_other", // not read from the group
		"arn:aws:iam::111122223333:role/Admin",
		"arn:aws:iam::111122223333:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
	} {
		if allowedPrincipal(p, keyARN, []string{scenario.Target, slr, "arn:aws:iam::111122223333:role/Admin",
			"arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
			"arn:aws:iam::111122223333:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"}) {
			t.Errorf("%s allowed", p)
		}
	}
}
