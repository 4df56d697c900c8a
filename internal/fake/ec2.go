package fake

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// Image is an AMI.
type Image struct {
	ID, Owner, Region, Name string
	State                   string // "available" unless set
	Public                  bool
	Snapshots               []string // snapshot IDs, one block device each
	SharedWith              []string // account IDs with a launch permission
}

// Snapshot is an EBS snapshot.
type Snapshot struct {
	ID, Owner, Region string
	Encrypted         bool
	KMSKeyID          string // key ARN
}

// Instance is an EC2 instance, as DescribeInstances reports a terminated one.
type Instance struct {
	ID, Account, Region, ImageID string
	StateReasonCode              string
	StateReasonMessage           string
	// LaunchTemplateID and LaunchTemplateVersion: the template it was launched from, which EC2
	// reports as the tags aws:ec2launchtemplate:id and aws:ec2launchtemplate:version.
	LaunchTemplateID, LaunchTemplateVersion string
}

// AddImage registers an image of owner in region with one snapshot per key (encrypted with it;
// "" for an unencrypted one) and returns its ID.
func (a *AWS) AddImage(owner, region string, keys ...string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	img := &Image{ID: a.next("ami-", 17), Owner: owner, Region: region, Name: "image", State: "available"}
	for _, k := range keys {
		s := &Snapshot{ID: a.next("snap-", 17), Owner: owner, Region: region, Encrypted: k != "", KMSKeyID: k}
		a.snapshots[s.ID] = s
		img.Snapshots = append(img.Snapshots, s.ID)
	}
	a.images[img.ID] = img
	return img.ID
}

// Image calls f with the stored image (to change its state, name, ...).
func (a *AWS) Image(id string, f func(*Image)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if img := a.images[id]; img != nil {
		f(img)
	}
}

// Share adds launch permissions of an image for accounts.
func (a *AWS) Share(imageID string, accounts ...string) {
	a.Image(imageID, func(img *Image) {
		for _, acct := range accounts {
			if !slices.Contains(img.SharedWith, acct) {
				img.SharedWith = append(img.SharedWith, acct)
			}
		}
	})
}

// AddInstance registers an instance (terminated with the given state reason).
func (a *AWS) AddInstance(in Instance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := in
	a.instances[in.ID] = &c
}

// AddLaunchTemplate registers a launch template (by ID or name) whose default version launches
// imageID.
func (a *AWS) AddLaunchTemplate(account, region, idOrName, imageID string) {
	a.AddLaunchTemplateVersion(account, region, idOrName, Template{ImageID: imageID})
}

// Template is a launch template version: its image ID (an AMI ID, or "resolve:ssm:NAME" with
// the parameter's current value in Resolved) and block device mappings.
type Template struct {
	ImageID, Resolved string
	Mappings          []ec2types.LaunchTemplateBlockDeviceMapping
}

// AddLaunchTemplateVersion registers a launch template (by ID or name) whose every version is t.
func (a *AWS) AddLaunchTemplateVersion(account, region, idOrName string, t Template) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.templates[account+"/"+region+"/"+idOrName] = t
}

// SetEBSDefaults sets account's default EBS key in region (GetEbsDefaultKmsKeyId; "" for the
// alias aws/ebs) and whether encryption by default is on.
func (a *AWS) SetEBSDefaults(account, region, keyARN string, byDefault bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ebsDefaults[account+"/"+region] = ebsDefaults{key: keyARN, byDefault: byDefault}
}

type ebsDefaults struct {
	key       string
	byDefault bool
}

// GetEbsDefaultKmsKeyId answers the key SetEBSDefaults set, else the alias aws/ebs's ARN.
func (e *EC2) GetEbsDefaultKmsKeyId(ctx context.Context, in *ec2.GetEbsDefaultKmsKeyIdInput, _ ...func(*ec2.Options)) (*ec2.GetEbsDefaultKmsKeyIdOutput, error) {
	return answer(e.aws, "EC2:GetEbsDefaultKmsKeyId", e.Account, e.Region, in, func() (*ec2.GetEbsDefaultKmsKeyIdOutput, error) {
		key := e.aws.ebsDefaults[e.Account+"/"+e.Region].key
		if key == "" {
			key = "arn:aws:kms:" + e.Region + ":" + e.Account + ":alias/aws/ebs"
		}
		return &ec2.GetEbsDefaultKmsKeyIdOutput{KmsKeyId: aws.String(key)}, nil
	})
}

// GetEbsEncryptionByDefault answers what SetEBSDefaults set (off by default).
func (e *EC2) GetEbsEncryptionByDefault(ctx context.Context, in *ec2.GetEbsEncryptionByDefaultInput, _ ...func(*ec2.Options)) (*ec2.GetEbsEncryptionByDefaultOutput, error) {
	return answer(e.aws, "EC2:GetEbsEncryptionByDefault", e.Account, e.Region, in, func() (*ec2.GetEbsEncryptionByDefaultOutput, error) {
		return &ec2.GetEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(e.aws.ebsDefaults[e.Account+"/"+e.Region].byDefault)}, nil
	})
}

// EC2 is the fake EC2 of one account and region.
type EC2 struct {
	awsapi.EC2
	aws             *AWS
	Account, Region string
}

func (e *EC2) visible(img *Image) bool {
	return img.Region == e.Region && (img.Owner == e.Account || img.Public || slices.Contains(img.SharedWith, e.Account))
}

// DescribeImages answers for the images the caller may see; an ID it may not see is
// InvalidAMIID.NotFound, as EC2 answers for a requested ID.
func (e *EC2) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	const op = "EC2:DescribeImages"
	return answer(e.aws, op, e.Account, e.Region, in, func() (*ec2.DescribeImagesOutput, error) {
		if len(in.ImageIds) == 0 {
			return e.listImages(in), nil
		}
		out := &ec2.DescribeImagesOutput{}
		for _, id := range in.ImageIds {
			img := e.aws.images[id]
			if img == nil || !e.visible(img) {
				return nil, apiError(op, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
			}
			out.Images = append(out.Images, e.imageOf(img))
		}
		return out, nil
	})
}

// imageOf is img as DescribeImages reports it.
func (e *EC2) imageOf(img *Image) ec2types.Image {
	im := ec2types.Image{ImageId: aws.String(img.ID), OwnerId: aws.String(img.Owner), Name: aws.String(img.Name),
		State: ec2types.ImageState(img.State), Public: aws.Bool(img.Public)}
	for i, sid := range img.Snapshots {
		s := e.aws.snapshots[sid]
		im.BlockDeviceMappings = append(im.BlockDeviceMappings, ec2types.BlockDeviceMapping{DeviceName: aws.String(deviceName(i)),
			Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String(sid), Encrypted: aws.Bool(s != nil && s.Encrypted)}})
	}
	return im
}

func deviceName(i int) string { return "/dev/xvd" + string(rune('a'+i%26)) }

// DescribeSnapshots answers for the caller's own snapshots (EC2 reports the KMS key to the owner).
func (e *EC2) DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	const op = "EC2:DescribeSnapshots"
	return answer(e.aws, op, e.Account, e.Region, in, func() (*ec2.DescribeSnapshotsOutput, error) {
		out := &ec2.DescribeSnapshotsOutput{}
		for _, id := range in.SnapshotIds {
			s := e.aws.snapshots[id]
			if s == nil || s.Owner != e.Account || s.Region != e.Region || (len(in.OwnerIds) > 0 && !slices.Contains(in.OwnerIds, s.Owner)) {
				return nil, apiError(op, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
			}
			out.Snapshots = append(out.Snapshots, ec2types.Snapshot{SnapshotId: aws.String(s.ID), OwnerId: aws.String(s.Owner),
				Encrypted: aws.Bool(s.Encrypted), KmsKeyId: optional(s.KMSKeyID), State: ec2types.SnapshotStateCompleted})
		}
		return out, nil
	})
}

// DescribeImageAttribute answers launchPermission to the image's owner; anyone else who can see
// the image gets AuthFailure, as from EC2.
func (e *EC2) DescribeImageAttribute(ctx context.Context, in *ec2.DescribeImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.DescribeImageAttributeOutput, error) {
	const op = "EC2:DescribeImageAttribute"
	return answer(e.aws, op, e.Account, e.Region, in, func() (*ec2.DescribeImageAttributeOutput, error) {
		id := aws.ToString(in.ImageId)
		img := e.aws.images[id]
		switch {
		case img == nil || !e.visible(img):
			return nil, apiError(op, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		case img.Owner != e.Account:
			return nil, apiError(op, "AuthFailure", "Not authorized for image:%s", id)
		case in.Attribute != ec2types.ImageAttributeNameLaunchPermission:
			return nil, apiError(op, "InvalidParameterValue", "the fake answers launchPermission only, not %q", in.Attribute)
		}
		out := &ec2.DescribeImageAttributeOutput{ImageId: aws.String(id)}
		for _, acct := range img.SharedWith {
			out.LaunchPermissions = append(out.LaunchPermissions, ec2types.LaunchPermission{UserId: aws.String(acct)})
		}
		if img.Public {
			out.LaunchPermissions = append(out.LaunchPermissions, ec2types.LaunchPermission{Group: ec2types.PermissionGroupAll})
		}
		return out, nil
	})
}

// DescribeInstances answers for the caller's instances.
func (e *EC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	const op = "EC2:DescribeInstances"
	return answer(e.aws, op, e.Account, e.Region, in, func() (*ec2.DescribeInstancesOutput, error) {
		out := &ec2.DescribeInstancesOutput{}
		var res ec2types.Reservation
		for _, id := range in.InstanceIds {
			i := e.aws.instances[id]
			if i == nil || i.Account != e.Account || i.Region != e.Region {
				return nil, apiError(op, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
			inst := ec2types.Instance{InstanceId: aws.String(i.ID), ImageId: aws.String(i.ImageID),
				State:       &ec2types.InstanceState{Name: ec2types.InstanceStateNameTerminated, Code: aws.Int32(48)},
				StateReason: &ec2types.StateReason{Code: aws.String(i.StateReasonCode), Message: aws.String(i.StateReasonMessage)}}
			if i.LaunchTemplateID != "" {
				inst.Tags = []ec2types.Tag{{Key: aws.String("aws:ec2launchtemplate:id"), Value: aws.String(i.LaunchTemplateID)},
					{Key: aws.String("aws:ec2launchtemplate:version"), Value: aws.String(i.LaunchTemplateVersion)}}
			}
			res.Instances = append(res.Instances, inst)
		}
		if len(res.Instances) > 0 {
			out.Reservations = []ec2types.Reservation{res}
		}
		return out, nil
	})
}

// DescribeLaunchTemplateVersions answers the default version of a registered launch template.
func (e *EC2) DescribeLaunchTemplateVersions(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	const op = "EC2:DescribeLaunchTemplateVersions"
	return answer(e.aws, op, e.Account, e.Region, in, func() (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
		name := aws.ToString(in.LaunchTemplateId)
		if name == "" {
			name = aws.ToString(in.LaunchTemplateName)
		}
		t, ok := e.aws.templates[e.Account+"/"+e.Region+"/"+name]
		if !ok {
			return nil, apiError(op, "InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", name)
		}
		img := t.ImageID
		if aws.ToBool(in.ResolveAlias) && t.Resolved != "" {
			img = t.Resolved
		}
		v := ec2types.LaunchTemplateVersion{LaunchTemplateName: aws.String(name), DefaultVersion: aws.Bool(true), VersionNumber: aws.Int64(1),
			LaunchTemplateData: &ec2types.ResponseLaunchTemplateData{ImageId: aws.String(img)}}
		if strings.HasPrefix(name, "lt-") {
			v.LaunchTemplateId = aws.String(name)
		}
		for _, m := range t.Mappings {
			rm := ec2types.LaunchTemplateBlockDeviceMapping{DeviceName: m.DeviceName}
			if m.Ebs != nil {
				e := *m.Ebs
				rm.Ebs = &e
			}
			v.LaunchTemplateData.BlockDeviceMappings = append(v.LaunchTemplateData.BlockDeviceMappings, rm)
		}
		return &ec2.DescribeLaunchTemplateVersionsOutput{LaunchTemplateVersions: []ec2types.LaunchTemplateVersion{v}}, nil
	})
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
