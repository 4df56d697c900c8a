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
		Kind:           ASGLaunchFailed,
		Doc:            "finds the image through the group's launch template / configuration",
		Sample:         "events/asg-launch-failed.json",
		Rule:           "AsgLaunchFailedRule",
		EventBridge:    []EventBridgeMatch{{Source: SourceAutoScaling, DetailType: DetailTypeASGLaunchUnsuccessful}},
		Decode:         decodeASGLaunchFailed,
		LaunchFailed:   true,
		NamesPrincipal: true,
		Diagnose:       diagnoseASGLaunchFailed,
		// The group and its launch template version, then the image seen from the member account
		// (one AssumeRole), its snapshots as the owner, its key and its grants (a grant may give
		// the service-linked role what the key policy does not); the alert.
		MinCalls: map[string]int{"Auto Scaling:DescribeAutoScalingGroups": 1, "EC2:DescribeLaunchTemplateVersions": 1, "STS:AssumeRole": 1,
			"EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "KMS:ListGrants": 1, "SNS:Publish": 1},
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

// diagnoseASGLaunchFailed finds the image the group launches and checks it for the group's
// account; the IAM check reports on the group's service-linked role.
func diagnoseASGLaunchFailed(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.ASGName == "" {
		return errors.New("the Auto Scaling event names no group")
	}
	imageID, err := d.GroupImage(ctx, t.Account, t.Region, t.ASGName)
	if err != nil {
		return err
	}
	if imageID == "" || strings.HasPrefix(imageID, "resolve:ssm:") {
		d.Ignore(fmt.Sprintf("the launch template of %s names no literal image (%q): nothing to check", t.ASGName, imageID))
		return nil
	}
	d.SetImage(imageID)
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.Region, ImageID: imageID, Targets: []string{t.Account}})
}
