package trigger

import (
	"context"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Diagnosis is what a kind's Diagnose may ask of the remediator for one record: read what the
// event only hints at, check images and keys for target accounts, and record what it found.
// Reads are cached per invocation, so records about the same image or key share them.
type Diagnosis interface {
	// CheckImage reads an image as c.Viewer sees it and checks the key of each of its encrypted
	// snapshots for every target account.
	CheckImage(ctx context.Context, c ImageCheck) error
	// CheckRequestedKey checks a key that a request named (not an image's snapshots) for the
	// target accounts. A key of another account than account is only reported: a request can
	// name any key, so it is no evidence that anyone should use it.
	CheckRequestedKey(ctx context.Context, keyID, account, region string, targets []string) error
	// ImageState is the state of an image ("pending", "available", ...) as account sees it.
	ImageState(ctx context.Context, account, region, imageID string) (string, error)
	// SharedWith lists the accounts an image is shared with, read from EC2 as its owner. A
	// share with everyone becomes a finding instead.
	SharedWith(ctx context.Context, owner, region, imageID string) ([]string, error)
	// Instance reads an instance as account sees it.
	Instance(ctx context.Context, account, region, instanceID string) (Instance, error)
	// Launcher finds who launched an instance in its account's CloudTrail: nil (with a note on
	// the record) when that cannot be known yet.
	Launcher(ctx context.Context, account, region, instanceID string) (*Principal, error)
	// GroupImage is the image an Auto Scaling group launches: its launch template version,
	// mixed instances policy or launch configuration says; "" when none names one.
	GroupImage(ctx context.Context, account, region, group string) (string, error)

	// SetImage records the image the record is about, when the event did not name it.
	SetImage(imageID string)
	// SetPrincipal records who launched, when the event did not say.
	SetPrincipal(p *Principal)
	// AddFinding adds a finding to the record (each once).
	AddFinding(f report.Finding)
	// Ignore ends the record: there is nothing to check, for this reason.
	Ignore(reason string)
	// Transient reports whether err may go away when the record is retried.
	Transient(err error) bool
}

// ImageCheck says which image to check, as whom, and for which accounts.
type ImageCheck struct {
	Viewer, Region, ImageID string   // the image as Viewer sees it in Region
	Targets                 []string // accounts that must be able to launch it
	// WithShares adds the accounts the image is shared with (read from EC2, never from the event).
	WithShares bool
	// ViewerOwns refuses an image that Viewer does not own: the event claims Viewer changed it.
	ViewerOwns bool
}

// Instance is what the diagnosis reads of an instance.
type Instance struct {
	ImageID, StateReasonCode, StateReasonMessage string
}
