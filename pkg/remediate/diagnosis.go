package remediate

import (
	"context"

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

func (d diagnosis) ImageState(ctx context.Context, account, region, imageID string) (string, error) {
	img, err := d.r.inv.image(ctx, account, region, imageID)
	if err != nil {
		return "", err
	}
	return img.State, nil
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
	return trigger.Instance{ImageID: in.ImageID, StateReasonCode: in.StateReasonCode, StateReasonMessage: in.StateReasonMessage}, nil
}

func (d diagnosis) Launcher(ctx context.Context, account, region, instanceID string) (*trigger.Principal, error) {
	return d.r.launcher(ctx, d.it, account, region, instanceID)
}

func (d diagnosis) GroupImage(ctx context.Context, account, region, group string) (string, error) {
	return d.r.asgImage(ctx, account, region, group)
}

func (d diagnosis) SetImage(imageID string) { d.it.rec.ImageID = imageID }

func (d diagnosis) SetPrincipal(p *trigger.Principal) {
	d.it.trig.Principal = p
	if p != nil {
		d.it.rec.PrincipalARN = p.ARN
	}
}

func (d diagnosis) AddFinding(f report.Finding) { d.it.addFinding(f) }

func (d diagnosis) Ignore(reason string) { d.it.rec.IgnoredReason = reason }

func (d diagnosis) Transient(err error) bool { return awsapi.Transient(err) }
