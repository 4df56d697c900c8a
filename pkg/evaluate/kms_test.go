package evaluate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

func loadDoc(t testing.TB, name string) *policy.Document {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return mustParse(t, string(b))
}

// corpusKeyPolicy reads a placebo GetKeyPolicy recording ({"data":{"Policy":"<string>"}}).
func corpusKeyPolicy(t testing.TB, path string) *policy.Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read corpus file: %v", err)
	}
	var rec struct {
		Data struct{ Policy string } `json:"data"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Data.Policy == "" {
		t.Fatalf("%s: not a GetKeyPolicy recording (%v)", path, err)
	}
	return mustParse(t, rec.Data.Policy)
}

const corpusAPI = "../../../shared/corpus/api"

// Doc references:
//
//	[kp-default]  KMS Developer Guide, "Default key policy": the statement naming the account
//	              root "Enable IAM User Permissions" lets IAM policies control access.
//	[kp-external] KMS Developer Guide, "Allowing users in other accounts to use a KMS key": both
//	              the key policy and IAM policies in the external account must allow; cross-account
//	              permission is effective only for cryptographic operations, DescribeKey,
//	              GetKeyRotationStatus and the grant operations.
//	[kp-eval]     KMS Developer Guide, "Troubleshooting key access" / policy evaluation: a key
//	              policy naming the principal itself is sufficient in the key's account; explicit
//	              deny in any policy wins.
//	[boundary]    IAM User Guide, "Permissions boundaries for IAM entities": the effective identity
//	              permissions are the intersection of identity policies and the boundary.
//	[ebs]         The AWS managed aws/ebs key policy pins kms:CallerAccount and kms:ViaService, so
//	              it can only be used by the owning account through EC2 in its region.
func TestKMS(t *testing.T) {
	const region = "us-east-1"
	tests := map[string]struct {
		keyPolicy     string // fixture name
		keyPolicyDoc  *policy.Document
		principal     string
		action        string
		ctx           map[string][]string
		unknown       []string // Request.Unknown
		identity      []string // fixture names
		identityKnown bool
		boundary      string
		want          Decision
		missing       []string
		delegates     bool
		reason        string // substring of a key-policy or identity reason
		notEvaluated  string // substring of a not_evaluated entry
	}{
		// [kp-eval] The key policy names the role itself: enough in the key's account.
		"same account, role named in key policy": {keyPolicy: "console-key-policy.json", principal: ownerSess, action: "kms:Decrypt",
			identityKnown: true, want: Allow, missing: []string{}},
		// [kp-default] Only the account root is named: IAM decides.
		"same account, delegated, no IAM": {keyPolicy: "console-key-policy.json", principal: ownerUser, action: "kms:Decrypt",
			identityKnown: true, want: ImplicitDeny, missing: []string{"identity"}, delegates: true, reason: "no identity policy allows kms:Decrypt"},
		"same account, delegated, IAM allows": {keyPolicy: "default-key-policy.json", principal: ownerUser, action: "kms:Decrypt",
			identity: []string{"identity-kms-use.json"}, identityKnown: true, want: Allow, missing: []string{}, delegates: true},
		// The root user is not governed by identity policies.
		"same account root": {keyPolicy: "default-key-policy.json", principal: ownerRoot, action: "kms:ScheduleKeyDeletion",
			identityKnown: true, want: Allow, missing: []string{}},
		// [kp-external] Another account: key policy names its root and its IAM allows.
		"other account, both allow": {keyPolicy: "console-key-policy.json", principal: otherSess, action: "kms:Decrypt",
			identity: []string{"identity-kms-use.json"}, identityKnown: true, want: Allow, missing: []string{}, delegates: true},
		"other account, no IAM": {keyPolicy: "console-key-policy.json", principal: otherSess, action: "kms:Decrypt",
			identityKnown: true, want: ImplicitDeny, missing: []string{"identity"}, delegates: true},
		"other account, CreateGrant via EC2": {keyPolicy: "console-key-policy.json", principal: otherSess, action: "kms:CreateGrant",
			ctx: EC2Context(region, otherSess, true), identity: []string{"identity-kms-use.json"}, identityKnown: true, want: Allow, missing: []string{}, delegates: true},
		// The attachment statement requires kms:GrantIsForAWSResource.
		"other account, CreateGrant not for AWS resource": {keyPolicy: "console-key-policy.json", principal: otherSess, action: "kms:CreateGrant",
			ctx: EC2Context(region, otherSess, false), identity: []string{"identity-kms-use.json"}, identityKnown: true, want: ImplicitDeny, missing: []string{"key-policy"},
			reason: `Statement[3] "Allow attachment of persistent resources" would allow kms:CreateGrant for arn:aws:iam::444455556666:root (the account of ` + otherSess +
				`), but condition Bool kms:GrantIsForAWSResource ["true"] does not hold (the request has no kms:GrantIsForAWSResource)`},
		// [kp-external] Nothing in the key policy for that account: denied whatever IAM says.
		"third account, IAM admin": {keyPolicy: "console-key-policy.json", principal: thirdUser, action: "kms:Decrypt",
			identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: ImplicitDeny, missing: []string{"key-policy"}},
		// [kp-external] Another account named exactly still needs its IAM.
		"other account named exactly, no IAM": {keyPolicyDoc: mustParse(t, doc(stmt("Allow", `{"AWS":"`+otherRole+`"}`, `"kms:*"`, `"*"`, ""))),
			principal: otherSess, action: "kms:Decrypt", identityKnown: true, want: ImplicitDeny, missing: []string{"identity"}},
		// [kp-external] ScheduleKeyDeletion cannot be used across accounts even if both allow.
		"other account, ScheduleKeyDeletion": {keyPolicy: "corpus:custodian-kms-getkeypolicy-public-statement-before.json", principal: otherUser,
			action: "kms:ScheduleKeyDeletion", identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: ImplicitDeny, missing: []string{},
			reason: "cannot be used from another account"},
		"other account, GetKeyRotationStatus allowed": {keyPolicy: "corpus:custodian-kms-getkeypolicy-public-statement-before.json", principal: otherUser,
			action: "kms:GetKeyRotationStatus", identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: Allow, missing: []string{}},
		// [kp-eval] Explicit deny in the key policy wins (negated operator, key missing: true).
		"key policy deny": {keyPolicy: "console-key-policy.json", principal: otherUser, action: "kms:ScheduleKeyDeletion",
			identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: ExplicitDeny, missing: []string{"key-policy"}},
		"admin deletes with PrincipalArn": {keyPolicy: "console-key-policy.json", principal: "arn:aws:iam::111122223333:role/KeyAdmin", action: "kms:ScheduleKeyDeletion",
			ctx: map[string][]string{"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/KeyAdmin"}}, identityKnown: true, want: Allow, missing: []string{}},
		// [kp-eval] Explicit deny in an identity policy wins over a key policy naming the principal.
		"identity deny wins": {keyPolicy: "console-key-policy.json", principal: ownerSess, action: "kms:Decrypt",
			identity: []string{"identity-kms-admin.json", "identity-deny-decrypt.json"}, identityKnown: true, want: ExplicitDeny, missing: []string{},
			reason: `identity policy 2: Statement[0] "NoDecrypt" denies kms:Decrypt`},
		// [boundary] The boundary must also allow the identity-side permission.
		"boundary blocks": {keyPolicy: "default-key-policy.json", principal: ownerUser, action: "kms:Decrypt",
			identity: []string{"identity-kms-admin.json"}, identityKnown: true, boundary: "boundary-describe-only.json", want: ImplicitDeny, missing: []string{"identity"}, delegates: true,
			reason: "permissions boundary does not allow kms:Decrypt"},
		"boundary allows": {keyPolicy: "default-key-policy.json", principal: ownerUser, action: "kms:DescribeKey",
			identity: []string{"identity-kms-admin.json"}, identityKnown: true, boundary: "boundary-describe-only.json", want: Allow, missing: []string{}, delegates: true},
		// A key-policy Deny that cannot be evaluated: not allowed, but the key policy is not
		// "missing" an allow either (documented choice); NotEvaluated says why.
		"unevaluable key-policy deny": {keyPolicyDoc: mustParse(t, doc(stmt("Allow", `{"AWS":"`+otherRoot+`"}`, `"kms:*"`, `"*"`, ""),
			stmt("Deny", `"*"`, `"kms:Decrypt"`, `"*"`, `{"StringNotEquals":{"aws:PrincipalTag/owner":"${aws:PrincipalTag/team}"}}`))),
			principal: otherRoot, action: "kms:Decrypt", unknown: []string{"aws:PrincipalTag/"}, identityKnown: true, want: ImplicitDeny, missing: []string{},
			notEvaluated: `key policy: Statement[1] (Deny, might apply): condition StringNotEquals aws:PrincipalTag/owner`, reason: "allow not confirmed"},
		// Identity not known: another account always needs its identity side, so the key
		// policy's allow is not confirmed, and the answer says so.
		"identity unknown": {keyPolicy: "console-key-policy.json", principal: otherRoot, action: "kms:Decrypt",
			want: ImplicitDeny, missing: []string{}, notEvaluated: "identity policies and permissions boundary of arn:aws:iam::444455556666:root not evaluated: AWS requires them"},
		// [ebs] The owning account through EC2 in the key's region: allowed by "*" with conditions.
		"aws/ebs owner via EC2": {keyPolicy: "aws-ebs-key-policy.json", principal: ownerSess, action: "kms:CreateGrant",
			ctx: EC2Context(region, ownerSess, true), identityKnown: true, want: Allow, missing: []string{}},
		"aws/ebs owner direct decrypt": {keyPolicy: "aws-ebs-key-policy.json", principal: ownerSess, action: "kms:Decrypt",
			identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: ImplicitDeny, missing: []string{"key-policy"}},
		"aws/ebs owner other region": {keyPolicy: "aws-ebs-key-policy.json", principal: ownerSess, action: "kms:Decrypt",
			ctx: EC2Context("eu-west-1", ownerSess, false), identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: ImplicitDeny, missing: []string{"key-policy"}},
		// [ebs] Another account is denied, whatever its IAM says.
		"aws/ebs other account via EC2": {keyPolicy: "aws-ebs-key-policy.json", principal: otherSess, action: "kms:Decrypt",
			ctx: EC2Context(region, otherSess, false), identity: []string{"identity-kms-admin.json"}, identityKnown: true, want: ImplicitDeny, missing: []string{"key-policy"},
			reason: `condition StringEquals kms:CallerAccount ["111122223333"] does not hold (the request has kms:CallerAccount = 444455556666)`},
		"aws/ebs other account CreateGrant": {keyPolicy: "aws-ebs-key-policy.json", principal: otherRoot, action: "kms:CreateGrant",
			ctx: EC2Context(region, otherRoot, true), want: ImplicitDeny, missing: []string{"key-policy"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kp := tc.keyPolicyDoc
			switch {
			case kp != nil:
			case strings.HasPrefix(tc.keyPolicy, "corpus:"):
				kp = corpusKeyPolicy(t, filepath.Join(corpusAPI, strings.TrimPrefix(tc.keyPolicy, "corpus:")))
			default:
				kp = loadDoc(t, tc.keyPolicy)
			}
			in := KMSInput{KeyPolicy: kp, KeyAccount: "111122223333", IdentityKnown: tc.identityKnown,
				Request: Request{PrincipalARN: tc.principal, Action: tc.action, Resource: keyARN, Context: tc.ctx, Unknown: tc.unknown}}
			for _, f := range tc.identity {
				in.IdentityPolicies = append(in.IdentityPolicies, loadDoc(t, f))
			}
			if tc.boundary != "" {
				in.Boundary = loadDoc(t, tc.boundary)
			}
			got := KMS(in)
			dump := checkKMS(t, got, tc.want, tc.missing)
			if got.KeyPolicy.Delegates != tc.delegates {
				t.Errorf("delegates = %v, want %v\n%s", got.KeyPolicy.Delegates, tc.delegates, dump)
			}
			if (got.Identity != nil) != tc.identityKnown {
				t.Errorf("identity result present = %v, want %v", got.Identity != nil, tc.identityKnown)
			}
			if tc.reason != "" {
				reasons := got.KeyPolicy.Reasons
				if got.Identity != nil {
					reasons = append(append([]string{}, reasons...), got.Identity.Reasons...)
				}
				if !containsSub(reasons, tc.reason) {
					t.Errorf("reasons lack %q\n%s", tc.reason, dump)
				}
			}
			if tc.notEvaluated != "" && !containsSub(got.NotEvaluated, tc.notEvaluated) {
				t.Errorf("not_evaluated lacks %q\n%s", tc.notEvaluated, dump)
			}
		})
	}
}

// checkKMS asserts the decision (fatal) and Missing, and returns the result as JSON for messages.
func checkKMS(t *testing.T, got KMSResult, want Decision, missing []string) []byte {
	t.Helper()
	dump, _ := json.MarshalIndent(got, "", "  ")
	if got.Decision != want {
		t.Fatalf("decision = %s, want %s\n%s", got.Decision, want, dump)
	}
	if !reflect.DeepEqual(got.Missing, missing) {
		t.Errorf("missing = %q, want %q\n%s", got.Missing, missing, dump)
	}
	return dump
}

func TestKMSJSONShape(t *testing.T) {
	got := KMS(KMSInput{KeyPolicy: loadDoc(t, "default-key-policy.json"), KeyAccount: "111122223333",
		Request: Request{PrincipalARN: thirdUser, Action: "kms:Decrypt", Resource: keyARN}})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"decision", "key_policy", "missing", "not_evaluated"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if _, ok := m["identity"]; ok {
		t.Errorf("identity present although not known: %s", b)
	}
	if string(m["missing"]) != `["key-policy"]` {
		t.Errorf("missing = %s", m["missing"])
	}
}

func TestEC2Context(t *testing.T) {
	tests := map[string]struct {
		principal string
		grant     bool
		want      map[string][]string
	}{
		"session with grant": {otherSess, true, map[string][]string{
			"kms:ViaService":            {"ec2.eu-west-1.amazonaws.com"},
			"kms:CallerAccount":         {"444455556666"},
			"aws:PrincipalAccount":      {"444455556666"},
			"aws:PrincipalArn":          {"arn:aws:iam::444455556666:role/ExampleRole"},
			"kms:GrantIsForAWSResource": {"true"},
		}},
		"root without grant": {"444455556666", false, map[string][]string{
			"kms:ViaService":       {"ec2.eu-west-1.amazonaws.com"},
			"kms:CallerAccount":    {"444455556666"},
			"aws:PrincipalAccount": {"444455556666"},
			"aws:PrincipalArn":     {"arn:aws:iam::444455556666:root"},
		}},
		"user": {otherUser, false, map[string][]string{
			"kms:ViaService":       {"ec2.eu-west-1.amazonaws.com"},
			"kms:CallerAccount":    {"444455556666"},
			"aws:PrincipalAccount": {"444455556666"},
			"aws:PrincipalArn":     {otherUser},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := EC2Context("eu-west-1", tc.principal, tc.grant); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("EC2Context = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCrossAccountAction(t *testing.T) {
	for action, want := range map[string]bool{
		"kms:Decrypt": true, "KMS:GENERATEDATAKEYWITHOUTPLAINTEXT": true, "kms:CreateGrant": true, "kms:RetireGrant": true,
		"kms:DescribeKey": true, "kms:ScheduleKeyDeletion": false, "kms:PutKeyPolicy": false, "kms:ListKeys": false,
		"kms:GenerateRandom": false, "kms:ReEncryptFrom": true,
	} {
		if got := CrossAccountAction(action); got != want {
			t.Errorf("CrossAccountAction(%q) = %v, want %v", action, got, want)
		}
	}
}

// The corpus key policies (real GetKeyPolicy recordings) under the evaluator.
func TestCorpusKeyPolicies(t *testing.T) {
	const acct = "644160558196"
	key := "arn:aws:kms:us-east-1:" + acct + ":key/k"
	tests := map[string]struct {
		file      string
		principal string
		action    string
		ctx       map[string][]string
		want      Decision
	}{
		// "Principal": "*" allows kms:Encrypt to anyone on the key-policy side.
		"star encrypt other account": {"custodian-kms-getkeypolicy-principal-star-encrypt.json", otherUser, "kms:Encrypt", nil, Allow},
		"star encrypt not decrypt":   {"custodian-kms-getkeypolicy-principal-star-encrypt.json", otherUser, "kms:Decrypt", nil, ImplicitDeny},
		// StringEquals kms:CallerAccount pins the account.
		"creategrant caller account other": {"custodian-kms-getkeypolicy-creategrant-calleraccount-condition.json", otherUser, "kms:CreateGrant",
			map[string][]string{"kms:CallerAccount": {"444455556666"}}, ImplicitDeny},
		"creategrant caller account own": {"custodian-kms-getkeypolicy-creategrant-calleraccount-condition.json", "arn:aws:iam::" + acct + ":role/r", "kms:CreateGrant",
			map[string][]string{"kms:CallerAccount": {acct}}, Allow},
		// StringEquals "*" is a literal star, not a wildcard.
		"star calleraccount is literal": {"custodian-kms-getkeypolicy-star-calleraccount-wildcard.json", otherUser, "kms:Encrypt",
			map[string][]string{"kms:CallerAccount": {"444455556666"}, "kms:ViaService": {"s3.af-south-1.amazonaws.com"}}, ImplicitDeny},
		// ForAllValues over a missing kms:GrantOperations is true.
		"viaservice, grant operations missing": {"custodian-kms-getkeypolicy-viaservice-grantoperations.json", "arn:aws:iam::" + acct + ":role/r", "kms:Encrypt",
			map[string][]string{"kms:ViaService": {"s3.af-south-1.amazonaws.com"}}, Allow},
		"public statement removed": {"custodian-kms-getkeypolicy-public-statement-removed.json", otherUser, "kms:Decrypt", nil, ImplicitDeny},
		"public statement":         {"custodian-kms-getkeypolicy-public-statement-before-2.json", otherUser, "kms:Decrypt", nil, Allow},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := corpusKeyPolicy(t, filepath.Join(corpusAPI, tc.file))
			got := Policy(d, Request{PrincipalARN: tc.principal, Action: tc.action, Resource: key, Context: tc.ctx})
			if got.Decision != tc.want {
				t.Fatalf("decision = %s, want %s: %+v", got.Decision, tc.want, got)
			}
		})
	}
}
