package evaluate

import (
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// prepared is a request taken apart once for all statements.
type prepared struct {
	req       Request
	principal principal
	ctx       map[string][]string // keys lower-cased
}

func prepare(req Request) prepared {
	ctx := make(map[string][]string, len(req.Context))
	for k, v := range req.Context {
		lk := strings.ToLower(k)
		ctx[lk] = append(ctx[lk], v...)
	}
	return prepared{req: req, principal: parsePrincipal(req.PrincipalARN), ctx: ctx}
}

// statementResult is how one statement relates to the request.
type statementResult struct {
	applies tri
	kind    matchKind // how the principal matched (matchExact for statements without Principal)
	via     string    // the policy principal value that matched
	unknown []string  // why applies is maybe
	// missedBy says why a statement whose principal and action matched does not apply (a
	// resource or a condition): the near misses an operator wants to see.
	missedBy string
}

func evalStatement(st *policy.Statement, rq *prepared) statementResult {
	r := statementResult{applies: yes, kind: matchExact}

	switch {
	case st.Principal != nil:
		r.kind, r.via = matchPrincipal(st.Principal, rq.principal)
		if r.kind == matchNone {
			return statementResult{applies: no}
		}
	case st.NotPrincipal != nil:
		if !notPrincipalApplies(st.NotPrincipal, rq.principal) {
			return statementResult{applies: no}
		}
		r.via = "NotPrincipal"
	}

	switch {
	case st.Action != nil:
		if !matchActions(st.Action.List, rq.req.Action) {
			return statementResult{applies: no}
		}
	case st.NotAction != nil:
		if matchActions(st.NotAction.List, rq.req.Action) {
			return statementResult{applies: no}
		}
	default:
		return statementResult{applies: no}
	}

	switch {
	case st.Resource != nil:
		t, v := matchResources(st.Resource.List, rq.req.Resource)
		if t == no {
			r.applies, r.missedBy = no, fmt.Sprintf("Resource %q does not cover %s", strings.Join(st.Resource.List, ", "), rq.req.Resource)
			return r
		}
		if t == maybe {
			r.applies = maybe
			r.unknown = append(r.unknown, fmt.Sprintf("Resource %q uses a policy variable", v))
		}
	case st.NotResource != nil:
		t, v := matchResources(st.NotResource.List, rq.req.Resource)
		if t == yes {
			r.applies, r.missedBy = no, fmt.Sprintf("NotResource %q excludes %s", strings.Join(st.NotResource.List, ", "), rq.req.Resource)
			return r
		}
		if t == maybe {
			r.applies = maybe
			r.unknown = append(r.unknown, fmt.Sprintf("NotResource %q uses a policy variable", v))
		}
	}

	for _, c := range st.Conditions {
		cr := evalCondition(c, rq.ctx)
		if cr.t == no {
			r.applies, r.missedBy = no, conditionMiss(c, rq.ctx)
			return r
		}
		if cr.t == maybe {
			r.applies = maybe
			r.unknown = append(r.unknown, "condition "+cr.reason)
		}
	}
	return r
}

func statementName(st *policy.Statement) string {
	if st.Sid == "" {
		return fmt.Sprintf("Statement[%d]", st.Index)
	}
	return fmt.Sprintf("Statement[%d] %q", st.Index, st.Sid)
}

// detail is what KMS needs beyond the Result.
type detail struct {
	allowExact   bool // an Allow matched the principal itself
	allowAccount bool // an Allow matched through the principal's account
	unconfirmed  bool // an Allow matched but a Deny that could not be evaluated might apply
}

// Policy evaluates one policy document for one request.
func Policy(doc *policy.Document, req Request) Result {
	r, _ := evaluate(doc, req)
	return r
}

func newResult() Result {
	return Result{Decision: ImplicitDeny, Matched: []Match{}, Reasons: []string{}, NotEvaluated: []string{}}
}

func evaluate(doc *policy.Document, req Request) (Result, detail) {
	res := newResult()
	var d detail
	if doc == nil {
		res.Reasons = append(res.Reasons, "no policy")
		return res, d
	}
	rq := prepare(req)
	stmts := doc.Statements()

	var denied, allowed bool
	var uncertainDeny, nearMisses []string
	for i := range stmts {
		st := &stmts[i]
		sr := evalStatement(st, &rq)
		if sr.applies == no {
			if sr.missedBy != "" && st.Effect == policy.Allow {
				nearMisses = append(nearMisses, fmt.Sprintf("%s would allow %s for %s, but %s",
					statementName(st), req.Action, forWhom(sr, req), sr.missedBy))
			}
			continue
		}
		isDeny := strings.EqualFold(string(st.Effect), string(policy.Deny))
		isAllow := strings.EqualFold(string(st.Effect), string(policy.Allow))
		name := statementName(st)
		if sr.applies == maybe {
			what := "Allow, not counted"
			if isDeny {
				what = "Deny, might apply"
				uncertainDeny = append(uncertainDeny, name)
			}
			for _, u := range sr.unknown {
				res.NotEvaluated = append(res.NotEvaluated, fmt.Sprintf("%s (%s): %s", name, what, u))
			}
			continue
		}
		if !isDeny && !isAllow {
			res.NotEvaluated = append(res.NotEvaluated, fmt.Sprintf("%s: unknown Effect %q", name, st.Effect))
			continue
		}
		res.Matched = append(res.Matched, Match{Index: st.Index, Sid: st.Sid, Effect: string(st.Effect)})
		verb := "allows"
		if isDeny {
			verb = "denies"
			denied = true
		} else {
			allowed = true
			d.allowExact = d.allowExact || sr.kind == matchExact
			d.allowAccount = d.allowAccount || sr.kind == matchAccount
		}
		res.Reasons = append(res.Reasons, fmt.Sprintf("%s %s %s for %s", name, verb, req.Action, forWhom(sr, req)))
	}

	switch {
	case denied:
		res.Decision = ExplicitDeny
	case allowed && len(uncertainDeny) > 0:
		d.unconfirmed = true
		res.Reasons = append(res.Reasons, fmt.Sprintf("allow not confirmed: %s could not be evaluated and might deny",
			strings.Join(uncertainDeny, ", ")))
	case allowed:
		res.Decision = Allow
		res.Delegates = d.allowAccount && !d.allowExact
	default:
		res.Reasons = append(res.Reasons, fmt.Sprintf("no statement allows %s for %s on %s",
			req.Action, displayPrincipal(req.PrincipalARN), req.Resource))
	}
	if res.Decision != Allow {
		res.Reasons = append(res.Reasons, nearMisses...)
	}
	return res, d
}

// conditionMiss describes a condition that does not hold, with what the request has.
func conditionMiss(c policy.Condition, ctx map[string][]string) string {
	have := "the request has no " + c.Key
	if v, ok := ctx[strings.ToLower(c.Key)]; ok && len(v) > 0 {
		have = fmt.Sprintf("the request has %s = %s", c.Key, strings.Join(v, ", "))
	}
	return fmt.Sprintf("condition %s %s %q does not hold (%s)", c.Operator, c.Key, c.Values, have)
}

func displayPrincipal(p string) string {
	if p == "" {
		return "an anonymous principal"
	}
	return p
}

func forWhom(sr statementResult, req Request) string {
	switch {
	case sr.via == "" || sr.via == req.PrincipalARN:
		return displayPrincipal(req.PrincipalARN)
	case sr.kind == matchAccount:
		return fmt.Sprintf("%s (the account of %s)", sr.via, req.PrincipalARN)
	case sr.via == "NotPrincipal":
		return fmt.Sprintf("%s (not excluded by NotPrincipal)", displayPrincipal(req.PrincipalARN))
	}
	return fmt.Sprintf("%s (matching %s)", sr.via, displayPrincipal(req.PrincipalARN))
}
