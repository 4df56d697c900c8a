package localaws

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
)

// KMS calls by key ARN from another account, and CreateGrant's Name. moto keeps every key in its
// owner's account and answers NotFoundException to any other account, even by key ARN, and
// creates a new grant for every CreateGrant. Real KMS (KMS Developer Guide, "Allowing users in
// other accounts to use a KMS key"; CreateGrant API reference):
//   - serves a principal of another account, by key ARN, for the cryptographic operations,
//     DescribeKey and the grant operations, when the key policy allows its account or itself
//     (and its IAM allows it too; the filler checks that only with RequireLauncherIAM);
//   - with a Name, recognises a CreateGrant identical to an existing grant (key, grantee,
//     operations, retiring principal, constraints, name) as a retry: it answers the existing
//     grant's ID, with a new grant token, and creates nothing.
//
// The filler reads the key policy from moto for such a call, with the request's context
// (kms:CallerAccount, aws:PrincipalAccount, aws:PrincipalArn, and for CreateGrant
// kms:GranteePrincipal and kms:GrantOperations; a call by a principal itself has no
// kms:ViaService and no kms:GrantIsForAWSResource), answers AccessDeniedException when it does
// not allow the call, and otherwise forwards it to moto as the key's account. Grants moto lists
// name the key by ID where AWS gives its ARN.
//
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html
// https://docs.aws.amazon.com/kms/latest/developerguide/create-grant-overview.html

// crossAccountKMS are the operations the filler serves across accounts, by the member that names
// the key.
var crossAccountKMS = map[string]string{
	"CreateGrant": "KeyId", "ListGrants": "KeyId", "RevokeGrant": "KeyId", "RetireGrant": "KeyId",
	"DescribeKey": "KeyId", "Encrypt": "KeyId", "Decrypt": "KeyId", "GenerateDataKey": "KeyId",
	"GenerateDataKeyWithoutPlaintext": "KeyId",
}

// grant is a grant as ListGrants answers it.
type grant struct {
	GrantID           string          `json:"GrantId"`
	Name              string          `json:"Name"`
	GranteePrincipal  string          `json:"GranteePrincipal"`
	RetiringPrincipal string          `json:"RetiringPrincipal"`
	Operations        []string        `json:"Operations"`
	Constraints       json.RawMessage `json:"Constraints"`
	KeyID             string          `json:"KeyId"`
}

// createGrantInput is what CreateGrant's identity is made of.
type createGrantInput struct {
	KeyID             string          `json:"KeyId"`
	GranteePrincipal  string          `json:"GranteePrincipal"`
	RetiringPrincipal string          `json:"RetiringPrincipal"`
	Operations        []string        `json:"Operations"`
	Constraints       json.RawMessage `json:"Constraints"`
	Name              string          `json:"Name"`
}

func (fi *Filler) listGrants(ctx context.Context, account, region, keyID string) ([]grant, error) {
	var all []grant
	in := map[string]any{"KeyId": keyID}
	for {
		var out struct {
			Grants     []grant `json:"Grants"`
			NextMarker string  `json:"NextMarker"`
			Truncated  bool    `json:"Truncated"`
		}
		if err := fi.kmsCall(ctx, account, region, "ListGrants", in, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Grants...)
		if !out.Truncated || out.NextMarker == "" {
			return all, nil
		}
		in["Marker"] = out.NextMarker
	}
}

// serveKMS answers the KMS calls moto gets wrong (see above) and reports whether it did.
func (fi *Filler) serveKMS(w http.ResponseWriter, r *http.Request, c *call) bool {
	action, _ := strings.CutPrefix(c.target, "TrentService.")
	member, ok := crossAccountKMS[action]
	if !ok {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	r.Body.Close()
	if err != nil || len(body) > maxRequestBody {
		writeKMSError(w, http.StatusBadRequest, "ValidationException", "filler: request body unreadable")
		return true
	}
	c.body, c.bodyRead = body, true
	var in map[string]json.RawMessage
	if json.Unmarshal(body, &in) != nil {
		return false // moto answers what is not JSON
	}
	var keyRef string
	_ = json.Unmarshal(in[member], &keyRef)
	keyAccount, keyRegion := arnAccount(keyRef), arnRegion(keyRef)
	cross := keyAccount != "" && keyAccount != c.account
	ctx := r.Context()
	owner, region := c.account, c.region
	if cross {
		owner, region = keyAccount, keyRegion
		if ok, why := fi.crossAccountAllowed(ctx, c, action, keyRef, in); !ok {
			writeKMSError(w, http.StatusBadRequest, "AccessDeniedException", why)
			return true
		}
	}
	if action == "CreateGrant" {
		var g createGrantInput
		if json.Unmarshal(body, &g) == nil && g.Name != "" {
			if id := fi.sameGrant(ctx, owner, region, g); id != "" {
				writeKMSJSON(w, map[string]string{"GrantId": id, "GrantToken": newToken()})
				return true
			}
		}
	}
	if !cross {
		return false
	}
	// Forward as the key's account: moto finds the key there.
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set(motoAccountHdr, keyAccount)
	c.static = false
	r = r.WithContext(context.WithValue(ctx, callKey{}, c))
	fi.proxy.ServeHTTP(w, r)
	return true
}

// crossAccountAllowed reads the key policy for a call by another account's principal.
func (fi *Filler) crossAccountAllowed(ctx context.Context, c *call, action, keyRef string, in map[string]json.RawMessage) (bool, string) {
	who := c.principal
	if who == "" {
		who = "arn:aws:iam::" + c.account + ":root"
	}
	denied := "User: " + who + " is not authorized to perform: kms:" + action + " on resource: " + keyRef
	if !strings.Contains(keyRef, ":key/") {
		return false, denied + " (another account's key is named by key ARN)"
	}
	md, err := fi.describeKey(ctx, arnAccount(keyRef), arnRegion(keyRef), keyRef)
	if err != nil {
		return false, denied
	}
	var pol struct {
		Policy string `json:"Policy"`
	}
	if err := fi.kmsCall(ctx, arnAccount(md.Arn), arnRegion(md.Arn), "GetKeyPolicy", map[string]string{"KeyId": md.KeyID, "PolicyName": "default"}, &pol); err != nil {
		return false, denied
	}
	rc := map[string][]string{
		"kms:calleraccount":    {c.account},
		"aws:principalaccount": {c.account},
		"aws:principalarn":     {who},
	}
	if action == "CreateGrant" {
		var g createGrantInput
		_ = json.Unmarshal(mustJSON(in), &g)
		rc["kms:granteeprincipal"] = []string{g.GranteePrincipal}
		rc["kms:grantoperations"] = g.Operations
	}
	if ok, why := policyAllows(pol.Policy, keyRequest{action: "kms:" + action, account: c.account, principal: c.principal, ctx: rc}); !ok {
		return false, denied + " because no resource-based policy allows the kms:" + action + " action (" + why + ")"
	}
	fi.mu.Lock()
	checkIAM := fi.checkIAM
	fi.mu.Unlock()
	if checkIAM && c.principal != "" && (action == "Decrypt" || action == "CreateGrant") {
		if ok, why := fi.iamLetsUse(ctx, c.principal, md.Arn, c.region); !ok {
			return false, denied + " because no identity-based policy allows it (" + why + ")"
		}
	}
	return true, ""
}

// sameGrant is the ID of a grant on the key identical to g, name included; "" when none is.
func (fi *Filler) sameGrant(ctx context.Context, account, region string, g createGrantInput) string {
	md, err := fi.describeKey(ctx, account, region, g.KeyID)
	if err != nil {
		return ""
	}
	grants, err := fi.listGrants(ctx, arnAccount(md.Arn), arnRegion(md.Arn), md.KeyID)
	if err != nil {
		return ""
	}
	want := slices.Clone(g.Operations)
	slices.Sort(want)
	for _, e := range grants {
		have := slices.Clone(e.Operations)
		slices.Sort(have)
		if e.Name == g.Name && e.GranteePrincipal == g.GranteePrincipal && e.RetiringPrincipal == g.RetiringPrincipal &&
			slices.Equal(have, want) && sameJSON(e.Constraints, g.Constraints) {
			return e.GrantID
		}
	}
	return ""
}

// sameJSON compares two JSON values, absent and null being the same.
func sameJSON(a, b json.RawMessage) bool {
	norm := func(r json.RawMessage) string {
		var v any
		if len(r) == 0 || json.Unmarshal(r, &v) != nil || v == nil {
			return "null"
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeKMSJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

func writeKMSError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}
