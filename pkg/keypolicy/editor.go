package keypolicy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// need is one of the two things EC2 needs from the key policy for an account.
type need struct {
	sid     string
	actions []string
	grant   bool   // needs the kms:GrantIsForAWSResource condition
	what    string // for descriptions: "use the key (...)"
}

var needs = []need{
	{sid: UseSid, actions: UseActions, what: "use the key (" + strings.Join(UseActions, ", ") + ")"},
	{sid: GrantSid, actions: GrantActions, grant: true, what: "attach persistent resources (" + strings.Join(GrantActions, ", ") + " when kms:GrantIsForAWSResource is true)"},
}

// EnsureAccounts makes the key policy allow each account's root the use and attachment actions
// (see the package doc), adding only what is missing. Re-running on its output changes nothing.
//
// Per account and per need it first checks whether the policy already allows it (an Allow
// statement naming the account by ID or root ARN, or "*", whose actions cover the need and whose
// conditions are none or exactly the grant condition). Missing accounts are added to the statement
// that does exactly this (AWS's default Sid preferred), or to a new statement in AWS's default
// form appended at the end. Deny statements and statements with other conditions are never
// extended. The error is a *RefusedError.
func EnsureAccounts(doc []byte, accounts []string) (Edit, error) {
	for _, a := range accounts {
		if !awsid.IsAccountID(a) {
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-account", Detail: fmt.Sprintf("%q is not a 12-digit AWS account ID", a)}
		}
	}
	accounts = slices.Clone(accounts)
	slices.Sort(accounts)
	accounts = slices.Compact(accounts)

	d, err := policy.Parse(doc)
	if err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	partition := partitionOf(d)
	var changes []Change
	for _, n := range needs {
		var missing []string
		for _, a := range accounts {
			if !covered(d.Statements(), a, n) {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 {
			continue
		}
		cs, err := add(d, n, missing, partition)
		if err != nil {
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
		}
		changes = append(changes, cs...)
	}
	if len(changes) == 0 {
		return Edit{Document: doc, Changes: []Change{}}, nil
	}
	out := d.Bytes()
	if len(out) > MaxPolicyBytes {
		return Edit{Document: doc}, &RefusedError{Reason: "too-large", Detail: fmt.Sprintf("the edited policy would be %d bytes, over KMS's limit of %d", len(out), MaxPolicyBytes)}
	}
	if off, r, ok := kmsCharacters(out); !ok {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-characters", Detail: fmt.Sprintf("byte offset %d holds %s, which KMS does not accept in a key policy", off, r)}
	}
	return Edit{Document: out, Changes: changes, Changed: true}, nil
}

// RootARN is the principal the editor adds for an account.
func RootARN(partition, account string) string {
	return "arn:" + partition + ":iam::" + account + ":root"
}

// add gives the missing accounts need n: by extending the statement that does exactly n, else by
// appending a new statement.
func add(d *policy.Document, n need, missing []string, partition string) ([]Change, error) {
	stmts := d.Statements()
	target := -1
	for _, s := range stmts {
		if extendable(s, n) && (target < 0 || (s.Sid == n.sid && stmts[target].Sid != n.sid)) {
			target = s.Index
		}
	}
	arns := make([]string, len(missing))
	for i, a := range missing {
		arns[i] = RootARN(partition, a)
	}
	kind := "add-principal"
	var sid string
	if target >= 0 {
		s := stmts[target]
		sid = s.Sid
		var err error
		if _, ok := s.Principal.By["AWS"]; ok {
			err = d.AppendStrings(target, []string{"Principal", "AWS"}, arns...)
		} else {
			err = d.AddMember(target, []string{"Principal"}, "AWS", principalValue(arns))
		}
		if err != nil {
			return nil, fmt.Errorf("add %s to statement %d: %w", strings.Join(arns, ", "), target, err)
		}
	} else {
		kind = "add-statement"
		sid = freeSid(stmts, n.sid)
		members := []policy.Member{
			{Key: "Sid", Value: policy.String(sid)},
			{Key: "Effect", Value: policy.String("Allow")},
			{Key: "Principal", Value: policy.Object(policy.Member{Key: "AWS", Value: principalValue(arns)})},
			{Key: "Action", Value: policy.Strings(n.actions...)},
			{Key: "Resource", Value: policy.String("*")},
		}
		if n.grant {
			members = append(members, policy.Member{Key: "Condition", Value: policy.Object(policy.Member{
				Key: "Bool", Value: policy.Object(policy.Member{Key: "kms:GrantIsForAWSResource", Value: policy.String("true")}),
			})})
		}
		var err error
		if target, err = d.AppendStatement(policy.Object(members...)); err != nil {
			return nil, fmt.Errorf("append statement %q: %w", sid, err)
		}
	}
	changes := make([]Change, len(missing))
	for i, a := range missing {
		verb := "added to"
		if kind == "add-statement" {
			verb = "added new"
		}
		changes[i] = Change{
			Kind:      kind,
			Sid:       sid,
			Statement: target,
			Account:   a,
			Description: fmt.Sprintf("allow %s to %s: %s statement %d %s",
				arns[i], n.what, verb, target, strconv.Quote(sid)),
		}
	}
	return changes, nil
}

// principalValue writes one principal as a string (AWS's default form) and several as a list.
func principalValue(arns []string) policy.Value {
	if len(arns) == 1 {
		return policy.String(arns[0])
	}
	return policy.Strings(arns...)
}

// freeSid returns sid, or sid with the first numeric suffix no statement uses.
func freeSid(stmts []policy.Statement, sid string) string {
	taken := func(s string) bool {
		for _, st := range stmts {
			if st.Sid == s {
				return true
			}
		}
		return false
	}
	if !taken(sid) {
		return sid
	}
	for i := 2; ; i++ {
		if c := sid + " " + strconv.Itoa(i); !taken(c) {
			return c
		}
	}
}

// partitionOf returns the partition the policy's IAM principals use ("aws" when none says).
func partitionOf(d *policy.Document) string {
	for _, s := range d.Statements() {
		for _, p := range []*policy.Principal{s.Principal, s.NotPrincipal} {
			if p == nil {
				continue
			}
			for _, v := range p.By["AWS"] {
				if rest, ok := strings.CutPrefix(v, "arn:"); ok {
					if part, _, ok := strings.Cut(rest, ":"); ok && strings.HasPrefix(part, "aws") {
						return part
					}
				}
			}
		}
	}
	return "aws"
}

// allowsKey reports whether s is an Allow statement that can apply to this key at all: no
// NotPrincipal, NotAction or NotResource, and a Resource naming the key ("*" or a KMS ARN).
func allowsKey(s policy.Statement) bool {
	if s.Effect != policy.Allow || s.NotPrincipal != nil || s.NotAction != nil || s.NotResource != nil || s.Resource == nil || s.Principal == nil {
		return false
	}
	for _, r := range s.Resource.List {
		if r == "*" || strings.Contains(r, ":kms:") {
			return true
		}
	}
	return false
}

// conditionsHold reports whether s's conditions certainly hold when EC2 uses the key for need n:
// none at all, or (for the grant need) exactly kms:GrantIsForAWSResource = true.
func conditionsHold(s policy.Statement, n need) bool {
	if len(s.Conditions) == 0 {
		return true
	}
	return n.grant && isGrantCondition(s.Conditions)
}

func isGrantCondition(cs []policy.Condition) bool {
	return len(cs) == 1 && strings.EqualFold(cs[0].Operator, "Bool") &&
		strings.EqualFold(cs[0].Key, "kms:GrantIsForAWSResource") &&
		len(cs[0].Values) == 1 && strings.EqualFold(cs[0].Values[0], "true")
}

// extendable reports whether s does exactly need n, so that adding a principal to it grants the
// account n and nothing more.
func extendable(s policy.Statement, n need) bool {
	if !allowsKey(s) || s.Principal.Wildcard || s.Action == nil {
		return false
	}
	if n.grant != (len(s.Conditions) > 0) || (n.grant && !isGrantCondition(s.Conditions)) {
		return false
	}
	return s.Action.SameSet(n.actions)
}

// covered reports whether the statements already allow account a every action of need n.
func covered(stmts []policy.Statement, a string, n need) bool {
	for _, action := range n.actions {
		ok := false
		for _, s := range stmts {
			if allowsKey(s) && s.Action != nil && conditionsHold(s, n) && names(s.Principal, a) && matchesAny(s.Action.List, action) {
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

// names reports whether p names account a: "*", the account ID or its root ARN in any partition.
func names(p *policy.Principal, a string) bool {
	if p.Wildcard {
		return true
	}
	for _, v := range p.By["AWS"] {
		if v == "*" || v == a {
			return true
		}
		if rest, ok := strings.CutPrefix(v, "arn:"); ok {
			if part, tail, ok := strings.Cut(rest, ":"); ok && strings.HasPrefix(part, "aws") && tail == "iam::"+a+":root" {
				return true
			}
		}
	}
	return false
}

func matchesAny(patterns []string, action string) bool {
	for _, p := range patterns {
		if policy.WildcardMatch(strings.ToLower(p), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// kmsCharacters checks the characters KMS accepts in a key policy (PutKeyPolicy): tab, line feed,
// carriage return, printable ASCII (U+0020-U+007E) and the printable Latin-1 Supplement
// (U+00A0-U+00FF). It returns the offset and description of the first other character.
func kmsCharacters(b []byte) (int, string, bool) {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return i, fmt.Sprintf("invalid UTF-8 byte 0x%02x", b[i]), false
		case r == '\t' || r == '\n' || r == '\r', r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xff:
		default:
			return i, fmt.Sprintf("%U", r), false
		}
		i += size
	}
	return 0, "", true
}
