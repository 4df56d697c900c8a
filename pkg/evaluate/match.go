package evaluate

import (
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// tri is a three-valued truth: a part of a statement matches, does not, or could not be evaluated.
type tri int8

const (
	no tri = iota
	maybe
	yes
)

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

// or is true when any is true, unknown when none is true but one is unknown.
func (t tri) or(u tri) tri { return max(t, u) }

// and is false when any is false, unknown when none is false but one is unknown.
func (t tri) and(u tri) tri { return min(t, u) }

func (t tri) not() tri { return yes - t }

// glob and globFold are the project's one wildcard matcher (package policy).
func glob(pattern, s string) bool     { return policy.WildcardMatch(pattern, s) }
func globFold(pattern, s string) bool { return policy.WildcardMatchFold(pattern, s) }

// splitARN splits an ARN into its six components (the last keeps any further ':'), with the
// offset where each starts.
func splitARN(s string) (parts [6]string, ok bool) {
	parts, _, ok = splitARNAt(s)
	return parts, ok
}

func splitARNAt(s string) (parts [6]string, starts [6]int, ok bool) {
	pos := 0
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(s[pos:], ':')
		if j < 0 {
			return parts, starts, false
		}
		parts[i], starts[i] = s[pos:pos+j], pos
		pos += j + 1
	}
	parts[5], starts[5] = s[pos:], pos
	return parts, starts, true
}

// arnGlob compares two ARNs component by component (partition, service, region, account,
// resource), each with wildcards, as the Arn condition operators do. ok is false when either
// side is not an ARN of six components: that value cannot be compared.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
func arnGlob(p pattern, s string) (match, ok bool) {
	pp, starts, ok1 := splitARNAt(p.s)
	sp, ok2 := splitARN(s)
	if !ok1 || !ok2 {
		return false, false
	}
	for i := range pp {
		var lit []bool
		if p.lit != nil {
			lit = p.lit[starts[i] : starts[i]+len(pp[i])]
		}
		if !policy.WildcardMatchLiteral(pp[i], lit, sp[i], false) {
			return false, true
		}
	}
	return true, true
}

func matchActions(patterns []string, action string) bool {
	for _, p := range patterns {
		if globFold(p, action) {
			return true
		}
	}
	return false
}

// matchResources is yes when a pattern matches the request's resource, unknown when none does
// but one uses a policy variable whose value is not known. A pattern whose variable has no
// value matches no resource (IAM User Guide, "Policy variables with no value").
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
func matchResources(patterns []string, rq *prepared) (tri, string) {
	out, unknown := no, ""
	for _, p := range patterns {
		pat, st, why := rq.expand(p)
		switch st {
		case varNoValue:
			continue
		case varUnknown:
			out = out.or(maybe)
			if unknown == "" {
				unknown = why
			}
			continue
		}
		if policy.WildcardMatchLiteral(pat.s, pat.lit, rq.req.Resource, false) {
			return yes, ""
		}
	}
	return out, unknown
}
