package evaluate

import (
	"fmt"
	"strings"
)

// crossAccountActions are the KMS permissions AWS lets a principal of another account use at all
// (the "Cross-account use: Yes" operations: the cryptographic operations, DescribeKey,
// GetKeyRotationStatus and the grant operations; KMS developer guide, "Allowing users in other
// accounts to use a KMS key", and each API's "Cross-account use" section). Lower-cased.
var crossAccountActions = map[string]bool{
	"kms:decrypt":                             true,
	"kms:encrypt":                             true,
	"kms:reencryptfrom":                       true,
	"kms:reencryptto":                         true,
	"kms:generatedatakey":                     true,
	"kms:generatedatakeywithoutplaintext":     true,
	"kms:generatedatakeypair":                 true,
	"kms:generatedatakeypairwithoutplaintext": true,
	"kms:generatemac":                         true,
	"kms:verifymac":                           true,
	"kms:sign":                                true,
	"kms:verify":                              true,
	"kms:getpublickey":                        true,
	"kms:derivesharedsecret":                  true,
	"kms:describekey":                         true,
	"kms:getkeyrotationstatus":                true,
	"kms:creategrant":                         true,
	"kms:listgrants":                          true,
	"kms:retiregrant":                         true,
	"kms:revokegrant":                         true,
}

// CrossAccountAction reports whether AWS KMS allows the action (e.g. "kms:Decrypt") from a
// principal in another account at all.
func CrossAccountAction(action string) bool { return crossAccountActions[strings.ToLower(action)] }

// Side names used in KMSResult.Missing.
const (
	SideKeyPolicy = "key-policy"
	SideIdentity  = "identity"
)

// KMS evaluates a KMS request under the key-policy + identity-policy rules AWS documents:
//   - an explicit deny in the key policy, an identity policy or the boundary wins;
//   - nothing in the key policy for the principal: denied whatever IAM says (key policies must
//     allow explicitly, unlike other resource policies);
//   - in the key's own account, a key policy allowing the principal itself (a user ARN, a
//     role-session ARN, "*" with conditions met) is enough: an implicit deny in its identity
//     policies or permissions boundary does not limit it;
//   - a key policy allowing the role ARN of a role session is limited by an implicit deny in
//     the role's permissions boundary, not by its identity policies;
//   - a key policy allowing only the principal's account (ID or :root) delegates: the identity
//     policies (and the boundary, when set) must also allow;
//   - from another account the identity side (identity policies and boundary) must always allow
//     too, and only the cross-account operations (CrossAccountAction) can be allowed at all.
//
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
//
// With IdentityKnown false the identity side is not evaluated: where AWS requires it, the
// decision is implicit-deny and NotEvaluated says the allow is not confirmed. The policy types
// this evaluator never reads are always listed in NotEvaluated.
func KMS(in KMSInput) KMSResult {
	req := in.Request
	out := KMSResult{Decision: ImplicitDeny, Missing: []string{}, NotEvaluated: []string{}}

	kp, kd := evaluate(in.KeyPolicy, req, options{kind: keyDoc, boundary: in.IdentityKnown && in.Boundary != nil})
	if in.KeyPolicy == nil {
		kp.Reasons = []string{"no key policy given"}
	}
	out.KeyPolicy = kp
	out.NotEvaluated = append(out.NotEvaluated, prefixed("key policy: ", kp.NotEvaluated)...)

	p := parsePrincipal(req.PrincipalARN)
	crossAccount := p.account != "" && in.KeyAccount != "" && p.account != in.KeyAccount
	keyAllows := kp.Decision == Allow
	need := sides{
		identity: crossAccount || !keyAllows || (!kd.allowExact && !kd.allowRole),
	}
	need.boundary = need.identity || !kd.allowExact
	// The identity side matters when the identity policies must allow, or when a boundary must
	// (one that is set, or one that is not known).
	sideNeeded := need.identity || (need.boundary && (in.Boundary != nil || !in.IdentityKnown))

	var id *Result
	var idOK, idUnconfirmed bool
	if in.IdentityKnown {
		var r Result
		r, idOK, idUnconfirmed = identitySide(in, p, need)
		id = &r
		out.Identity = id
		out.NotEvaluated = append(out.NotEvaluated, prefixed("identity: ", r.NotEvaluated)...)
	} else {
		what := fmt.Sprintf("identity policies and permissions boundary of %s not evaluated", displayPrincipal(req.PrincipalARN))
		if sideNeeded && keyAllows {
			what += ": AWS requires them for this request, so the allow is not confirmed"
		}
		out.NotEvaluated = append(out.NotEvaluated, what)
	}
	out.NotEvaluated = append(out.NotEvaluated, neverEvaluated)

	// A side whose allow is only unconfirmed (a Deny there could not be evaluated) is not
	// "missing": adding an allow would not change it. NotEvaluated says why.
	if !keyAllows && !kd.unconfirmed {
		out.Missing = append(out.Missing, SideKeyPolicy)
	}
	if id != nil && sideNeeded && !idOK && id.Decision != ExplicitDeny && !idUnconfirmed {
		out.Missing = append(out.Missing, SideIdentity)
	}

	switch {
	case kp.Decision == ExplicitDeny || (id != nil && id.Decision == ExplicitDeny):
		out.Decision = ExplicitDeny
	case crossAccount && !CrossAccountAction(req.Action):
		out.KeyPolicy.Reasons = append(out.KeyPolicy.Reasons, fmt.Sprintf(
			"%s cannot be used from another account (%s) on a key of account %s: KMS allows only "+
				"cryptographic operations, DescribeKey, GetKeyRotationStatus and grant operations across accounts",
			req.Action, p.account, in.KeyAccount))
	case !keyAllows, sideNeeded && (id == nil || !idOK):
	default:
		out.Decision = Allow
	}
	return out
}

// neverEvaluated names the policy types that can also decide a KMS request but are never read.
const neverEvaluated = "not read: service control policies (SCPs), resource control policies (RCPs), session policies, VPC endpoint policies and grants"

// sides says which parts of the identity side AWS requires to allow.
type sides struct {
	identity bool // the identity policies
	boundary bool // the permissions boundary, when the principal has one
}

func prefixed(prefix string, items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = prefix + s
	}
	return out
}

// identitySide combines the identity policies (union, explicit deny wins) with the permissions
// boundary (its deny always counts, its allow only where it is required). ok says whether
// everything AWS requires of the identity side allows; unconfirmed that it does not only
// because a Deny could not be evaluated.
func identitySide(in KMSInput, p principal, need sides) (res Result, ok, unconfirmed bool) {
	res = newResult()
	req := in.Request
	var denied, allowed, idUnconfirmed bool

	if p.kind == kindRoot {
		allowed = true
		res.Reasons = append(res.Reasons, "the account root user is not governed by identity policies")
	}
	for i, doc := range in.IdentityPolicies {
		r, d := evaluate(doc, req, options{kind: identityDoc})
		merge(&res, r, fmt.Sprintf("identity policy %d: ", i+1))
		denied = denied || r.Decision == ExplicitDeny
		allowed = allowed || r.Decision == Allow
		idUnconfirmed = idUnconfirmed || d.unconfirmed
	}
	identityOK := allowed || !need.identity
	switch {
	case allowed, denied:
	case need.identity:
		res.Reasons = append(res.Reasons, fmt.Sprintf("no identity policy allows %s for %s on %s",
			req.Action, displayPrincipal(req.PrincipalARN), req.Resource))
	default:
		res.Reasons = append(res.Reasons, "identity policies not required: the key policy allows the principal itself")
	}
	unconfirmed = idUnconfirmed && !allowed && need.identity

	boundaryOK := true
	if in.Boundary != nil && p.kind != kindRoot {
		b, d := evaluate(in.Boundary, req, options{kind: identityDoc})
		merge(&res, b, "permissions boundary: ")
		switch {
		case b.Decision == ExplicitDeny:
			denied = true
		case b.Decision != Allow && need.boundary:
			boundaryOK = false
			unconfirmed = unconfirmed || d.unconfirmed
			res.Reasons = append(res.Reasons, "the permissions boundary does not allow "+req.Action)
		}
	}

	ok = identityOK && boundaryOK && !denied
	switch {
	case denied:
		res.Decision = ExplicitDeny
	case ok:
		res.Decision = Allow
	}
	return res, ok, unconfirmed && !ok && !denied
}

func merge(into *Result, r Result, prefix string) {
	into.Matched = append(into.Matched, r.Matched...)
	into.Reasons = append(into.Reasons, prefixed(prefix, r.Reasons)...)
	into.NotEvaluated = append(into.NotEvaluated, prefixed(prefix, r.NotEvaluated)...)
	into.Ineffective = append(into.Ineffective, prefixed(prefix, r.Ineffective)...)
}
