// Package evaluate decides whether policies allow a request and explains why.
package evaluate

import "github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"

// Decision is the outcome of an evaluation.
type Decision string

const (
	Allow        Decision = "allow"
	ExplicitDeny Decision = "explicit-deny"
	ImplicitDeny Decision = "implicit-deny"
)

// Request is one API request. Context keys are matched case-insensitively; a key may have many
// values. A key the request does not carry is absent from Context; a key mapped to no values is
// known to be absent too (it overrides Unknown).
type Request struct {
	PrincipalARN string // arn:aws:iam::ACCT:user/x, arn:aws:iam::ACCT:role/x, arn:aws:sts::ACCT:assumed-role/R/S, arn:aws:iam::ACCT:root
	Action       string // e.g. "kms:Decrypt"
	Resource     string // e.g. a key ARN
	Context      map[string][]string
	// Unknown lists the context keys the request may carry but whose values the caller cannot
	// know (e.g. aws:SourceIp of a request EC2 makes for a user). An entry ending in ':' or '/'
	// covers every key it prefixes ("aws:PrincipalTag/"). A condition on such a key, and a
	// policy variable naming it, is not evaluated.
	Unknown []string
}

// Match is a statement that applied to the request.
type Match struct {
	Index  int    `json:"index"`
	Sid    string `json:"sid,omitempty"`
	Effect string `json:"effect"`
}

// Result explains the evaluation of one policy (or one side of a KMS decision).
type Result struct {
	Decision     Decision `json:"decision"`
	Matched      []Match  `json:"matched"`
	Reasons      []string `json:"reasons"`
	NotEvaluated []string `json:"not_evaluated"`
	// Ineffective lists the statements AWS never applies, and why: in a key policy a statement
	// without Principal is invalid, and one without Resource or Action has no effect.
	Ineffective []string `json:"ineffective,omitempty"`
	// Delegates is true when (for a key policy) the allow came only from statements naming the
	// principal's account (ID or :root), so the principal's identity policies must also allow.
	Delegates bool `json:"delegates,omitempty"`
}

// KMSInput is everything needed to decide a KMS request under AWS's key-policy rules.
type KMSInput struct {
	KeyPolicy        *policy.Document
	KeyAccount       string             // the account that owns the key
	IdentityPolicies []*policy.Document // the principal's identity policies (none: it has none)
	// IdentityKnown false: the principal's identity policies and permissions boundary are not
	// known (e.g. share-image, where only the account is known). The decision is then never
	// allow where AWS requires the identity side.
	IdentityKnown bool
	Boundary      *policy.Document // permissions boundary, nil if none
	Request       Request
}

// KMSResult is the combined decision. Missing lists the sides that do not allow:
// "key-policy" and/or "identity".
type KMSResult struct {
	Decision     Decision `json:"decision"`
	KeyPolicy    Result   `json:"key_policy"`
	Identity     *Result  `json:"identity,omitempty"`
	Missing      []string `json:"missing"`
	NotEvaluated []string `json:"not_evaluated"`
}

// Org is what is known of the AWS Organizations organization of a principal's account: it
// gives aws:PrincipalOrgID and aws:PrincipalOrgPaths.
type Org struct {
	ID    string   // the organization ID ("o-..."); "" when the account is in no organization
	Paths []string // the account's paths ("o-.../r-.../ou-.../"); nil when not known
}
