package evaluate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// FuzzEvaluate: no panic on any policy or request, and the answer is consistent with itself.
func FuzzEvaluate(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range fixtures {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), otherSess, "kms:Decrypt", keyARN, "kms:ViaService", "ec2.us-east-1.amazonaws.com")
	}
	f.Add(doc(stmt("Deny", `{"AWS":["*"]}`, `"kms:*"`, `"*"`, `{"ForAllValues:DateLessThanIfExists":{"aws:CurrentTime":["1e400","x"]}}`)),
		ownerRoot, "kms:*", "*", "aws:CurrentTime", "2020-01-01T00:00:00Z")
	f.Add(doc(stmt("Allow", `{"Service":"ec2.amazonaws.com","AWS":"arn:aws:sts::1:assumed-role/"}`, `["?*?"]`, `"${aws:username}"`, `{"Null":{"k":["true",1]}}`)),
		"arn:aws:sts::1:assumed-role/", "", "", "k", "")
	f.Add(doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"NotAction":"kms:Sign","NotResource":"arn:*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`),
		"arn:aws:iam::111122223333:user/x", "kms:Decrypt", keyARN, "aws:sourceip", "10.1.2.3")

	f.Fuzz(func(t *testing.T, src, principal, action, resource, key, value string) {
		d, err := policy.Parse([]byte(src))
		if err != nil {
			return
		}
		req := Request{PrincipalARN: principal, Action: action, Resource: resource, Context: map[string][]string{key: {value}}}
		r := Policy(d, req)
		switch r.Decision {
		case Allow, ExplicitDeny, ImplicitDeny:
		default:
			t.Fatalf("decision %q", r.Decision)
		}
		if r.Matched == nil || r.Reasons == nil || r.NotEvaluated == nil {
			t.Fatalf("nil slice in %+v", r)
		}
		if r.Delegates && r.Decision != Allow {
			t.Fatalf("delegates without allow: %+v", r)
		}
		deny := false
		for _, m := range r.Matched {
			deny = deny || m.Effect == string(policy.Deny)
		}
		if deny != (r.Decision == ExplicitDeny) {
			t.Fatalf("matched deny %v but decision %s", deny, r.Decision)
		}
		// The decision-only path decides exactly as the explained one.
		for _, rq := range []Request{req, {PrincipalARN: principal, Action: action, Resource: resource, Context: req.Context, Unknown: []string{key}}} {
			if q, full := KeyPolicyDecision(d, rq), KeyPolicy(d, rq); q != full.Decision {
				t.Fatalf("KeyPolicyDecision %s, KeyPolicy %s", q, full.Decision)
			}
			if q, full := KeyPolicyDecisionAdding(d, 0, principal, rq), KeyPolicy(d, rq); full.Decision == ExplicitDeny && q != ExplicitDeny {
				t.Fatalf("adding a principal lifted an explicit deny: %s", q)
			}
		}
		k := KMS(KMSInput{KeyPolicy: d, KeyAccount: KeyAccount(resource), IdentityPolicies: []*policy.Document{d}, IdentityKnown: true, Boundary: d, Request: req})
		if k.Decision == Allow && len(k.Missing) > 0 {
			t.Fatalf("allow with missing %v", k.Missing)
		}
	})
}
