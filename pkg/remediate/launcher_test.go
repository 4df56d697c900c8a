package remediate

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The most common failure: RunInstances succeeds, the instance dies with Client.InternalError.
// The state-change event names no principal; the remediator finds the launching role in
// CloudTrail (LookupEvents by the instance ID) and fixes its identity side too, with a grant.
func TestInstanceTerminatedFindsTheLauncher(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := "launcher-" + f.image[4:12]
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	// Launch as a session of that role, as an application would.
	creds, err := sts.NewFromConfig(scenario.Config(world.Endpoint, scenario.Target, 2)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + scenario.Target + ":role/" + role), RoleSessionName: aws.String("deploy-42")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := scenario.Config(world.Endpoint, "", 2)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(creds.Credentials.AccessKeyId),
		aws.ToString(creds.Credentials.SecretAccessKey), aws.ToString(creds.Credentials.SessionToken))
	run, err := ec2.NewFromConfig(cfg).RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.image), MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro})
	if err != nil {
		t.Fatal(err)
	}
	instanceID := aws.ToString(run.Instances[0].InstanceId)

	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "instance-terminated.json", map[string]string{scenario.PlaceholderInstance: instanceID})
	rec := res.Records[0]
	wantRole := "arn:aws:iam::" + scenario.Target + ":role/" + role
	if rec.PrincipalARN != wantRole || !hasCode(rec, report.IAMMissingUse) || !hasCode(rec, report.KeyPolicyMissingUse) {
		t.Fatalf("record: %+v", rec)
	}
	if res.Stats["CloudTrail:LookupEvents"] != 1 {
		t.Errorf("one CloudTrail lookup per terminated instance: %v", res.Stats)
	}
	grant := actionOf(res, report.ActionKMSGrant)
	if grant == nil || grant.Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
	// The remediator read the launcher from CloudTrail itself: no second lookup confirms it.
	checkIdentityGrant(t, f.key, wantRole, grant.GrantID)
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM written: %v", res.Stats)
	}
}

// Without a CloudTrail record (not delivered yet, or launched by something CloudTrail does not
// name) the key side is still checked and the record says why the identity side was not.
func TestInstanceTerminatedWithoutLauncherRecord(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	id, _, err := world.Launch(ctx, scenario.Target, scenario.Region, f.image)
	if err != nil {
		t.Fatal(err)
	}
	env.Filler.ClearEvents()
	rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "instance-terminated.json", map[string]string{scenario.PlaceholderInstance: id})
	rec := res.Records[0]
	if rec.PrincipalARN != "" || !hasCode(rec, report.KeyPolicyMissingUse) || len(rec.Notes) == 0 {
		t.Fatalf("record: %+v", rec)
	}
}
