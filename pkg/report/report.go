// Package report holds what one invocation found and did: the result JSON that `amikms invoke`
// prints and the Lambda returns, and the input to the SNS alert.
package report

import "cmp"

// Action types and statuses.
const (
	ActionKeyPolicy = "key-policy"
	// ActionKMSGrant creates a grant on a key for a principal of another account, from that
	// account (Target is the key, Accounts the grantee's account, Principal the grantee).
	ActionKMSGrant = "kms-grant"

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
	// Incomplete names the optional parts of the check that could not be done (PartLauncher):
	// the rest was checked and fixed without them, and a redelivery retries them. Omitted when
	// nothing is missing.
	Incomplete []string `json:"incomplete,omitempty"`
	// Checked is, for a record that checked an image, what it checked: the accounts, and the keys
	// of the image's encrypted snapshots. For the CLI's tables; not part of the result JSON.
	Checked *Checked `json:"-"`
}

// Checked is what a record checked an image for.
type Checked struct {
	Accounts []string // the accounts that must be able to launch it
	Keys     []string // the keys of its encrypted snapshots
}

// Optional parts of a check, as Record.Incomplete names them.
const (
	// PartLauncher: who launched the instance (CloudTrail LookupEvents), and so the identity
	// policies of that principal.
	PartLauncher = "launcher"
	// PartIdentity: the identity policies of the principal (IAM, in its account).
	PartIdentity = "identity-policies"
	// PartIdentityGrant: what a grant for the launching principal waits for (its launch in its
	// account's CloudTrail, the key's opt-in to the write scope).
	PartIdentityGrant = "identity-grant"
)

// Finding is one problem found for a key and an account (or principal).
type Finding struct {
	Code         Code   `json:"code"`
	Account      string `json:"account"`
	KeyARN       string `json:"key_arn"`
	PrincipalARN string `json:"principal_arn"`
	Message      string `json:"message"`
	Fixable      bool   `json:"fixable"`
	// KeyRole is the part the key plays in the launch or copy: KeyRoleSource (the image's
	// snapshots are encrypted with it) or KeyRoleDestination (EC2 encrypts the new volumes or
	// snapshots with it); "" for findings about no key.
	KeyRole string `json:"key_role,omitempty"`
	// LaunchTemplate is the launch template (and version) the finding comes from, "lt-ID:VERSION".
	LaunchTemplate string `json:"launch_template,omitempty"`
	// KeyState is the key's state, for key-unusable-state.
	KeyState string `json:"key_state,omitempty"`
	// ManagedBy names what owns the key's policy, for key-managed-by-iac.
	ManagedBy *ManagedBy `json:"managed_by,omitempty"`
}

// ManagedBy is the infrastructure-as-code owner of a key's policy, whose next deployment would
// revert an edit made outside it.
type ManagedBy struct {
	// Tool is "cloudformation" (a stack has the key) or "tag" (a configured managed-by tag says so).
	Tool              string `json:"tool"`
	StackID           string `json:"stack_id,omitempty"`
	StackName         string `json:"stack_name,omitempty"`
	LogicalResourceID string `json:"logical_resource_id,omitempty"`
	// Tag is the tag that marks the key ("key=value"), when a tag says so.
	Tag string `json:"tag,omitempty"`
}

// Describe names the owner for people: "CloudFormation stack NAME (resource LOGICAL-ID)" or
// "infrastructure as code (tag KEY=VALUE)".
func (m ManagedBy) Describe() string {
	switch m.Tool {
	case ManagedByTag:
		return "infrastructure as code (tag " + m.Tag + ")"
	case ManagedByCloudFormation:
		s := "CloudFormation stack " + cmp.Or(m.StackName, m.StackID)
		if m.LogicalResourceID != "" {
			s += " (resource " + m.LogicalResourceID + ")"
		}
		return s
	}
	return "infrastructure as code"
}

// Managed-by tools.
const (
	ManagedByCloudFormation = "cloudformation"
	ManagedByTag            = "tag"
)

// Key roles.
const (
	KeyRoleSource      = "source"
	KeyRoleDestination = "destination"
)

// Action is one write the remediator made, planned or refused.
type Action struct {
	Type     string   `json:"type"`   // ActionKeyPolicy | ActionKMSGrant
	Target   string   `json:"target"` // key ARN
	Accounts []string `json:"accounts"`
	Status   string   `json:"status"`
	Reason   string   `json:"reason"`
	// Diff is a unified-style diff of the policy (before -> after), for the alert; Document is the
	// whole policy to apply by hand when the action was not applied. Not part of the fixed JSON
	// format: they go to the alert only.
	Diff     string `json:"-"`
	Document string `json:"-"`
	// Principal is the IAM principal a kms-grant action gives the key to.
	Principal string `json:"-"`
	// GrantID is the grant a kms-grant action created (or found): what undoing it needs.
	GrantID string `json:"grant_id,omitempty"`
	// Cause is why the action has its status, for the remediator's own decisions; Reason says it
	// to people and no decision reads it. Not part of the result JSON.
	Cause Cause `json:"-"`
}

// Cause is the machine-readable why of an action's status.
type Cause uint8

const (
	// CauseNone: the status says it all (applied, planned, unchanged, refused, or failed for
	// good: a retry cannot fix it).
	CauseNone Cause = iota
	// CauseOtherWriter: unchanged, because between this invocation's read and its write another
	// writer (usually a concurrent delivery of the same event) made the change. That writer
	// tells about it, so this invocation's alert leaves it out.
	CauseOtherWriter
	// CauseDeadline: failed, because the invocation was too close to its deadline to start a write.
	CauseDeadline
	// CauseConcurrentWriter: failed, because a concurrent writer kept replacing the policy.
	CauseConcurrentWriter
	// CauseTransient: failed, because AWS failed in a way a later attempt may not (throttling,
	// 5xx, a reset connection).
	CauseTransient
	// CauseInternal: failed on a bug in the remediator (a panic); handed back, since the next
	// attempt may take another path.
	CauseInternal
	// CauseNotInWriteScope: refused, because the key has not opted in to the write scope (the
	// tagged-keys scope writes only keys tagged ami-kms-remediator=managed).
	CauseNotInWriteScope
	// CauseManagedByIaC: refused, because infrastructure as code owns the key's policy (finding
	// key-managed-by-iac), and edits of such keys are not allowed.
	CauseManagedByIaC
	// CauseIaCUnknown: refused, because whether infrastructure as code owns the key could not be
	// told (its tags or its stack could not be read): an unknown answer is not taken as "no".
	CauseIaCUnknown
)

var causeNames = [...]string{"", "other-writer", "deadline", "concurrent-writer", "transient", "internal",
	"not-in-write-scope", "managed-by-iac", "iac-unknown"}

// String names the cause for logs ("" for CauseNone).
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// Retry reports whether the records behind a failed action with this cause are handed back for
// another attempt.
func (c Cause) Retry() bool {
	switch c {
	case CauseDeadline, CauseConcurrentWriter, CauseTransient, CauseInternal:
		return true
	}
	return false
}

// Retry reports whether the records behind the action are handed back for another attempt.
func (a Action) Retry() bool { return a.Status == StatusFailed && a.Cause.Retry() }

// Alert says whether an SNS message was published.
type Alert struct {
	Published bool   `json:"published"`
	MessageID string `json:"message_id"`
	// Owed: there was something to tell and it could not be published (Error says why). The
	// records it was about are handed back when the failure was transient.
	Owed  bool   `json:"owed,omitempty"`
	Error string `json:"error,omitempty"`
}
