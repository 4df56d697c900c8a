package trigger

import (
	"context"
	"fmt"
)

// AMIFailed: an image failed, the end of an asynchronous CopyImage that did not work (or of
// another image creation in a watched account). A copy fails this way when the copying account
// cannot use a key of the source image's snapshots, long after CopyImage itself succeeded.
const AMIFailed Kind = "ami-failed"

func init() {
	register(&Descriptor{
		Kind: AMIFailed,
		Doc: "finds the copy's source with `DescribeImages` (`SourceImageId`, `SourceImageRegion`) and checks the source image's keys " +
			"for the copying account; an image made otherwise has no source: ignored, saying so",
		Sample:       "events/ami-failed.json",
		Rule:         "AmiAvailableRule",
		EventBridge:  []EventBridgeMatch{{Source: SourceEC2, DetailType: DetailTypeAMIStateChange, Field: "State", Value: "failed"}},
		Decode:       decodeAMIAvailable,
		LaunchFailed: true,
		Diagnose:     diagnoseAMIFailed,
		// The failed copy as the copying account sees it (its source), then the source image as
		// the copier sees it (one AssumeRole), its snapshots as the owner, its key; the alert.
		MinCalls: map[string]int{"STS:AssumeRole": 1, "EC2:DescribeImages": 2, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1,
			"KMS:GetKeyPolicy": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

// diagnoseAMIFailed checks the failed copy's source image for the copying account, as
// copy-image-failed does. DescribeImages reports SourceImageId and SourceImageRegion for images
// made by CopyImage (EC2 API Reference, Image); without them there is no source to check, and
// none is guessed.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html
func diagnoseAMIFailed(ctx context.Context, d Diagnosis, t Trigger) error {
	img, err := d.Image(ctx, t.Account, t.Region, t.ImageID)
	if err != nil {
		return err
	}
	if img.SourceImageID == "" {
		d.Ignore(fmt.Sprintf("image %s failed (%s), but EC2 names no source image for it (SourceImageId): it was not made by CopyImage, so there is no source key to check",
			t.ImageID, clip(orNone(t.ErrorMessage), 200)))
		return nil
	}
	region := img.SourceRegion
	if region == "" {
		region = t.Region
		d.Note("EC2 names no SourceImageRegion for " + t.ImageID + ": the source is read in " + region)
	}
	d.Note(fmt.Sprintf("copy %s of %s (%s) failed: %s", t.ImageID, img.SourceImageID, region, clip(orNone(t.ErrorMessage), 200)))
	d.SetImage(img.SourceImageID)
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: region, ImageID: img.SourceImageID, Targets: []string{t.Account}})
}

func orNone(s string) string {
	if s == "" {
		return "no error message"
	}
	return s
}
