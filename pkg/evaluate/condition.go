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

// errUnevaluable marks a policy value the evaluator cannot compare (variable, bad number, ...).
var errUnevaluable = errors.New("not evaluated")

// compare is the positive operator for one request value and one policy value. An error means
// the policy value cannot be evaluated; a request value of the wrong type simply does not match.
func compare(op baseOp, rv, pv string) (bool, error) {
	if hasVariable(pv) {
		return false, fmt.Errorf("%w: policy variable in %q", errUnevaluable, pv)
	}
	switch op.typ {
	case typeString:
		return rv == pv, nil
	case typeStringFold:
		return strings.EqualFold(rv, pv), nil
	case typeStringLike:
		return glob(pv, rv), nil
	case typeBool:
		if !strings.EqualFold(pv, "true") && !strings.EqualFold(pv, "false") {
			return false, fmt.Errorf("%w: %q is not a boolean", errUnevaluable, pv)
		}
		return strings.EqualFold(rv, pv), nil
	case typeBinary:
		return rv == pv, nil
	case typeArn:
		return arnGlob(pv, rv), nil
	case typeIP:
		prefix, err := parsePrefix(pv)
		if err != nil {
			return false, fmt.Errorf("%w: %q is not an IP address or CIDR", errUnevaluable, pv)
		}
		addr, err := netip.ParseAddr(rv)
		if err != nil {
			return false, nil
		}
		return prefix.Contains(addr.Unmap()), nil
	case typeNumeric:
		p, err := strconv.ParseFloat(pv, 64)
		if err != nil || math.IsNaN(p) {
			return false, fmt.Errorf("%w: %q is not a number", errUnevaluable, pv)
		}
		r, err := strconv.ParseFloat(rv, 64)
		if err != nil || math.IsNaN(r) {
			return false, nil
		}
		return ordered(op.cmp, cmpFloat(r, p)), nil
	case typeDate:
		p, err := parseDate(pv)
		if err != nil {
			return false, fmt.Errorf("%w: %q is not a date", errUnevaluable, pv)
		}
		r, err := parseDate(rv)
		if err != nil {
			return false, nil
		}
		return ordered(op.cmp, r.Compare(p)), nil
	}
	return false, fmt.Errorf("%w: unsupported operator type", errUnevaluable)
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

// evalCondition evaluates one operator/key pair against the request context (keys lower-cased).
func evalCondition(c policy.Condition, ctx map[string][]string) condResult {
	op, ok := parseOperator(c.Operator)
	if !ok {
		return condResult{maybe, fmt.Sprintf("unsupported condition operator %q", c.Operator)}
	}
	if hasVariable(c.Key) {
		return condResult{maybe, fmt.Sprintf("%s %s: policy variable in condition key", c.Operator, c.Key)}
	}
	vals, present := ctx[strings.ToLower(c.Key)]
	present = present && len(vals) > 0

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
	// negated: matches none)?
	single := func(rv string) tri {
		m := no
		for _, pv := range c.Values {
			ok, err := compare(op.baseOp, rv, pv)
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
