package localaws

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
)

// This file is the test stand-in for "can EC2 use this KMS key on behalf of that account" —
// the check AWS makes when it restores an encrypted snapshot for a launch or a copy, and that
// moto never makes. It is deliberately small and independent of the code under test (it does
// not import pkg/evaluate), so a bug there cannot hide itself here. It reads the real key state,
// key policy and grants from moto. What it models:
//   - the key must exist and be Enabled;
//   - the key's own account may use it (its default policy delegates to IAM; IAM policies in
//     that account are not evaluated), except a service-linked role (path /aws-service-role/),
//     whose permissions never include a customer managed key: the key policy must name the role
//     itself, or a grant must (EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use
//     with encrypted volumes"); its own account's AWS managed keys it may use;
//   - an AWS managed key (alias/aws/...) is never usable from another account;
//   - otherwise the key policy must Allow both kms:Decrypt and kms:CreateGrant to the account
//     ("*", the account ID, its root ARN, or the launching principal's ARN when known), with no
//     Deny naming it, or a grant on the key must name the launching principal with Decrypt and
//     CreateGrant. Conditions are evaluated for the keys EC2 sets (kms:CallerAccount,
//     kms:ViaService, kms:GrantIsForAWSResource, aws:PrincipalAccount) with the String*/Arn*/Bool
//     operators; any other condition makes an Allow not count and a Deny count.
// IAM policies of the launching principal are checked only with Filler.RequireLauncherIAM
// (iamaccess.go), and not when a grant gives the use. Not modeled: SCPs, grant constraints.

// canUseKey reports whether account (launching or copying through EC2 in region) can use the
// key, and why not.
func (fi *Filler) canUseKey(ctx context.Context, keyRef, account, principal, region string) (bool, string) {
	keyAccount, keyRegion := arnAccount(keyRef), arnRegion(keyRef)
	if keyAccount == "" {
		return false, "KMS key " + keyRef + " cannot be resolved"
	}
	if keyAccount == account && strings.HasSuffix(keyRef, ":alias/aws/ebs") {
		return true, "" // the account's own AWS managed key, which moto creates only on first use
	}
	md, err := fi.describeKey(ctx, keyAccount, keyRegion, keyRef)
	if err != nil {
		return false, "KMS key " + keyRef + " not found"
	}
	if md.KeyState != "Enabled" {
		return false, "KMS key " + md.Arn + " is " + md.KeyState
	}
	// A service-linked role may use its own account's AWS managed keys ("Amazon EC2 Auto Scaling
	// does not need additional authorization to use the default AWS managed key").
	serviceRole := strings.Contains(principal, ":role/aws-service-role/")
	managed := fi.isAWSManagedKey(ctx, md.Arn)
	switch {
	case keyAccount == account && (!serviceRole || managed):
		return true, ""
	case managed:
		return false, "KMS key " + md.Arn + " is an AWS managed key of account " + keyAccount
	}
	if principal != "" && fi.grantLetsUse(ctx, md, principal) {
		return true, ""
	}
	var out struct {
		Policy string `json:"Policy"`
	}
	if err := fi.kmsCall(ctx, keyAccount, keyRegion, "GetKeyPolicy", map[string]string{"KeyId": md.KeyID, "PolicyName": "default"}, &out); err != nil {
		return false, "KMS key " + md.Arn + ": key policy unreadable"
	}
	for _, action := range []string{"kms:Decrypt", "kms:CreateGrant"} {
		req := keyRequest{action: action, account: account, principal: principal, ctx: useContext(action, account, region), exact: serviceRole}
		if ok, why := policyAllows(out.Policy, req); !ok {
			return false, "KMS key " + md.Arn + ": " + why
		}
	}
	if keyAccount == account {
		return true, ""
	}
	fi.mu.Lock()
	checkIAM := fi.checkIAM
	fi.mu.Unlock()
	if checkIAM && principal != "" {
		if ok, why := fi.iamLetsUse(ctx, principal, md.Arn, region); !ok {
			return false, "KMS key " + md.Arn + ": " + why
		}
	}
	return true, ""
}

// grantLetsUse reports whether a grant on the key names principal (or the role of a session)
// with Decrypt and CreateGrant, what EC2 needs.
func (fi *Filler) grantLetsUse(ctx context.Context, md keyMetadata, principal string) bool {
	grants, err := fi.listGrants(ctx, arnAccount(md.Arn), arnRegion(md.Arn), md.KeyID)
	if err != nil {
		return false
	}
	for _, g := range grants {
		if g.GranteePrincipal == principal && slices.Contains(g.Operations, "Decrypt") && slices.Contains(g.Operations, "CreateGrant") {
			return true
		}
	}
	return false
}

// isAWSManagedKey reports whether the key has an alias under alias/aws/ (moto reports such keys
// as KeyManager CUSTOMER, so the alias is the only reliable sign).
func (fi *Filler) isAWSManagedKey(ctx context.Context, keyARN string) bool {
	account, region := arnAccount(keyARN), arnRegion(keyARN)
	keyID := keyARN[strings.LastIndex(keyARN, "/")+1:]
	var out struct {
		Aliases []struct {
			AliasName string `json:"AliasName"`
		} `json:"Aliases"`
	}
	if account == "" || fi.kmsCall(ctx, account, region, "ListAliases", map[string]string{"KeyId": keyID}, &out) != nil {
		return false
	}
	for _, a := range out.Aliases {
		if strings.HasPrefix(a.AliasName, "alias/aws/") {
			return true
		}
	}
	return false
}

type policyStatement struct {
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
	Action       json.RawMessage                       `json:"Action"`
	NotAction    json.RawMessage                       `json:"NotAction"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
}

// policyLetsUse evaluates a key policy for EC2 using the key on account's behalf.
func policyLetsUse(doc, account, principal, region string) (bool, string) {
	for _, action := range []string{"kms:Decrypt", "kms:CreateGrant"} {
		if ok, why := policyAllows(doc, keyRequest{action: action, account: account, principal: principal, ctx: useContext(action, account, region)}); !ok {
			return false, why
		}
	}
	return true, ""
}

// keyRequest is one request a key policy is read for.
type keyRequest struct {
	action             string
	account, principal string // the caller's account, and its IAM ARN when known
	ctx                map[string][]string
	// exact: only a statement naming the principal itself (or "*") counts, not one naming its
	// account: a service-linked role has no identity policy the account could delegate to.
	exact bool
}

// policyAllows evaluates a key policy for one request: an Allow whose principal, action and
// conditions hold, and no Deny that holds (or might).
func policyAllows(doc string, req keyRequest) (bool, string) {
	var p struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return false, "key policy is not JSON"
	}
	var stmts []policyStatement
	if err := json.Unmarshal(p.Statement, &stmts); err != nil {
		var one policyStatement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return false, "key policy statements unreadable"
		}
		stmts = []policyStatement{one}
	}
	vars := p.Version == "2012-10-17"
	allowed := false
	for _, s := range stmts {
		if !s.principalApplies(req) || !s.actionApplies(req.action) {
			continue
		}
		condOK, condKnown := conditionsHold(s.Condition, req.ctx, vars)
		switch {
		case strings.EqualFold(s.Effect, "Deny") && (condOK || !condKnown):
			return false, "an explicit Deny covers " + req.action + " for account " + req.account
		case strings.EqualFold(s.Effect, "Allow") && condOK && condKnown:
			allowed = true
		}
	}
	if !allowed {
		who := "account " + req.account
		if req.exact {
			who = req.principal
		}
		return false, "the key policy does not allow " + req.action + " to " + who
	}
	return true, ""
}

// useContext is the request context of EC2 using a key for account in region (condition keys
// lower-cased): a grant it creates is for an AWS resource.
func useContext(action, account, region string) map[string][]string {
	ctx := map[string][]string{
		"kms:calleraccount":    {account},
		"aws:principalaccount": {account},
		"kms:viaservice":       {"ec2." + region + ".amazonaws.com"},
	}
	if action == "kms:CreateGrant" {
		ctx["kms:grantisforawsresource"] = []string{"true"}
	}
	return ctx
}

func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func principalValues(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return []string{star}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return stringList(m["AWS"])
}

func principalMatches(values []string, req keyRequest) bool {
	for _, v := range values {
		switch {
		case v == "*", req.principal != "" && v == req.principal:
			return true
		case !req.exact && (v == req.account || v == "arn:aws:iam::"+req.account+":root"):
			return true
		}
	}
	return false
}

func (s policyStatement) principalApplies(req keyRequest) bool {
	if len(s.NotPrincipal) > 0 {
		return !principalMatches(principalValues(s.NotPrincipal), keyRequest{account: req.account, principal: req.principal})
	}
	return principalMatches(principalValues(s.Principal), req)
}

func actionMatches(patterns []string, action string) bool {
	for _, p := range patterns {
		if globMatch(p, action, true) {
			return true
		}
	}
	return false
}

func (s policyStatement) actionApplies(action string) bool {
	if len(s.NotAction) > 0 {
		return !actionMatches(stringList(s.NotAction), action)
	}
	return actionMatches(stringList(s.Action), action)
}

// conditionsHold evaluates a Condition block against ctx (keys lower-cased; a key may have several
// values). known is false when an operator or key is outside what this checker understands. In a
// policy of Version 2012-10-17 (vars) the values may use ${aws:PrincipalAccount} and
// ${kms:CallerAccount}, substituted from ctx.
func conditionsHold(cond map[string]map[string]json.RawMessage, ctx map[string][]string, vars bool) (ok, known bool) {
	ok, known = true, true
	for op, entries := range cond {
		set, base := "", op
		if q, rest, found := strings.Cut(op, ":"); found && (q == "ForAllValues" || q == "ForAnyValue") {
			set, base = q, rest
		}
		base, ifExists := strings.CutSuffix(base, "IfExists")
		for key, raw := range entries {
			got, present := ctx[strings.ToLower(key)]
			if !isKnownConditionKey(key) || !isKnownOperator(base) {
				known = false
				continue
			}
			want := stringList(raw)
			if vars {
				want = substitute(want, ctx)
			}
			switch {
			case !present || len(got) == 0:
				// ForAllValues over no values holds; every other operator needs the key.
				if set != "ForAllValues" && !ifExists {
					ok = false
				}
			case set == "ForAllValues":
				for _, g := range got {
					if !conditionValueMatches(base, want, g) {
						ok = false
					}
				}
			default: // ForAnyValue, or a single-valued key
				if !slices.ContainsFunc(got, func(g string) bool { return conditionValueMatches(base, want, g) }) {
					ok = false
				}
			}
		}
	}
	return ok, known
}

// substitute replaces the policy variables this checker knows in condition values.
func substitute(values []string, ctx map[string][]string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		for _, k := range []string{"aws:PrincipalAccount", "kms:CallerAccount"} {
			if got := ctx[strings.ToLower(k)]; len(got) == 1 {
				v = strings.ReplaceAll(v, "${"+k+"}", got[0])
			}
		}
		out[i] = v
	}
	return out
}

func isKnownConditionKey(key string) bool {
	switch strings.ToLower(key) {
	case "kms:calleraccount", "aws:principalaccount", "kms:viaservice", "kms:grantisforawsresource",
		"kms:granteeprincipal", "kms:grantoperations", "aws:principalarn":
		return true
	}
	return false
}

func isKnownOperator(op string) bool {
	switch op {
	case "StringEquals", "StringLike", "StringEqualsIgnoreCase", "StringNotEquals", "StringNotLike", "Bool", "ArnEquals", "ArnLike":
		return true
	}
	return false
}

func conditionValueMatches(op string, want []string, got string) bool {
	anyOf := func(match func(w string) bool) bool {
		for _, w := range want {
			if match(w) {
				return true
			}
		}
		return false
	}
	switch op {
	case "StringEquals":
		return anyOf(func(w string) bool { return w == got })
	case "StringEqualsIgnoreCase", "Bool":
		return anyOf(func(w string) bool { return strings.EqualFold(w, got) })
	case "StringLike", "ArnLike", "ArnEquals":
		return anyOf(func(w string) bool { return globMatch(w, got, false) })
	case "StringNotEquals":
		return !anyOf(func(w string) bool { return w == got })
	case "StringNotLike":
		return !anyOf(func(w string) bool { return globMatch(w, got, false) })
	}
	return false
}
