package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	explainKey      = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	explainKeyPol   = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`
	explainIdentity = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"arn:aws:kms:*:111122223333:key/*"}]}`
	explainRole     = "arn:aws:sts::444455556666:assumed-role/ExampleRole/s1"
	corpusStarKey   = "../../../shared/corpus/api/custodian-kms-getkeypolicy-principal-star-encrypt.json"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type explainOut struct {
	Decision  string `json:"decision"`
	KeyPolicy struct {
		Decision    string   `json:"decision"`
		Reasons     []string `json:"reasons"`
		Ineffective []string `json:"ineffective"`
		Delegates   bool     `json:"delegates"`
	} `json:"key_policy"`
	Identity *struct {
		Decision string   `json:"decision"`
		Reasons  []string `json:"reasons"`
	} `json:"identity"`
	Missing      []string `json:"missing"`
	NotEvaluated []string `json:"not_evaluated"`
}

func TestRunExplain(t *testing.T) {
	dir := t.TempDir()
	rawKey := writeFile(t, dir, "key.json", explainKeyPol)
	getKeyPolicy, _ := json.Marshal(map[string]string{"Policy": explainKeyPol, "PolicyName": "default"})
	keyResp := writeFile(t, dir, "getkeypolicy.json", string(getKeyPolicy))
	// IAM returns documents URL-encoded (GetPolicyVersion).
	pv, _ := json.Marshal(map[string]any{"PolicyVersion": map[string]any{"Document": url.PathEscape(explainIdentity), "VersionId": "v1", "IsDefaultVersion": true}})
	idVersion := writeFile(t, dir, "getpolicyversion.json", string(pv))
	rp, _ := json.Marshal(map[string]any{"RoleName": "ExampleRole", "PolicyName": "p", "PolicyDocument": url.PathEscape(explainIdentity)})
	idRolePolicy := writeFile(t, dir, "getrolepolicy.json", string(rp))
	// The AWS CLI prints GetPolicyVersion's Document already decoded, as an object.
	cliPV := writeFile(t, dir, "cli-policyversion.json", `{"PolicyVersion":{"Document":`+explainIdentity+`,"VersionId":"v1"}}`)
	anyKMS := writeFile(t, dir, "any-kms.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	orgGuard := writeFile(t, dir, "org-guard.json", `{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Decrypt","Resource":"*"},`+
		`{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}`)
	orgPath := writeFile(t, dir, "org-path.json", `{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}}]}`)
	ownUser := writeFile(t, dir, "own-user.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Decrypt","Resource":"*"}]}`)
	noPrincipal := writeFile(t, dir, "no-principal.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	multi := writeFile(t, dir, "multi.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:CreateGrant","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}}]}`)

	base := func(extra ...string) []string {
		return append([]string{"--principal", explainRole, "--resource", explainKey}, extra...)
	}
	tests := map[string]struct {
		args         []string
		decision     string
		missing      []string
		identity     bool
		notEvaluated string
		reason       string
		ineffective  string
	}{
		// Without --identity-policy the principal has no identity policies, as AWS would evaluate
		// it: a key policy that only delegates to the account is not enough (IAM User Guide,
		// cross-account policy evaluation logic).
		"raw key policy, no identity policies": {args: base("--key-policy", rawKey, "--action", "kms:Decrypt"),
			decision: "implicit-deny", missing: []string{"identity"}, identity: true, notEvaluated: "not read: service control policies",
			reason: `Statement[1] "Allow use of the key" allows kms:Decrypt for arn:aws:iam::444455556666:root`},
		"--identity-known is the default": {args: base("--key-policy", rawKey, "--action", "kms:Decrypt", "--identity-known"),
			decision: "implicit-deny", missing: []string{"identity"}, identity: true},
		// Identity not known, and not required: a key policy naming a user of the key's own
		// account is enough (IAM policy evaluation logic, resource-based policies).
		"--identity-unknown, user of the key's account named": {args: []string{"--key-policy", ownUser, "--principal", "arn:aws:iam::111122223333:user/alice",
			"--resource", explainKey, "--action", "kms:Decrypt", "--identity-unknown"}, decision: "allow", missing: []string{}},
		// Identity not known: never "allow" where AWS requires the identity side.
		"--identity-unknown": {args: base("--key-policy", rawKey, "--action", "kms:Decrypt", "--identity-unknown"),
			decision: "implicit-deny", missing: []string{}, notEvaluated: "AWS requires them for this request, so the allow is not confirmed"},
		"GetKeyPolicy + GetPolicyVersion responses": {args: base("--key-policy", keyResp, "--identity-policy", idVersion, "--action", "kms:Decrypt"),
			decision: "allow", missing: []string{}, identity: true},
		"GetRolePolicy response, CreateGrant via EC2": {args: base("--key-policy", keyResp, "--identity-policy", idRolePolicy, "--action", "kms:CreateGrant",
			"--context", "kms:GrantIsForAWSResource=true", "--context", "kms:ViaService=ec2.us-east-1.amazonaws.com"),
			decision: "allow", missing: []string{}, identity: true},
		"--via-ec2 fills the EC2 context": {args: base("--key-policy", keyResp, "--identity-policy", idRolePolicy, "--action", "kms:CreateGrant", "--via-ec2", "us-east-1"),
			decision: "allow", missing: []string{}, identity: true},
		"aws/ebs key from another account via EC2": {args: base("--key-policy", "../../pkg/evaluate/testdata/aws-ebs-key-policy.json", "--identity-policy", idRolePolicy,
			"--action", "kms:Decrypt", "--via-ec2", "us-east-1"),
			decision: "implicit-deny", missing: []string{"key-policy"}, identity: true,
			reason: `condition StringEquals kms:CallerAccount ["111122223333"] does not hold (the request has kms:CallerAccount = 444455556666)`},
		"CreateGrant without the grant context": {args: base("--key-policy", keyResp, "--identity-policy", cliPV, "--action", "kms:CreateGrant"),
			decision: "implicit-deny", missing: []string{"key-policy"}, identity: true},
		"cross-account ScheduleKeyDeletion": {args: base("--key-policy", keyResp, "--identity-policy", cliPV, "--action", "kms:ScheduleKeyDeletion"),
			decision: "implicit-deny", missing: []string{"key-policy", "identity"}, identity: true},
		"corpus recording, principal star": {args: []string{"--key-policy", corpusStarKey, "--principal", "arn:aws:iam::444455556666:user/bob",
			"--resource", "arn:aws:kms:us-east-1:644160558196:key/k", "--action", "kms:Encrypt", "--identity-policy", anyKMS},
			decision: "allow", missing: []string{}, identity: true},
		"corpus recording, principal star, no identity policy": {args: []string{"--key-policy", corpusStarKey, "--principal", "arn:aws:iam::444455556666:user/bob",
			"--resource", "arn:aws:kms:us-east-1:644160558196:key/k", "--action", "kms:Encrypt"},
			decision: "implicit-deny", missing: []string{"identity"}, identity: true},
		// A repeated --context key is multi-valued: ForAllValues needs every value listed.
		"multi-valued context allowed": {args: base("--key-policy", multi, "--action", "kms:CreateGrant", "--identity-policy", idRolePolicy,
			"--context", "kms:GrantOperations=Decrypt", "--context", "kms:GrantOperations=Encrypt"), decision: "allow", missing: []string{}, identity: true},
		"multi-valued context denied": {args: base("--key-policy", multi, "--action", "kms:CreateGrant", "--identity-policy", idRolePolicy,
			"--context", "kms:GrantOperations=Decrypt", "--context", "kms:GrantOperations=Sign"), decision: "implicit-deny", missing: []string{"key-policy"}, identity: true},
		// Organizations (IAM global condition keys, aws:PrincipalOrgID): the guard Deny holds
		// only for principals outside the organization; unknown, it is not evaluated.
		"org guard via EC2, member": {args: base("--key-policy", orgGuard, "--identity-policy", anyKMS, "--action", "kms:Decrypt",
			"--via-ec2", "us-east-1", "--org", "o-a1b2c3d4e5"), decision: "allow", missing: []string{}, identity: true},
		"org guard via EC2, not in an organization": {args: base("--key-policy", orgGuard, "--identity-policy", anyKMS, "--action", "kms:Decrypt",
			"--via-ec2", "us-east-1", "--org", "none"), decision: "explicit-deny", missing: []string{"key-policy"}, identity: true},
		"org guard via EC2, organization unknown": {args: base("--key-policy", orgGuard, "--identity-policy", anyKMS, "--action", "kms:Decrypt",
			"--via-ec2", "us-east-1"), decision: "implicit-deny", missing: []string{}, identity: true,
			notEvaluated: "the request carries aws:PrincipalOrgID but its value is not known"},
		"org path via EC2": {args: base("--key-policy", orgPath, "--identity-policy", anyKMS, "--action", "kms:Decrypt",
			"--via-ec2", "us-east-1", "--org", "o-a1b2c3d4e5", "--org-path", "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"), decision: "allow", missing: []string{}, identity: true},
		// A key policy statement without Principal is invalid and never applies (PutKeyPolicy).
		"statement without principal": {args: base("--key-policy", noPrincipal, "--identity-policy", anyKMS, "--action", "kms:Decrypt"),
			decision: "implicit-deny", missing: []string{"key-policy"}, identity: true,
			ineffective: "Statement[0]: it has no Principal, which a key policy statement must have: it is invalid and never applies"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runExplain(tc.args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr not empty: %s", stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "{\n  \"decision\": ") {
				t.Errorf("output is not indented JSON starting with decision:\n%s", stdout.String())
			}
			var got explainOut
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			if got.Decision != tc.decision {
				t.Fatalf("decision = %s, want %s\n%s", got.Decision, tc.decision, stdout.String())
			}
			if !reflect.DeepEqual(got.Missing, tc.missing) {
				t.Errorf("missing = %q, want %q", got.Missing, tc.missing)
			}
			if (got.Identity != nil) != tc.identity {
				t.Errorf("identity present = %v, want %v", got.Identity != nil, tc.identity)
			}
			if tc.notEvaluated != "" && !hasSub(got.NotEvaluated, tc.notEvaluated) {
				t.Errorf("not_evaluated %q lacks %q", got.NotEvaluated, tc.notEvaluated)
			}
			if tc.reason != "" && !hasSub(got.KeyPolicy.Reasons, tc.reason) {
				t.Errorf("key policy reasons %q lack %q", got.KeyPolicy.Reasons, tc.reason)
			}
			if tc.ineffective != "" && !hasSub(got.KeyPolicy.Ineffective, tc.ineffective) {
				t.Errorf("key policy ineffective %q lacks %q", got.KeyPolicy.Ineffective, tc.ineffective)
			}
			// Never "allow" unless every side AWS requires was evaluated and allows (without the
			// identity side only for a key policy naming a principal of the key's account itself).
			if got.Decision == "allow" && (got.KeyPolicy.Decision != "allow" || (got.Identity != nil && got.Identity.Decision != "allow") ||
				(got.Identity == nil && !strings.Contains(strings.Join(tc.args, " "), "arn:aws:iam::111122223333:user/"))) {
				t.Errorf("allow without every side allowing:\n%s", stdout.String())
			}
		})
	}
}

func hasSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestRunExplainUnusableInput(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "key.json", explainKeyPol)
	notJSON := writeFile(t, dir, "bad.json", `{"Version":"2012-10-17","Statement":[`)
	badEffect := writeFile(t, dir, "effect.json", `{"Statement":[{"Effect":"","Action":"kms:*","Resource":"*"}]}`)
	noDoc := writeFile(t, dir, "nodoc.json", `{"PolicyVersion":{"VersionId":"v1"}}`)
	big := writeFile(t, dir, "big.json", explainKeyPol+strings.Repeat(" ", 1<<20))
	ok := []string{"--key-policy", key, "--principal", explainRole, "--action", "kms:Decrypt", "--resource", explainKey}
	with := func(repl ...string) []string {
		out := append([]string{}, ok...)
		for i := 0; i+1 < len(repl); i += 2 {
			found := false
			for j := 0; j+1 < len(out); j += 2 {
				if out[j] == repl[i] {
					out[j+1], found = repl[i+1], true
				}
			}
			if !found {
				out = append(out, repl[i], repl[i+1])
			}
		}
		return out
	}
	without := func(flag string) []string {
		var out []string
		for j := 0; j+1 < len(ok); j += 2 {
			if ok[j] != flag {
				out = append(out, ok[j], ok[j+1])
			}
		}
		return out
	}
	tests := map[string]struct {
		args   []string
		stderr string
	}{
		"no key policy":        {without("--key-policy"), "--key-policy is required"},
		"no principal":         {without("--principal"), "--principal is required"},
		"no action":            {without("--action"), "--action is required"},
		"no resource":          {without("--resource"), "--resource is required"},
		"resource not an ARN":  {with("--resource", "1234abcd-12ab"), "is not a key ARN"},
		"unreadable file":      {with("--key-policy", filepath.Join(dir, "missing.json")), "read key policy"},
		"not JSON":             {with("--key-policy", notJSON), "key policy " + notJSON},
		"bad effect":           {with("--key-policy", badEffect), "Effect"},
		"PolicyVersion no doc": {with("--identity-policy", noDoc), "PolicyVersion has no Document"},
		"unreadable identity":  {with("--identity-policy", filepath.Join(dir, "nope.json")), "read identity policy"},
		"unreadable boundary":  {with("--boundary", filepath.Join(dir, "nope.json")), "read permissions boundary"},
		"bad context":          {with("--context", "kms:ViaService"), "want KEY=VALUE"},
		"empty context key":    {with("--context", "=x"), "want KEY=VALUE"},
		"unknown flag":         {append(ok, "--frobnicate"), "flag provided but not defined"},
		// A request action has its service prefix, and is one operation.
		"action without prefix":     {with("--action", "Decrypt"), `--action "Decrypt" is not a KMS action: give the service prefix`},
		"action with wildcard":      {with("--action", "kms:*"), "is not a KMS action"},
		"action of another service": {with("--action", "s3:GetObject"), "is not a KMS action"},
		"action with space":         {with("--action", "kms:Decrypt "), "is not a KMS action"},
		// Policy files are bounded: anything over 1 MiB is refused unread.
		"key policy over 1 MiB":      {with("--key-policy", big), "is larger than 1 MiB"},
		"key policy /dev/zero":       {with("--key-policy", "/dev/zero"), "key policy /dev/zero is larger than 1 MiB"},
		"identity policy /dev/zero":  {with("--identity-policy", "/dev/zero"), "identity policy /dev/zero is larger than 1 MiB"},
		"boundary /dev/zero":         {with("--boundary", "/dev/zero"), "permissions boundary /dev/zero is larger than 1 MiB"},
		"identity unknown and given": {append(append([]string{}, ok...), "--identity-unknown", "--identity-policy", key), "--identity-unknown cannot be used with"},
		"org without via-ec2":        {with("--org", "o-a1b2c3d4e5"), "use them with --via-ec2"},
		"org path without org":       {with("--via-ec2", "us-east-1", "--org-path", "o-a/r-b/"), "--org-path needs --org"},
		"extra argument":             {append(ok, "extra"), `unexpected argument "extra"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runExplain(tc.args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stdout: %s", code, stdout.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %s", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
		})
	}
}

func TestRunExplainHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runExplain([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "usage: amikms explain") {
		t.Fatalf("usage missing: %s", stderr.String())
	}
}
