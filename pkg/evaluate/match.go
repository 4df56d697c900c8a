package evaluate

import "strings"

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

// glob matches s against a pattern where '*' matches any run of characters (':' included) and
// '?' exactly one. Linear-time backtracking on the last star, so hostile patterns cannot blow up.
func glob(pattern, s string) bool { return globMatch(pattern, s, false) }

// globFold is glob ignoring ASCII case (IAM action names are case-insensitive).
func globFold(pattern, s string) bool { return globMatch(pattern, s, true) }

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func globMatch(pattern, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i] ||
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
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// splitARN splits an ARN into its six components (the last keeps any further ':').
func splitARN(s string) (parts [6]string, ok bool) {
	for i := 0; i < 5; i++ {
		var found bool
		parts[i], s, found = strings.Cut(s, ":")
		if !found {
			return parts, false
		}
	}
	parts[5] = s
	return parts, true
}

// arnGlob compares two ARNs component by component (partition, service, region, account,
// resource), each with wildcards, as the Arn condition operators do.
func arnGlob(pattern, s string) bool {
	pp, ok1 := splitARN(pattern)
	sp, ok2 := splitARN(s)
	if !ok1 || !ok2 {
		return false
	}
	for i := range pp {
		if !glob(pp[i], sp[i]) {
			return false
		}
	}
	return true
}

// hasVariable reports whether a policy string uses a policy variable such as ${aws:username}.
func hasVariable(s string) bool { return strings.Contains(s, "${") }

func matchActions(patterns []string, action string) bool {
	for _, p := range patterns {
		if globFold(p, action) {
			return true
		}
	}
	return false
}

// matchResources is yes when a pattern matches, unknown when none does but one uses a variable.
func matchResources(patterns []string, resource string) (tri, string) {
	out, unknown := no, ""
	for _, p := range patterns {
		if hasVariable(p) {
			out = out.or(maybe)
			if unknown == "" {
				unknown = p
			}
			continue
		}
		if glob(p, resource) {
			return yes, ""
		}
	}
	return out, unknown
}
