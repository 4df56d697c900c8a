package remediate

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// The sweep's decisions on the in-memory AWS (with -short).

const member = "555566667777"

func sweepTask(t *testing.T, account, region string) []byte {
	t.Helper()
	body, err := sweep.Task("estate-unit", "estate", sweep.Scope{Account: account, Region: region}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// A sweep task lists a large account page by page (1,000 images a page), reads the snapshots of
// each page 500 at a time, reads each image's launch permissions and each key once, and checks
// every image as its own record.
func TestSweepTaskReadsInPagesAndBatches(t *testing.T) {
	u := newUnit(t, unitSetup{trusted: []string{member, scenario.Target}})
	u.cloud.Forwards(member, scenario.Region, true)
	k := u.cloud.AddKey(member, scenario.Region, scenario.DefaultKeyPolicy(member))
	for range 1200 {
		u.cloud.Share(u.cloud.AddImage(member, scenario.Region, k), scenario.Target)
	}
	u.cloud.AddImage(member, scenario.Region, "") // unencrypted: not listed
	resp := u.deliver(sweepTask(t, member, scenario.Region))
	if n := len(resp.Records); n != 1201 || resp.Records[0].Trigger != string(trigger.SweepTask) {
		t.Fatalf("%d records (first %s), want the sweep task and 1,200 images", n, resp.Records[0].Trigger)
	}
	for op, want := range map[string]int{"EC2:DescribeImages": 2, "EC2:DescribeSnapshots": 3, "EC2:DescribeImageAttribute": 1200,
		"KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "EventBridge:ListRuleNamesByTarget": 1} {
		if got := u.cloud.Count(op); got != want {
			t.Errorf("%s: %d calls, want %d", op, got, want)
		}
	}
	if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusPlanned || !slices.Equal(resp.Actions[0].Accounts, []string{scenario.Target}) {
		t.Errorf("actions %+v, want one plan for the key", resp.Actions)
	}
	for _, r := range resp.Records[1:] {
		if !hasCode(r, report.KeyPolicyMissingUse) || r.Checked == nil || !slices.Equal(r.Checked.Keys, []string{k}) {
			t.Fatalf("record %s: %v, checked %+v", r.ImageID, codes(r), r.Checked)
		}
	}
}

func TestSweepTaskMemberStack(t *testing.T) {
	for name, tc := range map[string]struct {
		account, region string
		noRole, forward bool
		wantFinding     bool
		wantImages      int
		wantRuleCalls   int
	}{
		"deployed":                                {member, scenario.Region, false, true, false, 1, 1},
		"no forwarding rules here":                {member, scenario.Region, false, false, true, 1, 1},
		"no member role":                          {member, scenario.Region, true, true, true, 0, 0},
		"the remediator's own region":             {scenario.Owner, scenario.Region, false, false, false, 1, 0},
		"the remediator's other region, no rules": {scenario.Owner, "eu-west-1", false, false, true, 1, 1},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{trusted: []string{member, scenario.Target}})
			u.cloud.Forwards(tc.account, tc.region, tc.forward)
			if tc.noRole {
				u.cloud.Fail("STS:AssumeRole", fake.Error("AccessDenied", "not authorized to perform: sts:AssumeRole"))
			}
			k := u.cloud.AddKey(tc.account, tc.region, scenario.DefaultKeyPolicy(tc.account))
			u.cloud.Share(u.cloud.AddImage(tc.account, tc.region, k), scenario.Target)
			resp := u.deliver(sweepTask(t, tc.account, tc.region))
			task := resp.Records[0]
			if hasCode(task, report.MemberStackMissing) != tc.wantFinding || task.Error != "" || len(failed(resp)) != 0 {
				t.Errorf("sweep task %+v (handed back %v), want a member-stack-missing finding: %v", task, failed(resp), tc.wantFinding)
			}
			if n := len(resp.Records) - 1; n != tc.wantImages {
				t.Errorf("%d images checked, want %d", n, tc.wantImages)
			}
			if n := u.cloud.Count("EventBridge:ListRuleNamesByTarget"); n != tc.wantRuleCalls {
				t.Errorf("%d ListRuleNamesByTarget, want %d", n, tc.wantRuleCalls)
			}
		})
	}
}

// A failed image fails its sweep task, which is handed back: its message is the task's.
func TestSweepTaskChildFailureHandsTheTaskBack(t *testing.T) {
	u := newUnit(t, unitSetup{trusted: []string{member, scenario.Target}})
	u.cloud.Forwards(member, scenario.Region, true)
	k := u.cloud.AddKey(member, scenario.Region, scenario.DefaultKeyPolicy(member))
	for range 3 {
		u.cloud.Share(u.cloud.AddImage(member, scenario.Region, k), scenario.Target)
	}
	u.cloud.FailNext("EC2:DescribeImageAttribute", fake.Error("RequestLimitExceeded", "slow down"))
	resp := u.deliver(sweepTask(t, member, scenario.Region))
	if got := failed(resp); !slices.Equal(got, []string{"m-0"}) {
		t.Errorf("handed back %v, want the task's message once", got)
	}
}

func TestIsRemediator(t *testing.T) {
	u := newUnit(t, unitSetup{})
	r := &run{Remediator: u.rm}
	role := func(account, name, session string) *trigger.Principal {
		return &trigger.Principal{ARN: fmt.Sprintf("arn:aws:iam::%s:role/%s", account, name), Account: account, Name: name, Type: trigger.PrincipalRole,
			SessionARN: fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, name, session)}
	}
	for name, tc := range map[string]struct {
		p    *trigger.Principal
		want bool
	}{
		"the member role's own session":          {role(member, scenario.MemberRoleName, "ami-kms-remediator"), true},
		"the member role, another session":       {role(member, scenario.MemberRoleName, "someone"), false},
		"the function's own role":                {role(scenario.Owner, "ami-kms-remediator-function", "ami-kms-remediator-function"), true},
		"a role of that name in another account": {role(member, "ami-kms-remediator-function", "x"), false},
		"IaC":                                    {role(scenario.Owner, "terraform-deployer", "terraform-apply"), false},
		"a user named like the session":          {&trigger.Principal{ARN: "arn:aws:iam::" + scenario.Owner + ":user/ami-kms-remediator", Account: scenario.Owner, Type: trigger.PrincipalUser, Name: "ami-kms-remediator"}, false},
		"no principal":                           {nil, false},
	} {
		got, err := r.isRemediator(t.Context(), tc.p)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", name, got, err, tc.want)
		}
	}
}
