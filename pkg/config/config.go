// Package config reads the remediator's configuration from the environment, once, and validates
// it with errors that name the variable.
package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// Mode says whether the remediator writes (fix) or only reports what it would write (alert).
type Mode string

const (
	ModeAlert Mode = "alert"
	ModeFix   Mode = "fix"
)

// Defaults for the optional variables.
const (
	DefaultMemberRoleName  = "ami-kms-remediator-member"
	DefaultIAMPolicyName   = usagepolicy.DefaultName
	DefaultLogLevel        = "info"
	DefaultMetricNamespace = metrics.DefaultNamespace
	// DefaultMaxReceiveCount is the template's default maxReceiveCount of the event queue.
	DefaultMaxReceiveCount = 5
	// maxReceiveCountLimit is SQS's bound on a redrive policy's maxReceiveCount (1 to 1,000).
	maxReceiveCountLimit = 1000
)

// Key write scopes (the template's KeyWriteScope): which key policies the function's role, and
// the member role, may put. tagged-keys, the default, is the keys that opted in with the tag
// OptInTagKey = OptInTagValue; all-keys must be chosen explicitly.
const (
	WriteAllKeys    = "all-keys"
	WriteTaggedKeys = "tagged-keys"
)

// The tag a key opts in with under the tagged-keys scope (the roles' aws:ResourceTag condition).
const (
	OptInTagKey   = "ami-kms-remediator"
	OptInTagValue = "managed"
)

// Tag is a tag key and, when Value is set, its value (IAC_MANAGED_TAGS).
type Tag struct {
	Key   string
	Value string // "" matches any value
}

func (t Tag) String() string {
	if t.Value == "" {
		return t.Key
	}
	return t.Key + "=" + t.Value
}

// Config is the validated configuration.
type Config struct {
	Mode                  Mode
	TrustedAccountIDs     []string // sorted, 12 ASCII digits each
	TrustedOrganizationID string
	AlertTopicARN         string
	MemberRoleName        string
	// IAMPolicyName is the name the alert's manual identity-policy procedure gives the
	// key-scoped usage policy; the remediator itself writes no IAM.
	IAMPolicyName string
	LogLevel      string
	// EstateTable is the estate store's DynamoDB table ("": no store: every finding is told,
	// and a key-policy change re-checks nothing).
	EstateTable string
	// MetricNamespace is the CloudWatch namespace of the function's metrics (METRIC_NAMESPACE).
	MetricNamespace string
	// MaxReceiveCount is the event queue's maxReceiveCount (MAX_RECEIVE_COUNT, shared with its
	// redrive policy): the delivery whose ApproximateReceiveCount reaches it is the last one
	// before the dead-letter queue.
	MaxReceiveCount int
	// KeyWriteScope is which key policies the roles may put (KEY_WRITE_SCOPE: tagged-keys, the
	// default, or all-keys), as deployed. IAM enforces it; the function checks it first (with
	// the key's tags) only to explain a refusal before IAM denies the write. Anything but
	// all-keys, "" included, reads as tagged-keys.
	KeyWriteScope string
	// IaCTags are the tags that mark a key whose policy an infrastructure-as-code tool owns
	// (IAC_MANAGED_TAGS, e.g. managed-by=terraform), besides CloudFormation's own
	// aws:cloudformation:stack-id and its stack resources.
	IaCTags []Tag
	// EditIaCManagedKeys lets the remediator edit keys that IaC manages anyway
	// (EDIT_IAC_MANAGED_KEYS=true); by default they are reported, never edited.
	EditIaCManagedKeys bool
}

// TaggedKeysOnly reports whether only keys tagged OptInTagKey = OptInTagValue may be written.
func (c Config) TaggedKeysOnly() bool { return c.KeyWriteScope != WriteAllKeys }

// The shapes are checked by hand, not with regular expressions: compiling them is package
// initialisation every cold start pays (make bench, section 1).

// validOrgID: o- and 10 to 32 lowercase letters or digits (^o-[a-z0-9]{10,32}$).
func validOrgID(s string) bool {
	id, ok := strings.CutPrefix(s, "o-")
	return ok && len(id) >= 10 && len(id) <= 32 && awsid.AllBytes(id, isLowerOrDigit)
}

// validTopicARN: an SNS topic ARN (arn:aws*:sns:REGION:ACCOUNT:NAME) whose name, without .fifo,
// has 1 to 256 letters, digits, hyphens or underscores.
func validTopicARN(s string) bool {
	a, ok := awsid.ParseARN(s)
	if !ok || !strings.HasPrefix(a.Partition, "aws") || !awsid.AllBytes(a.Partition, isLowerOrHyphen) ||
		a.Service != "sns" || !awsid.AllBytes(a.Region, func(c byte) bool { return isLowerOrDigit(c) || c == '-' }) ||
		!awsid.IsAccountID(a.Account) {
		return false
	}
	name := strings.TrimSuffix(a.Resource, ".fifo")
	return len(name) <= 256 && awsid.AllBytes(name, func(c byte) bool { return isNameChar(c) || c == '-' || c == '_' })
}

// validIAMName: 1 to limit characters IAM accepts in role and policy names ([\w+=,.@-]).
func validIAMName(s string, limit int) bool {
	return len(s) <= limit && awsid.AllBytes(s, awsid.IsIAMNameChar)
}

// validTableName: 3 to 255 characters DynamoDB accepts in a table name ([A-Za-z0-9_.-]).
func validTableName(s string) bool {
	return len(s) >= 3 && len(s) <= 255 && awsid.AllBytes(s, func(c byte) bool { return isNameChar(c) || strings.IndexByte("_.-", c) >= 0 })
}

func isLowerOrDigit(c byte) bool  { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isLowerOrHyphen(c byte) bool { return c >= 'a' && c <= 'z' || c == '-' }
func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// FromEnv reads the configuration with getenv (os.Getenv in production).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Mode:                  Mode(strings.ToLower(strings.TrimSpace(getenv("MODE")))),
		TrustedOrganizationID: strings.TrimSpace(getenv("TRUSTED_ORGANIZATION_ID")),
		AlertTopicARN:         strings.TrimSpace(getenv("ALERT_TOPIC_ARN")),
		MemberRoleName:        strings.TrimSpace(getenv("MEMBER_ROLE_NAME")),
		IAMPolicyName:         strings.TrimSpace(getenv("IAM_POLICY_NAME")),
		LogLevel:              strings.ToLower(strings.TrimSpace(getenv("LOG_LEVEL"))),
		EstateTable:           strings.TrimSpace(getenv("ESTATE_TABLE")),
	}
	if c.Mode == "" {
		c.Mode = ModeAlert
	}
	if c.Mode != ModeAlert && c.Mode != ModeFix {
		return Config{}, fmt.Errorf("MODE: must be %q or %q, got %q", ModeAlert, ModeFix, getenv("MODE"))
	}
	ids, err := parseAccounts(getenv("TRUSTED_ACCOUNT_IDS"))
	if err != nil {
		return Config{}, fmt.Errorf("TRUSTED_ACCOUNT_IDS: %w", err)
	}
	c.TrustedAccountIDs = ids
	if c.TrustedOrganizationID != "" && !validOrgID(c.TrustedOrganizationID) {
		return Config{}, fmt.Errorf("TRUSTED_ORGANIZATION_ID: %q is not an organization ID (o-xxxxxxxxxx)", c.TrustedOrganizationID)
	}
	if c.AlertTopicARN != "" && !validTopicARN(c.AlertTopicARN) {
		return Config{}, fmt.Errorf("ALERT_TOPIC_ARN: %q is not an SNS topic ARN", c.AlertTopicARN)
	}
	if c.MemberRoleName == "" {
		c.MemberRoleName = DefaultMemberRoleName
	}
	if !validIAMName(c.MemberRoleName, 64) {
		return Config{}, fmt.Errorf("MEMBER_ROLE_NAME: %q is not a valid IAM role name", c.MemberRoleName)
	}
	if c.IAMPolicyName == "" {
		c.IAMPolicyName = DefaultIAMPolicyName
	}
	if !validIAMName(c.IAMPolicyName, 128) {
		return Config{}, fmt.Errorf("IAM_POLICY_NAME: %q is not a valid IAM policy name", c.IAMPolicyName)
	}
	if c.EstateTable != "" && !validTableName(c.EstateTable) {
		return Config{}, fmt.Errorf("ESTATE_TABLE: %q is not a DynamoDB table name", c.EstateTable)
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Config{}, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error, got %q", c.LogLevel)
	}
	c.MetricNamespace = strings.TrimSpace(getenv("METRIC_NAMESPACE"))
	if c.MetricNamespace == "" {
		c.MetricNamespace = DefaultMetricNamespace
	}
	if err := metrics.ValidNamespace(c.MetricNamespace); err != nil {
		return Config{}, fmt.Errorf("METRIC_NAMESPACE: %w", err)
	}
	c.MaxReceiveCount = DefaultMaxReceiveCount
	if v := strings.TrimSpace(getenv("MAX_RECEIVE_COUNT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxReceiveCountLimit {
			return Config{}, fmt.Errorf("MAX_RECEIVE_COUNT: must be a whole number from 1 to %d (the queue's maxReceiveCount), got %q", maxReceiveCountLimit, v)
		}
		c.MaxReceiveCount = n
	}
	c.KeyWriteScope = strings.ToLower(strings.TrimSpace(getenv("KEY_WRITE_SCOPE")))
	switch c.KeyWriteScope {
	case "":
		c.KeyWriteScope = WriteTaggedKeys
	case WriteAllKeys, WriteTaggedKeys:
	default:
		return Config{}, fmt.Errorf("KEY_WRITE_SCOPE: must be %s or %s, got %q", WriteTaggedKeys, WriteAllKeys, getenv("KEY_WRITE_SCOPE"))
	}
	if c.IaCTags, err = parseTags(getenv("IAC_MANAGED_TAGS")); err != nil {
		return Config{}, fmt.Errorf("IAC_MANAGED_TAGS: %w", err)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("EDIT_IAC_MANAGED_KEYS"))); v {
	case "", "false":
	case "true":
		c.EditIaCManagedKeys = true
	default:
		return Config{}, fmt.Errorf("EDIT_IAC_MANAGED_KEYS: must be true or false, got %q", getenv("EDIT_IAC_MANAGED_KEYS"))
	}
	return c, nil
}

// validTagText: what AWS accepts in tag keys and values, letters, digits, spaces and _ . : / = + - @
// (https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html).
func validTagText(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Zs, r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// parseTags reads a comma-separated list of tag keys, each optionally with =value. Keys are 1 to
// 128 characters and may not start with aws: (AWS's own tags, which nobody else can set);
// values are at most 256.
func parseTags(s string) ([]Tag, error) {
	var out []Tag
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		key, value, _ := strings.Cut(f, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case key == "" || len(key) > 128 || !validTagText(key):
			return nil, fmt.Errorf("%q: want a tag key of 1 to 128 letters, digits, spaces and _ . : / + - @, optionally =value", f)
		case strings.HasPrefix(strings.ToLower(key), "aws:"):
			return nil, fmt.Errorf("%q: tag keys starting with aws: are AWS's own (CloudFormation's aws:cloudformation:stack-id is always checked)", f)
		case len(value) > 256 || !validTagText(value):
			return nil, fmt.Errorf("%q: a tag value is at most 256 letters, digits, spaces and _ . : / = + - @", f)
		}
		out = append(out, Tag{Key: key, Value: value})
	}
	return out, nil
}

// Effective is the configuration as the function runs with it, for its one log line at cold
// start: mode, trust, write scope, topic and the rest, defaults filled in.
func (c Config) Effective() map[string]any {
	trusted := append([]string{}, c.TrustedAccountIDs...) // [] rather than null
	trust := "nobody: TRUSTED_ACCOUNT_IDS and TRUSTED_ORGANIZATION_ID are empty, so nothing is ever granted"
	switch {
	case len(trusted) > 0 && c.TrustedOrganizationID != "":
		trust = fmt.Sprintf("%d accounts and the members of organization %s", len(trusted), c.TrustedOrganizationID)
	case len(trusted) > 0:
		trust = fmt.Sprintf("%d accounts", len(trusted))
	case c.TrustedOrganizationID != "":
		trust = "the members of organization " + c.TrustedOrganizationID
	}
	topic := c.AlertTopicARN
	if topic == "" {
		topic = "none: no alerts are sent"
	}
	out := map[string]any{
		"mode":                 string(c.Mode),
		"trust":                trust,
		"trusted_accounts":     trusted,
		"trusted_organization": c.TrustedOrganizationID,
		"alert_topic":          topic,
		"member_role":          c.MemberRoleName,
		"iam_policy":           c.IAMPolicyName,
		"log_level":            c.LogLevel,
		"metric_namespace":     c.MetricNamespace,
		"max_receive_count":    c.MaxReceiveCount,
	}
	out["key_write_scope"] = c.KeyWriteScope
	if c.TaggedKeysOnly() {
		out["key_write_scope"] = WriteTaggedKeys + ": only keys tagged " + OptInTagKey + "=" + OptInTagValue
	}
	tags := []string{"aws:cloudformation:stack-id"}
	for _, t := range c.IaCTags {
		tags = append(tags, t.String())
	}
	out["iac_managed_tags"] = tags
	out["edit_iac_managed_keys"] = c.EditIaCManagedKeys
	out["estate_table"] = c.EstateTable
	if c.EstateTable == "" {
		out["estate_table"] = "none: every finding is told every time it is seen"
	}
	return out
}

// parseAccounts reads a comma- or space-separated list of 12-digit account IDs.
func parseAccounts(s string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if !awsid.IsAccountID(f) {
			return nil, fmt.Errorf("%q is not a 12-digit account ID", f)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Trusted reports whether the account is listed in TRUSTED_ACCOUNT_IDS (organization membership
// is checked by the caller, which needs AWS).
func (c Config) Trusted(account string) bool {
	i := sort.SearchStrings(c.TrustedAccountIDs, account)
	return i < len(c.TrustedAccountIDs) && c.TrustedAccountIDs[i] == account
}
