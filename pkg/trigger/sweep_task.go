package trigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// SweepTask: one account and region of a scheduled sweep of the estate. The sweep's starter
// (functions/sweeper) sends one per account and region to the sweep's own queue; each checks
// every encrypted image the account owns there, for every account it is shared with and for the
// owner itself, as share-image would.
const SweepTask Kind = "sweep-task"

// The envelope of a sweep task. No AWS service uses the source (EventBridge reserves "aws."), and
// no rule routes it: only the sweep's queue delivers sweep tasks.
const (
	SourceSweep         = "ami-kms-remediator"
	DetailTypeSweepTask = "Sweep Task"
)

func init() {
	register(&Descriptor{
		Kind:        SweepTask,
		Doc:         "checks every encrypted image an account owns in a region, for each account it is shared with and the owner (`amikms audit` does the same); open findings there that it no longer finds are resolved",
		Sample:      "events/sweep-task.json",
		Queue:       "SweepQueue",
		EventBridge: []EventBridgeMatch{{Source: SourceSweep, DetailType: DetailTypeSweepTask}},
		Decode:      decodeSweepTask,
		Diagnose:    diagnoseSweepTask,
		// The sample's account owns one encrypted image in its region, shared with one account:
		// one page of images, one batch of snapshots, its shares, its key, and the alert. The
		// remediator's own account and region need no member stack, so nothing is read for it.
		MinCalls: map[string]int{"EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "EC2:DescribeImageAttribute": 1,
			"KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

// decodeSweepTask reads the account and region to sweep from the detail; the envelope's, when
// set, must agree.
func decodeSweepTask(ev Event, tr Trigger) (Trigger, error) {
	account, err := ev.obj.str("account")
	if err != nil {
		return Trigger{}, err
	}
	region, err := ev.obj.str("region")
	if err != nil {
		return Trigger{}, err
	}
	sweep, err := ev.obj.str("sweep")
	if err != nil {
		return Trigger{}, err
	}
	switch {
	case !awsid.IsAccountID(account):
		return Trigger{}, fmt.Errorf("detail.account: %q is not a 12-digit account ID", clip(account, 64))
	case region == "":
		return Trigger{}, errors.New("detail.region: missing")
	case sweep == "":
		return Trigger{}, errors.New("detail.sweep: missing")
	case tr.Account != "" && tr.Account != account || tr.Region != "" && tr.Region != region:
		return Trigger{}, fmt.Errorf("the envelope names %s/%s, the detail %s/%s", clip(tr.Account, 64), clip(tr.Region, 64), account, clip(region, 64))
	}
	tr.Account, tr.Region = account, region
	return tr, nil
}

// diagnoseSweepTask checks that the member stack is there, then every encrypted image the
// account owns in the region, each as its own record. An account whose member role is missing
// cannot be read at all: that is the finding, and the scope is not swept.
func diagnoseSweepTask(ctx context.Context, d Diagnosis, t Trigger) error {
	ms, err := d.MemberStack(ctx, t.Account, t.Region)
	if err != nil {
		return err
	}
	if !ms.Role {
		d.AddFinding(report.Finding{Code: report.MemberStackMissing, Account: t.Account,
			Message: fmt.Sprintf("the remediator cannot assume its member role in account %s: deploy member-account.yaml there (its stack instance in the central region creates the role); account %s was not swept", t.Account, t.Account)})
		return nil
	}
	if !ms.Rules {
		d.AddFinding(report.Finding{Code: report.MemberStackMissing, Account: t.Account,
			Message: fmt.Sprintf("account %s has no member stack in %s: its events there do not reach the remediator, so only sweeps see what goes wrong; deploy a stack instance of member-account.yaml to %s", t.Account, t.Region, t.Region)})
	}
	err = d.OwnedImages(ctx, t.Account, t.Region, func(imageID string) {
		d.Spawn(Trigger{Kind: EstateImage, EventID: t.EventID + "/" + imageID, Source: t.Source, DetailType: t.DetailType,
			Account: t.Account, Region: t.Region, ImageID: imageID})
	})
	if err != nil {
		return err
	}
	d.Sweeps(t.Account, t.Region)
	return nil
}
