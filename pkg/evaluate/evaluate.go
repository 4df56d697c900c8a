package evaluate

import (
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// docKind says which rules a document follows.
type docKind int8

const (
	// identityDoc: identity policies and permissions boundaries (no Principal: the caller).
	identityDoc docKind = iota
	// keyDoc: a KMS key policy, a resource policy: every statement must name a principal.
	keyDoc
)

// options are how one document is evaluated.
type options struct {
	kind docKind
	// boundary: the principal has a permissions boundary (a Deny with NotPrincipal then always
	// applies to it).
	boundary bool
	// extend, when with is set: read statement extend as if its Principal also listed with
	// (an "AWS" principal). That is how the editor asks what adding a principal would do.
	extend int
	with   string
	// quiet: only the decision is wanted (no reasons, no near misses): the editor asks many.
	quiet bool
}

// prepared is a request taken apart once for all statements of a document.
type prepared struct {
	req       Request
	principal principal
	ctx       map[string][]string // keys lower-cased; built on the first lookup
	vars      bool                // the document's Version has policy variables
	opt       options
}

func prepare(req Request, doc *policy.Document, opt options) prepared {
	return prepared{req: req, principal: parsePrincipal(req.PrincipalARN), vars: doc.Version() == policyVersion, opt: opt}
}

// context returns the request context with lower-cased keys (keys that differ only in case are
// one key holding all their values).
func (rq *prepared) context() map[string][]string {
	if rq.ctx != nil {
		return rq.ctx
	}
	ctx := make(map[string][]string, len(rq.req.Context))
	for k, v := range rq.req.Context {
		lk := strings.ToLower(k)
		if old, ok := ctx[lk]; ok {
			v = append(old[:len(old):len(old)], v...) // never into the caller's slice
		}
		ctx[lk] = v
	}
	rq.ctx = ctx
	return ctx
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

// ineffective says why AWS never applies a statement, "" when it may.
//   - KMS PutKeyPolicy: "Each statement in the key policy must contain one or more principals"
//     and "If either of the required Resource or Action elements are missing from a key policy
//     statement, the policy statement has no effect" (KMS accepts such a policy).
//     https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
//   - IAM identity policies require Action and Resource (IAM refuses a policy without them).
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
func ineffective(st *policy.Statement, kind docKind) string {
	switch {
	case kind == keyDoc && st.Principal == nil && st.NotPrincipal == nil:
		return "it has no Principal, which a key policy statement must have: it is invalid and never applies"
	case st.Action == nil && st.NotAction == nil:
		return "it has no Action: it has no effect"
	case st.Resource == nil && st.NotResource == nil:
		return "it has no Resource: it has no effect"
	}
	return ""
}

// errNotPrincipalAllow: AWS documents NotPrincipal for Deny only; with Allow it is not
// supported, so it grants nothing here.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
const errNotPrincipalAllow = "Allow with NotPrincipal is not supported (AWS documents NotPrincipal with Deny only): it grants nothing"

func evalStatement(st *policy.Statement, rq *prepared) statementResult {
	r := statementResult{applies: yes, kind: matchExact}

	notPrincipalAllow := false
	switch {
	case st.Principal != nil:
		r.kind, r.via = matchPrincipal(st.Principal, rq.principal)
		if rq.opt.with != "" && st.Index == rq.opt.extend {
			if k := matchAWSValue(rq.opt.with, rq.principal); k > r.kind {
				r.kind, r.via = k, rq.opt.with
			}
		}
		if r.kind == matchNone {
			return statementResult{applies: no}
		}
	case st.NotPrincipal != nil:
		if !notPrincipalApplies(st.NotPrincipal, rq.principal, rq.opt.boundary) {
			return statementResult{applies: no}
		}
		r.via = "NotPrincipal"
		notPrincipalAllow = st.Effect == policy.Allow
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
	}

	switch {
	case st.Resource != nil:
		t, v := matchResources(st.Resource.List, rq)
		if t == no {
			r.applies = no
			if !rq.opt.quiet {
				r.missedBy = fmt.Sprintf("Resource %q does not cover %s", strings.Join(st.Resource.List, ", "), rq.req.Resource)
			}
			return r
		}
		if t == maybe {
			r.applies = maybe
			r.unknown = append(r.unknown, "Resource: "+v)
		}
	case st.NotResource != nil:
		t, v := matchResources(st.NotResource.List, rq)
		if t == yes {
			r.applies = no
			if !rq.opt.quiet {
				r.missedBy = fmt.Sprintf("NotResource %q excludes %s", strings.Join(st.NotResource.List, ", "), rq.req.Resource)
			}
			return r
		}
		if t == maybe {
			r.applies = maybe
			r.unknown = append(r.unknown, "NotResource: "+v)
		}
	}

	for _, c := range st.Conditions {
		cr := evalCondition(c, rq)
		if cr.t == no {
			r.applies = no
			if !rq.opt.quiet {
				r.missedBy = conditionMiss(c, rq)
			}
			return r
		}
		if cr.t == maybe {
			r.applies = maybe
			r.unknown = append(r.unknown, "condition "+cr.reason)
		}
	}
	if notPrincipalAllow {
		r.applies = maybe
		r.unknown = append(r.unknown, errNotPrincipalAllow)
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
	allowRole    bool // an Allow matched the role of a role session
	allowAccount bool // an Allow matched through the principal's account
	unconfirmed  bool // an Allow matched but a Deny that could not be evaluated might apply
}

// Policy evaluates one identity policy or permissions boundary for one request (a statement
// without Principal applies to the caller).
func Policy(doc *policy.Document, req Request) Result {
	r, _ := evaluate(doc, req, options{kind: identityDoc})
	return r
}

// KeyPolicy evaluates a KMS key policy alone for one request: its decision is the key-policy side
// of KMS (whether the identity side must also allow is KMS's business).
func KeyPolicy(doc *policy.Document, req Request) Result {
	r, _ := evaluate(doc, req, options{kind: keyDoc})
	return r
}

// KeyPolicyDecision is KeyPolicy's decision alone (nothing is explained, so it is cheaper).
func KeyPolicyDecision(doc *policy.Document, req Request) Decision {
	r, _ := evaluate(doc, req, options{kind: keyDoc, quiet: true})
	return r.Decision
}

// KeyPolicyDecisionAdding is KeyPolicyDecision as if statement stmt's Principal also listed
// the "AWS" principal with (an account root, say): the evaluator's reading of an edit that adds
// it, made without editing. The editor extends a statement only when this reading allows.
func KeyPolicyDecisionAdding(doc *policy.Document, stmt int, with string, req Request) Decision {
	r, _ := evaluate(doc, req, options{kind: keyDoc, extend: stmt, with: with, quiet: true})
	return r.Decision
}

func newResult() Result {
	return Result{Decision: ImplicitDeny, Matched: []Match{}, Reasons: []string{}, NotEvaluated: []string{}}
}

func evaluate(doc *policy.Document, req Request, opt options) (Result, detail) {
	res := newResult()
	var d detail
	if doc == nil {
		res.Reasons = append(res.Reasons, "no policy")
		return res, d
	}
	rq := prepare(req, doc, opt)
	stmts := doc.Statements()

	var denied, allowed bool
	var nearMisses []string
	var uncertainDeny []*policy.Statement
	for i := range stmts {
		st := &stmts[i]
		if why := ineffective(st, opt.kind); why != "" {
			if !opt.quiet {
				res.Ineffective = append(res.Ineffective, statementName(st)+": "+why)
			}
			continue
		}
		sr := evalStatement(st, &rq)
		if sr.applies == no {
			if sr.missedBy != "" && st.Effect == policy.Allow {
				nearMisses = append(nearMisses, fmt.Sprintf("%s would allow %s for %s, but %s",
					statementName(st), req.Action, forWhom(sr, req), sr.missedBy))
			}
			continue
		}
		isDeny := st.Effect == policy.Deny
		if sr.applies == maybe {
			if isDeny {
				uncertainDeny = append(uncertainDeny, st)
			}
			if !opt.quiet {
				what := "Allow, not counted"
				if isDeny {
					what = "Deny, might apply"
				}
				for _, u := range sr.unknown {
					res.NotEvaluated = append(res.NotEvaluated, fmt.Sprintf("%s (%s): %s", statementName(st), what, u))
				}
			}
			continue
		}
		if isDeny {
			denied = true
		} else {
			allowed = true
			d.allowExact = d.allowExact || sr.kind == matchExact
			d.allowRole = d.allowRole || sr.kind == matchRole
			d.allowAccount = d.allowAccount || sr.kind == matchAccount
		}
		if opt.quiet {
			continue
		}
		res.Matched = append(res.Matched, Match{Index: st.Index, Sid: st.Sid, Effect: string(st.Effect)})
		verb := "allows"
		if isDeny {
			verb = "denies"
		}
		res.Reasons = append(res.Reasons, fmt.Sprintf("%s %s %s for %s", statementName(st), verb, req.Action, forWhom(sr, req)))
	}

	switch {
	case denied:
		res.Decision = ExplicitDeny
	case allowed && len(uncertainDeny) > 0:
		d.unconfirmed = true
		if !opt.quiet {
			names := make([]string, len(uncertainDeny))
			for i, st := range uncertainDeny {
				names[i] = statementName(st)
			}
			res.Reasons = append(res.Reasons, fmt.Sprintf("allow not confirmed: %s could not be evaluated and might deny",
				strings.Join(names, ", ")))
		}
	case allowed:
		res.Decision = Allow
		res.Delegates = d.allowAccount && !d.allowExact && !d.allowRole
	case opt.quiet:
	default:
		res.Reasons = append(res.Reasons, fmt.Sprintf("no statement allows %s for %s on %s",
			req.Action, displayPrincipal(req.PrincipalARN), req.Resource))
	}
	if res.Decision != Allow && !opt.quiet {
		res.Reasons = append(res.Reasons, nearMisses...)
	}
	return res, d
}

// conditionMiss describes a condition that does not hold, with what the request has.
func conditionMiss(c policy.Condition, rq *prepared) string {
	have := "the request has no " + c.Key
	if v, st := rq.lookup(c.Key); st == keyPresent {
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
