// Package usagepolicy builds the IAM customer managed policy (KmsKeyUsagePolicy) that lets a
// principal use specific KMS keys from EC2: the identity half of a cross-account key grant, as
// AWS's console procedure writes it. The remediator never writes IAM; the alert gives this
// document to operators who fix the identity side by hand, or to put in an IAM Identity Center
// permission set.
package usagepolicy

import (
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// DefaultName is the policy's name when IAM_POLICY_NAME does not set another.
const DefaultName = "KmsKeyUsagePolicy"

// Earlier versions of the remediator created and versioned this policy in member accounts
// themselves, with this description. The remediator now writes no IAM; a policy it created is
// recognised by the description and reported, never changed.
const legacyMarker = "(managed by ami-kms-remediator)"

// CreatedByRemediator reports whether a managed policy's description says an earlier version of
// the remediator created it.
func CreatedByRemediator(description string) bool { return strings.Contains(description, legacyMarker) }

// The Sids of the two statements. IAM Sids are alphanumeric (no spaces, unlike key policies).
const (
	UseSid   = "AllowUseOfTheKey"
	GrantSid = "AllowAttachmentOfPersistentResources"
)

// New returns a KmsKeyUsagePolicy document for the key ARNs (as given, never a wildcard the
// caller did not give), pretty-printed with a two-space indent: the use actions, and
// kms:CreateGrant/ListGrants/RevokeGrant only when kms:GrantIsForAWSResource is true.
func New(keyARNs []string) []byte {
	return policy.Encode(policy.Object(
		policy.Member{Key: "Version", Value: policy.String("2012-10-17")},
		policy.Member{Key: "Statement", Value: policy.List(
			statement(UseSid, keypolicy.UseActions, keyARNs, false),
			statement(GrantSid, keypolicy.GrantActions, keyARNs, true))},
	), "  ")
}

func statement(sid string, actions, keyARNs []string, grant bool) policy.Value {
	members := []policy.Member{
		{Key: "Sid", Value: policy.String(sid)},
		{Key: "Effect", Value: policy.String("Allow")},
		{Key: "Action", Value: policy.Strings(actions...)},
		{Key: "Resource", Value: policy.Strings(keyARNs...)},
	}
	if grant {
		members = append(members, policy.Member{Key: "Condition", Value: policy.Object(policy.Member{
			Key: "Bool", Value: policy.Object(policy.Member{Key: "kms:GrantIsForAWSResource", Value: policy.Bool(true)}),
		})})
	}
	return policy.Object(members...)
}
