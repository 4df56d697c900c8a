// Package policy holds IAM and KMS policy documents without losing a byte of them.
package policy

// Effect is a statement's effect exactly as written ("Allow" or "Deny").
type Effect string

const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Document is a parsed policy that keeps every byte of its source: member order, unknown members,
// whitespace, string-vs-list shapes, numbers. Bytes() returns the source unchanged until an editor
// changes it.
type Document struct {
	raw        []byte // the source, until an editor changes it
	root       *node  // the tree over raw
	stmtArray  *node  // the Statement value (object or array)
	statements []Statement
	stmtNodes  []*node // statement objects, parallel to statements
}

// Statement is a typed, read-only view of one statement, for evaluation.
type Statement struct {
	Index        int    // position in the Statement array (0 for a single-object Statement)
	Sid          string // "" when absent
	Effect       Effect
	Principal    *Principal // nil when the member is absent
	NotPrincipal *Principal
	Action       *Values // nil when absent
	NotAction    *Values
	Resource     *Values
	NotResource  *Values
	Conditions   []Condition // in document order (operator, then key)
}

// Principal is a Principal/NotPrincipal member. Wildcard is true for the bare string "*".
// Otherwise By maps the principal type ("AWS", "Service", "Federated", "CanonicalUser", or any
// other key found) to its values in document order ({"AWS": "*"} gives By["AWS"] = ["*"]).
type Principal struct {
	Wildcard bool
	By       map[string][]string
}

// Values is a string-or-list member (Action, Resource, ...), in document order.
type Values struct {
	List   []string
	IsList bool // written as a JSON array
}

// Condition is one operator/key pair of a Condition block. Values are the JSON values as strings
// (true -> "true", 12 -> "12"), in document order.
type Condition struct {
	Operator string // as written, e.g. "ForAnyValue:StringLike", "BoolIfExists"
	Key      string // as written
	Values   []string
}
