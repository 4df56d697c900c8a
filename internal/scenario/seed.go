package scenario

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Placeholder IDs of the other sample events.
const (
	PlaceholderInstance    = "i-0abcd1234ef567890"
	PlaceholderSourceImage = "ami-0123456789abcdef0"
	PlaceholderFailedCopy  = "ami-0f1e2d3c4b5a69788" // events/ami-failed.json
	PlaceholderTemplate    = "lt-0abcd1234ef567890"  // events/launch-template-failed.json
	SourceRegion           = "us-west-2"
	AppRoleName            = "app-deployer" // the role whose launch fails in Target (events/launch-failed.json)
)

// Seeded is the demo's starting point: the situation the product exists for.
type Seeded struct {
	KeyARN       string // customer managed key in Owner, us-east-1
	SourceKeyARN string // the source image's key in us-west-2
	SourceImage  string // encrypted AMI in Owner, us-west-2
	Image        string // its copy in us-east-1, encrypted with KeyARN, shared with Target
	InstanceID   string // Target's launch of Image, terminated with Client.InternalError
	StateReason  string
	FailedCopy   string // Target's copy of Image, failed: Target cannot use KeyARN
	Template     string // the launch template of ASGName in Target, launching Image
	PolicyBefore string
}

// Replace maps the sample events' placeholder IDs to the seeded ones.
func (s *Seeded) Replace() map[string]string {
	return map[string]string{PlaceholderImage: s.Image, PlaceholderKey: s.KeyARN, PlaceholderInstance: s.InstanceID,
		PlaceholderSourceImage: s.SourceImage, PlaceholderFailedCopy: s.FailedCopy, PlaceholderTemplate: s.Template}
}

// Completer finishes asynchronous CopyImage calls (localaws.Filler.CompleteCopies).
type Completer interface {
	CompleteCopies(ctx context.Context) []string
}

// Seed builds the seed scenario with real API calls: a customer managed key in Owner, an
// encrypted AMI copied from us-west-2 to us-east-1 with that key and shared with Target, the
// member roles, the app role in Target, and a failed launch there.
func (w *World) Seed(ctx context.Context, copies Completer) (*Seeded, error) {
	s := &Seeded{}
	var err error
	for _, a := range []string{Target, Untrusted} {
		if err := w.MemberRole(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := w.Role(ctx, Target, AppRoleName); err != nil {
		return nil, err
	}
	if s.SourceKeyARN, err = w.CreateKey(ctx, Owner, SourceRegion, DefaultKeyPolicy(Owner)); err != nil {
		return nil, err
	}
	if s.KeyARN, err = w.CreateKey(ctx, Owner, Region, DefaultKeyPolicy(Owner)); err != nil {
		return nil, err
	}
	if s.SourceImage, err = w.EncryptedImage(ctx, Owner, SourceRegion, "golden-al2023", s.SourceKeyARN); err != nil {
		return nil, err
	}
	cp, err := w.EC2(Owner, Region).CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("golden-al2023"), SourceImageId: aws.String(s.SourceImage),
		SourceRegion: aws.String(SourceRegion), Encrypted: aws.Bool(true), KmsKeyId: aws.String(s.KeyARN)})
	if err != nil {
		return nil, fmt.Errorf("copy image: %w", err)
	}
	s.Image = aws.ToString(cp.ImageId)
	copies.CompleteCopies(ctx)
	if err := w.Share(ctx, Owner, Region, s.Image, Target); err != nil {
		return nil, err
	}
	if s.PolicyBefore, err = w.KeyPolicy(ctx, s.KeyARN); err != nil {
		return nil, err
	}
	s.InstanceID, s.StateReason, err = w.Launch(ctx, Target, Region, s.Image)
	if err != nil {
		return nil, err
	}
	if s.Template, err = w.AutoScalingGroup(ctx, Target, Region, ASGName, s.Image); err != nil {
		return nil, err
	}
	failed, err := w.EC2(Target, Region).CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("golden-al2023-copy"), SourceImageId: aws.String(s.Image),
		SourceRegion: aws.String(Region)})
	if err != nil {
		return nil, fmt.Errorf("copy image as %s: %w", Target, err)
	}
	s.FailedCopy = aws.ToString(failed.ImageId)
	copies.CompleteCopies(ctx)
	return s, nil
}

// ASGName is the Auto Scaling group of events/asg-launch-failed.json.
const ASGName = "app-asg"

// AutoScalingGroup creates a launch template for image and an empty group using it, in account,
// and returns the template's ID.
func (w *World) AutoScalingGroup(ctx context.Context, account, region, name, image string) (string, error) {
	lt, err := w.EC2(account, region).CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name + "-" + image),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(image), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil {
		return "", fmt.Errorf("create launch template: %w", err)
	}
	_, err = autoscaling.NewFromConfig(w.cfg(account, region)).CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
		AvailabilityZones: []string{region + "a"},
		LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")},
	})
	if err != nil {
		return "", fmt.Errorf("create auto scaling group %s: %w", name, err)
	}
	return aws.ToString(lt.LaunchTemplate.LaunchTemplateId), nil
}

// Launch runs one instance of image as account and returns its ID and state reason once the
// launch has settled (the local AWS settles at once).
func (w *World) Launch(ctx context.Context, account, region, image string) (id, reason string, err error) {
	cl := w.EC2(account, region)
	out, err := cl.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT3Micro})
	if err != nil {
		return "", "", fmt.Errorf("run instances of %s as %s: %w", image, account, err)
	}
	id = aws.ToString(out.Instances[0].InstanceId)
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return "", "", fmt.Errorf("describe instance %s: %w", id, err)
		}
		inst := d.Reservations[0].Instances[0]
		if inst.State != nil && inst.State.Name != ec2types.InstanceStateNamePending || time.Now().After(deadline) {
			if inst.StateReason != nil {
				reason = aws.ToString(inst.StateReason.Message)
			}
			return id, string(inst.State.Name) + stateSuffix(reason), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stateSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// Role creates an IAM role with no permissions in account.
func (w *World) Role(ctx context.Context, account, name string) error {
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, account)
	_, err := w.IAM(account).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create role %s in %s: %w", name, account, err)
	}
	return nil
}

// LambdaEnv is the environment the runtime emulator gives bootstrap for a local AWS at endpoint:
// the template's variables plus the SDK's endpoint, region and central credentials, as
// `sam local invoke --env-vars` would.
func LambdaEnv(endpoint, topicARN, mode string, trusted []string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + CentralAccessKey,
		"AWS_SECRET_ACCESS_KEY=local-secret",
		"AWS_MAX_ATTEMPTS=2",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"MODE=" + mode,
		"TRUSTED_ACCOUNT_IDS=" + strings.Join(trusted, ","),
		"ALERT_TOPIC_ARN=" + topicARN,
		"MEMBER_ROLE_NAME=" + MemberRoleName,
		"LOG_LEVEL=info",
	}
}
