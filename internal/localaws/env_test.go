package localaws_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
)

const (
	owner  = "111122223333"
	target = "444455556666"
	region = "us-east-1"
	other  = "eu-west-1"
)

// env is one local AWS for the whole package; tests create their own keys and images in it.
var env *localaws.Env

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var err error
	env, err = localaws.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local aws:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stop local aws:", err)
	}
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func cfgFor(t *testing.T, account, rgn string) aws.Config {
	t.Helper()
	cfg, err := env.Config(testCtx(t), account, rgn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func ec2For(t *testing.T, account, rgn string) *ec2.Client {
	return ec2.NewFromConfig(cfgFor(t, account, rgn))
}

func kmsFor(t *testing.T, account, rgn string) *kms.Client {
	return kms.NewFromConfig(cfgFor(t, account, rgn))
}

// newKey creates a customer managed key in account (moto) and returns its ARN.
func newKey(t *testing.T, account, rgn string) string {
	t.Helper()
	out, err := kmsFor(t, account, rgn).CreateKey(testCtx(t), &kms.CreateKeyInput{Description: aws.String(t.Name())})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// registerEncryptedImage seeds an encrypted snapshot (Go API) and registers an AMI on it through
// the real EC2 API.
func registerEncryptedImage(t *testing.T, account, rgn, keyARN string) (imageID, snapshotID string) {
	t.Helper()
	snapshotID = env.Filler.CreateSnapshot(account, rgn, keyARN, true, 10)
	out, err := ec2For(t, account, rgn).RegisterImage(testCtx(t), &ec2.RegisterImageInput{
		Name:           aws.String("img-" + t.Name()),
		RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &ec2types.EbsBlockDevice{SnapshotId: aws.String(snapshotID), VolumeType: ec2types.VolumeTypeGp3},
		}},
	})
	if err != nil {
		t.Fatalf("register image: %v", err)
	}
	return aws.ToString(out.ImageId), snapshotID
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func describeImage(t *testing.T, c *ec2.Client, imageID string) ec2types.Image {
	t.Helper()
	out, err := c.DescribeImages(testCtx(t), &ec2.DescribeImagesInput{ImageIds: []string{imageID}})
	if err != nil {
		t.Fatalf("describe image %s: %v", imageID, err)
	}
	if len(out.Images) != 1 {
		t.Fatalf("describe image %s: %d images", imageID, len(out.Images))
	}
	return out.Images[0]
}

func imageIDs(images []ec2types.Image) []string {
	var ids []string
	for _, im := range images {
		ids = append(ids, aws.ToString(im.ImageId))
	}
	return ids
}

// DescribeImages reports Ebs.Encrypted and the SnapshotId but not the key; DescribeSnapshots,
// called by the snapshot owner, reports KmsKeyId (EC2 API Reference: EbsBlockDevice, Snapshot).
// Snapshots are not visible to accounts they are not shared with, even when the AMI is.
func TestRegisteredEncryptedImage(t *testing.T) {
	key := newKey(t, owner, region)
	imageID, snapID := registerEncryptedImage(t, owner, region, key)
	c := ec2For(t, owner, region)

	im := describeImage(t, c, imageID)
	if got := aws.ToString(im.OwnerId); got != owner {
		t.Errorf("OwnerId = %s, want %s", got, owner)
	}
	if im.State != ec2types.ImageStateAvailable || im.RootDeviceType != ec2types.DeviceTypeEbs {
		t.Errorf("State %s RootDeviceType %s", im.State, im.RootDeviceType)
	}
	if len(im.BlockDeviceMappings) != 1 || im.BlockDeviceMappings[0].Ebs == nil {
		t.Fatalf("block devices: %+v", im.BlockDeviceMappings)
	}
	ebs := im.BlockDeviceMappings[0].Ebs
	if !aws.ToBool(ebs.Encrypted) || aws.ToString(ebs.SnapshotId) != snapID || aws.ToInt32(ebs.VolumeSize) != 10 || ebs.VolumeType != ec2types.VolumeTypeGp3 {
		t.Errorf("ebs = encrypted %v snapshot %s size %d type %s", aws.ToBool(ebs.Encrypted), aws.ToString(ebs.SnapshotId), aws.ToInt32(ebs.VolumeSize), ebs.VolumeType)
	}

	snaps, err := c.DescribeSnapshots(testCtx(t), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps.Snapshots) != 1 || aws.ToString(snaps.Snapshots[0].KmsKeyId) != key || !aws.ToBool(snaps.Snapshots[0].Encrypted) {
		t.Fatalf("snapshots = %+v, want one encrypted with %s", snaps.Snapshots, key)
	}
	byOwner, err := c.DescribeSnapshots(testCtx(t), &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(byOwner.Snapshots, func(s ec2types.Snapshot) bool { return aws.ToString(s.SnapshotId) == snapID }) {
		t.Errorf("DescribeSnapshots(Owner self) misses %s", snapID)
	}

	_, err = ec2For(t, target, region).DescribeSnapshots(testCtx(t), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
	if apiCode(err) != "InvalidSnapshot.NotFound" {
		t.Errorf("target DescribeSnapshots: err %v, want InvalidSnapshot.NotFound", err)
	}
	// Image IDs are regional.
	_, err = ec2For(t, owner, other).DescribeImages(testCtx(t), &ec2.DescribeImagesInput{ImageIds: []string{imageID}})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("DescribeImages in %s: err %v, want InvalidAMIID.NotFound", other, err)
	}
}

// Images moto holds still come from moto, merged with the filler's in listings; an ID neither
// knows is InvalidAMIID.NotFound in EC2's error format.
func TestMotoImagesPassThrough(t *testing.T) {
	ctx := testCtx(t)
	c := ec2For(t, owner, region)
	motoImg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("moto-" + t.Name())})
	if err != nil {
		t.Fatalf("register moto image: %v", err)
	}
	mine, _ := registerEncryptedImage(t, owner, region, newKey(t, owner, region))

	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	ids := imageIDs(out.Images)
	if !slices.Contains(ids, aws.ToString(motoImg.ImageId)) || !slices.Contains(ids, mine) {
		t.Errorf("DescribeImages(self) = %v, want both %s (moto) and %s (filler)", ids, aws.ToString(motoImg.ImageId), mine)
	}
	both, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(motoImg.ImageId), mine}})
	if err != nil || len(both.Images) != 2 {
		t.Errorf("DescribeImages(both IDs) = %v, %v", both, err)
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("unknown image: err %v, want InvalidAMIID.NotFound", err)
	}
}

// Launch permissions (EC2 User Guide, "Share an AMI with specific AWS accounts"): only the owner
// reads or changes them; an AMI shared with an account appears in that account's
// DescribeImages (ExecutableBy self) and can be described by ID; removing the permission hides
// it again. Both request forms (LaunchPermission.Add.N and OperationType/UserId.N) work.
func TestShareImageLaunchPermission(t *testing.T) {
	ctx := testCtx(t)
	imageID, _ := registerEncryptedImage(t, owner, region, newKey(t, owner, region))
	oc, tc := ec2For(t, owner, region), ec2For(t, target, region)

	sharedWithTarget := func() bool {
		t.Helper()
		out, err := tc.DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self"}})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(imageIDs(out.Images), imageID)
	}
	if sharedWithTarget() {
		t.Fatal("target sees the image before it is shared")
	}
	if _, err := tc.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{imageID}}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("target DescribeImages before share: err %v, want InvalidAMIID.NotFound", err)
	}

	_, err := oc.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{
			{UserId: aws.String(target)},
			{OrganizationArn: aws.String("arn:aws:organizations::111122223333:organization/o-abc123def4")},
		}},
	})
	if err != nil {
		t.Fatalf("share: %v", err)
	}
	if !sharedWithTarget() {
		t.Fatal("target does not see the shared image (ExecutableBy self)")
	}
	if im := describeImage(t, tc, imageID); !aws.ToBool(im.BlockDeviceMappings[0].Ebs.Encrypted) || aws.ToString(im.OwnerId) != owner {
		t.Errorf("target's view: %+v", im)
	}

	attr, err := oc.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(imageID), Attribute: ec2types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatal(err)
	}
	if len(attr.LaunchPermissions) != 2 || aws.ToString(attr.LaunchPermissions[0].UserId) != target || aws.ToString(attr.LaunchPermissions[1].OrganizationArn) == "" {
		t.Errorf("launch permissions = %+v", attr.LaunchPermissions)
	}
	if _, err := tc.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(imageID), Attribute: ec2types.ImageAttributeNameLaunchPermission}); apiCode(err) != "AuthFailure" {
		t.Errorf("target DescribeImageAttribute: err %v, want AuthFailure", err)
	}
	if _, err := tc.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{Group: ec2types.PermissionGroupAll}}}}); apiCode(err) != "AuthFailure" {
		t.Errorf("target ModifyImageAttribute: err %v, want AuthFailure", err)
	}
	if _, err := oc.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String("*")}}}}); apiCode(err) != "InvalidAMIAttributeItemValue" {
		t.Errorf("share with userId *: err %v, want InvalidAMIAttributeItemValue", err)
	}

	// Old form: Attribute=launchPermission, OperationType=remove, UserId.1.
	_, err = oc.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String(imageID), Attribute: aws.String("launchPermission"),
		OperationType: ec2types.OperationTypeRemove, UserIds: []string{target},
	})
	if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	if sharedWithTarget() {
		t.Error("target still sees the image after the permission was removed")
	}
}

func runAndDescribe(t *testing.T, c *ec2.Client, imageID string) ec2types.Instance {
	t.Helper()
	ctx := testCtx(t)
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(imageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro})
	if err != nil {
		t.Fatalf("run instances: %v", err)
	}
	if len(run.Instances) != 1 || run.Instances[0].State.Name != ec2types.InstanceStateNamePending {
		t.Fatalf("RunInstances answer: %+v", run.Instances)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("describe instance: %v", err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances: %+v", out.Reservations)
	}
	return out.Reservations[0].Instances[0]
}

func sharePolicy(ownerAccount, keyAccount string, targets ...string) string {
	p := `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + keyAccount + `:root"},"Action":"kms:*","Resource":"*"}`
	for _, a := range targets {
		p += `,{"Sid":"Use ` + a + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + a + `:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}` +
			`,{"Sid":"Grant ` + a + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + a + `:root"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`
	}
	return p + `]}`
}

// A launch from a shared AMI whose snapshot key the launching account cannot use does not fail
// the RunInstances call: the instance is terminated with Client.InternalError "Client error on
// launch" (EC2 User Guide, "Instance terminates immediately"). Once the key policy allows the
// account kms:Decrypt and kms:CreateGrant (KMS Developer Guide, "Allowing users in other
// accounts to use a KMS key"), the launch succeeds. The key's own account can always launch.
func TestRunInstancesNeedsKeyAccess(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t, owner, region)
	imageID, _ := registerEncryptedImage(t, owner, region, key)
	if !env.Filler.ShareImage(imageID, target) {
		t.Fatal("share failed")
	}
	tc := ec2For(t, target, region)

	if in := runAndDescribe(t, ec2For(t, owner, region), imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("owner launch: state %s", in.State.Name)
	}
	in := runAndDescribe(t, tc, imageID)
	if in.State.Name != ec2types.InstanceStateNameTerminated || in.StateReason == nil ||
		aws.ToString(in.StateReason.Code) != "Client.InternalError" || aws.ToString(in.StateReason.Message) != "Client.InternalError: Client error on launch" {
		t.Fatalf("target launch before key share: state %s reason %+v", in.State.Name, in.StateReason)
	}
	if info, ok := env.Filler.Instance(aws.ToString(in.InstanceId)); !ok || info.KeyProblem == "" {
		t.Errorf("Instance info: %+v", info)
	}

	// Only kms:Decrypt, no kms:CreateGrant: still fails.
	kc := kmsFor(t, owner, region)
	decryptOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + owner + `:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"` + target + `"},"Action":"kms:Decrypt","Resource":"*"}]}`
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(decryptOnly)}); err != nil {
		t.Fatal(err)
	}
	if in := runAndDescribe(t, tc, imageID); in.State.Name != ec2types.InstanceStateNameTerminated {
		t.Errorf("target launch with Decrypt only: state %s", in.State.Name)
	}

	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(sharePolicy(owner, owner, target))}); err != nil {
		t.Fatal(err)
	}
	if in := runAndDescribe(t, tc, imageID); in.State.Name != ec2types.InstanceStateNameRunning || in.StateReason != nil {
		t.Errorf("target launch after key share: state %s reason %+v", in.State.Name, in.StateReason)
	}

	// Listing without IDs merges the filler's instances with moto's.
	all, err := tc.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("image-id"), Values: []string{imageID}}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range all.Reservations {
		n += len(r.Instances)
	}
	if n != 3 {
		t.Errorf("DescribeInstances(image-id filter) = %d instances, want 3", n)
	}
}

// The AWS managed key aws/ebs cannot be used from another account (KMS Developer Guide, "AWS
// managed keys": their policies allow use only by the owning account via the service), and its
// snapshots cannot be shared (EC2 ModifySnapshotAttribute).
func TestAWSManagedKeyNeverShared(t *testing.T) {
	ctx := testCtx(t)
	imageID := env.Filler.CreateImage(owner, region, "aws-ebs-"+t.Name(), []localaws.SnapshotSpec{{Encrypted: true}})
	info, ok := env.Filler.Image(imageID)
	if !ok || len(info.Devices) != 1 || !info.Devices[0].Encrypted {
		t.Fatalf("seeded image: %+v", info)
	}
	md, err := kmsFor(t, owner, region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
	if err != nil {
		t.Fatal(err)
	}
	if info.Devices[0].KmsKeyID != aws.ToString(md.KeyMetadata.Arn) {
		t.Errorf("default key = %s, want aws/ebs %s", info.Devices[0].KmsKeyID, aws.ToString(md.KeyMetadata.Arn))
	}
	// moto reports aws/ebs as CUSTOMER; the filler corrects DescribeKey (KMS API Reference,
	// KeyMetadata.KeyManager: AWS for AWS managed keys), and only for such keys.
	if md.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws {
		t.Errorf("aws/ebs KeyManager = %s, want AWS", md.KeyMetadata.KeyManager)
	}
	cmk, err := kmsFor(t, owner, region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(newKey(t, owner, region))})
	if err != nil || cmk.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeCustomer {
		t.Errorf("customer key KeyManager = %v (%v), want CUSTOMER", cmk, err)
	}
	// Even a policy that names the target does not help: the key is AWS managed.
	_, _ = kmsFor(t, owner, region).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyMetadata.KeyId, PolicyName: aws.String("default"), Policy: aws.String(sharePolicy(owner, owner, target))})
	env.Filler.ShareImage(imageID, target)
	if in := runAndDescribe(t, ec2For(t, target, region), imageID); in.State.Name != ec2types.InstanceStateNameTerminated {
		t.Errorf("launch from aws/ebs image in another account: state %s", in.State.Name)
	}
	_, err = ec2For(t, owner, region).ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
		SnapshotId: aws.String(info.Devices[0].SnapshotID), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(target)}}},
	})
	if apiCode(err) != "InvalidParameter" {
		t.Errorf("share aws/ebs snapshot: err %v, want InvalidParameter", err)
	}
}

// A snapshot made in moto keeps its key when copied with KmsKeyId (EC2 API Reference,
// CopySnapshot); registering an AMI on it through the filler carries the encryption into
// DescribeImages/DescribeSnapshots, which moto alone would not.
func TestRegisterImageOnMotoSnapshot(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t, owner, region)
	c := ec2For(t, owner, region)
	vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(region + "a"), Size: aws.Int32(12)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String(region), Encrypted: aws.Bool(true), KmsKeyId: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("on-moto-snapshot"), BlockDeviceMappings: []ec2types.BlockDeviceMapping{
		{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{SnapshotId: cp.SnapshotId}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	im := describeImage(t, c, aws.ToString(out.ImageId))
	if ebs := im.BlockDeviceMappings[0].Ebs; !aws.ToBool(ebs.Encrypted) || aws.ToString(ebs.SnapshotId) != aws.ToString(cp.SnapshotId) || aws.ToInt32(ebs.VolumeSize) != 12 {
		t.Errorf("ebs = %+v", ebs)
	}
	if info, _ := env.Filler.Snapshot(aws.ToString(cp.SnapshotId)); info.KmsKeyID != key {
		t.Errorf("imported snapshot key %q, want %s", info.KmsKeyID, key)
	}
	if _, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("x"), BlockDeviceMappings: []ec2types.BlockDeviceMapping{
		{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef0")}},
	}}); apiCode(err) != "InvalidSnapshot.NotFound" {
		t.Errorf("register on unknown snapshot: err %v, want InvalidSnapshot.NotFound", err)
	}
}

// Reset empties moto and the filler; static access-key mappings are configuration and stay.
func TestReset(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t, owner, region)
	imageID, snapID := registerEncryptedImage(t, owner, region, key)
	if err := env.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := env.Filler.Image(imageID); ok {
		t.Error("image survived Reset")
	}
	if _, ok := env.Filler.Snapshot(snapID); ok {
		t.Error("snapshot survived Reset")
	}
	if _, err := kmsFor(t, owner, region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)}); apiCode(err) != "NotFoundException" {
		t.Errorf("key after Reset: err %v, want NotFoundException", err)
	}
	if acct, ok := env.Filler.AccountOf(localaws.AccessKeyFor(owner)); !ok || acct != owner {
		t.Errorf("static mapping lost: %s %v", acct, ok)
	}
}

func TestStartWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	e, err := localaws.Start(testCtx(t))
	if err == nil {
		_ = e.Close()
		t.Fatal("Start succeeded without moto_server on PATH")
	}
	if want := "moto_server not found: pip install 'moto[server]'"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// With RequireLauncherIAM, a cross-account launch also needs the launching role's own IAM
// policy to allow the key (KMS Developer Guide, "Allowing users in other accounts to use a KMS
// key": step 2, IAM policies in the external account), inline or attached.
func TestLauncherIAMRequired(t *testing.T) {
	env.Filler.RequireLauncherIAM(true)
	defer env.Filler.RequireLauncherIAM(false)
	ctx := testCtx(t)
	key := newKey(t, owner, region)
	if _, err := kmsFor(t, owner, region).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(sharePolicy(owner, owner, target))}); err != nil {
		t.Fatal(err)
	}
	imageID, _ := registerEncryptedImage(t, owner, region, key)
	env.Filler.ShareImage(imageID, target)

	roleName := "launcher-" + t.Name()
	ic := iam.NewFromConfig(cfgFor(t, target, region))
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(roleName), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	akid := "ASIA" + target + "IAMT"
	env.Filler.MapAccessKeyPrincipal(akid, aws.ToString(role.Role.Arn))
	launcherCfg, err := env.Config(ctx, target, region, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, "s", "")))
	if err != nil {
		t.Fatal(err)
	}
	lc := ec2.NewFromConfig(launcherCfg)

	in := runAndDescribe(t, lc, imageID)
	if info, _ := env.Filler.Instance(aws.ToString(in.InstanceId)); in.State.Name != ec2types.InstanceStateNameTerminated || !strings.Contains(info.KeyProblem, "no IAM policy allows") {
		t.Fatalf("launch without an IAM allow: %s (%s)", in.State.Name, info.KeyProblem)
	}
	usage := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"` + key + `"}]}`
	pol, err := ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("usage-" + t.Name()), PolicyDocument: aws.String(usage)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(roleName), PolicyArn: pol.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	if in := runAndDescribe(t, lc, imageID); in.State.Name != ec2types.InstanceStateNameRunning {
		info, _ := env.Filler.Instance(aws.ToString(in.InstanceId))
		t.Fatalf("launch with an attached IAM allow: %s (%s)", in.State.Name, info.KeyProblem)
	}
	deny := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:CreateGrant","Resource":"*"}}`
	if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String("deny"), PolicyDocument: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	if in := runAndDescribe(t, lc, imageID); in.State.Name != ec2types.InstanceStateNameTerminated {
		t.Errorf("launch with an inline IAM Deny: %s", in.State.Name)
	}
}
