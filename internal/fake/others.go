package fake

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// Published is one SNS message.
type Published struct {
	TopicARN, Subject, Message, MessageID string
}

// Published returns the messages published so far.
func (a *AWS) Published() []Published {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.published)
}

// SNS is the fake SNS of the central account in one region.
type SNS struct {
	awsapi.SNS
	aws    *AWS
	Region string
}

// Publish records the message.
func (s *SNS) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return answer(s.aws, "SNS:Publish", s.aws.central, s.Region, in, func() (*sns.PublishOutput, error) {
		id := s.aws.next("msg-", 8)
		s.aws.published = append(s.aws.published, Published{TopicARN: aws.ToString(in.TopicArn), Subject: aws.ToString(in.Subject),
			Message: aws.ToString(in.Message), MessageID: id})
		return &sns.PublishOutput{MessageId: aws.String(id)}, nil
	})
}

// Organization puts the remediator's account in organization orgID, with members.
func (a *AWS) Organization(orgID string, members ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.org = orgID
	for _, m := range members {
		a.members[m] = orgID
	}
}

// Organizations is the fake Organizations of the central account.
type Organizations struct {
	awsapi.Organizations
	aws *AWS
}

// DescribeAccount answers for members of the organization: AccountNotFoundException for any
// other account, AWSOrganizationsNotInUseException when there is no organization.
func (o *Organizations) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	const op = "Organizations:DescribeAccount"
	return answer(o.aws, op, o.aws.central, "", in, func() (*organizations.DescribeAccountOutput, error) {
		org, id := o.aws.org, aws.ToString(in.AccountId)
		switch {
		case org == "":
			return nil, apiError(op, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
		case o.aws.members[id] != org:
			return nil, apiError(op, "AccountNotFoundException", "You specified an account that doesn't exist.")
		}
		return &organizations.DescribeAccountOutput{Account: &orgtypes.Account{Id: aws.String(id),
			Arn: aws.String("arn:aws:organizations::" + o.aws.central + ":account/" + org + "/" + id), Status: orgtypes.AccountStatusActive}}, nil
	})
}

// DescribeOrganization answers the central account's organization, or
// AWSOrganizationsNotInUseException when there is none.
func (o *Organizations) DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	const op = "Organizations:DescribeOrganization"
	return answer(o.aws, op, o.aws.central, "", in, func() (*organizations.DescribeOrganizationOutput, error) {
		if o.aws.org == "" {
			return nil, apiError(op, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
		}
		return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{Id: aws.String(o.aws.org),
			Arn: aws.String("arn:aws:organizations::" + o.aws.central + ":organization/" + o.aws.org)}}, nil
	})
}

// Group is an Auto Scaling group: launched from a launch template (by ID) or a launch
// configuration, which names ImageID.
type Group struct {
	Name, Account, Region      string
	LaunchTemplateID           string
	LaunchConfigurationName    string
	LaunchConfigurationImageID string
	// ServiceLinkedRoleARN: the group's role; "" for the default one.
	ServiceLinkedRoleARN string
	// MixedInstances: the group launches through a mixed instances policy whose launch template
	// is LaunchTemplateID and whose overrides name these templates (by ID).
	MixedInstances []string
}

// AddGroup registers an Auto Scaling group.
func (a *AWS) AddGroup(g Group) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := g
	a.groups[g.Account+"/"+g.Region+"/"+g.Name] = &c
}

// AutoScaling is the fake Auto Scaling of one account and region.
type AutoScaling struct {
	awsapi.AutoScaling
	aws             *AWS
	Account, Region string
}

// DescribeAutoScalingGroups answers the named groups that exist (unknown names are left out, as
// Auto Scaling does).
func (s *AutoScaling) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return answer(s.aws, "Auto Scaling:DescribeAutoScalingGroups", s.Account, s.Region, in, func() (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
		out := &autoscaling.DescribeAutoScalingGroupsOutput{}
		for _, n := range in.AutoScalingGroupNames {
			g := s.aws.groups[s.Account+"/"+s.Region+"/"+n]
			if g == nil {
				continue
			}
			role := g.ServiceLinkedRoleARN
			if role == "" {
				role = "arn:aws:iam::" + g.Account + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
			}
			ag := asgtypes.AutoScalingGroup{AutoScalingGroupName: aws.String(g.Name), LaunchConfigurationName: optional(g.LaunchConfigurationName),
				ServiceLinkedRoleARN: aws.String(role)}
			switch {
			case g.LaunchTemplateID != "" && g.MixedInstances != nil:
				mip := &asgtypes.MixedInstancesPolicy{LaunchTemplate: &asgtypes.LaunchTemplate{
					LaunchTemplateSpecification: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(g.LaunchTemplateID), Version: aws.String("$Default")}}}
				for _, o := range g.MixedInstances {
					mip.LaunchTemplate.Overrides = append(mip.LaunchTemplate.Overrides, asgtypes.LaunchTemplateOverrides{InstanceType: aws.String("t3.micro"),
						LaunchTemplateSpecification: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(o), Version: aws.String("$Latest")}})
				}
				ag.MixedInstancesPolicy = mip
			case g.LaunchTemplateID != "":
				ag.LaunchTemplate = &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(g.LaunchTemplateID), Version: aws.String("$Default")}
			}
			out.AutoScalingGroups = append(out.AutoScalingGroups, ag)
		}
		return out, nil
	})
}

// DescribeLaunchConfigurations answers the named launch configurations of the registered groups.
func (s *AutoScaling) DescribeLaunchConfigurations(ctx context.Context, in *autoscaling.DescribeLaunchConfigurationsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
	return answer(s.aws, "Auto Scaling:DescribeLaunchConfigurations", s.Account, s.Region, in, func() (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
		out := &autoscaling.DescribeLaunchConfigurationsOutput{}
		for _, name := range sortedKeys(s.aws.groups) {
			g := s.aws.groups[name]
			if g.Account == s.Account && g.Region == s.Region && slices.Contains(in.LaunchConfigurationNames, g.LaunchConfigurationName) {
				out.LaunchConfigurations = append(out.LaunchConfigurations, asgtypes.LaunchConfiguration{
					LaunchConfigurationName: aws.String(g.LaunchConfigurationName), ImageId: aws.String(g.LaunchConfigurationImageID)})
			}
		}
		return out, nil
	})
}

// TrailEvent is a CloudTrail management event about a resource.
type TrailEvent struct {
	Name  string // "RunInstances"
	Event string // the CloudTrail record as JSON
}

// AddTrailEvent records an event about resource (an instance ID) in account and region.
func (a *AWS) AddTrailEvent(account, region, resource string, e TrailEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := account + "/" + region + "/" + resource
	a.trail[k] = append(a.trail[k], e)
}

// AddTrailRecord records a CloudTrail record (its JSON, as in an EventBridge event's detail) in
// account and region, found by LookupEvents with its eventID (EventId).
func (a *AWS) AddTrailRecord(account, region string, record []byte) {
	var r struct {
		EventID   string `json:"eventID"`
		EventName string `json:"eventName"`
	}
	_ = json.Unmarshal(record, &r)
	a.mu.Lock()
	defer a.mu.Unlock()
	k := account + "/" + region + "/#" + r.EventID
	a.trail[k] = append(a.trail[k], TrailEvent{Name: r.EventName, Event: string(record)})
}

// CloudTrail is the fake CloudTrail of one account and region.
type CloudTrail struct {
	awsapi.CloudTrail
	aws             *AWS
	Account, Region string
}

// LookupEvents answers the events recorded for a resource name or an event ID (the lookups the
// remediator makes).
func (c *CloudTrail) LookupEvents(ctx context.Context, in *cloudtrail.LookupEventsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error) {
	const op = "CloudTrail:LookupEvents"
	return answer(c.aws, op, c.Account, c.Region, in, func() (*cloudtrail.LookupEventsOutput, error) {
		if len(in.LookupAttributes) != 1 {
			return nil, apiError(op, "InvalidLookupAttributesException", "one lookup attribute is required")
		}
		k := c.Account + "/" + c.Region + "/"
		switch in.LookupAttributes[0].AttributeKey {
		case cttypes.LookupAttributeKeyResourceName:
		case cttypes.LookupAttributeKeyEventId:
			k += "#"
		default:
			return nil, apiError(op, "InvalidLookupAttributesException", "the fake looks up by ResourceName or EventId only")
		}
		out := &cloudtrail.LookupEventsOutput{}
		for _, e := range c.aws.trail[k+aws.ToString(in.LookupAttributes[0].AttributeValue)] {
			out.Events = append(out.Events, cttypes.Event{EventName: aws.String(e.Name), CloudTrailEvent: aws.String(e.Event), EventTime: aws.Time(epoch)})
		}
		return out, nil
	})
}
