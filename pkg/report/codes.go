package report

// Code names a kind of finding. Codes are part of the result format: never rename one. What a
// code means (its severity, whether an action fixes it, what a person must do) is one row of the
// table in package alert.
type Code string

// Finding codes.
const (
	KeyPolicyMissingUse   Code = "key-policy-missing-use"
	KeyPolicyMissingGrant Code = "key-policy-missing-grant"
	IAMMissingUse         Code = "iam-missing-use"
	IAMMissingGrant       Code = "iam-missing-grant"
	AWSManagedKey         Code = "aws-managed-key"
	KeyDisabled           Code = "key-disabled"
	KeyPendingDeletion    Code = "key-pending-deletion"
	KeyNotFound           Code = "key-not-found"
	KeyUnreadable         Code = "key-unreadable"
	KeyPolicyInvalid      Code = "key-policy-invalid"
	UntrustedAccount      Code = "untrusted-account"
	PublicImage           Code = "public-image"
	ExplicitDeny          Code = "explicit-deny"
	// KeyUnusableState: the key is in a state other than Enabled, Disabled or PendingDeletion
	// (Finding.KeyState says which).
	KeyUnusableState Code = "key-unusable-state"
	// KeyPolicyMissingLaunchGrant: the key policy does not let the account create, itself, the
	// grant its launching service-linked role needs (AllowEC2LaunchGrants).
	KeyPolicyMissingLaunchGrant Code = "key-policy-missing-launch-grant"
	// SLRMissingGrant: a launching service-linked role of another account than the key's has no
	// grant on the key.
	SLRMissingGrant    Code = "slr-missing-grant"
	MemberStackMissing Code = "member-stack-missing"
	KeyManagedByIaC    Code = "key-managed-by-iac"
)

// Failure codes: a record that ended in an error carries one finding of one of these codes,
// saying what could not be checked and why (its message has the error). They are findings like
// the others, so whatever keeps findings over time sees a failure begin and end.
const (
	AssumeRoleDenied   Code = "assume-role-denied"
	ImageNotFound      Code = "image-not-found"
	SnapshotUnreadable Code = "snapshot-unreadable"
	LookupUnavailable  Code = "lookup-unavailable"
	AccessDenied       Code = "access-denied"
	AWSUnavailable     Code = "aws-unavailable"
	UnusableInput      Code = "unusable-input"
	RecordFailed       Code = "record-failed"
)
