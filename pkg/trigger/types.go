// Package trigger decodes Lambda input (EventBridge events, SQS batches of them, bare CloudTrail
// records) into one internal trigger type.
//
// Every kind of trigger is one Descriptor, registered from its own file (share_image.go,
// launch_failed.go, ...): the events it decodes from, its decoder, its diagnosis over the
// Diagnosis the remediator provides, its flags, its sample event and its minimum AWS calls.
// Kinds and Lookup are how the rest of the project learns about kinds; nothing else lists them.
package trigger

// Kind names what happened. Each kind is declared, with its Descriptor, in its own file.
type Kind string

// Ignored is the kind of an event that is no trigger; Trigger.IgnoredReason says why.
const Ignored Kind = "ignored"

// PrincipalType says what kind of identity made the call.
type PrincipalType string

const (
	PrincipalUser              PrincipalType = "user"
	PrincipalRole              PrincipalType = "role" // includes assumed-role sessions (ARN is the role's)
	PrincipalServiceLinkedRole PrincipalType = "service-linked-role"
	PrincipalRoot              PrincipalType = "root"
	PrincipalOther             PrincipalType = "other" // federated, AWS service, unknown: never fixed
)

// Principal is the IAM identity behind a failed call, resolved from CloudTrail's userIdentity.
type Principal struct {
	ARN        string        // IAM ARN to evaluate and fix: user ARN, role ARN (not the session), SLR ARN
	SessionARN string        // the assumed-role session ARN when there was one
	Account    string        // 12 digits
	Type       PrincipalType // see above
	Name       string        // user or role name (without path)
	InvokedBy  string        // e.g. "autoscaling.amazonaws.com"
}

// Trigger is one decoded event.
type Trigger struct {
	Kind          Kind
	IgnoredReason string // set when Kind == Ignored
	EventID       string // EventBridge id, or CloudTrail eventID for bare records
	// CloudTrailEventID is the CloudTrail record's own eventID, for a trigger decoded from one
	// (however it arrived): what CloudTrail's LookupEvents finds the record by.
	CloudTrailEventID string
	DetailType        string
	Source            string
	Account           string // the account the event came from
	Region            string
	ImageID           string // the image to diagnose (for copies: the new image)
	SourceImageID     string // copies: the source image
	SourceRegion      string // copies
	KMSKeyID          string // copies: requestParameters.kmsKeyId as given (ID, ARN or alias); key-policy-changed: the key's ARN
	InstanceID        string // instance-terminated; launch-failed when known
	ASGName           string
	ErrorCode         string
	ErrorMessage      string // CloudTrail errorMessage, ASG StatusMessage, AMI state error
	// Share targets from launchPermission.add: raw values as the event gave them. Validating them
	// (12 ASCII digits, trusted) is the remediator's job, not the decoder's.
	ShareUserIDs []string
	SharePublic  bool       // group: all
	ShareOrgARNs []string   // organizationArn
	ShareOUARNs  []string   // organizationalUnitArn
	Principal    *Principal // nil when there is none (share-image, state-change events)
	// RunInstances: the launch template and block device mappings of the request, as given.
	LaunchTemplate *LaunchTemplate `json:",omitempty"`
	BlockDevices   []BlockDevice   `json:",omitempty"`

	EventName string   // CloudTrail eventName when the trigger came from a CloudTrail record
	Notes     []string // what the decoder noticed but did not reject, e.g. an unresolvable principal
}

// LaunchTemplate names a launch template version as a launch request does: by ID or by name,
// and a version number, "$Default" or "$Latest" ("" means $Default, as for EC2).
type LaunchTemplate struct {
	ID, Name, Version string
}

// String is "lt-0abc (version 3)" or "my-template ($Default)", for messages.
func (t LaunchTemplate) String() string {
	name := t.ID
	if name == "" {
		name = t.Name
	}
	v := t.Version
	if v == "" {
		v = "$Default"
	}
	if v[0] != '$' {
		v = "version " + v
	}
	return name + " (" + v + ")"
}

// BlockDevice is one EBS block device mapping of a launch request or template: the key EC2
// encrypts the volume with when it names one (Encrypted must then be true).
type BlockDevice struct {
	DeviceName string
	Encrypted  *bool  `json:",omitempty"`
	KMSKeyID   string `json:",omitempty"`
}

// Record is one unit of work: for SQS, one message; otherwise the whole event.
type Record struct {
	MessageID string // SQS messageId ("" when not from SQS)
	// ReceiveCount is the SQS message's attributes.ApproximateReceiveCount: how many times SQS
	// has delivered it, this delivery included. 0 when unknown (not from SQS, or the attribute is
	// missing or malformed).
	ReceiveCount int
	Trigger      Trigger // valid when Err == nil
	Err          error   // the record could not be decoded: permanent, never retried
}

// Invocation is the decoded Lambda input.
type Invocation struct {
	FromSQS bool
	Records []Record
}
