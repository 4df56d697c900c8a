// Package config reads the remediator's configuration from the environment, once, and validates
// it with errors that name the variable.
package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

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

// Key write scopes (the template's KeyWriteScope): what the function's role may write.
const (
	WriteAllKeys    = "all-keys"
	WriteTaggedKeys = "tagged-keys"
)

// Config is the validated configuration.
type Config struct {
	Mode                  Mode
	TrustedAccountIDs     []string // sorted, 12 ASCII digits each
	TrustedOrganizationID string
	AlertTopicARN         string
	MemberRoleName        string
	IAMPolicyName         string
	LogLevel              string
	// EstateTable is the estate store's DynamoDB table ("": no store: every finding is told,
	// and a key-policy change re-checks nothing).
	EstateTable string
	// MetricNamespace is the CloudWatch namespace of the function's metrics (METRIC_NAMESPACE).
	MetricNamespace string
	// MaxReceiveCount is the event queue's maxReceiveCount (MAX_RECEIVE_COUNT, shared with its
	// redrive policy): the delivery whose ApproximateReceiveCount reaches it is the last one
	// before the dead-letter queue.
	MaxReceiveCount int
	// KeyWriteScope is what the function's role may write (KEY_WRITE_SCOPE: all-keys or
	// tagged-keys), as deployed; "" when not stated. IAM enforces it; the function reports it.
	KeyWriteScope string
}

// The patterns check shapes with + and the lengths are checked apart: a bounded repetition such
// as {1,256} compiles to that many copies of its class, and the four bounded patterns cost about
// 1 ms and 450 KB of package initialisation at every cold start (make bench, section 1).
var (
	orgPattern     = regexp.MustCompile(`^o-[a-z0-9]+$`)
	topicPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:([A-Za-z0-9_-]+)(\.fifo)?$`)
	iamNamePattern = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]+$`)
	tablePattern   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// validOrgID: o- and 10 to 32 lowercase letters or digits.
func validOrgID(s string) bool { return len(s) >= 12 && len(s) <= 34 && orgPattern.MatchString(s) }

// validTopicARN: an SNS topic ARN whose name (without .fifo) has 1 to 256 characters.
func validTopicARN(s string) bool {
	m := topicPattern.FindStringSubmatch(s)
	return m != nil && len(m[1]) <= 256
}

// validIAMName: 1 to limit characters IAM accepts in role and policy names.
func validIAMName(s string, limit int) bool { return len(s) <= limit && iamNamePattern.MatchString(s) }

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
	if c.EstateTable != "" && (len(c.EstateTable) < 3 || len(c.EstateTable) > 255 || !tablePattern.MatchString(c.EstateTable)) {
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
	case "", WriteAllKeys, WriteTaggedKeys:
	default:
		return Config{}, fmt.Errorf("KEY_WRITE_SCOPE: must be %s or %s, got %q", WriteAllKeys, WriteTaggedKeys, getenv("KEY_WRITE_SCOPE"))
	}
	return c, nil
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
	if c.KeyWriteScope != "" {
		out["key_write_scope"] = c.KeyWriteScope
	}
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
