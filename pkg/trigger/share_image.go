package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// ShareImage: an image's launch permissions gained an account, an organization, an OU or
// everyone. The remediator acts before anyone launches (prevention).
const ShareImage Kind = "share-image"

func init() {
	register(&Descriptor{
		Kind:     ShareImage,
		Doc:      "checks every account the image is shared with (read from EC2, not from the event): prevention",
		Sample:   "events/share-image.json",
		Rule:     "ShareImageRule",
		APICalls: []APICall{{EventSource: eventSourceEC2, EventName: "ModifyImageAttribute"}},
		Decode:   decodeShareImage,
		Diagnose: diagnoseShareImage,
		// The image as its owner sees it, its snapshots, its shares, its key, and the alert.
		MinCalls: map[string]int{"EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "EC2:DescribeImageAttribute": 1,
			"KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

// decodeShareImage: a launchPermission add shares the image (a failed call shared nothing and
// is not matched). Targets are kept raw; validating them is the remediator's job.
func decodeShareImage(ev Event, tr Trigger) (Trigger, error) {
	rp, ok, err := ev.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	if !ok {
		return ignore(tr, "ModifyImageAttribute without requestParameters"), nil
	}
	if tr.ImageID, err = rp.str("imageId"); err != nil {
		return Trigger{}, err
	}
	attr, err := rp.str("attributeType")
	if err != nil {
		return Trigger{}, err
	}
	if attr != "" && !strings.EqualFold(attr, "launchPermission") {
		return ignore(tr, fmt.Sprintf("ModifyImageAttribute of %s, not launchPermission", attr)), nil
	}
	lp, ok, err := rp.obj("launchPermission")
	if err != nil {
		return Trigger{}, err
	}
	if !ok {
		return ignore(tr, "ModifyImageAttribute without launchPermission"), nil
	}
	add, err := lp.itemSet("add")
	if err != nil {
		return Trigger{}, err
	}
	for _, it := range add {
		if err := addShareTarget(&tr, it); err != nil {
			return Trigger{}, err
		}
	}
	if len(tr.ShareUserIDs) == 0 && !tr.SharePublic && len(tr.ShareOrgARNs) == 0 && len(tr.ShareOUARNs) == 0 {
		if lp.has("remove") {
			return ignore(tr, "launchPermission.remove: access was taken away, nothing to prevent"), nil
		}
		return ignore(tr, "launchPermission.add names no account, organization, OU or group all"), nil
	}
	if tr.ImageID == "" {
		return Trigger{}, errors.New(join(rp.path, "imageId") + ": missing")
	}
	return tr, nil
}

// addShareTarget records one launchPermission item. userId may be a JSON number in forged
// input: its literal text is kept so that validation sees exactly what was sent.
func addShareTarget(tr *Trigger, it object) error {
	uid, err := it.text("userId")
	if err != nil {
		return err
	}
	group, err := it.str("group")
	if err != nil {
		return err
	}
	org, err := it.str("organizationArn")
	if err != nil {
		return err
	}
	ou, err := it.str("organizationalUnitArn")
	if err != nil {
		return err
	}
	if it.has("userId") && !isNull(it.raw("userId")) {
		tr.ShareUserIDs = append(tr.ShareUserIDs, uid)
	}
	switch {
	case group == "all":
		tr.SharePublic = true
	case group != "":
		tr.Notes = append(tr.Notes, fmt.Sprintf("launchPermission group %q is not a known group: ignored", group))
	}
	if org != "" {
		tr.ShareOrgARNs = append(tr.ShareOrgARNs, org)
	}
	if ou != "" {
		tr.ShareOUARNs = append(tr.ShareOUARNs, ou)
	}
	return nil
}

// diagnoseShareImage treats the event as a hint: who the image is shared with is read from EC2,
// so a forged or stale event cannot make the remediator grant to an account the image is not
// shared with. The event's account must own the image.
func diagnoseShareImage(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.SharePublic {
		d.AddFinding(report.Finding{Code: report.PublicImage, Account: "all",
			Message: fmt.Sprintf("image %s is shared with everyone (group all): never fixed; a public image cannot use a customer managed key that only some accounts may use", t.ImageID)})
	}
	for _, o := range append(append([]string{}, t.ShareOrgARNs...), t.ShareOUARNs...) {
		d.AddFinding(report.Finding{Code: report.UntrustedAccount, Account: clip(o, 256),
			Message: "image shared with an organization or OU; the remediator grants only to individual trusted accounts, so add the accounts that launch it to the key policy by hand"})
	}
	for _, u := range t.ShareUserIDs {
		if !awsid.IsAccountID(u) {
			d.AddFinding(report.Finding{Code: report.UntrustedAccount, Account: clip(u, 64),
				Message: fmt.Sprintf("launch permission %q is not a 12-digit account ID: ignored", clip(u, 64))})
		}
	}
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.Region, ImageID: t.ImageID, WithShares: true, ViewerOwns: true})
}
