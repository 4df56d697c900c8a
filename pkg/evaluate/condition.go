package evaluate

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

type setQualifier int8

const (
	setNone setQualifier = iota
	setAny               // ForAnyValue:
	setAll               // ForAllValues:
)

type valueType int8

const (
	typeString valueType = iota
	typeStringFold
	typeStringLike
	typeNumeric
	typeDate
	typeBool
	typeBinary
	typeIP
	typeArn
	typeNull
)

type cmpOp int8

const (
	cmpEq cmpOp = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

// baseOp is a condition operator without set qualifier and IfExists suffix.
type baseOp struct {
	typ     valueType
	cmp     cmpOp
	negated bool
}

// baseOps lists every operator of the IAM "Condition operators" reference, by lower-cased name.
var baseOps = map[string]baseOp{
	"stringequals":              {typ: typeString},
	"stringnotequals":           {typ: typeString, negated: true},
	"stringequalsignorecase":    {typ: typeStringFold},
	"stringnotequalsignorecase": {typ: typeStringFold, negated: true},
	"stringlike":                {typ: typeStringLike},
	"stringnotlike":             {typ: typeStringLike, negated: true},
	"numericequals":             {typ: typeNumeric},
	"numericnotequals":          {typ: typeNumeric, negated: true},
	"numericlessthan":           {typ: typeNumeric, cmp: cmpLt},
	"numericlessthanequals":     {typ: typeNumeric, cmp: cmpLe},
	"numericgreaterthan":        {typ: typeNumeric, cmp: cmpGt},
	"numericgreaterthanequals":  {typ: typeNumeric, cmp: cmpGe},
	"dateequals":                {typ: typeDate},
	"datenotequals":             {typ: typeDate, negated: true},
	"datelessthan":              {typ: typeDate, cmp: cmpLt},
	"datelessthanequals":        {typ: typeDate, cmp: cmpLe},
	"dategreaterthan":           {typ: typeDate, cmp: cmpGt},
	"dategreaterthanequals":     {typ: typeDate, cmp: cmpGe},
	"bool":                      {typ: typeBool},
	"binaryequals":              {typ: typeBinary},
	"ipaddress":                 {typ: typeIP},
	"notipaddress":              {typ: typeIP, negated: true},
	"arnequals":                 {typ: typeArn},
	"arnlike":                   {typ: typeArn},
	"arnnotequals":              {typ: typeArn, negated: true},
	"arnnotlike":                {typ: typeArn, negated: true},
	"null":                      {typ: typeNull},
}

type operator struct {
	baseOp
	set      setQualifier
	ifExists bool
}

func parseOperator(name string) (operator, bool) {
	var op operator
	s := strings.ToLower(name)
	switch {
	case strings.HasPrefix(s, "foranyvalue:"):
		op.set, s = setAny, s[len("foranyvalue:"):]
	case strings.HasPrefix(s, "forallvalues:"):
		op.set, s = setAll, s[len("forallvalues:"):]
	}
	if b, ok := baseOps[s]; ok {
		op.baseOp = b
		return op, true
	}
	if t, ok := strings.CutSuffix(s, "ifexists"); ok && t != "null" {
		if b, ok := baseOps[t]; ok {
			op.baseOp, op.ifExists = b, true
			return op, true
		}
	}
	return op, false
}

// errUnevaluable marks a value the evaluator cannot compare (bad number, date, IP or ARN).
var errUnevaluable = errors.New("not evaluated")

// compare is the positive operator for one request value and one policy value (policy variables
// already substituted). An error means the pair cannot be compared: a policy or request value
// that does not parse as the operator's type. Such a pair never decides a statement: with a
// negated operator it would otherwise read as "does not match" and count towards an Allow.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
func compare(op baseOp, rv string, p pattern) (bool, error) {
	pv := p.s
	switch op.typ {
	case typeString:
		return rv == pv, nil
	case typeStringFold:
		return strings.EqualFold(rv, pv), nil
	case typeStringLike:
		return policy.WildcardMatchLiteral(pv, p.lit, rv, false), nil
	case typeBool:
		if !strings.EqualFold(pv, "true") && !strings.EqualFold(pv, "false") {
			return false, fmt.Errorf("%w: %q is not a boolean", errUnevaluable, pv)
		}
		return strings.EqualFold(rv, pv), nil
	case typeBinary:
		return rv == pv, nil
	case typeArn:
		m, ok := arnGlob(p, rv)
		if !ok {
			return false, fmt.Errorf("%w: %q or %q is not an ARN", errUnevaluable, pv, rv)
		}
		return m, nil
	case typeIP:
		prefix, err := parsePrefix(pv)
		if err != nil {
			return false, fmt.Errorf("%w: %q is not an IP address or CIDR", errUnevaluable, pv)
		}
		addr, err := netip.ParseAddr(rv)
		if err != nil {
			return false, fmt.Errorf("%w: the request value %q is not an IP address", errUnevaluable, rv)
		}
		return prefix.Contains(addr.Unmap()), nil
	case typeNumeric:
		p, err := strconv.ParseFloat(pv, 64)
		if err != nil || math.IsNaN(p) {
			return false, fmt.Errorf("%w: %q is not a number", errUnevaluable, pv)
		}
		r, err := strconv.ParseFloat(rv, 64)
		if err != nil || math.IsNaN(r) {
			return false, fmt.Errorf("%w: the request value %q is not a number", errUnevaluable, rv)
		}
		return ordered(op.cmp, cmpFloat(r, p)), nil
	case typeDate:
		p, err := parseDate(pv)
		if err != nil {
			return false, fmt.Errorf("%w: %q is not a date", errUnevaluable, pv)
		}
		r, err := parseDate(rv)
		if err != nil {
			return false, fmt.Errorf("%w: the request value %q is not a date", errUnevaluable, rv)
		}
		return ordered(op.cmp, r.Compare(p)), nil
	}
	return false, fmt.Errorf("%w: unsupported operator type", errUnevaluable)
}

// takesVariables: policy variables are substituted only in the string and ARN operators.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html (Condition element)
func (op baseOp) takesVariables() bool {
	switch op.typ {
	case typeString, typeStringFold, typeStringLike, typeArn:
		return true
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ordered applies a comparison to the sign of request-value minus policy-value.
func ordered(c cmpOp, sign int) bool {
	switch c {
	case cmpLt:
		return sign < 0
	case cmpLe:
		return sign <= 0
	case cmpGt:
		return sign > 0
	case cmpGe:
		return sign >= 0
	}
	return sign == 0
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseDate accepts the ISO 8601 forms IAM accepts and epoch seconds.
func parseDate(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) &&
		math.Abs(f) < 1e15 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date: %q", s)
}

// condResult is the outcome of one condition, with why it could not be evaluated.
type condResult struct {
	t      tri
	reason string
}

// evalCondition evaluates one operator/key pair against the request.
func evalCondition(c policy.Condition, rq *prepared) condResult {
	op, ok := parseOperator(c.Operator)
	if !ok {
		return condResult{maybe, fmt.Sprintf("unsupported condition operator %q", c.Operator)}
	}
	if rq.vars && hasVariable(c.Key) {
		return condResult{maybe, fmt.Sprintf("%s %s: policy variable in condition key", c.Operator, c.Key)}
	}
	vals, st := rq.lookup(c.Key)
	if st == keyUnknown {
		return condResult{maybe, fmt.Sprintf("%s %s: the request carries %s but its value is not known", c.Operator, c.Key, c.Key)}
	}
	present := st == keyPresent

	if op.typ == typeNull {
		// Null: "true" means the key must be absent, "false" that it must be present.
		out := no
		for _, pv := range c.Values {
			switch {
			case strings.EqualFold(pv, "true"):
				out = out.or(triOf(!present))
			case strings.EqualFold(pv, "false"):
				out = out.or(triOf(present))
			default:
				return condResult{maybe, fmt.Sprintf("%s %s: %q is not a boolean", c.Operator, c.Key, pv)}
			}
		}
		return condResult{t: out}
	}

	if !present {
		switch {
		case op.set == setAll, op.ifExists:
			return condResult{t: yes}
		case op.set == setAny:
			return condResult{t: no}
		}
		return condResult{t: triOf(op.negated)}
	}

	var reason string
	// single: does one request value satisfy the operator (positive: matches some policy value;
	// negated: matches none)? A policy value whose variable has no value matches nothing.
	single := func(rv string) tri {
		m := no
		for _, pv := range c.Values {
			p := pattern{s: pv}
			if op.takesVariables() {
				var vs varState
				var why string
				if p, vs, why = rq.expand(pv); vs == varNoValue {
					continue
				} else if vs == varUnknown {
					m = m.or(maybe)
					if reason == "" {
						reason = fmt.Sprintf("%s %s: %s", c.Operator, c.Key, why)
					}
					continue
				}
			}
			ok, err := compare(op.baseOp, rv, p)
			if err != nil {
				m = m.or(maybe)
				if reason == "" {
					reason = fmt.Sprintf("%s %s: %v", c.Operator, c.Key, err)
				}
				continue
			}
			if ok {
				m = yes
				break
			}
		}
		if op.negated {
			return m.not()
		}
		return m
	}

	var out tri
	switch {
	case op.set == setAll, op.set == setNone && op.negated:
		out = yes
		for _, rv := range vals {
			out = out.and(single(rv))
		}
	default:
		out = no
		for _, rv := range vals {
			out = out.or(single(rv))
		}
	}
	if out != maybe {
		reason = ""
	}
	return condResult{out, reason}
}
