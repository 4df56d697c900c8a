package remediate

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// image is what the remediator needs to know about an AMI.
type image struct {
	ID, Region, Owner, Name, State string
	Public                         bool
	Snapshots                      []snapshot
	// SourceImageID and SourceRegion: what a CopyImage made this image from (EC2 reports them
	// for copies only).
	SourceImageID, SourceRegion string
}

type snapshot struct {
	ID        string
	Device    string // the image's device name for it
	Encrypted bool
	KMSKeyID  string // ARN as DescribeSnapshots reports it
}

// key is a KMS key with its policy, read once per invocation.
type key struct {
	ARN, Account, Region string
	Manager              kmstypes.KeyManagerType
	State                kmstypes.KeyState
	MultiRegion          bool
	Policy               []byte
	Doc                  *policy.Document
	Err                  error // not found, not readable, or a policy that does not parse
	// Problem is the finding a key that could not be used for a decision gets (with Err):
	// report.KeyNotFound, report.KeyUnreadable or report.KeyPolicyInvalid.
	Problem report.Code
}

// inventory caches everything read from AWS during one invocation, so a batch of records about
// the same image or key reads it once.
type inventory struct {
	clients awsapi.Factory

	mu     sync.Mutex
	images map[string]*cached[*image] // account/region/imageID
	// describedImages: DescribeImages answers, account/region/imageID.
	describedImages map[string]*cached[ec2types.Image]
	snapshots       map[string]*cached[[]snapshot]    // owner/region/imageID: the same for every viewer
	shares          map[string]*cached[[]share]       // owner/region/imageID
	keys            map[string]*cached[*key]          // key ARN (or account/region/id for unresolved ids)
	instances       map[string]*cached[instance]      // account/region/instanceID
	membership      map[string]*cached[bool]          // account -> member of the trusted org
	orgs            map[string]*cached[*evaluate.Org] // account -> its organization, when known
	launch          launchReads                       // launch templates, groups, default keys, grants
}

type cached[T any] struct {
	once sync.Once
	val  T
	err  error
}

func newInventory(c awsapi.Factory) *inventory {
	return &inventory{
		clients:         c,
		images:          map[string]*cached[*image]{},
		describedImages: map[string]*cached[ec2types.Image]{},
		snapshots:       map[string]*cached[[]snapshot]{},
		shares:          map[string]*cached[[]share]{},
		keys:            map[string]*cached[*key]{},
		instances:       map[string]*cached[instance]{},
		membership:      map[string]*cached[bool]{},
		orgs:            map[string]*cached[*evaluate.Org]{},
		launch:          newLaunchReads(),
	}
}

// load runs fill once per cache key, even when records race for it.
func load[T any](inv *inventory, m map[string]*cached[T], k string, fill func() (T, error)) (T, error) {
	inv.mu.Lock()
	c, ok := m[k]
	if !ok {
		c = &cached[T]{}
		m[k] = c
	}
	inv.mu.Unlock()
	c.once.Do(func() { c.val, c.err = fill() })
	return c.val, c.err
}

// described is DescribeImages of imageID as seen from account, once per invocation.
func (inv *inventory) described(ctx context.Context, account, region, imageID string) (ec2types.Image, error) {
	return load(inv, inv.describedImages, account+"/"+region+"/"+imageID, func() (ec2types.Image, error) {
		cl, err := inv.clients.EC2(ctx, account, region)
		if err != nil {
			return ec2types.Image{}, err
		}
		out, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{imageID}})
		if err != nil {
			return ec2types.Image{}, fmt.Errorf("describe image %s in %s/%s: %w", imageID, account, region, err)
		}
		if len(out.Images) == 0 {
			return ec2types.Image{}, fmt.Errorf("describe image %s in %s/%s: %w", imageID, account, region, errImageNotFound)
		}
		return out.Images[0], nil
	})
}

// image describes imageID as seen from account (the owner, or an account it is shared with), then
// reads its snapshots as the owner: DescribeImages does not report KMS keys.
func (inv *inventory) image(ctx context.Context, account, region, imageID string) (*image, error) {
	return load(inv, inv.images, account+"/"+region+"/"+imageID, func() (*image, error) {
		im, err := inv.described(ctx, account, region, imageID)
		if err != nil {
			return nil, err
		}
		img, ids, encrypted := imageOf(im, region)
		img.ID = imageID
		if len(ids) == 0 {
			return img, nil
		}
		if !awsid.IsAccountID(img.Owner) {
			return nil, fmt.Errorf("image %s: owner %q is not an account ID", imageID, img.Owner)
		}
		snaps, err := inv.snapshotsOf(ctx, img.Owner, region, imageID, ids, encrypted)
		if err != nil {
			return nil, err
		}
		img.Snapshots = withDevices(img.Snapshots, snaps)
		return img, nil
	})
}

// snapshotsOf reads an image's snapshots as its owner, once per invocation whoever views the
// image: a batch with a share (viewed by the owner) and a failed launch (viewed by the target)
// of one image would otherwise make two identical DescribeSnapshots calls.
func (inv *inventory) snapshotsOf(ctx context.Context, owner, region, imageID string, ids []string, encrypted map[string]bool) ([]snapshot, error) {
	return load(inv, inv.snapshots, owner+"/"+region+"/"+imageID, func() ([]snapshot, error) {
		cl, err := inv.clients.EC2(ctx, owner, region)
		if err != nil {
			return nil, err
		}
		out, err := cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids, OwnerIds: []string{owner}})
		if err != nil {
			return nil, fmt.Errorf("describe snapshots of %s in %s/%s: %w", imageID, owner, region, err)
		}
		byID := map[string]ec2types.Snapshot{}
		for _, s := range out.Snapshots {
			byID[aws.ToString(s.SnapshotId)] = s
		}
		snaps := make([]snapshot, 0, len(ids))
		for _, id := range ids {
			s, ok := byID[id]
			sn := snapshot{ID: id, Encrypted: encrypted[id]}
			if ok {
				sn.Encrypted = aws.ToBool(s.Encrypted)
				sn.KMSKeyID = aws.ToString(s.KmsKeyId)
			}
			snaps = append(snaps, sn)
		}
		return snaps, nil
	})
}

var errImageNotFound = fmt.Errorf("image not found")

// share is one launch permission of an image.
type share struct {
	UserID, Group, OrgARN, OUARN string
}

// launchPermissions lists who an image is shared with (read as its owner).
func (inv *inventory) launchPermissions(ctx context.Context, owner, region, imageID string) ([]share, error) {
	return load(inv, inv.shares, owner+"/"+region+"/"+imageID, func() ([]share, error) {
		cl, err := inv.clients.EC2(ctx, owner, region)
		if err != nil {
			return nil, err
		}
		out, err := cl.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{
			ImageId: aws.String(imageID), Attribute: ec2types.ImageAttributeNameLaunchPermission,
		})
		if err != nil {
			return nil, fmt.Errorf("describe launch permissions of %s in %s/%s: %w", imageID, owner, region, err)
		}
		var shares []share
		for _, p := range out.LaunchPermissions {
			shares = append(shares, share{UserID: aws.ToString(p.UserId), Group: string(p.Group),
				OrgARN: aws.ToString(p.OrganizationArn), OUARN: aws.ToString(p.OrganizationalUnitArn)})
		}
		return shares, nil
	})
}

// key reads a key's metadata and policy in its own account and region. keyID may be an ARN, an
// alias ARN, a key ID or an alias name (the latter two in defaultAccount/defaultRegion).
func (inv *inventory) key(ctx context.Context, keyID, defaultAccount, defaultRegion string) (*key, error) {
	account, region := defaultAccount, defaultRegion
	if a, ok := awsid.ParseARN(keyID); ok {
		account, region = a.Account, a.Region
	}
	return load(inv, inv.keys, account+"/"+region+"/"+keyID, func() (*key, error) {
		k := &key{Account: account, Region: region, ARN: keyID}
		cl, err := inv.clients.KMS(ctx, account, region)
		if err != nil {
			return nil, err
		}
		desc, err := cl.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		if err != nil {
			if awsapi.Transient(err) {
				return nil, fmt.Errorf("describe key %s: %w", keyID, err)
			}
			return k.unusable(unreadableOrMissing(err), fmt.Errorf("describe key %s: %w", keyID, err)), nil
		}
		md := desc.KeyMetadata
		if md == nil || aws.ToString(md.Arn) == "" {
			// Not something KMS does; without this a malformed answer was a nil dereference.
			return k.unusable(report.KeyUnreadable, fmt.Errorf("describe key %s: the answer has no key metadata", keyID)), nil
		}
		k.ARN = aws.ToString(md.Arn)
		k.Manager, k.State, k.MultiRegion = md.KeyManager, md.KeyState, aws.ToBool(md.MultiRegion)
		if k.Manager == kmstypes.KeyManagerTypeAws {
			return k, nil // AWS managed key policies cannot be edited; no need to read it
		}
		pol, err := cl.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(k.ARN), PolicyName: aws.String("default")})
		if err != nil {
			if awsapi.Transient(err) {
				return nil, fmt.Errorf("get key policy %s: %w", k.ARN, err)
			}
			return k.unusable(unreadableOrMissing(err), fmt.Errorf("get key policy %s: %w", k.ARN, err)), nil
		}
		k.Policy = []byte(aws.ToString(pol.Policy))
		doc, err := policy.Parse(k.Policy)
		if err != nil {
			return k.unusable(report.KeyPolicyInvalid, fmt.Errorf("parse key policy %s: %w", k.ARN, err)), nil
		}
		k.Doc = doc
		return k, nil
	})
}

// unusable marks a key the remediator cannot decide anything about, and why.
func (k *key) unusable(problem report.Code, err error) *key {
	k.Problem, k.Err = problem, err
	return k
}

// unreadableOrMissing tells a key that does not exist from one the remediator may not read
// (access denied, a member role without the KMS read permissions, a key in a region the caller
// cannot reach): only the first is key-not-found.
func unreadableOrMissing(err error) report.Code {
	if awsapi.IsNotFound(err) {
		return report.KeyNotFound
	}
	return report.KeyUnreadable
}

// instance is the part of DescribeInstances the remediator reads.
type instance struct {
	ImageID, StateReasonCode, StateReasonMessage string
	LaunchTemplateID, LaunchTemplateVersion      string
}

func (inv *inventory) instance(ctx context.Context, account, region, instanceID string) (instance, error) {
	return load(inv, inv.instances, account+"/"+region+"/"+instanceID, func() (instance, error) {
		cl, err := inv.clients.EC2(ctx, account, region)
		if err != nil {
			return instance{}, err
		}
		out, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
		if err != nil {
			return instance{}, fmt.Errorf("describe instance %s in %s/%s: %w", instanceID, account, region, err)
		}
		if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
			return instance{}, fmt.Errorf("describe instance %s in %s/%s: not found", instanceID, account, region)
		}
		i := out.Reservations[0].Instances[0]
		in := instance{ImageID: aws.ToString(i.ImageId)}
		if i.StateReason != nil {
			in.StateReasonCode, in.StateReasonMessage = aws.ToString(i.StateReason.Code), aws.ToString(i.StateReason.Message)
		}
		// EC2 tags an instance launched from a template with the template's ID and version (the
		// aws: prefix is reserved to AWS).
		// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-launch-templates.html
		for _, t := range i.Tags {
			switch aws.ToString(t.Key) {
			case "aws:ec2launchtemplate:id":
				in.LaunchTemplateID = aws.ToString(t.Value)
			case "aws:ec2launchtemplate:version":
				in.LaunchTemplateVersion = aws.ToString(t.Value)
			}
		}
		return in, nil
	})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
