package policy

// The one wildcard matcher of the project: IAM matches Action, NotAction, Resource, NotResource
// and the StringLike/ArnLike condition operators with '*' (any run of characters, possibly none)
// and '?' (exactly one character).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
//
// '*' spans ':' and '/', so "arn:aws:kms:*" covers every key ARN. '?' matches one byte (policy
// patterns and the names they match are ASCII in practice). The matcher backtracks only to the
// last star, so it is linear in practice and a hostile pattern cannot make it blow up.

// WildcardMatch reports whether s matches pattern, case-sensitively (resources, StringLike).
func WildcardMatch(pattern, s string) bool { return wildcard(pattern, nil, s, false) }

// WildcardMatchFold is WildcardMatch ignoring ASCII case (action names are case-insensitive).
func WildcardMatchFold(pattern, s string) bool { return wildcard(pattern, nil, s, true) }

// WildcardMatchLiteral is WildcardMatch (or WildcardMatchFold with fold) where the pattern bytes
// marked in literal match only themselves: a '*' or '?' that a policy wrote as the policy
// variable ${*} or ${?}. literal is nil or as long as pattern.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html (special characters)
func WildcardMatchLiteral(pattern string, literal []bool, s string, fold bool) bool {
	return wildcard(pattern, literal, s, fold)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func wildcard(pattern string, literal []bool, s string, fold bool) bool {
	special := func(i int, c byte) bool { return pattern[i] == c && (literal == nil || !literal[i]) }
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && special(p, '*'):
			star, mark = p, i
			p++
		case p < len(pattern) && (special(p, '?') || pattern[p] == s[i] ||
			(fold && lowerASCII(pattern[p]) == lowerASCII(s[i]))):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && special(p, '*') {
		p++
	}
	return p == len(pattern)
}
