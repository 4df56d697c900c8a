package trigger

import (
	"context"
	"errors"
	"strings"
)

// AMIAvailable: an image became available, the end of an asynchronous CopyImage (or of any
// image creation in a watched account).
const AMIAvailable Kind = "ami-available"

// DetailTypeAMIStateChange is the EventBridge detail-type of AMI state changes.
const DetailTypeAMIStateChange = "EC2 AMI State Change"

func init() {
	register(&Descriptor{
		Kind:        AMIAvailable,
		Doc:         "the end of an asynchronous copy: checks its keys for the accounts it is shared with",
		Sample:      "events/ami-available.json",
		Rule:        "AmiAvailableRule",
		EventBridge: []EventBridgeMatch{{Source: SourceEC2, DetailType: DetailTypeAMIStateChange, Field: "State", Value: "available"}},
		Decode:      decodeAMIAvailable,
		Diagnose:    diagnoseAMIAvailable,
		// The image as its owner sees it, its snapshots, its shares, its key, and the alert.
		MinCalls: map[string]int{"EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "EC2:DescribeImageAttribute": 1,
			"KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

func decodeAMIAvailable(ev Event, tr Trigger) (Trigger, error) {
	id, err := ev.obj.str("ImageId")
	if err != nil {
		return Trigger{}, err
	}
	if tr.ErrorMessage, err = ev.obj.str("ErrorMessage"); err != nil {
		return Trigger{}, err
	}
	if tr.ImageID = strings.TrimSpace(id); tr.ImageID == "" {
		return Trigger{}, errors.New("detail.ImageId: missing")
	}
	return tr, nil
}

// diagnoseAMIAvailable checks the image for the accounts it is shared with. Whoever made it is
// not who will launch it: no principal is checked.
func diagnoseAMIAvailable(ctx context.Context, d Diagnosis, t Trigger) error {
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.Region, ImageID: t.ImageID, WithShares: true})
}
