// Package keypolicy edits KMS key policies so that accounts may use a key from EC2, changing
// nothing else.
package keypolicy

import "github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"

// The actions EC2 needs on a customer managed key, as AWS's default key policy names them.
var (
	UseActions   = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}
	GrantActions = []string{"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
)

// The requests EC2 makes with those actions: the editor makes each of them allowed. The grant
// requests are made for an AWS resource (kms:GrantIsForAWSResource is true).
var (
	UseRequests   = []string{"kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"}
	GrantRequests = []string{"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
)

// Key is the key a policy belongs to, as the editor needs it to read the policy as AWS does.
type Key struct {
	// ARN is the key's ARN (for a multi-Region key, the replica's): a Resource must cover it,
	// its region is the one in EC2's kms:ViaService, its partition the one of the principals
	// added. "" when not known (see EnsureAccounts).
	ARN string
	// Orgs gives what is known of a target account's organization (aws:PrincipalOrgID and
	// aws:PrincipalOrgPaths in EC2's requests; evaluate.Org{} for an account in no
	// organization). For an account not in the map they are not known, and conditions on them
	// never hold for the editor.
	Orgs map[string]evaluate.Org
}

// AWS's default Sids for the two statements.
const (
	UseSid   = "Allow use of the key"
	GrantSid = "Allow attachment of persistent resources"
)

// MaxPolicyBytes is KMS's key-policy size limit.
const MaxPolicyBytes = 32768

// Change is one edit the planner made.
type Change struct {
	Kind      string `json:"kind"` // "add-principal" | "add-statement"
	Sid       string `json:"sid,omitempty"`
	Statement int    `json:"statement"` // index in the new document
	Account   string `json:"account"`
	// Principal is the role added, when it is not the account's root.
	Principal   string `json:"principal,omitempty"`
	Description string `json:"description"` // human-readable
}

// Edit is the result of planning: the new document, what changed, and whether anything did.
type Edit struct {
	Document []byte
	Changes  []Change
	Changed  bool
}

// RefusedError is returned when the editor will not produce a document (bad account, too large,
// characters KMS rejects, an edit that would not make the accounts allowed, ...). Reason is a
// stable word: "invalid-account", "too-large", "invalid-characters", "invalid-policy",
// "ineffective".
type RefusedError struct {
	Reason string
	Detail string
}

func (e *RefusedError) Error() string {
	return "key policy edit refused: " + e.Reason + ": " + e.Detail
}
