package localaws

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The IAM half of cross-account key use (KMS Developer Guide, "Allowing users in other accounts
// to use a KMS key": the key policy must name the account AND an IAM policy in that account
// must allow the principal). Opt-in with Filler.RequireLauncherIAM, and only when the filler
// knows the calling principal (an STS AssumeRole session, an IAM user key it saw created, or
// MapAccessKeyPrincipal). It reads the principal's inline and attached managed policies from
// moto (not group policies, permission boundaries, SCPs or session policies) and requires an
// Allow of kms:Decrypt and kms:CreateGrant on the key ARN with no Deny.

// RequireLauncherIAM turns the IAM check on or off for launches and copies that use another
// account's key. Off by default.
func (f *Filler) RequireLauncherIAM(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkIAM = on
}

// iamLetsUse reports whether the principal's identity policies allow EC2 to use keyARN for it.
func (fi *Filler) iamLetsUse(ctx context.Context, principal, keyARN, region string) (bool, string) {
	account := arnAccount(principal)
	parts := splitARN(principal)
	if account == "" || parts[2] != "iam" {
		return true, "" // not an IAM role/user the filler can read: not checked
	}
	name := lastPathPart(parts[5])
	kind := ""
	switch {
	case strings.HasPrefix(parts[5], "role/"):
		kind = "Role"
	case strings.HasPrefix(parts[5], "user/"):
		kind = "User"
	default:
		return true, ""
	}
	docs, err := fi.identityPolicies(ctx, account, kind, name)
	if err != nil {
		return false, "IAM policies of " + principal + " unreadable: " + err.Error()
	}
	if ok, why := identityLetsUse(docs, keyARN, account, region); !ok {
		return false, principal + ": " + why
	}
	return true, ""
}

// identityPolicies returns the documents of the role's or user's inline and attached policies.
func (fi *Filler) identityPolicies(ctx context.Context, account, kind, name string) ([]string, error) {
	call := func(params url.Values, out any) error {
		params.Set("Version", "2010-05-08")
		status, raw, err := fi.queryRaw(ctx, "iam", account, defaultRegion, params)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("iam %s: HTTP %d", params.Get("Action"), status)
		}
		return xml.Unmarshal(raw, out)
	}
	var docs []string
	var inline struct {
		Result struct {
			Names []string `xml:"PolicyNames>member"`
		} `xml:",any"`
	}
	if err := call(url.Values{"Action": {"List" + kind + "Policies"}, kind + "Name": {name}}, &inline); err != nil {
		return nil, err
	}
	for _, p := range inline.Result.Names {
		var got struct {
			Result struct {
				Document string `xml:"PolicyDocument"`
			} `xml:",any"`
		}
		if err := call(url.Values{"Action": {"Get" + kind + "Policy"}, kind + "Name": {name}, "PolicyName": {p}}, &got); err != nil {
			return nil, err
		}
		docs = append(docs, decodePolicyDocument(got.Result.Document))
	}
	var attached struct {
		Result struct {
			ARNs []string `xml:"AttachedPolicies>member>PolicyArn"`
		} `xml:",any"`
	}
	if err := call(url.Values{"Action": {"ListAttached" + kind + "Policies"}, kind + "Name": {name}}, &attached); err != nil {
		return nil, err
	}
	for _, arn := range attached.Result.ARNs {
		var pol struct {
			Result struct {
				Version string `xml:"Policy>DefaultVersionId"`
			} `xml:",any"`
		}
		if err := call(url.Values{"Action": {"GetPolicy"}, "PolicyArn": {arn}}, &pol); err != nil {
			return nil, err
		}
		var ver struct {
			Result struct {
				Document string `xml:"PolicyVersion>Document"`
			} `xml:",any"`
		}
		if err := call(url.Values{"Action": {"GetPolicyVersion"}, "PolicyArn": {arn}, "VersionId": {pol.Result.Version}}, &ver); err != nil {
			return nil, err
		}
		docs = append(docs, decodePolicyDocument(ver.Result.Document))
	}
	return docs, nil
}

// decodePolicyDocument undoes IAM's URL encoding of policy documents (path unescaping: a "+"
// stays a "+").
func decodePolicyDocument(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

type identityStatement struct {
	Effect      string                                `json:"Effect"`
	Action      json.RawMessage                       `json:"Action"`
	NotAction   json.RawMessage                       `json:"NotAction"`
	Resource    json.RawMessage                       `json:"Resource"`
	NotResource json.RawMessage                       `json:"NotResource"`
	Condition   map[string]map[string]json.RawMessage `json:"Condition"`
}

// identityLetsUse evaluates identity policies for kms:Decrypt and kms:CreateGrant on keyARN.
func identityLetsUse(docs []string, keyARN, account, region string) (bool, string) {
	var stmts []identityStatement
	for _, doc := range docs {
		var p struct {
			Statement json.RawMessage `json:"Statement"`
		}
		if json.Unmarshal([]byte(doc), &p) != nil {
			continue
		}
		var many []identityStatement
		if json.Unmarshal(p.Statement, &many) == nil {
			stmts = append(stmts, many...)
			continue
		}
		var one identityStatement
		if json.Unmarshal(p.Statement, &one) == nil {
			stmts = append(stmts, one)
		}
	}
	for _, action := range []string{"kms:Decrypt", "kms:CreateGrant"} {
		ctx := useContext(action, account, region)
		allowed := false
		for _, s := range stmts {
			act := policyStatement{Action: s.Action, NotAction: s.NotAction}
			if !act.actionApplies(action) || !resourceApplies(s, keyARN) {
				continue
			}
			condOK, condKnown := conditionsHold(s.Condition, ctx, false)
			switch {
			case strings.EqualFold(s.Effect, "Deny") && (condOK || !condKnown):
				return false, "an IAM Deny covers " + action
			case strings.EqualFold(s.Effect, "Allow") && condOK && condKnown:
				allowed = true
			}
		}
		if !allowed {
			return false, "no IAM policy allows " + action + " on " + keyARN
		}
	}
	return true, ""
}

func resourceApplies(s identityStatement, keyARN string) bool {
	if len(s.NotResource) > 0 {
		return !actionMatchesResource(stringList(s.NotResource), keyARN)
	}
	return actionMatchesResource(stringList(s.Resource), keyARN)
}

func actionMatchesResource(patterns []string, arn string) bool {
	for _, p := range patterns {
		if globMatch(p, arn, false) {
			return true
		}
	}
	return false
}
