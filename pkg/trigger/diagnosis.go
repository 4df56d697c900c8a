package trigger

import (
	"context"
	"errors"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Diagnosis is what a kind's Diagnose may ask of the remediator for one record: read what the
// event only hints at, check images and keys for target accounts, and record what it found.
// Reads are cached per invocation, so records about the same image or key share them.
type Diagnosis interface {
	// CheckImage reads an image as c.Viewer sees it and checks the key of each of its encrypted
	// snapshots for every target account.
	CheckImage(ctx context.Context, c ImageCheck) error
	// CheckLaunch checks every key a launch uses, as EC2 uses them (see LaunchCheck), for the
	// launching account and the principal the record names: the source keys (the image's
	// snapshots) as CheckImage does, and the destination keys, which are reported and never
	// changed. It sets the record's image when the record has none. A launch whose image
	// cannot be known (a template that names none) is an error wrapping ErrNoImage.
	CheckLaunch(ctx context.Context, l LaunchCheck) error
	// CheckRequestedKey checks a key that a request named (not an image's snapshots) for the
	// target accounts. A key of another account than account is only reported: a request can
	// name any key, so it is no evidence that anyone should use it.
	CheckRequestedKey(ctx context.Context, keyID, account, region string, targets []string) error
	// Image reads an image as account sees it.
	Image(ctx context.Context, account, region, imageID string) (ImageInfo, error)
	// SharedWith lists the accounts an image is shared with, read from EC2 as its owner. A
	// share with everyone becomes a finding instead.
	SharedWith(ctx context.Context, owner, region, imageID string) ([]string, error)
	// Instance reads an instance as account sees it.
	Instance(ctx context.Context, account, region, instanceID string) (Instance, error)
	// Launcher finds who launched an instance in its account's CloudTrail: nil (with a note on
	// the record) when that cannot be known yet.
	Launcher(ctx context.Context, account, region, instanceID string) (*Principal, error)
	// Group reads an Auto Scaling group: the service-linked role that launches for it and what
	// it launches from.
	Group(ctx context.Context, account, region, name string) (GroupInfo, error)

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
	// Note adds a fact worth telling to the record (each once).
	Note(note string)
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
	// LaunchTemplate is the template the instance was launched from (EC2's tags
	// aws:ec2launchtemplate:id and aws:ec2launchtemplate:version), nil when none.
	LaunchTemplate *LaunchTemplate
}

// LaunchCheck is one launch to check: what the request (or the Auto Scaling group) says. EC2
// launches the image the request names, else the launch template's; each volume's block device
// mapping is the request's, else the template's (the request's parameters override the
// template's). Its keys are, volume by volume (EC2 User Guide, "Use encryption with EBS-backed
// AMIs", instance-launching scenarios):
//   - the source key: the key of the encrypted snapshot the volume is restored from;
//   - the destination key, when EC2 encrypts the volume under another key: the mapping's
//     KmsKeyId; else, for an encrypted snapshot the launching account does not own (a shared
//     AMI), the account's default EBS key (GetEbsDefaultKmsKeyId), whatever encryption by
//     default says; else, for an unencrypted snapshot, the default EBS key when the mapping sets
//     Encrypted or encryption by default is on. An encrypted snapshot the account owns keeps its
//     key.
//
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AMIEncryption.html#AMI-encryption-launch
type LaunchCheck struct {
	Account, Region string // the launching account and where it launches
	ImageID         string // the request's image; "" when the template gives it
	Template        *LaunchTemplate
	BlockDevices    []BlockDevice // the request's own mappings
}

// ErrNoImage: the launch names no image, and its launch template (if any) names none either.
var ErrNoImage = errors.New("the launch names no image")

// ImageInfo is what a kind's diagnosis reads of an image.
type ImageInfo struct {
	Owner, State string
	// SourceImageID and SourceRegion: the image a CopyImage made this one from ("" when EC2 does
	// not say: the image was not made by CopyImage).
	SourceImageID, SourceRegion string
}

// GroupInfo is what a kind's diagnosis reads of an Auto Scaling group.
type GroupInfo struct {
	// ServiceLinkedRole is the role that launches for the group (its ServiceLinkedRoleARN).
	ServiceLinkedRole *Principal
	// Templates are the launch templates the group may launch from: its own, and every
	// override's of a mixed instances policy, each once, in that order.
	Templates []LaunchTemplate
	// LaunchConfigurationImage is the image of the group's launch configuration, if it has one.
	LaunchConfigurationImage string
}
