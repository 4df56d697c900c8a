package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	rcfg "github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The launch paths, each through the real handler on the local AWS: which keys a launch uses
// (source and destination), launch templates, Auto Scaling in the key's account and across
// accounts, mixed-instances overrides, failed and cross-account copies, Identity Center roles.

// findingsOf returns the record's findings of code.
func findingsOf(rec report.Record, code report.Code) []report.Finding {
	var out []report.Finding
	for _, f := range rec.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

// launchAs launches image in account as principal (an IAM role ARN, service-linked ones too) and
// reports the instance's state.
func launchAs(t *testing.T, principal, image string) string {
	t.Helper()
	ctx := context.Background()
	akid := fmt.Sprintf("ASIA%012dLNCH", fixtureSeq.Add(1))
	env.Filler.MapAccessKeyPrincipal(akid, principal)
	account := strings.Split(principal, ":")[4]
	cfg, err := env.Config(ctx, account, scenario.Region, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, "s", "")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ec2.NewFromConfig(cfg).RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := env.Filler.Instance(aws.ToString(out.Instances[0].InstanceId))
	return in.State
}

// asgEvent is events/asg-launch-failed.json for group in account.
func asgEvent(t *testing.T, account, group string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/asg-launch-failed.json", map[string]string{`"app-asg"`: `"` + group + `"`, `group app-asg`: `group ` + group,
		`"account": "444455556666"`: `"account": "` + account + `"`})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// group creates an empty Auto Scaling group in account launching from templates (the first as
// its own, the others as mixed-instances overrides), with role as its ServiceLinkedRoleARN
// ("" for the default one).
func group(t *testing.T, account, name, role string, templates ...string) {
	t.Helper()
	in := &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(0), MaxSize: aws.Int32(1),
		AvailabilityZones: []string{scenario.Region + "a"}}
	if role != "" {
		in.ServiceLinkedRoleARN = aws.String(role)
	}
	own := &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(templates[0]), Version: aws.String("$Latest")}
	if len(templates) == 1 {
		in.LaunchTemplate = own
	} else {
		lt := &asgtypes.LaunchTemplate{LaunchTemplateSpecification: own}
		for _, o := range templates[1:] {
			lt.Overrides = append(lt.Overrides, asgtypes.LaunchTemplateOverrides{InstanceType: aws.String("t3.small"),
				LaunchTemplateSpecification: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(o), Version: aws.String("$Latest")}})
		}
		in.MixedInstancesPolicy = &asgtypes.MixedInstancesPolicy{LaunchTemplate: lt}
	}
	if _, err := autoscaling.NewFromConfig(scenario.Config(world.Endpoint, account, 2)).CreateAutoScalingGroup(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// template creates a launch template in account for image (an AMI ID or "resolve:ssm:NAME"),
// with block device mappings, and returns its ID.
func template(t *testing.T, account, image string, mappings ...ec2types.LaunchTemplateBlockDeviceMappingRequest) string {
	t.Helper()
	out, err := world.EC2(account, scenario.Region).CreateLaunchTemplate(context.Background(), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(uniq("lt")), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(image), BlockDeviceMappings: mappings}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.LaunchTemplate.LaunchTemplateId)
}

// A RunInstances failure through a launch template: the template says which image; its keys are
// fixed, and the findings name the template.
func TestLaunchTemplateRunInstancesFailure(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	lt := template(t, scenario.Target, f.image)
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "launch-template-failed.json", map[string]string{scenario.PlaceholderTemplate: lt})
	rec := res.Records[0]
	fs := findingsOf(rec, report.KeyPolicyMissingUse)
	if rec.Trigger != "launch-failed" || rec.ImageID != f.image || len(fs) != 1 || fs[0].KeyRole != report.KeyRoleSource || fs[0].LaunchTemplate != lt+":1" {
		t.Fatalf("record: %+v", rec)
	}
	if len(res.Actions) < 1 || res.Actions[0].Target != f.key || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
	if res.Stats["EC2:DescribeLaunchTemplateVersions"] != 1 {
		t.Errorf("stats: %v", res.Stats)
	}
}

// A launch that re-encrypts its volume under a second key (Ebs.KmsKeyId): both keys are
// diagnosed; the source key is fixed, the destination key (the request's choice) only reported.
func TestRequestKmsKeyIdIsReportedNotFixed(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	second, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	before := keyPolicy(t, second)
	rm, sink := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	res := invokeEvent(t, rm, "launch-failed-kms-key.json", map[string]string{scenario.PlaceholderImage: f.image,
		"arn:aws:kms:us-east-1:444455556666:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0": second})
	rec := res.Records[0]
	var source, dest []report.Finding
	for _, fd := range rec.Findings {
		switch {
		case fd.KeyARN == f.key && fd.KeyRole == report.KeyRoleSource:
			source = append(source, fd)
		case fd.KeyARN == second && fd.KeyRole == report.KeyRoleDestination:
			dest = append(dest, fd)
		}
	}
	if len(source) == 0 || len(dest) == 0 {
		t.Fatalf("findings: %+v", rec.Findings)
	}
	for _, fd := range dest {
		if fd.Fixable || !strings.Contains(fd.Message, "destination key") || !strings.Contains(fd.Message, "KmsKeyId") {
			t.Errorf("destination finding: %+v", fd)
		}
	}
	for _, a := range res.Actions {
		if a.Target == second {
			t.Fatalf("the destination key got an action: %+v", a)
		}
	}
	if after := keyPolicy(t, second); after != before {
		t.Fatal("the destination key's policy changed")
	}
	if !strings.Contains(keyPolicy(t, f.key), "444455556666") {
		t.Fatal("the source key was not fixed")
	}
	alerts, err := sink.Drain(ctx)
	if err != nil || len(alerts) != 1 || !strings.Contains(alerts[0].Message, second) {
		t.Fatalf("the alert names the destination key: %v %+v", err, alerts)
	}
}

// Encryption by default with a customer managed default key: a launch of a shared image
// re-encrypts under the launching account's default EBS key (here a central key that does not
// let the account in). The default key is read once, reported as the destination; the launch
// keeps failing on it until someone changes it; the source key is fixed.
func TestDefaultEBSKeyIsTheDestination(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	dflt, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := world.EC2(scenario.Target, scenario.Region).EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := world.EC2(scenario.Target, scenario.Region).ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String(dflt)}); err != nil {
		t.Fatal(err)
	}
	defer env.Filler.SetEBSDefaultKey(scenario.Target, scenario.Region, "")
	id, state, err := world.Launch(ctx, scenario.Target, scenario.Region, f.image)
	if err != nil || !strings.HasPrefix(state, "terminated") {
		t.Fatalf("launch: %s %v", state, err)
	}
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	res := invokeEvent(t, rm, "instance-terminated.json", map[string]string{scenario.PlaceholderInstance: id})
	rec := res.Records[0]
	var dest []report.Finding
	for _, fd := range rec.Findings {
		if fd.KeyARN == dflt {
			dest = append(dest, fd)
		}
	}
	if len(dest) == 0 || dest[0].KeyRole != report.KeyRoleDestination || dest[0].Fixable || !strings.Contains(dest[0].Message, "default EBS key") {
		t.Fatalf("findings: %+v", rec.Findings)
	}
	if res.Stats["EC2:GetEbsDefaultKmsKeyId"] != 1 {
		t.Errorf("stats: %v", res.Stats)
	}
	if len(res.Actions) != 1 || res.Actions[0].Target != f.key || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
	if _, state, _ := world.Launch(ctx, scenario.Target, scenario.Region, f.image); !strings.HasPrefix(state, "terminated") {
		t.Errorf("the default key still keeps the launch from working, but the launch %s", state)
	}
	// With the AWS managed default key again, the same launch works, and checking it reads no
	// key beyond the source key.
	env.Filler.SetEBSDefaultKey(scenario.Target, scenario.Region, "")
	id, state, err = world.Launch(ctx, scenario.Target, scenario.Region, f.image)
	if err != nil || state != "running" {
		t.Fatalf("launch with aws/ebs as the default key: %s %v", state, err)
	}
}

// Auto Scaling in the key's own account: the group's service-linked role (here a custom-suffix
// one, as DescribeAutoScalingGroups gives it) is added to the key policy itself (AWS's Example
// 1), and then launches; the same event again changes nothing.
func TestAutoScalingSameAccount(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "")
	role := "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_" + uniq("web")
	name := uniq("own-asg")
	group(t, scenario.Owner, name, role, template(t, scenario.Owner, f.image))
	if got := launchAs(t, role, f.image); got != "terminated" {
		t.Fatalf("the role launches before the fix: %s", got)
	}
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	raw := asgEvent(t, scenario.Owner, name)
	res := invokeRaw(t, rm, raw)
	rec := res.Records[0]
	if rec.PrincipalARN != role || !hasCode(rec, report.KeyPolicyMissingUse) || !hasCode(rec, report.KeyPolicyMissingGrant) {
		t.Fatalf("record: %+v", rec)
	}
	for _, fd := range rec.Findings {
		if fd.PrincipalARN != role || !fd.Fixable {
			t.Errorf("finding: %+v", fd)
		}
	}
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied || !strings.Contains(keyPolicy(t, f.key), role) {
		t.Fatalf("actions: %+v\n%s", res.Actions, keyPolicy(t, f.key))
	}
	if got := launchAs(t, role, f.image); got != "running" {
		t.Fatalf("the role launches after the fix: %s", got)
	}
	again := invokeRaw(t, rm, raw)
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 {
		t.Errorf("again: %+v %+v", again.Records[0].Findings, again.Actions)
	}
}

// The same role named by an event rather than read from a group is reported, never added.
func TestServiceLinkedRoleFromAnEventIsNotAdded(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "")
	slr := "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	raw := launchFailedBy(t, f, `{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling","accountId":"111122223333",
		"sessionContext":{"sessionIssuer":{"type":"Role","arn":"`+slr+`","accountId":"111122223333"}},"invokedBy":"autoscaling.amazonaws.com"}`)
	raw = []byte(strings.ReplaceAll(string(raw), "444455556666", scenario.Owner))
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	res := invokeRaw(t, rm, raw)
	rec := res.Records[0]
	fs := findingsOf(rec, report.KeyPolicyMissingUse)
	if len(fs) != 1 || fs[0].Fixable || !strings.Contains(fs[0].Message, "not read from the group") || len(res.Actions) != 0 {
		t.Fatalf("record %+v actions %+v", rec, res.Actions)
	}
}

// Auto Scaling across accounts, end to end: the key policy lets the group's account use the key
// and create its role's grant (AllowEC2LaunchGrants), the grant is created from that account
// and listed in the key's; the role then launches; the same event again changes nothing.
func TestAutoScalingAcrossAccounts(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_" + uniq("x")
	name := uniq("asg")
	group(t, scenario.Target, name, role, template(t, scenario.Target, f.image))
	if got := launchAs(t, role, f.image); got != "terminated" {
		t.Fatalf("the role launches before the fix: %s", got)
	}
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	raw := asgEvent(t, scenario.Target, name)
	res := invokeRaw(t, rm, raw)
	rec := res.Records[0]
	if got := joined(codes(rec)); got != "key-policy-missing-grant,key-policy-missing-launch-grant,key-policy-missing-use,slr-missing-grant" {
		t.Fatalf("findings %s: %+v", got, rec.Findings)
	}
	grantAct := res.Actions[len(res.Actions)-1]
	if len(res.Actions) != 2 || res.Actions[0].Status != report.StatusApplied || grantAct.Type != report.ActionKMSGrant ||
		grantAct.Status != report.StatusApplied || !strings.Contains(grantAct.Reason, role) || joined(grantAct.Accounts) != scenario.Target {
		t.Fatalf("actions: %+v", res.Actions)
	}
	creates := 0
	for op, n := range res.Stats {
		if op == "KMS:CreateGrant" {
			creates += n
		}
	}
	if creates != 1 {
		t.Errorf("CreateGrant calls: %v", res.Stats)
	}
	grants, err := world.KMS(scenario.Owner, scenario.Region).ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(f.key)})
	if err != nil || len(grants.Grants) != 1 || aws.ToString(grants.Grants[0].GranteePrincipal) != role || aws.ToString(grants.Grants[0].GrantId) != grantAct.GrantID {
		t.Fatalf("grants in the key's account: %+v %v", grants, err)
	}
	if !strings.Contains(grantAct.Reason, "verified with ListGrants") {
		t.Errorf("reason: %s", grantAct.Reason)
	}
	if got := launchAs(t, role, f.image); got != "running" {
		t.Fatalf("the role launches after the fix: %s", got)
	}
	again := invokeRaw(t, rm, raw)
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || again.Stats["KMS:PutKeyPolicy"]+again.Stats["KMS:CreateGrant"] != 0 {
		t.Errorf("again: %+v %+v %v", again.Records[0].Findings, again.Actions, again.Stats)
	}
	if n, err := world.KMS(scenario.Owner, scenario.Region).ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(f.key)}); err != nil || len(n.Grants) != 1 {
		t.Errorf("a second grant: %+v %v", n, err)
	}
}

// In alert mode the alert gives both steps as exact commands, and how to undo the grant.
func TestAutoScalingAcrossAccountsAlert(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	name := uniq("asg")
	group(t, scenario.Target, name, "", template(t, scenario.Target, f.image))
	rm, sink := newRemediator(t, setup{mode: rcfg.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
	res := invokeRaw(t, rm, asgEvent(t, scenario.Target, name))
	if len(res.Actions) != 2 || res.Actions[1].Status != report.StatusPlanned {
		t.Fatalf("actions: %+v", res.Actions)
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	for _, want := range []string{"aws kms create-grant --key-id", "--grantee-principal", "AllowEC2LaunchGrants", "aws kms put-key-policy", "revoke-grant", "five minutes"} {
		if !strings.Contains(alerts[0].Message, want) {
			t.Errorf("the alert lacks %q:\n%s", want, alerts[0].Message)
		}
	}
}

// A mixed instances policy: the failure does not say which template launched, so each is checked
// and the findings name the override's template; an SSM parameter is resolved to today's value.
func TestMixedInstancesOverrideTemplate(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	fine := newFixture(t, strings.Replace(scenario.DefaultKeyPolicy(scenario.Owner), `"arn:aws:iam::111122223333:role/ImageBuilder"`,
		`["arn:aws:iam::111122223333:role/ImageBuilder", "arn:aws:iam::444455556666:root"]`, 2), scenario.Target)
	broken := newFixture(t, "", scenario.Target)
	param := "/golden/" + uniq("ami")
	if err := env.Filler.PutParameter(ctx, scenario.Target, scenario.Region, param, fine.image); err != nil {
		t.Fatal(err)
	}
	own := template(t, scenario.Target, "resolve:ssm:"+param)
	override := template(t, scenario.Target, broken.image)
	name := uniq("mixed")
	group(t, scenario.Target, name, "", own, override)
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeAlert, trusted: []string{scenario.Target}})
	res := invokeRaw(t, rm, asgEvent(t, scenario.Target, name))
	rec := res.Records[0]
	for _, fd := range rec.Findings {
		if fd.KeyARN == fine.key && fd.Code != report.SLRMissingGrant && fd.Code != report.KeyPolicyMissingLaunchGrant {
			t.Errorf("the fine key: %+v", fd)
		}
		if fd.KeyARN == broken.key && fd.LaunchTemplate != override+":1" {
			t.Errorf("the override's finding names %q: %+v", fd.LaunchTemplate, fd)
		}
	}
	if len(findingsOf(rec, report.KeyPolicyMissingUse)) != 1 || findingsOf(rec, report.KeyPolicyMissingUse)[0].KeyARN != broken.key {
		t.Fatalf("findings: %+v", rec.Findings)
	}
	noted := false
	for _, n := range rec.Notes {
		noted = noted || (strings.Contains(n, param) && strings.Contains(n, "today"))
	}
	if !noted {
		t.Errorf("notes: %q", rec.Notes)
	}
}

// EC2 AMI State Change "failed": the failed copy's source (DescribeImages SourceImageId) is
// checked for the copying account, and fixed.
func TestAMIFailedChecksTheSource(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	cp, err := world.EC2(scenario.Target, scenario.Region).CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String(uniq("copy")),
		SourceImageId: aws.String(f.image), SourceRegion: aws.String(scenario.Region)})
	if err != nil {
		t.Fatal(err)
	}
	copyID := aws.ToString(cp.ImageId)
	env.Filler.CompleteCopies(ctx)
	var failed []byte
	for _, e := range env.Filler.Events() {
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct{ ImageId, State string }
		}
		if json.Unmarshal(e, &ev) == nil && ev.DetailType == "EC2 AMI State Change" && ev.Detail.ImageId == copyID && ev.Detail.State == "failed" {
			failed = e
		}
	}
	if failed == nil {
		t.Fatal("no failed AMI State Change recorded")
	}
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	res := invokeRaw(t, rm, failed)
	rec := res.Records[0]
	if rec.Trigger != "ami-failed" || rec.ImageID != f.image || !hasCode(rec, report.KeyPolicyMissingUse) {
		t.Fatalf("record: %+v", rec)
	}
	if len(res.Actions) == 0 || res.Actions[0].Target != f.key || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
}

// A successful CopyImage of another account's image: its keys are checked for the copier at
// once, before the asynchronous copy can fail, and the copy then succeeds.
func TestCrossAccountCopyImageChecksTheSourceAtOnce(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	env.Filler.ClearEvents()
	cp, err := world.EC2(scenario.Target, scenario.Region).CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String(uniq("copy")),
		SourceImageId: aws.String(f.image), SourceRegion: aws.String(scenario.Region)})
	if err != nil {
		t.Fatal(err)
	}
	var call []byte
	for _, e := range env.Filler.Events() {
		if strings.Contains(string(e), `"eventName":"CopyImage"`) && strings.Contains(string(e), aws.ToString(cp.ImageId)) {
			call = e
		}
	}
	if call == nil {
		t.Fatal("no CopyImage record")
	}
	rm, _ := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}})
	res := invokeRaw(t, rm, call)
	rec := res.Records[0]
	if rec.Trigger != "copy-image" || rec.IgnoredReason != "" || !hasCode(rec, report.KeyPolicyMissingUse) || rec.Findings[0].KeyARN != f.key {
		t.Fatalf("record: %+v", rec)
	}
	if len(res.Actions) == 0 || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
	env.Filler.CompleteCopies(ctx)
	img, err := world.EC2(scenario.Target, scenario.Region).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(cp.ImageId)}})
	if err != nil || len(img.Images) != 1 || img.Images[0].State != ec2types.ImageStateAvailable {
		t.Fatalf("the copy after the fix: %+v %v", img, err)
	}
}

// An IAM Identity Center role is never attached to: the finding says to add the statements to
// its permission set, and the alert gives the exact JSON and commands.
func TestIdentityCenterRoleIsNeverAttached(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	pol := strings.Replace(scenario.DefaultKeyPolicy(scenario.Owner), `"arn:aws:iam::111122223333:role/ImageBuilder"`,
		`["arn:aws:iam::111122223333:role/ImageBuilder", "arn:aws:iam::444455556666:root"]`, 2)
	f := newFixture(t, pol, scenario.Target)
	name := "AWSReservedSSO_Developers_" + strings.ReplaceAll(uniq("a1b2c3d4"), "-", "")
	out, err := world.IAM(scenario.Target).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String("/aws-reserved/sso.amazonaws.com/eu-west-2/"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	roleARN := aws.ToString(out.Role.Arn)
	raw := launchFailedBy(t, f, `{"type":"AssumedRole","arn":"arn:aws:sts::444455556666:assumed-role/`+name+`/alice","accountId":"444455556666",
		"sessionContext":{"sessionIssuer":{"type":"Role","arn":"`+roleARN+`","accountId":"444455556666","userName":"`+name+`"}}}`)
	rm, sink := newRemediator(t, setup{mode: rcfg.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	rm.cfg.IAMPolicyName = uniq("KmsKeyUsagePolicy")
	res := invokeRaw(t, rm, raw)
	fs := iamFindings(res.Records[0])
	if len(fs) == 0 {
		t.Fatalf("findings: %+v", res.Records[0])
	}
	for _, fd := range fs {
		if fd.Fixable || !strings.Contains(fd.Message, "Identity Center") || !strings.Contains(fd.Message, "permission set Developers") {
			t.Errorf("finding: %+v", fd)
		}
	}
	if iamWrites(res.Stats) != 0 {
		t.Fatalf("IAM changed for an Identity Center role: %v", res.Stats)
	}
	alerts, err := sink.Drain(ctx)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	for _, want := range []string{"put-inline-policy-to-permission-set", "provision-permission-set", f.key, "kms:Decrypt"} {
		if !strings.Contains(alerts[0].Message, want) {
			t.Errorf("the alert lacks %q:\n%s", want, alerts[0].Message)
		}
	}
}
