package keypolicy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// need is one of the two things EC2 needs from the key policy for an account.
type need struct {
	sid      string
	actions  []string // what a new statement grants
	requests []string // the requests EC2 makes that these actions must allow
	grant    bool     // the requests are grant operations made for an AWS resource
	what     string   // for descriptions: "use the key (...)"
}

var needs = []need{
	{sid: UseSid, actions: UseActions, requests: UseRequests, what: "use the key (" + strings.Join(UseActions, ", ") + ")"},
	{sid: GrantSid, actions: GrantActions, requests: GrantRequests, grant: true, what: "attach persistent resources (" + strings.Join(GrantActions, ", ") + " when kms:GrantIsForAWSResource is true)"},
}

// EnsureAccounts is EnsureAccountsForKey for a key that is not known: only a Resource of "*"
// is known to cover it, and conditions are read in the context EC2Context gives without its
// region (kms:ViaService not known, no organization keys), so statements scoped to EC2 are not
// extended. Prefer EnsureAccountsForKey.
func EnsureAccounts(doc []byte, accounts []string) (Edit, error) {
	return EnsureAccountsForKey(doc, Key{}, accounts)
}

// EnsureAccountsForKey makes the key policy of key allow each account's root what EC2 needs to
// launch from the key (UseRequests, and GrantRequests for AWS resources), adding only what is
// missing. Re-running on its
// output changes nothing. The error is a *RefusedError.
//
// The editor reads the policy with the evaluator, for the requests EC2 makes for the account's
// root (evaluate.EC2Request, with the account's organization when key.Orgs knows it):
//   - a need the policy already allows is left alone;
//   - otherwise the account joins an Allow statement only when the evaluator says that makes
//     every request of the need allowed: a statement naming principals (no "*", no
//     NotPrincipal) whose actions are all the need's, whose Resource covers this key and whose
//     conditions hold for EC2 (kms:ViaService = ec2.REGION.amazonaws.com or a pattern matching
//     it, kms:CallerAccount or aws:PrincipalOrgID including the account, ...). A grant statement
//     must not allow the grant operations when they are not made for an AWS resource. AWS's
//     default Sid is preferred, then document order;
//   - otherwise AWS's default statement is appended.
//
// The edited policy is then read again: every account must be allowed every request of both
// needs, or the edit is refused ("ineffective": a Deny, or a condition that cannot be
// evaluated, keeps the account out whatever is added).
func EnsureAccountsForKey(doc []byte, key Key, accounts []string) (Edit, error) {
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
	r := newReader(key, partitionOf(d, key.ARN))
	changes, err := addMissing(accounts, func(a string, n need) bool { return r.allows(d, a, n) },
		func(n need, missing []string) ([]Change, error) { return r.add(d, n, missing) })
	if err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	if len(changes) == 0 {
		return Edit{Document: doc, Changes: []Change{}}, nil
	}
	for _, a := range accounts {
		for _, n := range needs {
			if why := r.denied(d, a, n); why != "" {
				return Edit{Document: doc}, &RefusedError{Reason: "ineffective", Detail: why}
			}
		}
	}
	return finish(doc, d, changes)
}

// reader asks the evaluator what the policy gives an account's root through EC2.
type reader struct {
	key       Key
	partition string
	requests  map[requestKey]evaluate.Request // built once per account and action
}

// requestKey: EC2's requests for one principal differ only by action, and their context only by
// whether they are grant operations (CreateGrant has parameters of its own) made for an AWS
// resource.
type requestKey struct {
	principal      string
	class          int8 // 0 other, 1 grant operation, 2 CreateGrant
	forAWSResource bool
}

func newReader(key Key, partition string) *reader {
	return &reader{key: key, partition: partition, requests: map[requestKey]evaluate.Request{}}
}

func (r *reader) root(account string) string { return RootARN(r.partition, account) }

// request is the request EC2 makes for the account's root. Without a key ARN the request is
// read in EC2Context's context, its region (kms:ViaService) not known, against a resource that
// only "*" covers.
func (r *reader) request(account, action string, forAWSResource bool) evaluate.Request {
	return r.requestFor(r.root(account), action, forAWSResource)
}

// requestFor is request for any principal: an account's root, or a role the editor adds itself.
func (r *reader) requestFor(principal, action string, forAWSResource bool) evaluate.Request {
	k := requestKey{principal: principal, forAWSResource: forAWSResource}
	switch {
	case strings.EqualFold(action, "kms:CreateGrant"):
		k.class = 2
	case evaluate.GrantAction(action):
		k.class = 1
	}
	req, ok := r.requests[k]
	if !ok {
		req = r.build(principal, action, forAWSResource)
		r.requests[k] = req
	}
	req.Action = action
	return req
}

func (r *reader) build(principal, action string, forAWSResource bool) evaluate.Request {
	if r.key.ARN == "" {
		ctx := evaluate.EC2Context("", principal, forAWSResource)
		delete(ctx, "kms:ViaService")
		return evaluate.Request{PrincipalARN: principal, Action: action, Resource: "", Context: ctx, Unknown: []string{"kms:ViaService"}}
	}
	var org *evaluate.Org
	if o, ok := r.key.Orgs[principalAccount(principal)]; ok {
		org = &o
	}
	req := evaluate.EC2Request(r.key.ARN, principal, action, org)
	if !forAWSResource {
		req.Context["kms:GrantIsForAWSResource"] = nil
	}
	return req
}

// allows reports whether the policy already allows the account every request of need n.
func (r *reader) allows(d *policy.Document, account string, n need) bool {
	for _, a := range n.requests {
		if evaluate.KeyPolicyDecision(d, r.request(account, a, n.grant)) != evaluate.Allow {
			return false
		}
	}
	return true
}

// denied says why the policy does not allow the account need n, "" when it does.
func (r *reader) denied(d *policy.Document, account string, n need) string {
	for _, a := range n.requests {
		req := r.request(account, a, n.grant)
		if evaluate.KeyPolicyDecision(d, req) == evaluate.Allow {
			continue
		}
		res := evaluate.KeyPolicy(d, req)
		why := res.Reasons
		if len(res.NotEvaluated) > 0 {
			why = append(append([]string{}, why...), res.NotEvaluated...)
		}
		return fmt.Sprintf("adding %s would not let it %s through EC2: %s is %s (%s)",
			r.root(account), n.what, a, res.Decision, strings.Join(why, "; "))
	}
	return ""
}

// extends reports whether adding the account's root to statement s makes the policy allow it
// every request of need n, and grants nothing a new AWS default statement would not.
func (r *reader) extends(d *policy.Document, s policy.Statement, account string, n need) bool {
	if !candidate(s, n) {
		return false
	}
	root := r.root(account)
	for _, a := range n.requests {
		if evaluate.KeyPolicyDecisionAdding(d, s.Index, root, r.request(account, a, n.grant)) != evaluate.Allow {
			return false
		}
		if n.grant {
			// AWS's attachment statement allows the grant operations only for AWS resources.
			other := r.request(account, a, false)
			if evaluate.KeyPolicyDecisionAdding(d, s.Index, root, other) != evaluate.KeyPolicyDecision(d, other) {
				return false
			}
		}
	}
	return true
}

// candidate is the shape of a statement the editor may add a principal to: an Allow naming
// principals (not "*", no NotPrincipal), with Action (not NotAction) holding only actions of the
// need, and a Resource.
func candidate(s policy.Statement, n need) bool {
	if s.Effect != policy.Allow || s.Principal == nil || s.Principal.Wildcard || s.NotPrincipal != nil ||
		s.Action == nil || s.Resource == nil {
		return false
	}
	for _, vals := range s.Principal.By {
		if slices.Contains(vals, "*") {
			return false
		}
	}
	for _, a := range s.Action.List {
		if !slices.ContainsFunc(n.actions, func(b string) bool { return strings.EqualFold(a, b) }) {
			return false
		}
	}
	return true
}

// add gives the missing accounts need n: each joins the statement the evaluator says extends to
// it, the others share one new statement in AWS's default form.
func (r *reader) add(d *policy.Document, n need, missing []string) ([]Change, error) {
	return join(d, n.sid, n.what, missing, r.roots, func(s policy.Statement, a string) bool { return r.extends(d, s, a, n) },
		func(arns []string) ([]Change, error) { return r.appendFor(d, n, arns, n.what) })
}

// addMissing gives, need by need, each of who that allowed says lacks it what add adds.
func addMissing(who []string, allowed func(string, need) bool, add func(need, []string) ([]Change, error)) ([]Change, error) {
	var changes []Change
	for _, n := range needs {
		var missing []string
		for _, w := range who {
			if !allowed(w, n) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			continue
		}
		cs, err := add(n, missing)
		if err != nil {
			return nil, err
		}
		changes = append(changes, cs...)
	}
	return changes, nil
}

// join adds each of who (as arns(who): its principal ARNs) to the statement place finds for it,
// and the rest with appendRest (a new statement).
func join(d *policy.Document, sid, what string, who []string, arns func([]string) []string,
	extends func(policy.Statement, string) bool, appendRest func([]string) ([]Change, error)) ([]Change, error) {
	order, by, rest := place(d.Statements(), sid, who, extends)
	stmts := d.Statements()
	var changes []Change
	for _, target := range order {
		cs, err := addPrincipals(d, stmts[target], arns(by[target]), what)
		if err != nil {
			return nil, err
		}
		changes = append(changes, cs...)
	}
	if len(rest) > 0 {
		cs, err := appendRest(arns(rest))
		if err != nil {
			return nil, err
		}
		changes = append(changes, cs...)
	}
	return changes, nil
}

// place finds, for each of who, the statement that extends to it (one with Sid sid first, then
// document order). It returns those statements in order, who joins each, and who joins none.
func place(stmts []policy.Statement, sid string, who []string, extends func(policy.Statement, string) bool) (order []int, by map[int][]string, rest []string) {
	by = map[int][]string{}
	for _, w := range who {
		target := -1
		for _, s := range stmts {
			if (target < 0 || (s.Sid == sid && stmts[target].Sid != sid)) && extends(s, w) {
				target = s.Index
			}
		}
		if target < 0 {
			rest = append(rest, w)
			continue
		}
		if _, ok := by[target]; !ok {
			order = append(order, target)
		}
		by[target] = append(by[target], w)
	}
	slices.Sort(order)
	return order, by, rest
}

func (r *reader) roots(accounts []string) []string {
	arns := make([]string, len(accounts))
	for i, a := range accounts {
		arns[i] = r.root(a)
	}
	return arns
}

// principalAccount is the account of a principal ARN ("" when it has none).
func principalAccount(arn string) string {
	if p, ok := awsid.ParsePrincipal(arn); ok {
		return p.Account
	}
	return ""
}

// RootARN is the principal the editor adds for an account.
func RootARN(partition, account string) string {
	return "arn:" + partition + ":iam::" + account + ":root"
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

// partitionOf returns the key's partition, else the partition the policy's IAM principals use
// ("aws" when none says).
func partitionOf(d *policy.Document, keyARN string) string {
	if rest, ok := strings.CutPrefix(keyARN, "arn:"); ok {
		if part, _, ok := strings.Cut(rest, ":"); ok && strings.HasPrefix(part, "aws") {
			return part
		}
	}
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
