package trigger

import (
	"context"
	"fmt"
	"strings"
)

// LaunchFailed: RunInstances failed (other than a dry run). Most KMS launch failures do not show
// here at all: RunInstances succeeds and the instance terminates (see InstanceTerminated).
const LaunchFailed Kind = "launch-failed"

func init() {
	register(&Descriptor{
		Kind:           LaunchFailed,
		Doc:            "checks the image's keys for the account and the principal's IAM",
		Sample:         "events/launch-failed.json",
		Rule:           "LaunchFailedRule",
		APICalls:       []APICall{{EventSource: eventSourceEC2, EventName: "RunInstances", Failed: true}},
		Decode:         decodeLaunchFailed,
		LaunchFailed:   true,
		NamesPrincipal: true,
		Diagnose:       diagnoseLaunch,
		// The image seen from the launching member account (one AssumeRole), its snapshots as the
		// owner, its key; the launching role with no policies yet and the lookup of
		// IAM_POLICY_NAME; the alert.
		MinCalls: map[string]int{"STS:AssumeRole": 1, "EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1,
			"IAM:GetRole": 1, "IAM:ListRolePolicies": 1, "IAM:ListAttachedRolePolicies": 1, "IAM:GetPolicy": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

func decodeLaunchFailed(ev Event, tr Trigger) (Trigger, error) {
	if isDryRun(ev.call.errorCode) {
		return ignore(tr, "RunInstances dry run ("+ev.call.errorCode+")"), nil
	}
	rp, _, err := ev.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	var images []string
	if rp.members != nil {
		set, err := rp.itemSet("instancesSet")
		if err != nil {
			return Trigger{}, err
		}
		if images, err = appendImageIDs(images, set); err != nil {
			return Trigger{}, err
		}
		id, err := rp.str("imageId")
		if err != nil {
			return Trigger{}, err
		}
		images = appendUnique(images, id)
		if lt, ok, err := rp.obj("launchTemplate"); err != nil {
			return Trigger{}, err
		} else if ok && len(images) == 0 {
			ltID, _ := lt.str("launchTemplateId")
			ltName, _ := lt.str("launchTemplateName")
			tr.Notes = append(tr.Notes, fmt.Sprintf("launched from launch template %s%s: image not in the event", ltID, ltName))
		}
	}
	re, _, err := ev.obj.obj("responseElements")
	if err != nil {
		return Trigger{}, err
	}
	if re.members != nil {
		set, err := re.itemSet("instancesSet")
		if err != nil {
			return Trigger{}, err
		}
		if images, err = appendImageIDs(images, set); err != nil {
			return Trigger{}, err
		}
		for _, it := range set {
			if tr.InstanceID != "" {
				break
			}
			if tr.InstanceID, err = it.str("instanceId"); err != nil {
				return Trigger{}, err
			}
		}
	}
	if len(images) > 0 {
		tr.ImageID = images[0]
	}
	if len(images) > 1 {
		tr.Notes = append(tr.Notes, "RunInstances names several images: "+strings.Join(images, ", ")+"; diagnosing the first")
	}
	return withPrincipal(ev, tr)
}

// appendImageIDs adds the imageId of every instancesSet item to images, each once.
func appendImageIDs(images []string, set []object) ([]string, error) {
	for _, it := range set {
		id, err := it.str("imageId")
		if err != nil {
			return nil, err
		}
		images = appendUnique(images, id)
	}
	return images, nil
}

// diagnoseLaunch checks the image a launch uses for the launching account.
func diagnoseLaunch(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.ImageID == "" {
		d.Ignore("RunInstances names no image (launch template or fleet): nothing to check")
		return nil
	}
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.Region, ImageID: t.ImageID, Targets: []string{t.Account}})
}
