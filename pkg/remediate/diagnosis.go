package remediate

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// diagnosis is one record's trigger.Diagnosis: a kind's Diagnose asks through it, and the
// answers come from the invocation's inventory, so records about the same image or key share
// their reads.
type diagnosis struct {
	r  *run
	it *item
}

var _ trigger.Diagnosis = diagnosis{}

func (d diagnosis) CheckImage(ctx context.Context, c trigger.ImageCheck) error {
	return d.r.diagnoseImage(ctx, d.it, c)
}

func (d diagnosis) CheckRequestedKey(ctx context.Context, keyID, account, region string, targets []string) error {
	return d.r.checkRequestedKey(ctx, d.it, keyID, account, region, targets)
}

func (d diagnosis) CheckLaunch(ctx context.Context, l trigger.LaunchCheck) error {
	return d.r.checkLaunch(ctx, d.it, l)
}

func (d diagnosis) Image(ctx context.Context, account, region, imageID string) (trigger.ImageInfo, error) {
	im, err := d.r.inv.described(ctx, account, region, imageID)
	if err != nil {
		return trigger.ImageInfo{}, err
	}
	return trigger.ImageInfo{Owner: aws.ToString(im.OwnerId), State: string(im.State),
		SourceImageID: aws.ToString(im.SourceImageId), SourceRegion: aws.ToString(im.SourceImageRegion)}, nil
}

func (d diagnosis) SharedWith(ctx context.Context, owner, region, imageID string) ([]string, error) {
	shares, err := d.r.inv.launchPermissions(ctx, owner, region, imageID)
	if err != nil {
		return nil, err
	}
	return d.r.shareTargets(d.it, shares), nil
}

func (d diagnosis) Instance(ctx context.Context, account, region, instanceID string) (trigger.Instance, error) {
	in, err := d.r.inv.instance(ctx, account, region, instanceID)
	if err != nil {
		return trigger.Instance{}, err
	}
	out := trigger.Instance{ImageID: in.ImageID, StateReasonCode: in.StateReasonCode, StateReasonMessage: in.StateReasonMessage}
	if in.LaunchTemplateID != "" {
		out.LaunchTemplate = &trigger.LaunchTemplate{ID: in.LaunchTemplateID, Version: in.LaunchTemplateVersion}
	}
	return out, nil
}

func (d diagnosis) Launcher(ctx context.Context, account, region, instanceID string) (*trigger.Principal, error) {
	return d.r.launcher(ctx, d.it, account, region, instanceID)
}

func (d diagnosis) Group(ctx context.Context, account, region, name string) (trigger.GroupInfo, error) {
	return d.r.group(ctx, d.it, account, region, name)
}

func (d diagnosis) SetImage(imageID string) { d.it.rec.ImageID = imageID }

func (d diagnosis) SetPrincipal(p *trigger.Principal) {
	d.it.trig.Principal = p
	if p != nil {
		d.it.rec.PrincipalARN = p.ARN
	}
}

func (d diagnosis) AddFinding(f report.Finding) { d.it.addFinding(f) }

func (d diagnosis) Note(note string) { d.it.addNote(clip(note, 600)) }

func (d diagnosis) Ignore(reason string) { d.it.rec.IgnoredReason = reason }

func (d diagnosis) Transient(err error) bool { return awsapi.Transient(err) }
