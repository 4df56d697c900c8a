package localaws_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// GetEbsDefaultKmsKeyId answers the alias aws/ebs until ModifyEbsDefaultKmsKeyId names a key,
// then that key's ARN (the key given by ID is resolved); ResetEbsDefaultKmsKeyId goes back
// (EC2 API Reference, GetEbsDefaultKmsKeyId, ModifyEbsDefaultKmsKeyId, ResetEbsDefaultKmsKeyId).
// Accounts and Regions each have their own.
func TestEBSDefaultKey(t *testing.T) {
	ctx := testCtx(t)
	const acct = "222233334444"
	c := ec2For(t, acct, region)
	get := func() string {
		out, err := c.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.KmsKeyId)
	}
	if got, want := get(), "arn:aws:kms:"+region+":"+acct+":alias/aws/ebs"; got != want {
		t.Fatalf("default = %s, want %s", got, want)
	}
	key := newKey(t, acct, region)
	id := key[strings.LastIndex(key, "/")+1:]
	mod, err := c.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String(id)})
	if err != nil || aws.ToString(mod.KmsKeyId) != key {
		t.Fatalf("modify: %v %v", mod, err)
	}
	if got := get(); got != key {
		t.Fatalf("after modify = %s, want %s", got, key)
	}
	other, err := ec2For(t, acct, "eu-west-1").GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil || strings.Contains(aws.ToString(other.KmsKeyId), id) {
		t.Fatalf("another Region: %v %v", other, err)
	}
	if _, err := c.ResetEbsDefaultKmsKeyId(ctx, &ec2.ResetEbsDefaultKmsKeyIdInput{}); err != nil {
		t.Fatal(err)
	}
	if got := get(); !strings.HasSuffix(got, "alias/aws/ebs") && !strings.Contains(got, ":key/") {
		t.Fatalf("after reset = %s", got)
	}
	if got := get(); got == key {
		t.Fatal("reset kept the customer managed key")
	}
}

// sharedImage registers an image of owner on a new key whose policy lets target use it, shared
// with target.
func sharedImage(t *testing.T) string {
	t.Helper()
	src := newKey(t, owner, region)
	if _, err := kmsFor(t, owner, region).PutKeyPolicy(testCtx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(src), PolicyName: aws.String("default"), Policy: aws.String(sharePolicy(owner, owner, target))}); err != nil {
		t.Fatal(err)
	}
	imageID, _ := registerEncryptedImage(t, owner, region, src)
	env.Filler.ShareImage(imageID, target)
	return imageID
}

// A shared AMI's encrypted snapshot is restored to a volume under the launching account's
// default EBS key (EC2 User Guide, "Use encryption with EBS-backed AMIs", instance-launching
// scenarios): that key must be usable too. A KmsKeyId in the request replaces it.
func TestLaunchUsesTheDefaultKeyForSharedSnapshots(t *testing.T) {
	ctx := testCtx(t)
	imageID := sharedImage(t)
	tc := ec2For(t, target, region)
	if in := runAndDescribe(t, tc, imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("launch with aws/ebs as the default key: %s", in.State.Name)
	}

	// A default key of a third account that does not let the launcher in: the launch fails on it.
	foreign := newKey(t, "999988887777", region)
	env.Filler.SetEBSDefaultKey(target, region, foreign)
	defer env.Filler.SetEBSDefaultKey(target, region, "")
	in := runAndDescribe(t, tc, imageID)
	info, _ := env.Filler.Instance(aws.ToString(in.InstanceId))
	if in.State.Name != ec2types.InstanceStateNameTerminated || !strings.Contains(info.KeyProblem, foreign) {
		t.Fatalf("launch with an unusable default key: %s (%s)", in.State.Name, info.KeyProblem)
	}
	// The request names its own key for the volume: the default key is not used.
	own := newKey(t, target, region)
	run, err := tc.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(imageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: aws.String(own)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Filler.Instance(aws.ToString(run.Instances[0].InstanceId)); got.State != "running" {
		t.Fatalf("launch with the request's key: %+v", got)
	}
	// The owner's own snapshot keeps its key: its default key is not used.
	env.Filler.SetEBSDefaultKey(owner, region, foreign)
	defer env.Filler.SetEBSDefaultKey(owner, region, "")
	if in := runAndDescribe(t, ec2For(t, owner, region), imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("owner launch: %s", in.State.Name)
	}
}

// RunInstances without ImageId launches what the launch template version says; the request's
// block device mappings override the template's, device by device (EC2 User Guide, "Launch an
// instance from a launch template").
func TestLaunchFromTemplate(t *testing.T) {
	ctx := testCtx(t)
	imageID := sharedImage(t)
	foreign := newKey(t, "999988887777", region)
	tc := ec2For(t, target, region)
	lt, err := tc.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("lt-" + imageID),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(imageID), BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{Encrypted: aws.Bool(true), KmsKeyId: aws.String(foreign)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	spec := &ec2types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")}
	run, err := tc.RunInstances(ctx, &ec2.RunInstancesInput{LaunchTemplate: spec, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := env.Filler.Instance(aws.ToString(run.Instances[0].InstanceId))
	if !ok || got.ImageID != imageID || got.State != "terminated" || !strings.Contains(got.KeyProblem, foreign) {
		t.Fatalf("template launch with the template's foreign key: %+v", got)
	}
	own := newKey(t, target, region)
	run, err = tc.RunInstances(ctx, &ec2.RunInstancesInput{LaunchTemplate: spec, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: aws.String(own)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Filler.Instance(aws.ToString(run.Instances[0].InstanceId)); got.State != "running" {
		t.Fatalf("the request's key overrides the template's: %+v", got)
	}
	// CloudTrail records the template, not an image, in the request.
	var found bool
	for _, e := range env.Filler.Events() {
		if s := string(e); strings.Contains(s, `"launchTemplate":{"launchTemplateId":"`+aws.ToString(lt.LaunchTemplate.LaunchTemplateId)+`"`) {
			found = strings.Contains(s, `"eventName":"RunInstances"`)
		}
	}
	if !found {
		t.Error("no RunInstances record names the launch template")
	}
	_, err = tc.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-0123456789abcdef0")}})
	if err == nil {
		t.Fatal("a launch template that does not exist launched")
	}
}

// DescribeLaunchTemplateVersions with ResolveAlias answers the AMI ID the SSM parameter maps to;
// without it, the parameter as written (EC2 API Reference, ResponseLaunchTemplateData.ImageId).
func TestResolveAlias(t *testing.T) {
	ctx := testCtx(t)
	imageID, _ := registerEncryptedImage(t, target, region, newKey(t, target, region))
	param := "/golden/" + strings.ReplaceAll(t.Name(), "/", "-")
	if err := env.Filler.PutParameter(ctx, target, region, param, imageID); err != nil {
		t.Fatal(err)
	}
	tc := ec2For(t, target, region)
	lt, err := tc.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("ssm-" + imageID),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("resolve:ssm:" + param)}})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(resolve bool) string {
		out, err := tc.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId,
			Versions: []string{"$Default"}, ResolveAlias: aws.Bool(resolve)})
		if err != nil || len(out.LaunchTemplateVersions) != 1 {
			t.Fatalf("describe: %v %v", out, err)
		}
		return aws.ToString(out.LaunchTemplateVersions[0].LaunchTemplateData.ImageId)
	}
	if got := describe(true); got != imageID {
		t.Errorf("ResolveAlias: %s, want %s", got, imageID)
	}
	if got := describe(false); got != "resolve:ssm:"+param {
		t.Errorf("without ResolveAlias: %s", got)
	}
	run, err := tc.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId}})
	if err != nil || aws.ToString(run.Instances[0].ImageId) != imageID {
		t.Fatalf("launch through the parameter: %v %v", run, err)
	}
}

// DescribeAutoScalingGroups reports the ServiceLinkedRoleARN a group was created with.
func TestGroupServiceLinkedRole(t *testing.T) {
	ctx := testCtx(t)
	tc := ec2For(t, target, region)
	lt, err := tc.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("asg-" + t.Name()),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0")}})
	if err != nil {
		t.Fatal(err)
	}
	ac := autoscaling.NewFromConfig(cfgFor(t, target, region))
	custom := "arn:aws:iam::" + target + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web"
	for name, role := range map[string]string{"custom-" + t.Name(): custom, "default-" + t.Name(): ""} {
		in := &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(0), MaxSize: aws.Int32(1),
			AvailabilityZones: []string{region + "a"}, LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId}}
		if role != "" {
			in.ServiceLinkedRoleARN = aws.String(role)
		}
		if _, err := ac.CreateAutoScalingGroup(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	out, err := ac.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"custom-" + t.Name(), "default-" + t.Name()}})
	if err != nil || len(out.AutoScalingGroups) != 2 {
		t.Fatalf("describe: %v %v", out, err)
	}
	for _, g := range out.AutoScalingGroups {
		want := "arn:aws:iam::" + target + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
		if strings.HasPrefix(aws.ToString(g.AutoScalingGroupName), "custom-") {
			want = custom
		}
		if got := aws.ToString(g.ServiceLinkedRoleARN); got != want {
			t.Errorf("%s: role %s, want %s", aws.ToString(g.AutoScalingGroupName), got, want)
		}
	}
}

// A grant created from another account by key ARN: refused until the key policy lets that
// account create it (for its own principals, EC2's operations), then visible with ListGrants in
// the key's account; the same request with the same Name returns the same grant and creates
// nothing (KMS API Reference, CreateGrant Name). A launch by the grantee then succeeds on the
// grant alone, without any key policy statement naming it.
func TestCrossAccountGrant(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t, owner, region)
	imageID, _ := registerEncryptedImage(t, owner, region, key)
	env.Filler.ShareImage(imageID, target)
	slr := "arn:aws:iam::" + target + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	ops := []kmstypes.GrantOperation{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}
	tk := kmsFor(t, target, region)
	create := func(grantee string) (*kms.CreateGrantOutput, error) {
		return tk.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(grantee), Operations: ops, Name: aws.String("ami-kms-remediator-test")})
	}
	if _, err := create(slr); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("grant before the key policy allows it: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + owner + `:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"AllowEC2LaunchGrants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + target + `:root"},"Action":"kms:CreateGrant","Resource":"*",
		 "Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt","ReEncryptFrom","ReEncryptTo","GenerateDataKey","GenerateDataKeyWithoutPlaintext","DescribeKey","CreateGrant"]},
		 "StringLike":{"kms:GranteePrincipal":"arn:aws:iam::${aws:PrincipalAccount}:*"}}}]}`
	if _, err := kmsFor(t, owner, region).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := create("arn:aws:iam::999988887777:role/someone"); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("a grant for another account's principal: %v", err)
	}
	if _, err := tk.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(slr), Operations: append(ops, "RetireGrant")}); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("a grant with more operations: %v", err)
	}
	first, err := create(slr)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	again, err := create(slr)
	if err != nil || aws.ToString(again.GrantId) != aws.ToString(first.GrantId) {
		t.Fatalf("the same grant again: %v %v, want grant %s", again, err, aws.ToString(first.GrantId))
	}
	list, err := kmsFor(t, owner, region).ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(key)})
	if err != nil || len(list.Grants) != 1 || aws.ToString(list.Grants[0].GranteePrincipal) != slr || aws.ToString(list.Grants[0].Name) != "ami-kms-remediator-test" {
		t.Fatalf("grants in the key's account: %+v %v", list, err)
	}
	// ListGrants from the grantee's account needs the key policy to allow it too.
	if _, err := tk.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(key)}); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("ListGrants without a key policy allowing it: %v", err)
	}

	// The role launches through the grant.
	akid := "ASIA" + target + "SLRL"
	env.Filler.MapAccessKeyPrincipal(akid, slr)
	slrCfg, err := env.Config(ctx, target, region, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, "s", "")))
	if err != nil {
		t.Fatal(err)
	}
	if in := runAndDescribe(t, ec2.NewFromConfig(slrCfg), imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		info, _ := env.Filler.Instance(aws.ToString(in.InstanceId))
		t.Fatalf("launch by the grantee: %s (%s)", in.State.Name, info.KeyProblem)
	}
}

// A service-linked role cannot use a key of its own account through the account's IAM (its
// permissions include no customer managed key): the key policy must name it (EC2 Auto Scaling
// User Guide, "Required AWS KMS key policy for use with encrypted volumes", Example 1).
func TestServiceLinkedRoleNeedsTheKeyPolicy(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t, target, region)
	imageID, _ := registerEncryptedImage(t, target, region, key)
	slr := "arn:aws:iam::" + target + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	akid := "ASIA" + target + "SLRS"
	env.Filler.MapAccessKeyPrincipal(akid, slr)
	slrCfg, err := env.Config(ctx, target, region, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, "s", "")))
	if err != nil {
		t.Fatal(err)
	}
	sc := ec2.NewFromConfig(slrCfg)
	if in := runAndDescribe(t, sc, imageID); in.State.Name != ec2types.InstanceStateNameTerminated {
		t.Fatalf("launch by the role with the default key policy: %s", in.State.Name)
	}
	if in := runAndDescribe(t, ec2For(t, target, region), imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("launch by the account itself: %s", in.State.Name)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + target + `:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"` + slr + `"},"Action":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey*","kms:ReEncrypt*","kms:DescribeKey"],"Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"` + slr + `"},"Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`
	if _, err := kmsFor(t, target, region).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if in := runAndDescribe(t, sc, imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		info, _ := env.Filler.Instance(aws.ToString(in.InstanceId))
		t.Fatalf("launch by the role named in the key policy: %s (%s)", in.State.Name, info.KeyProblem)
	}
}
