package trigger

import (
	"context"
	"errors"
)

// CopyImageFailed: CopyImage failed (other than a dry run), typically because the source
// image's key is not usable by the copying account.
const CopyImageFailed Kind = "copy-image-failed"

func init() {
	register(&Descriptor{
		Kind:           CopyImageFailed,
		Doc:            "checks the source image's keys for the copying account",
		Sample:         "events/copy-image-failed.json",
		Rule:           "CopyImageRule",
		APICalls:       []APICall{{EventSource: eventSourceEC2, EventName: "CopyImage", Failed: true}},
		Decode:         decodeCopyImageFailed,
		LaunchFailed:   true,
		NamesPrincipal: true,
		Diagnose:       diagnoseCopyImageFailed,
		// The source image seen from the copying member account (one AssumeRole), its snapshots as
		// the owner, its key; the copying role with no policies yet and the lookup of
		// IAM_POLICY_NAME; the alert.
		MinCalls: map[string]int{"STS:AssumeRole": 1, "EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1,
			"IAM:GetRole": 1, "IAM:ListRolePolicies": 1, "IAM:ListAttachedRolePolicies": 1, "KMS:ListGrants": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

func decodeCopyImageFailed(ev Event, tr Trigger) (Trigger, error) {
	if isDryRun(ev.call.errorCode) {
		return ignore(tr, "CopyImage dry run"), nil
	}
	tr, err := readCopyImage(ev, tr)
	if err != nil {
		return Trigger{}, err
	}
	return copyImageCaller(ev, tr)
}

// diagnoseCopyImageFailed checks the source image, as the copying account sees it, for that
// account.
func diagnoseCopyImageFailed(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.SourceImageID == "" {
		return errors.New("CopyImage record names no source image")
	}
	region := t.SourceRegion
	if region == "" {
		region = t.Region
	}
	d.SetImage(t.SourceImageID)
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: region, ImageID: t.SourceImageID, Targets: []string{t.Account}})
}
