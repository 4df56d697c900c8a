package evaluate

import (
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

type principalKind int8

const (
	kindOther principalKind = iota
	kindRoot
	kindUser
	kindRole
	kindSession
	kindFederated
	kindService
	kindAnonymous
)

// principal is a request principal (or a principal named in a policy), taken apart.
type principal struct {
	raw       string
	kind      principalKind
	partition string
	account   string
	roleName  string // kindRole and kindSession: the role's name (last path segment)
}

// parsePrincipal never fails: what it does not recognise is kindOther and matches only itself.
func parsePrincipal(s string) principal {
	p := principal{raw: s}
	switch {
	case s == "":
		p.kind = kindAnonymous
		return p
	case awsid.IsAccountID(s):
		p.kind, p.partition, p.account = kindRoot, "aws", s
		return p
	case !strings.HasPrefix(s, "arn:"):
		if strings.Contains(s, ".") {
			p.kind = kindService
		}
		return p
	}
	ap, ok := awsid.ParsePrincipal(s)
	if !ok {
		return p
	}
	p.partition, p.account = ap.Partition, ap.Account
	switch ap.Kind {
	case awsid.PrincipalRoot:
		p.kind = kindRoot
	case awsid.PrincipalUser:
		p.kind = kindUser
	case awsid.PrincipalRole, awsid.PrincipalServiceLinkedRole:
		p.kind, p.roleName = kindRole, ap.Name
	case awsid.PrincipalAssumedRole:
		p.kind, p.roleName = kindSession, ap.Name
	case awsid.PrincipalFederated:
		p.kind = kindFederated
	}
	return p
}

// rootARN is the account's root ARN in the principal's partition.
func (p principal) rootARN() string {
	part := p.partition
	if part == "" {
		part = "aws"
	}
	return "arn:" + part + ":iam::" + p.account + ":root"
}

// roleARN is the IAM role ARN of a role or session principal. A session loses the role's path,
// so the role ARN built from a session has none.
func (p principal) roleARN() string {
	if p.kind == kindRole {
		return p.raw
	}
	return "arn:" + p.partition + ":iam::" + p.account + ":role/" + p.roleName
}

// matchKind says how a policy principal value matched the request principal.
type matchKind int8

const (
	matchNone matchKind = iota
	// matchAccount: the value names the principal's account (ID or :root) and the principal is
	// not the root user: the account delegates to its identity policies.
	matchAccount
	// matchRole: the value is the role ARN of a role session. Within the account, such a grant
	// is limited by an implicit deny in the role's permissions boundary (not by its identity
	// policies).
	matchRole
	// matchExact: the value names the principal itself ("*", its ARN, its session, its service).
	matchExact
)

// matchAWSValue matches one value of a Principal's "AWS" list.
func matchAWSValue(v string, req principal) matchKind {
	if v == "*" {
		return matchExact
	}
	if req.kind == kindAnonymous || req.kind == kindService {
		return matchNone
	}
	if v == req.raw {
		return matchExact
	}
	// Only a value naming the principal's account can match it (its ID, root or role).
	if req.account == "" || !strings.Contains(v, req.account) {
		return matchNone
	}
	pv := parsePrincipal(v)
	switch pv.kind {
	case kindRoot:
		if pv.account != req.account || req.account == "" {
			return matchNone
		}
		if !awsid.IsAccountID(v) && req.partition != "" && pv.partition != req.partition {
			return matchNone
		}
		if req.kind == kindRoot {
			return matchExact
		}
		return matchAccount
	case kindRole:
		// A session matches its role; the session ARN has no path, so compare account + name.
		// Role names are unique in an account whatever the path, so a role ARN given with or
		// without its path still names the same role.
		if (req.kind == kindSession || req.kind == kindRole) && pv.account == req.account && pv.partition == req.partition &&
			pv.roleName == req.roleName {
			return matchRole
		}
	}
	return matchNone
}

// matchPrincipalValue matches one value of a principal type ("AWS", "Service", ...).
func matchPrincipalValue(typ, v string, req principal) matchKind {
	switch {
	case strings.EqualFold(typ, "AWS"):
		return matchAWSValue(v, req)
	case strings.EqualFold(typ, "Service"):
		if v == "*" || (req.kind == kindService && strings.EqualFold(v, req.raw)) {
			return matchExact
		}
	default: // Federated, CanonicalUser and anything else: only the identical principal.
		if v == "*" || (req.raw != "" && v == req.raw) {
			return matchExact
		}
	}
	return matchNone
}

// sortedTypes gives the principal types in a fixed order, so reasons do not depend on map order.
func sortedTypes(p *policy.Principal) []string {
	types := make([]string, 0, len(p.By))
	for t := range p.By {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// matchPrincipal returns the best match of a Principal element and the value that gave it.
func matchPrincipal(p *policy.Principal, req principal) (matchKind, string) {
	if p.Wildcard {
		return matchExact, "*"
	}
	best, via := matchNone, ""
	try := func(typ string, vals []string) {
		for _, v := range vals {
			if k := matchPrincipalValue(typ, v, req); k > best {
				best, via = k, v
			}
		}
	}
	if len(p.By) == 1 { // the common case, without sorting
		for typ, vals := range p.By {
			try(typ, vals)
		}
		return best, via
	}
	for _, typ := range sortedTypes(p) {
		try(typ, p.By[typ])
	}
	return best, via
}

// notPrincipalApplies: a NotPrincipal statement applies unless every identity the request
// carries (the principal, its role for a session, its account) is listed. A Deny with
// NotPrincipal always applies to an IAM user or role that has a permissions boundary, whatever
// it lists (IAM User Guide, "Permissions boundaries for IAM entities").
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
func notPrincipalApplies(p *policy.Principal, req principal, boundary bool) bool {
	if boundary && (req.kind == kindUser || req.kind == kindRole || req.kind == kindSession) {
		return true
	}
	if p.Wildcard {
		return false
	}
	listed := func(want func(typ, v string) bool) bool {
		for _, typ := range sortedTypes(p) {
			for _, v := range p.By[typ] {
				if v == "*" || want(typ, v) {
					return true
				}
			}
		}
		return false
	}
	self := listed(func(typ, v string) bool {
		if strings.EqualFold(typ, "Service") {
			return req.kind == kindService && strings.EqualFold(v, req.raw)
		}
		if req.kind == kindRoot && strings.EqualFold(typ, "AWS") {
			return matchAWSValue(v, req) == matchExact
		}
		return req.raw != "" && v == req.raw
	})
	if !self {
		return true
	}
	if req.kind == kindSession {
		role := listed(func(typ, v string) bool {
			pv := parsePrincipal(v)
			return strings.EqualFold(typ, "AWS") && pv.kind == kindRole && pv.account == req.account &&
				pv.roleName == req.roleName
		})
		if !role {
			return true
		}
	}
	if req.account != "" && req.kind != kindRoot {
		acct := listed(func(typ, v string) bool {
			return strings.EqualFold(typ, "AWS") && matchAWSValue(v, req) == matchAccount
		})
		if !acct {
			return true
		}
	}
	return false
}
