package evaluate

import (
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
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

// KMS evaluates a KMS request under the key-policy + identity-policy rules AWS documents
// ("Allowing users in other accounts to use a KMS key", "Key policies: default key policy"):
//   - an explicit deny in the key policy, an identity policy or the boundary wins;
//   - in the key's own account, a key policy allowing the principal itself (its ARN, its role,
//     or "*" with conditions met) is enough;
//   - a key policy allowing only the principal's account (ID or :root) delegates: the identity
//     policies (and the boundary, when set) must also allow;
//   - from another account the identity side must allow too, and only the cross-account
//     operations (CrossAccountAction) can be allowed at all;
//   - nothing in the key policy for the principal: denied whatever IAM says.
//
// With IdentityKnown false the identity side is not evaluated: the decision is the key policy's,
// and NotEvaluated says so.
func KMS(in KMSInput) KMSResult {
	req := in.Request
	out := KMSResult{Decision: ImplicitDeny, Missing: []string{}, NotEvaluated: []string{}}

	kp, kd := evaluate(in.KeyPolicy, req)
	if in.KeyPolicy == nil {
		kp.Reasons = []string{"no key policy given"}
	}
	out.KeyPolicy = kp
	out.NotEvaluated = append(out.NotEvaluated, prefixed("key policy: ", kp.NotEvaluated)...)

	p := parsePrincipal(req.PrincipalARN)
	crossAccount := p.account != "" && in.KeyAccount != "" && p.account != in.KeyAccount
	keyAllows := kp.Decision == Allow
	identityNeeded := crossAccount || !keyAllows || (kd.allowAccount && !kd.allowExact)

	var id *Result
	var idUnconfirmed bool
	if in.IdentityKnown {
		r, unconfirmed := identitySide(in, p, identityNeeded)
		idUnconfirmed = unconfirmed
		id = &r
		out.Identity = id
		out.NotEvaluated = append(out.NotEvaluated, prefixed("identity: ", r.NotEvaluated)...)
	} else {
		out.NotEvaluated = append(out.NotEvaluated,
			fmt.Sprintf("identity policies of %s not evaluated", displayPrincipal(req.PrincipalARN)))
	}

	// A side whose allow is only unconfirmed (a Deny there could not be evaluated) is not
	// "missing": adding an allow would not change it. NotEvaluated says why.
	if !keyAllows && !kd.unconfirmed {
		out.Missing = append(out.Missing, SideKeyPolicy)
	}
	if id != nil && identityNeeded && id.Decision != Allow && !idUnconfirmed {
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
	case !keyAllows, id != nil && identityNeeded && id.Decision != Allow:
	default:
		out.Decision = Allow
	}
	return out
}

func prefixed(prefix string, items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = prefix + s
	}
	return out
}

// identitySide combines the identity policies (union, explicit deny wins) with the permissions
// boundary (intersection; its deny always counts, its allow only where the identity is needed).
func identitySide(in KMSInput, p principal, needed bool) (Result, bool) {
	res := newResult()
	req := in.Request
	var denied, allowed, unconfirmed bool

	if p.kind == kindRoot {
		allowed = true
		res.Reasons = append(res.Reasons, "the account root user is not governed by identity policies")
	}
	for i, doc := range in.IdentityPolicies {
		r, d := evaluate(doc, req)
		merge(&res, r, fmt.Sprintf("identity policy %d: ", i+1))
		denied = denied || r.Decision == ExplicitDeny
		allowed = allowed || r.Decision == Allow
		unconfirmed = unconfirmed || d.unconfirmed
	}
	if !allowed && !denied && p.kind != kindRoot {
		res.Reasons = append(res.Reasons, fmt.Sprintf("no identity policy allows %s for %s on %s",
			req.Action, displayPrincipal(req.PrincipalARN), req.Resource))
	}

	if in.Boundary != nil && p.kind != kindRoot {
		b, d := evaluate(in.Boundary, req)
		merge(&res, b, "permissions boundary: ")
		switch {
		case b.Decision == ExplicitDeny:
			denied = true
		case b.Decision != Allow && needed:
			allowed = false
			unconfirmed = unconfirmed || d.unconfirmed
			res.Reasons = append(res.Reasons, "the permissions boundary does not allow "+req.Action)
		}
	}

	switch {
	case denied:
		res.Decision = ExplicitDeny
	case allowed:
		res.Decision = Allow
	}
	return res, unconfirmed && !allowed && !denied
}

func merge(into *Result, r Result, prefix string) {
	into.Matched = append(into.Matched, r.Matched...)
	into.Reasons = append(into.Reasons, prefixed(prefix, r.Reasons)...)
	into.NotEvaluated = append(into.NotEvaluated, prefixed(prefix, r.NotEvaluated)...)
}

// EC2Context is the request context EC2 presents when it uses a key on behalf of a principal
// (kms:ViaService, kms:CallerAccount, aws:PrincipalAccount, aws:PrincipalArn, and
// kms:GrantIsForAWSResource=true when grant is set). For an assumed-role session
// aws:PrincipalArn is the role's ARN, as AWS sets it; the session ARN carries no role path, so
// the role ARN built here has none.
func EC2Context(region, principalARN string, grant bool) map[string][]string {
	p := parsePrincipal(principalARN)
	arn := principalARN
	switch p.kind {
	case kindSession:
		arn = p.roleARN()
	case kindRoot:
		arn = p.rootARN()
	}
	ctx := map[string][]string{
		"kms:ViaService":       {"ec2." + region + ".amazonaws.com"},
		"aws:PrincipalArn":     {arn},
		"kms:CallerAccount":    {p.account},
		"aws:PrincipalAccount": {p.account},
	}
	if p.account == "" {
		delete(ctx, "kms:CallerAccount")
		delete(ctx, "aws:PrincipalAccount")
	}
	if grant {
		ctx["kms:GrantIsForAWSResource"] = []string{"true"}
	}
	return ctx
}

// keyAccountOf returns the account of a key ARN, "" when it is not one.
func keyAccountOf(arn string) string {
	parts, ok := splitARN(arn)
	if !ok || parts[0] != "arn" || !awsid.IsAccountID(parts[4]) {
		return ""
	}
	return parts[4]
}

// KeyAccount returns the account that owns a KMS key ARN, or "" when keyARN is not an ARN with
// a 12-digit account.
func KeyAccount(keyARN string) string { return keyAccountOf(keyARN) }
