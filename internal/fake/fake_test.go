package fake

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const (
	owner  = "111122223333"
	target = "444455556666"
	region = "us-east-1"
	doc    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`
)

var ctx = context.Background()

// Injected faults are wrapped like the SDK's and classified by awsapi's table; FailNext runs
// out, Fail lasts until Heal, FailIf picks calls.
func TestInjectedFaultsClassifyLikeAWS(t *testing.T) {
	a := New(owner, region)
	k := a.AddKey(owner, region, doc)
	cl, _ := a.KMS(ctx, owner, region)
	describe := func() error {
		_, err := cl.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k)})
		return err
	}
	a.FailNext("KMS:DescribeKey", Error("ThrottlingException", ""), Error("AccessDeniedException", ""))
	if err := describe(); !awsapi.IsThrottled(err) || !awsapi.Transient(err) {
		t.Errorf("first: %v", err)
	}
	if err := describe(); !awsapi.IsAccessDenied(err) || awsapi.Transient(err) {
		t.Errorf("second: %v", err)
	}
	if err := describe(); err != nil {
		t.Errorf("third: %v", err)
	}
	a.Fail("KMS:DescribeKey", Error("InternalFailure", ""))
	for range 2 {
		if err := describe(); awsapi.Classify(err) != awsapi.ClassTransient {
			t.Errorf("Fail: %v", err)
		}
	}
	a.Heal("KMS:DescribeKey")
	if err := describe(); err != nil {
		t.Errorf("after Heal: %v", err)
	}
	a.FailIf("KMS:DescribeKey", func(c Call) bool { return c.Account == target }, Error("AccessDeniedException", ""))
	if err := describe(); err != nil {
		t.Errorf("FailIf matched another account: %v", err)
	}
	calls := a.Calls("KMS:DescribeKey")
	if len(calls) != 7 || calls[0].Succeeded || calls[1].Succeeded || !calls[2].Succeeded || calls[3].Succeeded {
		t.Errorf("recorded calls: %+v", calls)
	}
}

// EC2 shows an image to its owner and the accounts it is shared with; launch permissions only to
// the owner; snapshots (with their keys) only to their owner.
func TestEC2Visibility(t *testing.T) {
	a := New(owner, region)
	k := a.AddKey(owner, region, doc)
	img := a.AddImage(owner, region, k)
	own, _ := a.EC2(ctx, owner, region)
	other, _ := a.EC2(ctx, target, region)

	out, err := own.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}})
	if err != nil || len(out.Images) != 1 || len(out.Images[0].BlockDeviceMappings) != 1 || !aws.ToBool(out.Images[0].BlockDeviceMappings[0].Ebs.Encrypted) {
		t.Fatalf("owner: %+v %v", out, err)
	}
	snap := aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	if _, err := other.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}}); !awsapi.IsNotFound(err) {
		t.Errorf("not shared: %v", err)
	}
	a.Share(img, target)
	if _, err := other.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}}); err != nil {
		t.Errorf("shared: %v", err)
	}
	attr := &ec2.DescribeImageAttributeInput{ImageId: aws.String(img), Attribute: ec2types.ImageAttributeNameLaunchPermission}
	if _, err := other.DescribeImageAttribute(ctx, attr); !awsapi.IsAccessDenied(err) {
		t.Errorf("launch permissions to a non-owner: %v", err)
	}
	perms, err := own.DescribeImageAttribute(ctx, attr)
	if err != nil || len(perms.LaunchPermissions) != 1 || aws.ToString(perms.LaunchPermissions[0].UserId) != target {
		t.Errorf("launch permissions: %+v %v", perms, err)
	}
	snaps, err := own.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}, OwnerIds: []string{owner}})
	if err != nil || aws.ToString(snaps.Snapshots[0].KmsKeyId) != k {
		t.Errorf("snapshots: %+v %v", snaps, err)
	}
	if _, err := other.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); !awsapi.IsNotFound(err) {
		t.Errorf("snapshots to a non-owner: %v", err)
	}
}

// A key is read and written by its owner only; a policy that is not JSON is malformed.
func TestKMSKeyOwnerAndPolicy(t *testing.T) {
	a := New(owner, region)
	k := a.AddKey(owner, region, doc)
	own, _ := a.KMS(ctx, owner, region)
	other, _ := a.KMS(ctx, target, region)
	if _, err := other.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(k)}); !awsapi.IsNotFound(err) {
		t.Errorf("another account's key: %v", err)
	}
	if _, err := own.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(k), Policy: aws.String("{")}); !awsapi.IsMalformedPolicy(err) {
		t.Errorf("bad policy: %v", err)
	}
	const next = `{"Version":"2012-10-17","Statement":[]}`
	if _, err := own.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(k), Policy: aws.String(next)}); err != nil || a.KeyPolicy(k) != next {
		t.Errorf("put: %v, stored %s", err, a.KeyPolicy(k))
	}
}

// IAM answers documents URL-encoded and the default version's description; a missing principal
// is NoSuchEntity.
func TestIAMManagedPolicyReads(t *testing.T) {
	a := New(owner, region)
	arn := a.AddManagedPolicy(target, "P", doc)
	a.DescribePolicy(arn, "made by hand")
	v2 := a.AddPolicyVersion(arn, doc, true)
	cl, _ := a.IAM(ctx, target)
	p, err := cl.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil || aws.ToString(p.Policy.DefaultVersionId) != v2 || aws.ToString(p.Policy.Description) != "made by hand" {
		t.Fatalf("policy: %+v %v", p, err)
	}
	v, err := cl.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String(v2)})
	if err != nil || !v.PolicyVersion.IsDefaultVersion || aws.ToString(v.PolicyVersion.Document) == doc {
		t.Fatalf("version: %+v %v", v, err)
	}
	if got, err := policy.DecodeIAM(aws.ToString(v.PolicyVersion.Document)); err != nil || got != doc {
		t.Errorf("decoded %q %v", got, err)
	}
	if _, err := cl.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nobody")}); !awsapi.IsNotFound(err) {
		t.Errorf("missing role: %v", err)
	}
}

// A client for a member account assumes its role: a fault there fails the client, not the call.
// Before runs ahead of the answer, After behind a success.
func TestFactoryAndHooks(t *testing.T) {
	a := New(owner, region)
	a.FailIf("STS:AssumeRole", func(c Call) bool { return c.Account == target }, Error("AccessDenied", ""))
	if _, err := a.IAM(ctx, target); !awsapi.IsAccessDenied(err) {
		t.Errorf("member role: %v", err)
	}
	if _, err := a.IAM(ctx, owner); err != nil {
		t.Errorf("central account needs no role: %v", err)
	}
	var order []string
	k := a.AddKey(owner, region, doc)
	a.Before("KMS:DescribeKey", func(Call) { order = append(order, "before") })
	a.After("KMS:DescribeKey", func(Call) { order = append(order, "after") })
	cl, _ := a.KMS(ctx, owner, region)
	if _, err := cl.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("missing")}); err == nil {
		t.Fatal("missing key found")
	}
	if got := strings.Join(order, ","); got != "before,after,before" {
		t.Errorf("hooks ran %s", got)
	}
	if central, err := a.CentralAccount(ctx); central != owner || err != nil || a.Count("STS:GetCallerIdentity") != 1 {
		t.Errorf("central %s %v", central, err)
	}
}
