package evaluate

import (
	"fmt"
	"strings"
)

// Policy variables (IAM User Guide, "IAM policy elements: Variables and tags"):
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
//   - they are substituted only in documents whose Version is "2012-10-17"; in any other
//     document "${aws:username}" is literal text;
//   - they are used in Resource/NotResource and in the values of the string and ARN condition
//     operators;
//   - ${*}, ${?} and ${$} stand for a literal '*', '?' and '$';
//   - ${key, 'default'} takes the default when the request has no value for key;
//   - a variable whose key has no value in the request makes that value match nothing: a
//     positive operator does not match it, a negated one does, and a Resource holding it
//     matches no resource.
//
// A key the request may carry but whose value is not known (Request.Unknown) makes the value
// "not evaluated"; so does a multi-valued key (a variable stands for one value) and a variable
// this parser cannot read.

// policyVersion is the policy language version that has policy variables.
const policyVersion = "2012-10-17"

// pattern is a policy string after substitution. lit marks the bytes that stand for themselves
// even though they are '*' or '?' (from ${*}, ${?} or a substituted value); nil when none.
type pattern struct {
	s   string
	lit []bool
}

type varState int8

const (
	varOK      varState = iota
	varNoValue          // a variable's key has no value in the request (and no default)
	varUnknown          // a variable's value is not known, or the variable cannot be read
)

// keyState says what the request holds for a context key.
type keyState int8

const (
	keyAbsent keyState = iota
	keyPresent
	keyUnknown
)

// lookup returns the values of a context key (any case) and whether the request has it.
func (rq *prepared) lookup(key string) ([]string, keyState) {
	lk := strings.ToLower(key)
	if v, ok := rq.context()[lk]; ok {
		if len(v) == 0 {
			return nil, keyAbsent
		}
		return v, keyPresent
	}
	if rq.isUnknown(lk) {
		return nil, keyUnknown
	}
	return nil, keyAbsent
}

func (rq *prepared) isUnknown(lk string) bool {
	for _, u := range rq.req.Unknown {
		n := len(u)
		if n == 0 {
			continue
		}
		if c := u[n-1]; c == ':' || c == '/' {
			if len(lk) >= n && strings.EqualFold(lk[:n], u) {
				return true
			}
		} else if strings.EqualFold(lk, u) {
			return true
		}
	}
	return false
}

// hasVariable reports whether a policy string uses a policy variable such as ${aws:username}.
func hasVariable(s string) bool { return strings.Contains(s, "${") }

// expand substitutes the policy variables of s; without variables (or in a document whose
// Version has none) s is returned as it is. why says what could not be substituted.
func (rq *prepared) expand(s string) (pattern, varState, string) {
	if !rq.vars || !hasVariable(s) {
		return pattern{s: s}, varOK, ""
	}
	var b strings.Builder
	var lit []bool
	write := func(t string, literal bool) {
		if literal && strings.ContainsAny(t, "*?") {
			if lit == nil {
				lit = make([]bool, b.Len(), len(s))
			}
		}
		b.WriteString(t)
		if lit != nil {
			for range len(t) {
				lit = append(lit, literal)
			}
		}
	}
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			write(rest, false)
			break
		}
		write(rest[:i], false)
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return pattern{}, varUnknown, fmt.Sprintf("policy variable in %q is not closed", s)
		}
		body := rest[i+2 : i+end]
		rest = rest[i+end+1:]
		switch body {
		case "*", "?", "$":
			write(body, true)
			continue
		}
		name, def, hasDef, ok := parseVariable(body)
		if !ok {
			return pattern{}, varUnknown, fmt.Sprintf("policy variable ${%s} cannot be read", body)
		}
		vals, st := rq.lookup(name)
		switch {
		case st == keyUnknown:
			return pattern{}, varUnknown, fmt.Sprintf("policy variable ${%s}: the request carries %s but its value is not known", body, name)
		case st == keyPresent && len(vals) > 1:
			return pattern{}, varUnknown, fmt.Sprintf("policy variable ${%s}: %s has several values", body, name)
		case st == keyPresent:
			write(vals[0], true)
		case hasDef:
			write(def, false)
		default:
			return pattern{}, varNoValue, ""
		}
	}
	return pattern{s: b.String(), lit: lit}, varOK, ""
}

// parseVariable reads "key" or "key, 'default'" (IAM User Guide, "Specifying default values").
func parseVariable(body string) (name, def string, hasDef, ok bool) {
	name, rest, found := strings.Cut(body, ",")
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " '${") {
		return "", "", false, false
	}
	if !found {
		return name, "", false, true
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
		return "", "", false, false
	}
	return name, rest[1 : len(rest)-1], true, true
}
