// Package report holds what one invocation found and did: the result JSON that `amikms invoke`
// prints and the Lambda returns, and the input to the SNS alert.
package report

// Action types and statuses.
const (
	ActionKeyPolicy = "key-policy"
	ActionIAMPolicy = "iam-policy"

	StatusApplied   = "applied"
	StatusPlanned   = "planned"
	StatusUnchanged = "unchanged"
	StatusRefused   = "refused"
	StatusFailed    = "failed"
)

// Result is the whole answer of one invocation.
type Result struct {
	Records []Record `json:"records"`
	Actions []Action `json:"actions"`
	Alert   Alert    `json:"alert"`
	// Stats counts AWS calls by "service:Operation"; omitted when empty.
	Stats map[string]int `json:"stats,omitempty"`
}

// Record is what one event led to.
type Record struct {
	EventID       string    `json:"event_id"`
	Trigger       string    `json:"trigger"`
	IgnoredReason string    `json:"ignored_reason"`
	Account       string    `json:"account"`
	Region        string    `json:"region"`
	ImageID       string    `json:"image_id"`
	PrincipalARN  string    `json:"principal_arn"`
	Findings      []Finding `json:"findings"`
	Error         string    `json:"error"`
	// Notes are facts worth telling that are not findings (e.g. "copy still pending"). Not part
	// of the fixed format, so omitted when empty.
	Notes []string `json:"notes,omitempty"`
	// Checked is, for a record that checked an image, what it checked: the accounts, and the keys
	// of the image's encrypted snapshots. For the CLI's tables; not part of the result JSON.
	Checked *Checked `json:"-"`
}

// Checked is what a record checked an image for.
type Checked struct {
	Accounts []string // the accounts that must be able to launch it
	Keys     []string // the keys of its encrypted snapshots
}

// Finding is one problem found for a key and an account (or principal).
type Finding struct {
	Code         Code   `json:"code"`
	Account      string `json:"account"`
	KeyARN       string `json:"key_arn"`
	PrincipalARN string `json:"principal_arn"`
	Message      string `json:"message"`
	Fixable      bool   `json:"fixable"`
}

// Action is one write the remediator made, planned or refused.
type Action struct {
	Type     string   `json:"type"`   // ActionKeyPolicy | ActionIAMPolicy
	Target   string   `json:"target"` // key ARN, or IAM policy ARN
	Accounts []string `json:"accounts"`
	Status   string   `json:"status"`
	Reason   string   `json:"reason"`
	// Diff is a unified-style diff of the policy (before -> after), for the alert; Document is the
	// whole policy to apply by hand when the action was not applied. Not part of the fixed JSON
	// format: they go to the alert only.
	Diff     string `json:"-"`
	Document string `json:"-"`
	// Principal is the IAM principal an iam-policy action attaches to.
	Principal string `json:"-"`
}

// Alert says whether an SNS message was published.
type Alert struct {
	Published bool   `json:"published"`
	MessageID string `json:"message_id"`
}
