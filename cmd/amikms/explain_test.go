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
		Decision  string   `json:"decision"`
		Reasons   []string `json:"reasons"`
		Delegates bool     `json:"delegates"`
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
	}{
		"raw key policy, identity unknown": {args: base("--key-policy", rawKey, "--action", "kms:Decrypt"),
			decision: "allow", missing: []string{}, notEvaluated: "identity policies of " + explainRole + " not evaluated",
			reason: `Statement[1] "Allow use of the key" allows kms:Decrypt for arn:aws:iam::444455556666:root`},
		"identity known but none": {args: base("--key-policy", rawKey, "--action", "kms:Decrypt", "--identity-known"),
			decision: "implicit-deny", missing: []string{"identity"}, identity: true},
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
			"--resource", "arn:aws:kms:us-east-1:644160558196:key/k", "--action", "kms:Encrypt"}, decision: "allow", missing: []string{}},
		// A repeated --context key is multi-valued: ForAllValues needs every value listed.
		"multi-valued context allowed": {args: base("--key-policy", multi, "--action", "kms:CreateGrant",
			"--context", "kms:GrantOperations=Decrypt", "--context", "kms:GrantOperations=Encrypt"), decision: "allow", missing: []string{}},
		"multi-valued context denied": {args: base("--key-policy", multi, "--action", "kms:CreateGrant",
			"--context", "kms:GrantOperations=Decrypt", "--context", "kms:GrantOperations=Sign"), decision: "implicit-deny", missing: []string{"key-policy"}},
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
		"extra argument":       {append(ok, "extra"), `unexpected argument "extra"`},
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
