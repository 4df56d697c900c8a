package alert

import (
	"math"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Meaning is what one finding code means, one row of codeTable. Everything in this package that
// depends on a finding's code reads it from here, and the README's list of codes is the table's
// Code, FixedBy and Summary columns (a test keeps them in step).
type Meaning struct {
	Code report.Code
	// Summary says in one line what a finding of this code means.
	Summary string
	// Severity is the alert's severity when a finding of this code is open and a person must act.
	// Whatever the code, a planned fix makes it at most SeverityMedium and a launch or copy that
	// already failed makes it SeverityCritical.
	Severity string
	// Priority orders codes in the subject, lowest first: what blocks everything comes first.
	Priority int
	// FixedBy is the type of the action that fixes a finding of this code (report.ActionKeyPolicy,
	// or report.ActionKMSGrant), or "" when no action ever does.
	FixedBy string
	// Failure: a finding of this code says that a check did not finish (its message has what was
	// being checked and the error), not that something about a key is missing.
	Failure bool
	// remedy renders what a person must do about the open findings of this code.
	remedy *remedy
}

// A remedy renders what a person must do about the open findings of its codes: one todo per
// key, image or principal, each with one way to fix it. Codes that share a remedy are rendered
// together, so both halves of a grant make one todo per key or principal.
type remedy struct {
	render func(a *analysis, d detail, open []item) []todo
}

// codeTable has one row per finding code, in the order their remedies appear in the alert. The
// failure codes come first: when a check did not finish, that is what blocks everything else.
var codeTable = []Meaning{
	{Code: report.AssumeRoleDenied, Severity: SeverityHigh, Priority: -8, Failure: true, remedy: assumeRoleRemedy,
		Summary: "sts:AssumeRole into the member role (MEMBER_ROLE_NAME) of the account failed: the role is missing (member-account.yaml not deployed there) or its trust policy does not name the remediator's role; STS answers AccessDenied for both"},
	{Code: report.UnusableInput, Severity: SeverityHigh, Priority: -7, Failure: true, remedy: unusableRemedy,
		Summary: "the event is malformed, or a field fails validation (an account that is not 12 ASCII digits, a Region not of AWS's form or of another partition): nothing was called, and it is acknowledged, never retried"},
	{Code: report.ImageNotFound, Severity: SeverityHigh, Priority: -6, Failure: true, remedy: imageNotFoundRemedy,
		Summary: "the image is gone (deregistered) or not visible to the account: there is no key to check"},
	{Code: report.SnapshotUnreadable, Severity: SeverityHigh, Priority: -5, Failure: true, remedy: snapshotRemedy,
		Summary: "the image's snapshots cannot be described as their owner (ec2:DescribeSnapshots), so its keys are not known"},
	{Code: report.AccessDenied, Severity: SeverityHigh, Priority: -4, Failure: true, remedy: accessDeniedRemedy,
		Summary: "the remediator's role (central, or the member role) was denied a read the check needs: the message names the call"},
	{Code: report.AWSUnavailable, Severity: SeverityHigh, Priority: -3, Failure: true, remedy: unavailableRemedy,
		Summary: "AWS failed transiently (throttling, 5xx) on every delivery up to the last one before the dead-letter queue: redrive once it answers again"},
	{Code: report.RecordFailed, Severity: SeverityHigh, Priority: -2, Failure: true, remedy: recordFailedRemedy,
		Summary: "the check did not finish for another reason (an internal error, the invocation's deadline, a refusal): the message and the logs say which"},
	{Code: report.LookupUnavailable, Severity: SeverityHigh, Priority: -1, Failure: true, remedy: lookupRemedy,
		Summary: "an optional lookup (who launched the instance, in CloudTrail; the principal's identity policies, in IAM) was denied or stayed unavailable through the last delivery: the key side was checked and fixed without it, the identity side was not"},
	{Code: report.KeyNotFound, Severity: SeverityHigh, Priority: 1, remedy: keyNotFoundRemedy,
		Summary: "the key does not exist in the account and region its ARN names"},
	{Code: report.KeyUnreadable, Severity: SeverityHigh, Priority: 2, remedy: keyUnreadableRemedy,
		Summary: "the key exists but the remediator may not read it (kms:DescribeKey, kms:GetKeyPolicy in the key's account): the error says which call was refused"},
	{Code: report.KeyPolicyInvalid, Severity: SeverityHigh, Priority: 3, remedy: keyPolicyInvalidRemedy,
		Summary: "the key policy does not parse as a policy document: nothing is decided or changed for the key"},
	{Code: report.KeyPendingDeletion, Severity: SeverityHigh, Priority: 4, remedy: keyPendingDeletionRemedy,
		Summary: "the key (or, PendingReplicaDeletion, the multi-Region primary key) is scheduled for deletion: nobody can use it, and what it encrypts becomes unreadable once it is deleted"},
	{Code: report.KeyDisabled, Severity: SeverityHigh, Priority: 5, remedy: keyDisabledRemedy,
		Summary: "the key is disabled: nobody can use it until it is enabled"},
	{Code: report.KeyUnusableState, Severity: SeverityHigh, Priority: 6, remedy: keyUnusableRemedy,
		Summary: "the key is PendingImport (import its key material), Unavailable (connect its custom key store), Creating or Updating (wait): enabling it does not help"},
	{Code: report.AWSManagedKey, Severity: SeverityHigh, Priority: 7, remedy: awsManagedRemedy,
		Summary: "the snapshots use the AWS managed key aws/ebs, whose policy cannot be changed: the alert gives the aws ec2 copy-image command that re-encrypts the image with a customer managed key"},
	{Code: report.PublicImage, Severity: SeverityHigh, Priority: 9, remedy: publicRemedy,
		Summary: "the image is shared with everyone: a key is never opened to everyone"},
	{Code: report.ExplicitDeny, Severity: SeverityHigh, Priority: 8, remedy: denyRemedy,
		Summary: "a Deny statement in the key policy blocks the account: statements are never removed or rewritten"},
	{Code: report.UntrustedAccount, Severity: SeverityHigh, Priority: 10, remedy: untrustedRemedy,
		Summary: "an account involved (the image's owner, its key's owner, or an account, organization or OU it is shared with) is not trusted: nothing is changed for it"},
	{Code: report.KeyPolicyMissingUse, Severity: SeverityHigh, Priority: 11, FixedBy: report.ActionKeyPolicy, remedy: keyPolicyRemedy,
		Summary: "the key policy does not let the account (or, in the key's own account, the launching service-linked role itself) use the key (kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey)"},
	{Code: report.KeyPolicyMissingGrant, Severity: SeverityHigh, Priority: 12, FixedBy: report.ActionKeyPolicy, remedy: keyPolicyRemedy,
		Summary: "the key policy does not let the account (or the launching service-linked role itself) create grants for AWS resources (kms:CreateGrant with kms:GrantIsForAWSResource), which EC2 needs to attach volumes"},
	{Code: report.KeyPolicyMissingLaunchGrant, Severity: SeverityHigh, Priority: 13, FixedBy: report.ActionKeyPolicy, remedy: launchGrantRemedy,
		Summary: "the key policy does not let the account create, itself, the grant its launching service-linked role needs (statement AllowEC2LaunchGrants: kms:CreateGrant for its own principals, EC2's operations only)"},
	{Code: report.SLRMissingGrant, Severity: SeverityHigh, Priority: 14, FixedBy: report.ActionKMSGrant, remedy: launchGrantRemedy,
		Summary: "a launching service-linked role (Auto Scaling, EC2 Fleet, Spot) of another account than the key's has no grant on the key: the grant is created from its own account"},
	{Code: report.IAMMissingUse, Severity: SeverityHigh, Priority: 15, FixedBy: report.ActionKMSGrant, remedy: iamRemedy,
		Summary: "neither an identity policy of the launching principal nor a grant naming it lets it use the key: fixed with a grant on the key for the principal, with EC2's operations, created from its own account (never an IAM change)"},
	{Code: report.IAMMissingGrant, Severity: SeverityHigh, Priority: 16, FixedBy: report.ActionKMSGrant, remedy: iamRemedy,
		Summary: "neither an identity policy of the launching principal nor a grant naming it lets it create grants on the key for AWS resources: fixed with the same grant"},
	{Code: report.MemberStackMissing, Severity: SeverityHigh, Priority: 17, remedy: memberStackRemedy,
		Summary: "a sweep found an account without its member role, or a region without its forwarding rules: the remediator cannot read or fix it there, or never hears of what happens there"},
	{Code: report.KeyManagedByIaC, Severity: SeverityHigh, Priority: 18, remedy: iacRemedy,
		Summary: "infrastructure as code (a CloudFormation stack, or the tool a configured managed-by tag names) owns the key policy, and its next deployment would revert an edit: the key is never edited (unless EDIT_IAC_MANAGED_KEYS=true); the alert names the stack and gives the statements to add to its template"},
}

// Codes returns every finding code's meaning, in the table's order.
func Codes() []Meaning { return append([]Meaning(nil), codeTable...) }

// CodeInfo returns what code means; false for a code the table does not have.
func CodeInfo(code report.Code) (Meaning, bool) {
	for _, m := range codeTable {
		if m.Code == code {
			return m, true
		}
	}
	return Meaning{}, false
}

// FixedBy returns the type of the action that fixes a finding of code, or "" when no action does
// (or the code is unknown).
func FixedBy(code report.Code) string {
	m, _ := CodeInfo(code)
	return m.FixedBy
}

// meaningOf is CodeInfo for this package: a code the table does not have (a newer remediator's,
// or garbage) needs a human, comes last in the subject and is rendered by otherRemedies.
func meaningOf(code report.Code) (Meaning, bool) {
	if m, ok := CodeInfo(code); ok {
		return m, true
	}
	return Meaning{Code: code, Severity: SeverityHigh, Priority: math.MaxInt}, false
}
