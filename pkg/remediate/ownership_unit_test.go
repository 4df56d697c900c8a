package remediate

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Before it writes a key policy the remediator asks the key whether the write is its to make: the
// opt-in tag of the default write scope, and whether infrastructure as code owns the key (its
// CloudFormation tags, the configured managed-by tags, its stack). Each case is checked in alert
// mode (the plan says what fix mode would do) and in fix mode (what is written).
func TestKeyOwnershipGatesTheWrite(t *testing.T) {
	stack := func(status cfntypes.ResourceStatus) func(u *unit, k string) {
		return func(u *unit, k string) {
			u.cloud.AddStackResource(scenario.Owner, scenario.Region, fake.StackResource{StackName: "golden-images", LogicalID: "ImageKey",
				PhysicalID: keyID(k), Type: "AWS::KMS::Key", Status: status})
			u.cloud.AddStackResource(scenario.Owner, scenario.Region, fake.StackResource{StackName: "golden-images", LogicalID: "Bucket",
				PhysicalID: "golden-images-bucket", Type: "AWS::S3::Bucket"})
		}
	}
	tag := func(tags map[string]string) func(u *unit, k string) {
		return func(u *unit, k string) {
			u.cloud.Key(k, func(key *fake.Key) {
				for t, v := range tags {
					key.Tags[t] = v
				}
			})
		}
	}
	for name, tc := range map[string]struct {
		untagged bool                    // the key has not opted in
		setup    func(u *unit, k string) // more tags, stacks or faults
		config   func(*config.Config)
		status   string       // of the key-policy action, in fix mode (alert mode: planned for applied)
		cause    report.Cause // of a refusal
		managed  *report.ManagedBy
		stackAsk int    // DescribeStackResources calls
		reason   string // in the action's reason
	}{
		"opted in, no stack": {status: report.StatusApplied, stackAsk: 1},
		"not opted in": {untagged: true, status: report.StatusRefused, cause: report.CauseNotInWriteScope,
			reason: "tag it ami-kms-remediator=managed (aws kms tag-resource)"},
		"not opted in, all-keys chosen": {untagged: true, config: func(c *config.Config) { c.KeyWriteScope = config.WriteAllKeys },
			status: report.StatusApplied, stackAsk: 1},
		"tagged by its stack": {setup: tag(map[string]string{cfnStackIDTag: fake.StackID(scenario.Owner, scenario.Region, "golden-images"),
			cfnStackNameTag: "golden-images", cfnLogicalIDTag: "ImageKey"}), status: report.StatusRefused, cause: report.CauseManagedByIaC,
			managed: &report.ManagedBy{Tool: report.ManagedByCloudFormation, StackID: fake.StackID(scenario.Owner, scenario.Region, "golden-images"),
				StackName: "golden-images", LogicalResourceID: "ImageKey"}},
		"in a stack that did not tag it": {setup: stack(""), status: report.StatusRefused, cause: report.CauseManagedByIaC, stackAsk: 1,
			managed: &report.ManagedBy{Tool: report.ManagedByCloudFormation, StackID: fake.StackID(scenario.Owner, scenario.Region, "golden-images"),
				StackName: "golden-images", LogicalResourceID: "ImageKey"}},
		"left behind by a deleted stack": {setup: stack(cfntypes.ResourceStatusDeleteSkipped), status: report.StatusApplied, stackAsk: 1},
		"a configured managed-by tag": {setup: tag(map[string]string{"managed-by": "Terraform"}),
			config: func(c *config.Config) { c.IaCTags = []config.Tag{{Key: "managed-by", Value: "terraform"}} },
			status: report.StatusRefused, cause: report.CauseManagedByIaC,
			managed: &report.ManagedBy{Tool: report.ManagedByTag, Tag: "managed-by=Terraform"}},
		"a managed-by tag nobody configured": {setup: tag(map[string]string{"managed-by": "terraform"}), status: report.StatusApplied, stackAsk: 1},
		"IaC-managed, edits allowed": {setup: stack(""), config: func(c *config.Config) { c.EditIaCManagedKeys = true },
			status: report.StatusApplied},
		"the stack cannot be asked": {setup: func(u *unit, _ string) {
			u.cloud.Fail("CloudFormation:DescribeStackResources", fake.Error("AccessDenied", "not authorized"))
		}, status: report.StatusRefused, cause: report.CauseIaCUnknown, stackAsk: 1, reason: "cloudformation:DescribeStackResources"},
		"the tags cannot be read": {setup: func(u *unit, _ string) {
			u.cloud.Fail("KMS:ListResourceTags", fake.Error("AccessDeniedException", "not authorized"))
		}, status: report.StatusRefused, cause: report.CauseIaCUnknown, reason: "kms:ListResourceTags"},
	} {
		for _, mode := range []config.Mode{config.ModeAlert, config.ModeFix} {
			t.Run(name+"/"+string(mode), func(t *testing.T) {
				u := newUnit(t, unitSetup{mode: mode, trusted: []string{scenario.Target}, config: tc.config})
				k := u.key("")
				if tc.untagged {
					k = u.cloud.AddUntaggedKey(scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
				}
				if tc.setup != nil {
					tc.setup(u, k)
				}
				before := u.cloud.KeyPolicy(k)
				event := shareEvent(t, u.image([]string{k}, scenario.Target), scenario.Target)
				resp := u.deliver(event)
				want := tc.status
				if mode == config.ModeAlert && want == report.StatusApplied {
					want = report.StatusPlanned
				}
				if len(resp.Actions) != 1 || resp.Actions[0].Status != want || resp.Actions[0].Cause != tc.cause {
					t.Fatalf("actions %+v, want one key-policy %s (cause %q)", resp.Actions, want, tc.cause)
				}
				act := resp.Actions[0]
				if !strings.Contains(act.Reason, tc.reason) {
					t.Errorf("reason %q does not say %q", act.Reason, tc.reason)
				}
				if act.Document == "" || act.Diff == "" {
					t.Error("the action lost the planned policy: the alert cannot show the manual remedy")
				}
				if got := u.cloud.Count("KMS:ListResourceTags"); got != 1 {
					t.Errorf("%d ListResourceTags calls, want 1 for the one key", got)
				}
				if got := u.cloud.Count("CloudFormation:DescribeStackResources"); got != tc.stackAsk {
					t.Errorf("%d DescribeStackResources calls, want %d", got, tc.stackAsk)
				}
				for _, c := range u.cloud.Calls("KMS:ListResourceTags") {
					if aws.ToString(c.Input.(*kms.ListResourceTagsInput).KeyId) != k || c.Account != scenario.Owner {
						t.Errorf("tags read of %+v, want key %s in its account", c, k)
					}
				}
				for _, c := range u.cloud.Calls("CloudFormation:DescribeStackResources") {
					if in := c.Input.(*cloudformation.DescribeStackResourcesInput); aws.ToString(in.PhysicalResourceId) != keyID(k) || in.StackName != nil {
						t.Errorf("stack lookup %+v, want by the key's ID only", in)
					}
				}
				written := u.cloud.KeyPolicy(k) != before
				if written != (mode == config.ModeFix && tc.status == report.StatusApplied) || (written && len(u.puts(k)) != 1) {
					t.Errorf("policy written %v (%d puts) in %s mode for a %s action", written, len(u.puts(k)), mode, tc.status)
				}
				var managed []report.Finding
				for _, f := range resp.Records[0].Findings {
					if f.Code == report.KeyManagedByIaC {
						managed = append(managed, f)
					}
				}
				switch {
				case tc.managed == nil && len(managed) != 0:
					t.Errorf("unexpected %+v", managed)
				case tc.managed != nil && (len(managed) != 1 || managed[0].ManagedBy == nil || *managed[0].ManagedBy != *tc.managed ||
					managed[0].KeyARN != k || managed[0].Account != scenario.Target || managed[0].Fixable):
					t.Errorf("key-managed-by-iac findings %+v, want one for %s and account %s, managed by %+v", managed, k, scenario.Target, tc.managed)
				case tc.managed != nil && !strings.Contains(managed[0].Message, tc.managed.Describe()):
					t.Errorf("the finding does not name the owner: %q", managed[0].Message)
				}
				// A refusal is for good: acknowledged, and a redelivery decides the same, writing nothing.
				if len(failed(resp)) != 0 {
					t.Fatalf("handed back %v", failed(resp))
				}
				if tc.status == report.StatusRefused {
					again := u.deliver(event)
					if statuses(again.Actions) != "key-policy:refused" || u.cloud.KeyPolicy(k) != before || len(u.puts(k)) != 0 {
						t.Errorf("redelivery: %+v, %d puts", again.Actions, len(u.puts(k)))
					}
				}
			})
		}
	}
}

// Nothing to change, nothing asked: a key whose policy already lets the account in costs no tag
// or stack read.
func TestKeyOwnershipNotReadWithoutAChange(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	k := u.key(allowingTarget(t))
	resp := u.deliver(shareEvent(t, u.image([]string{k}, scenario.Target), scenario.Target))
	if len(resp.Actions) != 0 || u.cloud.Count("KMS:ListResourceTags") != 0 || u.cloud.Count("CloudFormation:DescribeStackResources") != 0 {
		t.Fatalf("actions %+v, %d tag reads, %d stack reads", resp.Actions, u.cloud.Count("KMS:ListResourceTags"), u.cloud.Count("CloudFormation:DescribeStackResources"))
	}
}

// A key of a member account is asked in that account (through the member role), as it is read
// and written there.
func TestKeyOwnershipReadInTheKeysAccount(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target, scenario.Untrusted}})
	k := u.cloud.AddKey(scenario.Target, scenario.Region, scenario.DefaultKeyPolicy(scenario.Target))
	img := u.cloud.AddImage(scenario.Target, scenario.Region, k)
	u.cloud.Share(img, scenario.Untrusted)
	ev := []byte(strings.ReplaceAll(string(shareEvent(t, img, scenario.Untrusted)), scenario.Owner, scenario.Target))
	if resp := u.deliver(ev); statuses(resp.Actions) != "key-policy:applied" {
		t.Fatalf("actions %+v", resp.Actions)
	}
	for _, op := range []string{"KMS:ListResourceTags", "CloudFormation:DescribeStackResources"} {
		calls := u.cloud.Calls(op)
		if len(calls) != 1 || calls[0].Account != scenario.Target || calls[0].Region != scenario.Region {
			t.Errorf("%s calls %+v, want one in %s/%s", op, calls, scenario.Target, scenario.Region)
		}
	}
}
