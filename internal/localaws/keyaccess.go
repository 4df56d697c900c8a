package localaws

import (
	"context"
	"encoding/json"
	"strings"
)

// This file is the test stand-in for "can EC2 use this KMS key on behalf of that account" —
// the check AWS makes when it restores an encrypted snapshot for a launch or a copy, and that
// moto never makes. It is deliberately small and independent of the code under test (it does
// not import pkg/evaluate), so a bug there cannot hide itself here. It reads the real key state
// and key policy from moto. What it models:
//   - the key must exist and be Enabled;
//   - the key's own account may always use it (its default policy delegates to IAM; IAM policies
//     in that account are not evaluated);
//   - an AWS managed key (alias/aws/...) is never usable from another account;
//   - otherwise the key policy must Allow both kms:Decrypt and kms:CreateGrant to the account
//     ("*", the account ID, its root ARN, or the launching principal's ARN when known), with no
//     Deny naming it. Conditions are evaluated for the keys EC2 sets (kms:CallerAccount,
//     kms:ViaService, kms:GrantIsForAWSResource, aws:PrincipalAccount) with the String*/Bool
//     operators; any other condition makes an Allow not count and a Deny count.
// IAM policies of the launching principal are checked only with Filler.RequireLauncherIAM
// (iamaccess.go). Not modeled: grants, SCPs.

// canUseKey reports whether account (launching or copying through EC2 in region) can use the
// key, and why not.
func (fi *fillerImpl) canUseKey(ctx context.Context, keyRef, account, principal, region string) (bool, string) {
	keyAccount, keyRegion := arnAccount(keyRef), arnRegion(keyRef)
	if keyAccount == "" {
		return false, "KMS key " + keyRef + " cannot be resolved"
	}
	md, err := fi.describeKey(ctx, keyAccount, keyRegion, keyRef)
	if err != nil {
		return false, "KMS key " + keyRef + " not found"
	}
	if md.KeyState != "Enabled" {
		return false, "KMS key " + md.Arn + " is " + md.KeyState
	}
	if keyAccount == account {
		return true, ""
	}
	if fi.isAWSManagedKey(ctx, md.Arn) {
		return false, "KMS key " + md.Arn + " is an AWS managed key of account " + keyAccount
	}
	var out struct {
		Policy string `json:"Policy"`
	}
	if err := fi.kmsCall(ctx, keyAccount, keyRegion, "GetKeyPolicy", map[string]string{"KeyId": md.KeyID, "PolicyName": "default"}, &out); err != nil {
		return false, "KMS key " + md.Arn + ": key policy unreadable"
	}
	if ok, why := policyLetsUse(out.Policy, account, principal, region); !ok {
		return false, "KMS key " + md.Arn + ": " + why
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

// isAWSManagedKey reports whether the key has an alias under alias/aws/ (moto reports such keys
// as KeyManager CUSTOMER, so the alias is the only reliable sign).
func (fi *fillerImpl) isAWSManagedKey(ctx context.Context, keyARN string) bool {
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
	var p struct {
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
	for _, action := range []string{"kms:Decrypt", "kms:CreateGrant"} {
		ctx := useContext(action, account, region)
		allowed := false
		for _, s := range stmts {
			if !s.principalApplies(account, principal) || !s.actionApplies(action) {
				continue
			}
			condOK, condKnown := conditionsHold(s.Condition, ctx)
			switch {
			case strings.EqualFold(s.Effect, "Deny") && (condOK || !condKnown):
				return false, "an explicit Deny covers " + action + " for account " + account
			case strings.EqualFold(s.Effect, "Allow") && condOK && condKnown:
				allowed = true
			}
		}
		if !allowed {
			return false, "the key policy does not allow " + action + " to account " + account
		}
	}
	return true, ""
}

// useContext is the request context of EC2 using a key for account in region (condition keys
// lower-cased): a grant it creates is for an AWS resource.
func useContext(action, account, region string) map[string]string {
	ctx := map[string]string{
		"kms:calleraccount":    account,
		"aws:principalaccount": account,
		"kms:viaservice":       "ec2." + region + ".amazonaws.com",
	}
	if action == "kms:CreateGrant" {
		ctx["kms:grantisforawsresource"] = "true"
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

func principalMatches(values []string, account, principal string) bool {
	for _, v := range values {
		if v == "*" || v == account || v == "arn:aws:iam::"+account+":root" || (principal != "" && v == principal) {
			return true
		}
	}
	return false
}

func (s policyStatement) principalApplies(account, principal string) bool {
	if len(s.NotPrincipal) > 0 {
		return !principalMatches(principalValues(s.NotPrincipal), account, principal)
	}
	return principalMatches(principalValues(s.Principal), account, principal)
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

// conditionsHold evaluates a Condition block against ctx (keys lower-cased). known is false
// when an operator or key is outside what this checker understands.
func conditionsHold(cond map[string]map[string]json.RawMessage, ctx map[string]string) (ok, known bool) {
	ok, known = true, true
	for op, entries := range cond {
		base, ifExists := strings.CutSuffix(op, "IfExists")
		for key, raw := range entries {
			got, present := ctx[strings.ToLower(key)]
			if !isKnownConditionKey(key) {
				known = false
				continue
			}
			if !present {
				if !ifExists {
					ok = false
				}
				continue
			}
			if !conditionValueMatches(base, stringList(raw), got) {
				if base == "" || !isKnownOperator(base) {
					known = false
				}
				ok = false
			}
		}
	}
	return ok, known
}

func isKnownConditionKey(key string) bool {
	switch strings.ToLower(key) {
	case "kms:calleraccount", "aws:principalaccount", "kms:viaservice", "kms:grantisforawsresource":
		return true
	}
	return false
}

func isKnownOperator(op string) bool {
	switch op {
	case "StringEquals", "StringLike", "StringEqualsIgnoreCase", "StringNotEquals", "StringNotLike", "Bool":
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
	case "StringLike":
		return anyOf(func(w string) bool { return globMatch(w, got, false) })
	case "StringNotEquals":
		return !anyOf(func(w string) bool { return w == got })
	case "StringNotLike":
		return !anyOf(func(w string) bool { return globMatch(w, got, false) })
	}
	return false
}
