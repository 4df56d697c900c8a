package remediate

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// The IAM half with the fakes: the launching role in Target lacks the key; the key policy already
// allows Target, so the one action is the usage policy's.

const launcherRole = "app-deployer"

var unitUsagePolicy = policyARNIn(scenario.Target, config.DefaultIAMPolicyName)

// iamUnit is a fix-mode unit with a role in Target and a key whose policy allows Target.
func iamUnit(t *testing.T, opts ...Option) (u *unit, keyARN, roleARN string) {
	t.Helper()
	opts = append([]Option{WithIAMSettle(time.Millisecond)}, opts...)
	u = newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, opts: opts})
	return u, u.key(allowingTarget(t)), u.cloud.AddRole(scenario.Target, launcherRole)
}

func iamAction(t *testing.T, resp SQSResponse) report.Action {
	t.Helper()
	if len(resp.Actions) != 1 || resp.Actions[0].Type != report.ActionIAMPolicy {
		t.Fatalf("want one iam-policy action: %+v", resp.Actions)
	}
	return resp.Actions[0]
}

// usageCovers checks the default version of the usage policy covers exactly keys.
func usageCovers(t *testing.T, u *unit, keys ...string) fake.ManagedPolicy {
	t.Helper()
	p, ok := u.cloud.ManagedPolicy(unitUsagePolicy)
	if !ok {
		t.Fatal("usage policy not created")
	}
	for _, k := range keys {
		if !usagepolicy.Covers([]byte(p.Document()), k) {
			t.Errorf("usage policy does not cover %s:\n%s", k, p.Document())
		}
	}
	return p
}

// No usage policy yet: it is created with the key, attached to the role and verified.
func TestUsagePolicyCreatedAndAttached(t *testing.T) {
	u, k, role := iamUnit(t)
	act := iamAction(t, u.deliver(launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole)))
	if act.Status != report.StatusApplied || act.Target != unitUsagePolicy || act.Principal != role {
		t.Fatalf("action %+v", act)
	}
	p := usageCovers(t, u, k)
	if len(p.Versions) != 1 || p.Default != "v1" {
		t.Errorf("versions %+v, default %s", p.Versions, p.Default)
	}
	if got := u.cloud.AttachedTo(role); !slices.Equal(got, []string{unitUsagePolicy}) {
		t.Errorf("attached %v", got)
	}
	if u.cloud.Count("IAM:CreatePolicy") != 1 || u.cloud.Count("IAM:AttachRolePolicy") != 1 || u.cloud.Count("IAM:GetPolicyVersion") == 0 {
		t.Errorf("calls: %v", ops(u.cloud.Calls("")))
	}
	again := u.deliver(launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole))
	if len(again.Actions) != 0 || u.cloud.Count("IAM:CreatePolicy")+u.cloud.Count("IAM:CreatePolicyVersion") != 1 {
		t.Errorf("re-run: %+v", again.Actions)
	}
}

// An existing usage policy gains the key as a new default version; at IAM's limit of five
// versions the oldest one that is not the default goes first. The policy's attachment stays.
func TestUsagePolicyNewVersionWithinTheLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		versions       int    // versions before, v1..vN
		defaultVersion string // which is the default
		deleted        string // the version deleted to make room ("" for none)
	}{
		"one version":                     {versions: 1, defaultVersion: "v1"},
		"five, the newest is the default": {versions: 5, defaultVersion: "v5", deleted: "v1"},
		"five, the oldest is the default": {versions: 5, defaultVersion: "v1", deleted: "v2"},
	} {
		t.Run(name, func(t *testing.T) {
			u, k, role := iamUnit(t)
			other := u.key(allowingTarget(t))
			doc := string(usagepolicy.New([]string{other}))
			arn := u.cloud.AddManagedPolicy(scenario.Target, config.DefaultIAMPolicyName, doc)
			for i := 2; i <= tc.versions; i++ {
				u.cloud.AddPolicyVersion(arn, doc, fmt.Sprintf("v%d", i) == tc.defaultVersion)
			}
			u.cloud.Principal(role, func(p *fake.Principal) { p.Attached = []string{arn} })

			act := iamAction(t, u.deliver(launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole)))
			if act.Status != report.StatusApplied {
				t.Fatalf("action %+v", act)
			}
			p := usageCovers(t, u, k, other)
			want := fmt.Sprintf("v%d", tc.versions+1)
			if p.Default != want || len(p.Versions) > fake.MaxPolicyVersions {
				t.Errorf("default %s (want %s), %d versions", p.Default, want, len(p.Versions))
			}
			var deleted []string
			for _, c := range u.cloud.Calls("IAM:DeletePolicyVersion") {
				deleted = append(deleted, aws.ToString(c.Input.(*iam.DeletePolicyVersionInput).VersionId))
			}
			if tc.deleted == "" && len(deleted) != 0 || tc.deleted != "" && !slices.Equal(deleted, []string{tc.deleted}) {
				t.Errorf("deleted %v, want %q", deleted, tc.deleted)
			}
			if u.cloud.Count("IAM:AttachRolePolicy") != 0 || u.cloud.Count("IAM:CreatePolicy") != 0 {
				t.Errorf("calls: %v", ops(u.cloud.Calls("")))
			}
		})
	}
}

// The usage policy already covers the key but is not attached: attaching is the whole fix.
func TestUsagePolicyOnlyAttached(t *testing.T) {
	u, k, role := iamUnit(t)
	u.cloud.AddManagedPolicy(scenario.Target, config.DefaultIAMPolicyName, string(usagepolicy.New([]string{k})))
	act := iamAction(t, u.deliver(launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole)))
	if act.Status != report.StatusApplied || u.cloud.Count("IAM:CreatePolicyVersion")+u.cloud.Count("IAM:CreatePolicy") != 0 {
		t.Fatalf("action %+v, calls %v", act, ops(u.cloud.Calls("")))
	}
	if got := u.cloud.AttachedTo(role); !slices.Equal(got, []string{unitUsagePolicy}) {
		t.Errorf("attached %v", got)
	}
}

// Someone outside the process creates the usage policy (for another key) just before our
// CreatePolicy: EntityAlreadyExists makes the remediator re-plan from it and add a version that
// keeps the other key.
func TestUsagePolicyCreatedMeanwhileIsVersioned(t *testing.T) {
	u, k, _ := iamUnit(t)
	other := u.key(allowingTarget(t))
	var once atomic.Bool
	u.cloud.Before("IAM:CreatePolicy", func(fake.Call) {
		if once.CompareAndSwap(false, true) {
			u.cloud.AddManagedPolicy(scenario.Target, config.DefaultIAMPolicyName, string(usagepolicy.New([]string{other})))
		}
	})
	act := iamAction(t, u.deliver(launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole)))
	if act.Status != report.StatusApplied {
		t.Fatalf("action %+v", act)
	}
	if p := usageCovers(t, u, k, other); p.Default != "v2" {
		t.Errorf("default %s, want v2", p.Default)
	}
}

// Another remediator of the process makes the whole change between this one's read and its
// write: unchanged, cause other-writer, no second write, and no alert about it from this one.
func TestUsagePolicyAnotherWriterInTheProcess(t *testing.T) {
	cloud := fake.New(scenario.Owner, scenario.Region)
	s := unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true, opts: []Option{WithCoordinator(NewCoordinator())}}
	first, second := unitRemediator(t, cloud, s), unitRemediator(t, cloud, s)
	u := &unit{t: t, cloud: cloud, rm: second}
	k := u.key(allowingTarget(t))
	cloud.AddRole(scenario.Target, launcherRole)
	event := launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole)
	var once atomic.Bool
	var firstResp SQSResponse
	cloud.After("IAM:ListAttachedRolePolicies", func(fake.Call) {
		if once.CompareAndSwap(false, true) {
			firstResp = u.deliverWith(context.Background(), first, event)
		}
	})
	resp := u.deliver(event)
	if a := iamAction(t, firstResp); a.Status != report.StatusApplied {
		t.Fatalf("first: %+v", a)
	}
	if a := iamAction(t, resp); a.Status != report.StatusUnchanged || a.Cause != report.CauseOtherWriter {
		t.Fatalf("second: %+v", a)
	}
	if n := cloud.Count("IAM:CreatePolicy") + cloud.Count("IAM:CreatePolicyVersion") + cloud.Count("IAM:AttachRolePolicy"); n != 2 {
		t.Errorf("%d IAM writes, want the first's two: %v", n, ops(cloud.Calls("")))
	}
	if !firstResp.Alert.Published || resp.Alert.Published {
		t.Errorf("want the alert from the writer only: first %+v, second %+v", firstResp.Alert, resp.Alert)
	}
}

// A permissions boundary that does not allow the key: the usage policy is planned but refused,
// and nothing is written to IAM.
func TestUsagePolicyRefusedUnderABlockingBoundary(t *testing.T) {
	u, k, role := iamUnit(t)
	b := u.cloud.AddManagedPolicy(scenario.Target, "Boundary", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`)
	u.cloud.Principal(role, func(p *fake.Principal) { p.Boundary = b })
	resp := u.deliver(launchEvent(t, u.image([]string{k}, scenario.Target), launcherRole))
	act := iamAction(t, resp)
	if act.Status != report.StatusRefused || act.Document == "" {
		t.Fatalf("action %+v", act)
	}
	for _, f := range iamFindings(resp.Records[0]) {
		if f.Fixable {
			t.Errorf("fixable under a blocking boundary: %+v", f)
		}
	}
	if n := u.cloud.Count("IAM:CreatePolicy") + u.cloud.Count("IAM:AttachRolePolicy"); n != 0 || len(failed(resp)) != 0 {
		t.Errorf("%d IAM writes, handed back %v", n, failed(resp))
	}
}
