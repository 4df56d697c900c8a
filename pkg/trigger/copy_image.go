package trigger

import "context"

// CopyImage: CopyImage succeeded. The copy runs in the destination region (awsRegion) and is
// asynchronous: the new image appears in responseElements.imageId and becomes available later
// (see AMIAvailable).
const CopyImage Kind = "copy-image"

func init() {
	register(&Descriptor{
		Kind: CopyImage,
		Doc: "a source image of another account: checks its keys for the copier at once; with `kmsKeyId`: checks that key for the copier " +
			"and the source image's accounts (a key of another account than the copier's is only reported: a request can name any key); " +
			"without: waits for `ami-available`",
		Sample:         "events/copy-image.json",
		Rule:           "CopyImageRule",
		APICalls:       []APICall{{EventSource: eventSourceEC2, EventName: "CopyImage"}},
		Decode:         decodeCopyImage,
		NamesPrincipal: true,
		Diagnose:       diagnoseCopyImage,
		// The source image as the copying account sees it (its owner: a source of another account
		// is checked at once), its shares and the named key. The key is the copying owner's own
		// (its IAM decides); the copying role image-publisher does not exist in the seeded world,
		// so the identity gather stops at GetRole.
		MinCalls: map[string]int{"EC2:DescribeImages": 1, "EC2:DescribeImageAttribute": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "IAM:GetRole": 1},
	})
}

func decodeCopyImage(ev Event, tr Trigger) (Trigger, error) {
	tr, err := readCopyImage(ev, tr)
	if err != nil {
		return Trigger{}, err
	}
	if tr.ImageID == "" {
		tr.Notes = append(tr.Notes, "CopyImage without responseElements.imageId: the new image is unknown")
	}
	return copyImageCaller(ev, tr)
}

// readCopyImage reads what a CopyImage record says, whether the call succeeded or not.
func readCopyImage(ev Event, tr Trigger) (Trigger, error) {
	rp, _, err := ev.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	if rp.members != nil {
		if tr.SourceImageID, err = rp.str("sourceImageId"); err != nil {
			return Trigger{}, err
		}
		if tr.SourceRegion, err = rp.str("sourceRegion"); err != nil {
			return Trigger{}, err
		}
		if tr.KMSKeyID, err = rp.str("kmsKeyId"); err != nil {
			return Trigger{}, err
		}
	}
	re, _, err := ev.obj.obj("responseElements")
	if err != nil {
		return Trigger{}, err
	}
	if re.members != nil {
		if tr.ImageID, err = re.str("imageId"); err != nil {
			return Trigger{}, err
		}
	}
	return tr, nil
}

// copyImageCaller notes a CopyImage record without its source and resolves who copied.
func copyImageCaller(ev Event, tr Trigger) (Trigger, error) {
	if tr.SourceImageID == "" {
		tr.Notes = append(tr.Notes, "CopyImage without requestParameters.sourceImageId")
	}
	return withPrincipal(ev, tr)
}

// diagnoseCopyImage checks what a copy needs of keys at once, before the asynchronous copy can
// fail: a source image of another account must let the copying account use its keys (as
// copy-image-failed checks once it has failed), and a kmsKeyId in the request is known now;
// otherwise the copy's snapshots say, once it is available.
func diagnoseCopyImage(ctx context.Context, d Diagnosis, t Trigger) error {
	sourceChecked := false
	if t.SourceImageID != "" && t.SourceRegion != "" {
		src, err := d.Image(ctx, t.Account, t.SourceRegion, t.SourceImageID)
		switch {
		case err != nil && d.Transient(err):
			return err
		case err != nil:
			d.Note("the source image " + t.SourceImageID + " could not be read in " + t.SourceRegion + ": " + err.Error())
		case src.Owner != "" && src.Owner != t.Account:
			if err := d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.SourceRegion, ImageID: t.SourceImageID, Targets: []string{t.Account}}); err != nil {
				return err
			}
			sourceChecked = true
		}
	}
	targets := []string{t.Account}
	if t.KMSKeyID == "" {
		if t.ImageID == "" {
			if !sourceChecked {
				d.Ignore("CopyImage without the new image's ID: nothing to check")
			}
			return nil
		}
		copied, err := d.Image(ctx, t.Account, t.Region, t.ImageID)
		if err != nil {
			return err
		}
		if copied.State != "available" {
			why := "copy " + t.ImageID + " is " + copied.State + ": the AMI available event will finish the check"
			if sourceChecked {
				d.Note(why)
			} else {
				d.Ignore(why)
			}
			return nil
		}
		return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.Region, ImageID: t.ImageID, Targets: targets, WithShares: true})
	}
	// The copy will be shared the way its source is: check those accounts too. A source the
	// copying account cannot read is no reason to fail the check of the key it named.
	if t.SourceImageID != "" && t.SourceRegion != "" {
		shared, err := d.SharedWith(ctx, t.Account, t.SourceRegion, t.SourceImageID)
		if err != nil && d.Transient(err) {
			return err
		}
		targets = append(targets, shared...)
	}
	return d.CheckRequestedKey(ctx, t.KMSKeyID, t.Account, t.Region, targets)
}
