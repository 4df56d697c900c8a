// Package keypolicy edits KMS key policies so that accounts may use a key from EC2, changing
// nothing else.
package keypolicy

// The actions EC2 needs on a customer managed key, as AWS's default key policy names them.
var (
	UseActions   = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}
	GrantActions = []string{"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
)

// AWS's default Sids for the two statements.
const (
	UseSid   = "Allow use of the key"
	GrantSid = "Allow attachment of persistent resources"
)

// MaxPolicyBytes is KMS's key-policy size limit.
const MaxPolicyBytes = 32768

// Change is one edit the planner made.
type Change struct {
	Kind        string `json:"kind"` // "add-principal" | "add-statement"
	Sid         string `json:"sid,omitempty"`
	Statement   int    `json:"statement"` // index in the new document
	Account     string `json:"account"`
	Description string `json:"description"` // human-readable
}

// Edit is the result of planning: the new document, what changed, and whether anything did.
type Edit struct {
	Document []byte
	Changes  []Change
	Changed  bool
}

// RefusedError is returned when the editor will not produce a document (bad account, too large,
// characters KMS rejects, ...). Reason is a stable word: "invalid-account", "too-large",
// "invalid-characters", "invalid-policy".
type RefusedError struct {
	Reason string
	Detail string
}

func (e *RefusedError) Error() string {
	return "key policy edit refused: " + e.Reason + ": " + e.Detail
}
