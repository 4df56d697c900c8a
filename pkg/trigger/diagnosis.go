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

	// OwnedImages calls each, page by page of EC2's listing, for every image account owns in
	// region (its own and the copies made into it) with an encrypted EBS snapshot, and reads
	// their snapshots in batches, so that checking them reads nothing of them again.
	OwnedImages(ctx context.Context, account, region string, each func(imageID string)) error
	// MemberStack says what of the member stack a sweep needs is deployed in account and region.
	MemberStack(ctx context.Context, account, region string) (MemberStack, error)
	// ImagesUsingKey lists the images the estate store knows use a key (none without a store).
	ImagesUsingKey(ctx context.Context, keyARN string) ([]ImageRef, error)
	// IsRemediator reports whether p is one of the remediator's own sessions.
	IsRemediator(ctx context.Context, p *Principal) (bool, error)

	// SetImage records the image the record is about, when the event did not name it.
	SetImage(imageID string)
	// SetPrincipal records who launched, when the event did not say.
	SetPrincipal(p *Principal)
	// AddFinding adds a finding to the record (each once).
	AddFinding(f report.Finding)
	// Ignore ends the record: there is nothing to check, for this reason.
	Ignore(reason string)
	// Spawn adds a record for t, diagnosed (and fixed) in this invocation like any other, on
	// behalf of this one: an error of t is this record's, and a retry retries this record.
	Spawn(t Trigger)
	// Sweeps says the record checks every image account owns in region: when it ends without an
	// error, what it did not find there is resolved.
	Sweeps(account, region string)
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

// MemberStack is what of the member stack (member-account.yaml) is deployed in an account and
// region: the role the remediator assumes there (one per account, and none needed in the
// remediator's own account), and the rules forwarding that region's events (none needed in the
// remediator's own account and region, where the central stack's rules are).
type MemberStack struct {
	Role, Rules bool
}

// ImageRef names an image: its owner, its region, its ID.
type ImageRef struct {
	Owner, Region, ImageID string
}

// Instance is what the diagnosis reads of an instance.
type Instance struct {
	ImageID, StateReasonCode, StateReasonMessage string
}
