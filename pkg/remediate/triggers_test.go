package remediate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The instance-terminated path: the launch "succeeds", the instance dies with
// Client.InternalError, and only DescribeInstances says why.
func TestInstanceTerminatedByKMSIsFixed(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	ctx := context.Background()
	id, state, err := world.Launch(ctx, scenario.Target, scenario.Region, f.image)
	if err != nil {
		t.Fatal(err)
	}
	if state != "terminated (Client.InternalError: Client error on launch)" {
		t.Fatalf("the local AWS should fail this launch: %s", state)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "instance-terminated.json", map[string]string{scenario.PlaceholderInstance: id})
	rec := res.Records[0]
	if rec.Trigger != "instance-terminated" || rec.ImageID != f.image || !hasCode(rec, report.KeyPolicyMissingUse) {
		t.Fatalf("record: %+v", rec)
	}
	if len(res.Actions) == 0 || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
	if _, state, err = world.Launch(ctx, scenario.Target, scenario.Region, f.image); err != nil || state != "running" {
		t.Errorf("launch after the fix: %s %v", state, err)
	}
}

// A termination for another reason is not the remediator's business.
func TestInstanceTerminatedByUserIsIgnored(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	ctx := context.Background()
	// The owner launches its own image (the key is usable in its own account), then terminates it.
	id, _, err := world.Launch(ctx, scenario.Owner, scenario.Region, f.image)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := world.EC2(scenario.Owner, scenario.Region).TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "instance-terminated.json", map[string]string{scenario.PlaceholderInstance: id, `"account": "444455556666"`: `"account": "111122223333"`})
	if res.Records[0].IgnoredReason == "" || len(res.Actions) != 0 {
		t.Fatalf("want ignored: %+v", res.Records[0])
	}
}

// Auto Scaling failures carry no image: the remediator reads it from the group's launch template.
func TestASGLaunchFailureResolvesTheImage(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	ctx := context.Background()
	lt, err := world.EC2(scenario.Target, scenario.Region).CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(fmt.Sprintf("lt-%s", f.image)),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(f.image), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil {
		t.Fatal(err)
	}
	asgName := "asg-" + f.image
	_, err = autoscaling.NewFromConfig(scenario.Config(world.Endpoint, scenario.Target, 2)).CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(asgName), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
		AvailabilityZones: []string{scenario.Region + "a"},
		LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")},
	})
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "asg-launch-failed.json", map[string]string{`"app-asg"`: `"` + asgName + `"`, `group app-asg`: `group ` + asgName})
	rec := res.Records[0]
	if rec.Trigger != "asg-launch-failed" || rec.ImageID != f.image || !hasCode(rec, report.KeyPolicyMissingGrant) {
		t.Fatalf("record: %+v", rec)
	}
	// The group's service-linked role is of another account than the key: AWS's cross-account
	// procedure, planned (alert mode): the key policy, then the grant.
	if !hasCode(rec, report.SLRMissingGrant) || !hasCode(rec, report.KeyPolicyMissingLaunchGrant) {
		t.Errorf("findings: %+v", rec.Findings)
	}
	if len(res.Actions) != 2 || res.Actions[0].Type != report.ActionKeyPolicy || res.Actions[1].Type != report.ActionKMSGrant ||
		res.Actions[0].Status != report.StatusPlanned || res.Actions[1].Status != report.StatusPlanned {
		t.Errorf("actions: %+v", res.Actions)
	}
}

// CopyImage with a kmsKeyId: the key of the new copy is known at once; the accounts the source
// image is shared with will need it too.
func TestCopyImageWithKeyChecksTheSourceShares(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	srcKey, err := world.CreateKey(ctx, scenario.Owner, scenario.SourceRegion, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	src, err := world.EncryptedImage(ctx, scenario.Owner, scenario.SourceRegion, "copy-src", srcKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Share(ctx, scenario.Owner, scenario.SourceRegion, src, scenario.Target); err != nil {
		t.Fatal(err)
	}
	dstKey, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "copy-image.json", map[string]string{scenario.PlaceholderSourceImage: src, scenario.PlaceholderKey: dstKey})
	rec := res.Records[0]
	if rec.Trigger != "copy-image" || !hasCode(rec, report.KeyPolicyMissingUse) || rec.Findings[0].KeyARN != dstKey {
		t.Fatalf("record: %+v", rec)
	}
	if len(res.Actions) != 1 || res.Actions[0].Target != dstKey || joined(res.Actions[0].Accounts) != scenario.Target {
		t.Fatalf("actions: %+v", res.Actions)
	}
}

// Without a kmsKeyId the copy's key is known only when it is available: a pending copy is left
// to the AMI available event, which then does the check.
func TestCopyImagePendingThenAvailable(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	cp, err := world.EC2(scenario.Owner, scenario.Region).CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("pending-copy"),
		SourceImageId: aws.String(f.image), SourceRegion: aws.String(scenario.Region)})
	if err != nil {
		t.Fatal(err)
	}
	copyID := aws.ToString(cp.ImageId)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "copy-image.json", map[string]string{`"imageId": "ami-0a1b2c3d4e5f60718"`: `"imageId": "` + copyID + `"`,
		`"kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",`: ``})
	if res.Records[0].IgnoredReason == "" || len(res.Actions) != 0 {
		t.Fatalf("pending copy: %+v", res.Records[0])
	}
	env.Filler.CompleteCopies(ctx)
	if err := world.Share(ctx, scenario.Owner, scenario.Region, copyID, scenario.Target); err != nil {
		t.Fatal(err)
	}
	res = invokeEvent(t, rm, "ami-available.json", map[string]string{scenario.PlaceholderImage: copyID})
	if !hasCode(res.Records[0], report.KeyPolicyMissingUse) || len(res.Actions) != 1 || res.Actions[0].Target != f.key {
		t.Fatalf("available copy: %+v %+v", res.Records[0], res.Actions)
	}
}

// A failed CopyImage in the target account: the source image's key must let that account in.
func TestCopyImageFailedChecksTheSourceKey(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "copy-image-failed.json", f.replace())
	rec := res.Records[0]
	if rec.Trigger != "copy-image-failed" || rec.ImageID != f.image || !hasCode(rec, report.KeyPolicyMissingUse) {
		t.Fatalf("record: %+v", rec)
	}
	if len(res.Actions) == 0 || res.Actions[0].Target != f.key || res.Actions[0].Status != report.StatusPlanned {
		t.Fatalf("actions: %+v", res.Actions)
	}
}

// Snapshots encrypted with the AWS managed aws/ebs key cannot be shared: alert with the copy
// command, never touch a policy.
func TestAWSManagedKeyIsReportedNotFixed(t *testing.T) {
	needsLocalAWS(t)
	imageID := env.Filler.CreateImage(scenario.Owner, scenario.Region, "aws-ebs-image", []localaws.SnapshotSpec{{Encrypted: true}})
	env.Filler.ShareImage(imageID, scenario.Target)
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	res := invokeEvent(t, rm, "share-image.json", map[string]string{scenario.PlaceholderImage: imageID})
	rec := res.Records[0]
	if joined(codes(rec)) != string(report.AWSManagedKey) || rec.Findings[0].Fixable {
		t.Fatalf("findings: %+v", rec.Findings)
	}
	if len(res.Actions) != 0 || res.Stats["KMS:PutKeyPolicy"] != 0 || res.Stats["KMS:GetKeyPolicy"] != 0 {
		t.Fatalf("an AWS managed key is never edited: %+v %v", res.Actions, res.Stats)
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, "aws ec2 copy-image") {
		t.Fatalf("the alert gives the copy command: %+v", alerts)
	}
}
