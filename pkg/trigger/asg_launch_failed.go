package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// ASGLaunchFailed: Auto Scaling could not launch an instance, for a reason that points at KMS.
// The launching principal is the group's service-linked role.
const ASGLaunchFailed Kind = "asg-launch-failed"

// EventBridge source and detail-type of Auto Scaling launch failures.
const (
	SourceAutoScaling               = "aws.autoscaling"
	DetailTypeASGLaunchUnsuccessful = "EC2 Instance Launch Unsuccessful"
)

func init() {
	register(&Descriptor{
		Kind: ASGLaunchFailed,
		Doc: "reads the group (`DescribeAutoScalingGroups`): its service-linked role launches; checks the keys of every launch template it may use " +
			"(its own and each mixed-instances override) or of its launch configuration",
		Sample:         "events/asg-launch-failed.json",
		Rule:           "AsgLaunchFailedRule",
		EventBridge:    []EventBridgeMatch{{Source: SourceAutoScaling, DetailType: DetailTypeASGLaunchUnsuccessful}},
		Decode:         decodeASGLaunchFailed,
		LaunchFailed:   true,
		NamesPrincipal: true,
		Diagnose:       diagnoseASGLaunchFailed,
		// The group and its launch template version, then the image seen from the member account
		// (one AssumeRole), its snapshots as the owner, its key and its grants (a grant may give
		// the service-linked role what the key policy does not); the account's default EBS key
		// (the destination); the alert.
		MinCalls: map[string]int{"Auto Scaling:DescribeAutoScalingGroups": 1, "EC2:DescribeLaunchTemplateVersions": 1, "STS:AssumeRole": 1,
			"EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "KMS:ListGrants": 1,
			"EC2:GetEbsDefaultKmsKeyId": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

// asgKMSMarkers are the StatusMessage fragments (lower case) that point at KMS. Auto Scaling
// reports KMS-caused launch failures as "Client.InternalError: Client error on launch" or with
// the KMS error text itself.
var asgKMSMarkers = []string{"kms", "client.internalerror", "invalidkmskey"}

// decodeASGLaunchFailed: the default service-linked role is assumed to launch (a custom-suffix
// one is noted).
func decodeASGLaunchFailed(ev Event, tr Trigger) (Trigger, error) {
	d := ev.obj
	var err error
	if tr.ASGName, err = d.str("AutoScalingGroupName"); err != nil {
		return Trigger{}, err
	}
	id, err := d.str("EC2InstanceId")
	if err != nil {
		return Trigger{}, err
	}
	tr.InstanceID = strings.TrimSpace(id)
	if tr.ErrorMessage, err = d.str("StatusMessage"); err != nil {
		return Trigger{}, err
	}
	if tr.ErrorCode, err = d.str("StatusCode"); err != nil {
		return Trigger{}, err
	}
	lower := strings.ToLower(tr.ErrorMessage)
	kms := false
	for _, m := range asgKMSMarkers {
		if strings.Contains(lower, m) {
			kms = true
			break
		}
	}
	if !kms {
		return ignore(tr, "Auto Scaling launch failure whose status message does not point at KMS"), nil
	}
	if slr := AutoScalingSLRARN(awsid.RegionPartition(tr.Region), tr.Account); slr != "" {
		tr.Principal = &Principal{
			ARN:       slr,
			Account:   tr.Account,
			Type:      PrincipalServiceLinkedRole,
			Name:      AutoScalingSLRName,
			InvokedBy: AutoScalingService,
		}
		tr.Notes = append(tr.Notes, "principal assumed to be the default Auto Scaling service-linked role; "+
			"a group configured with a custom-suffix role needs that role instead")
	} else {
		tr.Notes = append(tr.Notes, fmt.Sprintf("principal not resolved: event account %q is not 12 digits", tr.Account))
	}
	return tr, nil
}

// diagnoseASGLaunchFailed reads the group: its service-linked role is who launches, and the
// event does not say which of its launch templates (the group's own, or an override's of a
// mixed instances policy) the failed launch used, so each is checked (findings name the
// template). The identity check then reports on the group's role.
func diagnoseASGLaunchFailed(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.ASGName == "" {
		return errors.New("the Auto Scaling event names no group")
	}
	g, err := d.Group(ctx, t.Account, t.Region, t.ASGName)
	if err != nil {
		return err
	}
	if g.ServiceLinkedRole != nil {
		d.SetPrincipal(g.ServiceLinkedRole)
	}
	checked := 0
	for _, lt := range g.Templates {
		err := d.CheckLaunch(ctx, LaunchCheck{Account: t.Account, Region: t.Region, Template: &lt})
		switch {
		case errors.Is(err, ErrNoImage):
			d.Note(fmt.Sprintf("launch template %s of group %s: %v", lt, t.ASGName, err))
		case err != nil:
			return err
		default:
			checked++
		}
	}
	if img := g.LaunchConfigurationImage; img != "" {
		if err := d.CheckLaunch(ctx, LaunchCheck{Account: t.Account, Region: t.Region, ImageID: img}); err != nil {
			return err
		}
		checked++
	}
	if checked == 0 {
		d.Ignore(fmt.Sprintf("group %s launches no image that can be known (no launch template or configuration names one): nothing to check", t.ASGName))
	}
	return nil
}
