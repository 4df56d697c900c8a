// Package usagepolicy writes the IAM customer managed policy (KmsKeyUsagePolicy) that lets a
// principal in another account use specific KMS keys from EC2: the identity half of a
// cross-account key grant. It only edits documents; creating policy versions is the caller's job.
package usagepolicy

import (
	"fmt"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"slices"
	"strconv"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// DefaultName is the policy's name when IAM_POLICY_NAME does not set another.
const DefaultName = "KmsKeyUsagePolicy"

// The Sids of the two statements. IAM Sids are alphanumeric (no spaces, unlike key policies).
const (
	UseSid   = "AllowUseOfTheKey"
	GrantSid = "AllowAttachmentOfPersistentResources"
)

// MaxPolicyChars is IAM's size limit for a customer managed policy: 6,144 characters, not
// counting white space.
const MaxPolicyChars = 6144

// Result is the planned document and what changed.
type Result struct {
	Document []byte
	Changed  bool
	Created  bool     // there was no document: Document is a new one
	Added    []string // key ARNs added to the Resource of at least one statement, sorted
}

// RefusedError is returned when Ensure will not produce a document. Reason is a stable word:
// "invalid-key-arn", "invalid-policy", "too-large".
type RefusedError struct {
	Reason string
	Detail string
}

func (e *RefusedError) Error() string {
	return "usage policy edit refused: " + e.Reason + ": " + e.Detail
}

// ValidKeyARN reports whether s is a KMS key ARN in any partition:
// arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID (never an alias, never a wildcard).
func ValidKeyARN(s string) bool {
	a, ok := awsid.ParseARN(s)
	if !ok || !awsid.IsPartition(a.Partition) || a.Service != "kms" || !awsid.IsRegion(a.Region) || !awsid.IsAccountID(a.Account) {
		return false
	}
	id, ok := strings.CutPrefix(a.Resource, "key/")
	return ok && awsid.AllBytes(id, func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
	})
}

type need struct {
	sid     string
	actions []string
	grant   bool
}

var needs = []need{
	{sid: UseSid, actions: keypolicy.UseActions},
	{sid: GrantSid, actions: keypolicy.GrantActions, grant: true},
}

// Ensure returns the policy document allowing the key ARNs: a new document when existing is nil,
// else existing with the missing ARNs appended to the Resource of the use and grant statements
// (statements are added in the same form if they are missing or changed). Nothing else in the
// document changes. When every key is already covered, Changed is false and Document is
// existing. The error is a *RefusedError.
func Ensure(existing []byte, keyARNs []string) (Result, error) {
	for _, k := range keyARNs {
		if !ValidKeyARN(k) {
			return Result{Document: existing}, &RefusedError{Reason: "invalid-key-arn", Detail: fmt.Sprintf("%q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", k)}
		}
	}
	keyARNs = slices.Clone(keyARNs)
	slices.Sort(keyARNs)
	keyARNs = slices.Compact(keyARNs)

	if existing == nil {
		if len(keyARNs) == 0 {
			return Result{}, &RefusedError{Reason: "invalid-key-arn", Detail: "no key ARN to create the policy for"}
		}
		doc := New(keyARNs)
		if err := checkSize(doc); err != nil {
			return Result{}, err
		}
		return Result{Document: doc, Changed: true, Created: true, Added: keyARNs}, nil
	}

	d, err := policy.Parse(existing)
	if err != nil {
		return Result{Document: existing}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	added := map[string]bool{}
	for _, n := range needs {
		var missing []string
		for _, k := range keyARNs {
			if !covered(d.Statements(), k, n) {
				missing = append(missing, k)
				added[k] = true
			}
		}
		if len(missing) == 0 {
			continue
		}
		if err := add(d, n, missing); err != nil {
			return Result{Document: existing}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
		}
	}
	if len(added) == 0 {
		return Result{Document: existing, Added: []string{}}, nil
	}
	out := d.Bytes()
	if err := checkSize(out); err != nil {
		return Result{Document: existing}, err
	}
	list := make([]string, 0, len(added))
	for k := range added {
		list = append(list, k)
	}
	slices.Sort(list)
	return Result{Document: out, Changed: true, Added: list}, nil
}

// New returns a new KmsKeyUsagePolicy document for the key ARNs (as given), pretty-printed with a
// two-space indent.
func New(keyARNs []string) []byte {
	return policy.Encode(policy.Object(
		policy.Member{Key: "Version", Value: policy.String("2012-10-17")},
		policy.Member{Key: "Statement", Value: policy.List(statement(needs[0], UseSid, keyARNs), statement(needs[1], GrantSid, keyARNs))},
	), "  ")
}

func statement(n need, sid string, keyARNs []string) policy.Value {
	members := []policy.Member{
		{Key: "Sid", Value: policy.String(sid)},
		{Key: "Effect", Value: policy.String("Allow")},
		{Key: "Action", Value: policy.Strings(n.actions...)},
		{Key: "Resource", Value: policy.Strings(keyARNs...)},
	}
	if n.grant {
		members = append(members, policy.Member{Key: "Condition", Value: policy.Object(policy.Member{
			Key: "Bool", Value: policy.Object(policy.Member{Key: "kms:GrantIsForAWSResource", Value: policy.Bool(true)}),
		})})
	}
	return policy.Object(members...)
}

// Covers reports whether doc already allows keyARN both needs (use, and grants for AWS
// resources). An unparsable document covers nothing.
func Covers(doc []byte, keyARN string) bool {
	d, err := policy.Parse(doc)
	if err != nil {
		return false
	}
	for _, n := range needs {
		if !covered(d.Statements(), keyARN, n) {
			return false
		}
	}
	return true
}

// add appends the key ARNs to the statement that does exactly need n (its Sid preferred), or
// appends a new statement.
func add(d *policy.Document, n need, keyARNs []string) error {
	target := -1
	for _, s := range d.Statements() {
		if exact(s, n) && (target < 0 || (s.Sid == n.sid && d.Statements()[target].Sid != n.sid)) {
			target = s.Index
		}
	}
	if target >= 0 {
		if err := d.AppendStrings(target, []string{"Resource"}, keyARNs...); err != nil {
			return fmt.Errorf("add %s to statement %d: %w", strings.Join(keyARNs, ", "), target, err)
		}
		return nil
	}
	if _, err := d.AppendStatement(statement(n, freeSid(d.Statements(), n.sid), keyARNs)); err != nil {
		return fmt.Errorf("append statement for %s: %w", strings.Join(keyARNs, ", "), err)
	}
	return nil
}

// exact reports whether s allows exactly n's actions on listed resources, with exactly n's
// condition, so that adding a key ARN to its Resource grants that and nothing more.
func exact(s policy.Statement, n need) bool {
	if !plainAllow(s) || s.Action == nil || s.Resource == nil || slices.Contains(s.Resource.List, "*") {
		return false
	}
	if n.grant != (len(s.Conditions) > 0) || (n.grant && !isGrantCondition(s.Conditions)) {
		return false
	}
	return s.Action.SameSet(n.actions)
}

// plainAllow: an identity-policy Allow statement without the negated elements or a Principal.
func plainAllow(s policy.Statement) bool {
	return s.Effect == policy.Allow && s.Principal == nil && s.NotPrincipal == nil && s.NotAction == nil && s.NotResource == nil
}

func isGrantCondition(cs []policy.Condition) bool {
	return len(cs) == 1 && strings.EqualFold(cs[0].Operator, "Bool") &&
		strings.EqualFold(cs[0].Key, "kms:GrantIsForAWSResource") &&
		len(cs[0].Values) == 1 && strings.EqualFold(cs[0].Values[0], "true")
}

// covered reports whether some Allow statement allows each action of n on keyARN with no
// condition, or (grant need) exactly the grant condition.
func covered(stmts []policy.Statement, keyARN string, n need) bool {
	for _, action := range n.actions {
		ok := false
		for _, s := range stmts {
			if !plainAllow(s) || s.Action == nil || s.Resource == nil {
				continue
			}
			if len(s.Conditions) > 0 && !(n.grant && isGrantCondition(s.Conditions)) {
				continue
			}
			if anyMatch(s.Action.List, action, true) && anyMatch(s.Resource.List, keyARN, false) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, s string, fold bool) bool {
	match := policy.WildcardMatch
	if fold {
		match = policy.WildcardMatchFold
	}
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// freeSid returns sid, or sid with the first numeric suffix no statement uses.
func freeSid(stmts []policy.Statement, sid string) string {
	taken := func(c string) bool {
		return slices.ContainsFunc(stmts, func(s policy.Statement) bool { return s.Sid == c })
	}
	c := sid
	for i := 2; taken(c); i++ {
		c = sid + strconv.Itoa(i)
	}
	return c
}

// checkSize applies IAM's limit, which does not count white space outside strings.
func checkSize(doc []byte) error {
	n, inString, escaped := 0, false, false
	for _, c := range string(doc) {
		switch {
		case inString:
			n++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			n++
			inString = c == '"'
		}
	}
	if n > MaxPolicyChars {
		return &RefusedError{Reason: "too-large", Detail: fmt.Sprintf("the policy would have %d characters (white space not counted), over IAM's limit of %d", n, MaxPolicyChars)}
	}
	return nil
}
