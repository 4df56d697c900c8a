// Package scenario builds the situations the remediator is tested and demonstrated on, in a local
// AWS (internal/localaws), with the SDK's real calls: customer managed keys, encrypted AMIs, shares,
// member roles, the alert topic with an SQS subscription to read alerts back.
package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
)

// The accounts every scenario uses.
const (
	Owner     = "111122223333" // owns keys and images; the remediator runs here
	Target    = "444455556666" // the image is shared with it / launches fail there
	Untrusted = "999988887777" // never trusted
	Region    = "us-east-1"
	// CentralAccessKey is the remediator's access key; the local AWS maps it to Owner.
	CentralAccessKey = "AKIAAMIKMSCENTRAL001"
	MemberRoleName   = "ami-kms-remediator-member"
)

// World is a local AWS seen from each account.
type World struct {
	Endpoint string
	// Central is the configuration the remediator runs with (credentials of Owner).
	Central aws.Config
}

// New returns a World over endpoint. The caller must map CentralAccessKey to Owner in the filler
// (localaws.Filler.MapAccessKey) before the remediator runs.
func New(endpoint string) *World {
	return &World{Endpoint: endpoint, Central: Config(endpoint, "", 2)}
}

// Config is an SDK configuration for the local AWS. account "" means the central credentials
// (mapped to Owner); otherwise requests carry moto's x-moto-account-id header.
func Config(endpoint, account string, attempts int) aws.Config {
	cfg := aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(CentralAccessKey, "local-secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts; o.MaxBackoff = 200 * time.Millisecond })
		},
	}
	if account != "" {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIA"+account+"XXXX", "local-secret", "")
		cfg.APIOptions = append(cfg.APIOptions, smithyhttp.AddHeaderValue("x-moto-account-id", account))
	}
	return cfg
}

func (w *World) cfg(account, region string) aws.Config {
	c := Config(w.Endpoint, account, 2)
	if region != "" {
		c.Region = region
	}
	return c
}

// EC2 returns an EC2 client acting as account in region.
func (w *World) EC2(account, region string) *ec2.Client {
	return ec2.NewFromConfig(w.cfg(account, region))
}

// KMS returns a KMS client acting as account in region.
func (w *World) KMS(account, region string) *kms.Client {
	return kms.NewFromConfig(w.cfg(account, region))
}

// IAM returns an IAM client acting as account.
func (w *World) IAM(account string) *iam.Client { return iam.NewFromConfig(w.cfg(account, "")) }

// DefaultKeyPolicy is the policy the KMS console writes for a key with an administrator role and
// a user role in the owner account (AWS's default form, with its usual Sids).
func DefaultKeyPolicy(owner string) string {
	return fmt.Sprintf(`{
    "Version": "2012-10-17",
    "Id": "key-consolepolicy-3",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::%[1]s:root"
            },
            "Action": "kms:*",
            "Resource": "*"
        },
        {
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::%[1]s:role/KeyAdmin"
            },
            "Action": [
                "kms:Create*",
                "kms:Describe*",
                "kms:Enable*",
                "kms:List*",
                "kms:Put*",
                "kms:Update*",
                "kms:Revoke*",
                "kms:Disable*",
                "kms:Get*",
                "kms:Delete*",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion"
            ],
            "Resource": "*"
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::%[1]s:role/ImageBuilder"
            },
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey"
            ],
            "Resource": "*"
        },
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {
                "AWS": "arn:aws:iam::%[1]s:role/ImageBuilder"
            },
            "Action": [
                "kms:CreateGrant",
                "kms:ListGrants",
                "kms:RevokeGrant"
            ],
            "Resource": "*",
            "Condition": {
                "Bool": {
                    "kms:GrantIsForAWSResource": "true"
                }
            }
        }
    ]
}`, owner)
}

// CreateKey creates a customer managed key in account/region with policy, opted in to the
// remediator's default write scope (tagged config.OptInTagKey=config.OptInTagValue, as an
// operator tags the keys it may fix), and returns its ARN.
func (w *World) CreateKey(ctx context.Context, account, region, policy string) (string, error) {
	return w.createKey(ctx, account, region, policy, []kmstypes.Tag{{TagKey: aws.String(config.OptInTagKey), TagValue: aws.String(config.OptInTagValue)}})
}

// CreateUntaggedKey is CreateKey for a key that has not opted in (no tags).
func (w *World) CreateUntaggedKey(ctx context.Context, account, region, policy string) (string, error) {
	return w.createKey(ctx, account, region, policy, nil)
}

func (w *World) createKey(ctx context.Context, account, region, policy string, tags []kmstypes.Tag) (string, error) {
	out, err := w.KMS(account, region).CreateKey(ctx, &kms.CreateKeyInput{
		Policy: aws.String(policy), Description: aws.String("ami-kms-remediator scenario key"), Tags: tags,
	})
	if err != nil {
		return "", fmt.Errorf("create key in %s/%s: %w", account, region, err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// StackKey creates CloudFormation stack name in account/region holding one AWS::KMS::Key
// (logical ID ImageKey) with policy, opted in to the default write scope, and returns the key's
// ARN. moto keeps a stack key's KeyPolicy as the template's object (its DescribeKey then fails),
// so the policy is put back as the document CloudFormation would have put, and the opt-in tag is
// set with TagResource (internal/localaws).
func (w *World) StackKey(ctx context.Context, account, region, name, policy string) (string, error) {
	var doc any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return "", fmt.Errorf("stack key policy: %w", err)
	}
	tpl, err := json.Marshal(map[string]any{"Resources": map[string]any{"ImageKey": map[string]any{
		"Type": "AWS::KMS::Key", "Properties": map[string]any{"Description": "ami-kms-remediator scenario stack key", "KeyPolicy": doc}}}})
	if err != nil {
		return "", err
	}
	cfn := cloudformation.NewFromConfig(w.cfg(account, region))
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(tpl))}); err != nil {
		return "", fmt.Errorf("create stack %s: %w", name, err)
	}
	res, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(name), LogicalResourceId: aws.String("ImageKey")})
	if err != nil || len(res.StackResources) != 1 {
		return "", fmt.Errorf("the key of stack %s: %v", name, err)
	}
	id := aws.ToString(res.StackResources[0].PhysicalResourceId)
	cl := w.KMS(account, region)
	if _, err := cl.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		return "", fmt.Errorf("put back the policy of stack key %s: %w", id, err)
	}
	// moto reads a stack key's Tags in the form of KMS's API, not CloudFormation's: tag it here.
	if _, err := cl.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(id),
		Tags: []kmstypes.Tag{{TagKey: aws.String(config.OptInTagKey), TagValue: aws.String(config.OptInTagValue)}}}); err != nil {
		return "", fmt.Errorf("tag stack key %s: %w", id, err)
	}
	out, err := cl.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("describe stack key %s: %w", id, err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// KeyPolicy reads a key's policy as its owner.
func (w *World) KeyPolicy(ctx context.Context, keyARN string) (string, error) {
	p := strings.Split(keyARN, ":")
	if len(p) < 6 {
		return "", fmt.Errorf("not a key ARN: %q", keyARN)
	}
	out, err := w.KMS(p[4], p[3]).GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		return "", fmt.Errorf("get key policy %s: %w", keyARN, err)
	}
	return aws.ToString(out.Policy), nil
}

// EncryptedSnapshot makes a snapshot in account/region encrypted with keyARN, the way moto keeps
// the key: volume -> snapshot -> CopySnapshot with KmsKeyId.
func (w *World) EncryptedSnapshot(ctx context.Context, account, region, keyARN string) (string, error) {
	cl := w.EC2(account, region)
	vol, err := cl.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(region + "a"), Size: aws.Int32(8)})
	if err != nil {
		return "", fmt.Errorf("create volume: %w", err)
	}
	snap, err := cl.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		return "", fmt.Errorf("create snapshot: %w", err)
	}
	cp, err := cl.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String(region),
		Encrypted: aws.Bool(keyARN != ""), KmsKeyId: nilIfEmpty(keyARN)})
	if err != nil {
		return "", fmt.Errorf("copy snapshot with key %s: %w", keyARN, err)
	}
	return aws.ToString(cp.SnapshotId), nil
}

// EncryptedImage registers an AMI in account/region whose EBS snapshots are encrypted with the
// given keys, one snapshot per key.
func (w *World) EncryptedImage(ctx context.Context, account, region, name string, keyARNs ...string) (string, error) {
	var bdms []ec2types.BlockDeviceMapping
	for i, k := range keyARNs {
		snap, err := w.EncryptedSnapshot(ctx, account, region, k)
		if err != nil {
			return "", err
		}
		bdms = append(bdms, ec2types.BlockDeviceMapping{DeviceName: aws.String(fmt.Sprintf("/dev/xvd%c", 'a'+i)),
			Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeType: ec2types.VolumeTypeGp3}})
	}
	out, err := w.EC2(account, region).RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(name),
		Architecture: ec2types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: bdms,
		VirtualizationType: aws.String("hvm")})
	if err != nil {
		return "", fmt.Errorf("register image %s: %w", name, err)
	}
	return aws.ToString(out.ImageId), nil
}

// Share adds launch permissions on an image for accounts.
func (w *World) Share(ctx context.Context, owner, region, imageID string, accounts ...string) error {
	var perms []ec2types.LaunchPermission
	for _, a := range accounts {
		perms = append(perms, ec2types.LaunchPermission{UserId: aws.String(a)})
	}
	_, err := w.EC2(owner, region).ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: perms}})
	if err != nil {
		return fmt.Errorf("share %s with %v: %w", imageID, accounts, err)
	}
	return nil
}

// MemberRole creates the remediator's member role in account (moto does not check trust
// policies, but the role must exist for AssumeRole to name it).
func (w *World) MemberRole(ctx context.Context, account string) error {
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, Owner)
	_, err := w.IAM(account).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(MemberRoleName), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create member role in %s: %w", account, err)
	}
	return nil
}

// AlertSink is an SNS topic with an SQS subscription, so tests and the demo read alerts back.
type AlertSink struct {
	TopicARN string
	QueueURL string
	w        *World
}

// NewAlertSink creates the topic (in Owner) and its SQS subscription (raw delivery off: the
// queue receives the SNS envelope, with Subject and MessageAttributes).
func (w *World) NewAlertSink(ctx context.Context, name string) (*AlertSink, error) {
	snsc := sns.NewFromConfig(w.cfg(Owner, Region))
	sqsc := sqs.NewFromConfig(w.cfg(Owner, Region))
	t, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create queue: %w", err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("queue arn: %w", err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: t.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		return nil, fmt.Errorf("subscribe queue: %w", err)
	}
	return &AlertSink{TopicARN: aws.ToString(t.TopicArn), QueueURL: aws.ToString(q.QueueUrl), w: w}, nil
}

// Alert is one SNS notification read back from the queue.
type Alert struct {
	Subject           string
	Message           string
	MessageID         string
	MessageAttributes map[string]struct {
		Type  string
		Value string
	}
}

// Drain reads every alert waiting in the queue.
func (s *AlertSink) Drain(ctx context.Context) ([]Alert, error) {
	sqsc := sqs.NewFromConfig(s.w.cfg(Owner, Region))
	var out []Alert
	for {
		r, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, fmt.Errorf("receive alerts: %w", err)
		}
		if len(r.Messages) == 0 {
			return out, nil
		}
		for _, m := range r.Messages {
			var a Alert
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &a); err != nil {
				return nil, fmt.Errorf("alert is not an SNS envelope: %w", err)
			}
			out = append(out, a)
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete alert: %w", err)
			}
		}
	}
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// Placeholders the sample events in events/ use; Event replaces them with a scenario's real IDs.
const (
	PlaceholderImage = "ami-0a1b2c3d4e5f60718"
	PlaceholderKey   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// Event reads a sample event and replaces placeholder IDs (old -> new) in it, longest first.
func Event(path string, replace map[string]string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	// Longest first, so that a replacement containing another (a key ARN and its account) is made
	// before the shorter one changes it, whatever the map's order.
	olds := make([]string, 0, len(replace))
	for old := range replace {
		olds = append(olds, old)
	}
	sort.Slice(olds, func(i, j int) bool {
		if len(olds[i]) != len(olds[j]) {
			return len(olds[i]) > len(olds[j])
		}
		return olds[i] < olds[j]
	})
	s := string(raw)
	for _, old := range olds {
		s = strings.ReplaceAll(s, old, replace[old])
	}
	return []byte(s), nil
}

func isAlreadyExists(err error) bool { return awsapi.IsEntityExists(err) }
