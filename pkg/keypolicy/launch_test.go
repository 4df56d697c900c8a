package keypolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const (
	asgRole       = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	asgRoleSuffix = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web"
	memberASG     = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	memberASG2    = "arn:aws:iam::777788889999:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	memberFleet   = "arn:aws:iam::777788889999:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet"
)

// Each case edits testdata/edit/<input> with EnsureForKey and compares the document and the
// changes with testdata/golden/<name>.json and <name>.changes.json.
var wantCases = map[string]struct {
	input string
	want  Want
}{
	// Example 1: the group's role joins AWS's default use and attachment statements (they name
	// principals, and their conditions hold for EC2).
	"slr-aws-default": {"aws-default.json", Want{ServiceLinkedRoles: []string{asgRole}}},
	// No statement to join: AWS's two default statements, for the two roles.
	"slr-compact": {"compact.json", Want{ServiceLinkedRoles: []string{asgRoleSuffix, asgRole}}},
	// Example 2, the editor's form: one new AllowEC2LaunchGrants statement for both accounts.
	"launch-aws-default": {"aws-default.json", Want{LaunchGrantees: []string{memberASG2, memberASG, memberFleet}}},
	// The statement is there for 444455556666: 777788889999 joins it, 444455556666 is left alone.
	"launch-existing": {"launch-existing.json", Want{LaunchGrantees: []string{memberASG, memberASG2}}},
	// AWS's own Example 2 statement (kms:CreateGrant, no condition) already lets 444455556666
	// create the grant; it is never extended to another account, which would let it grant
	// anything to anyone: 777788889999 gets the editor's statement.
	"launch-example2": {"launch-example2.json", Want{LaunchGrantees: []string{memberASG, memberASG2}}},
	// Everything at once, in one edit: accounts, then roles, then launch grants.
	"want-all": {"aws-default.json", Want{Accounts: []string{"444455556666"}, ServiceLinkedRoles: []string{asgRole}, LaunchGrantees: []string{memberASG}}},
}

func TestEnsureForKeyGolden(t *testing.T) {
	key := Key{ARN: thisKey}
	for name, tc := range wantCases {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/edit", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			edit, err := EnsureForKey(src, key, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, name, edit)
			if !isSubsequence(src, edit.Document) {
				t.Error("the edit removed or rewrote input bytes")
			}
			if edit.Changed != !bytes.Equal(src, edit.Document) || edit.Changed != (len(edit.Changes) > 0) {
				t.Errorf("Changed = %v with %d changes", edit.Changed, len(edit.Changes))
			}
			checkWant(t, edit.Document, key, tc.want)
			again, err := EnsureForKey(edit.Document, key, tc.want)
			if err != nil || again.Changed || len(again.Changes) != 0 || !bytes.Equal(again.Document, edit.Document) {
				t.Fatalf("second run: err %v changes %+v", err, again.Changes)
			}
		})
	}
}

func compareGolden(t *testing.T, name string, edit Edit) {
	t.Helper()
	changes, err := json.MarshalIndent(edit.Changes, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	changes = append(changes, '\n')
	docFile := filepath.Join("testdata/golden", name+".json")
	changesFile := filepath.Join("testdata/golden", name+".changes.json")
	if *update {
		if err := os.WriteFile(docFile, edit.Document, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(changesFile, changes, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantDoc, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges, err := os.ReadFile(changesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(edit.Document, wantDoc) {
		t.Errorf("document differs from %s:\n%s", docFile, edit.Document)
	}
	if !bytes.Equal(changes, wantChanges) {
		t.Errorf("changes differ from %s:\n%s", changesFile, changes)
	}
}

// checkWant reads the edited policy with the evaluator: every role may use the key from EC2
// itself (not by delegation), every grantee's account may create its grant, and no account may
// grant to another account's principal or add operations.
func checkWant(t *testing.T, doc []byte, key Key, w Want) {
	t.Helper()
	d, err := policy.Parse(doc)
	if err != nil {
		t.Fatalf("result does not parse: %v", err)
	}
	r := newReader(key, partitionOf(d, key.ARN))
	for _, a := range w.Accounts {
		for _, n := range needs {
			if why := r.denied(d, a, n); why != "" {
				t.Errorf("account %s: %s", a, why)
			}
		}
	}
	for _, role := range w.ServiceLinkedRoles {
		for _, n := range needs {
			if why := r.roleDenied(d, role, n); why != "" {
				t.Errorf("role %s: %s", role, why)
			}
		}
	}
	for _, g := range w.LaunchGrantees {
		a := principalAccount(g)
		if dec := evaluate.KeyPolicyDecision(d, r.grantRequest(a, g, LaunchGrantOperations)); dec != evaluate.Allow {
			t.Errorf("account %s may not create the grant for %s: %s", a, g, dec)
		}
		// Only the example's own statement (no condition) lets 444455556666 do more.
		if strings.Contains(string(doc), "in external account "+a) {
			continue
		}
		if dec := evaluate.KeyPolicyDecision(d, r.strayGrant(a)); dec == evaluate.Allow {
			t.Errorf("account %s may grant the key to another account's principal", a)
		}
		fewer := r.grantRequest(a, g, []string{"Decrypt", "DescribeKey"})
		if dec := evaluate.KeyPolicyDecision(d, fewer); dec != evaluate.Allow {
			t.Errorf("account %s may not create a grant with fewer operations: %s", a, dec)
		}
	}
}

func TestEnsureForKeyRefused(t *testing.T) {
	aws, err := os.ReadFile("testdata/edit/aws-default.json")
	if err != nil {
		t.Fatal(err)
	}
	v2008, err := os.ReadFile("testdata/edit/launch-version-2008.json")
	if err != nil {
		t.Fatal(err)
	}
	denyGrants := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*",
		"Condition":{"Bool":{"kms:GrantIsForAWSResource":"false"}}},{"Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*",
		"Condition":{"Null":{"kms:GrantIsForAWSResource":"true"}}}]}`)
	tests := map[string]struct {
		doc    []byte
		key    Key
		want   Want
		reason string
		detail string
	}{
		"role of another account":    {aws, Key{ARN: thisKey}, Want{ServiceLinkedRoles: []string{memberASG}}, "invalid-principal", "not in the key's account"},
		"role of another service":    {aws, Key{ARN: thisKey}, Want{ServiceLinkedRoles: []string{"arn:aws:iam::111122223333:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet"}}, "invalid-principal", "not an Auto Scaling"},
		"ordinary role":              {aws, Key{ARN: thisKey}, Want{ServiceLinkedRoles: []string{"arn:aws:iam::111122223333:role/app"}}, "invalid-principal", ""},
		"role in the wrong path":     {aws, Key{ARN: thisKey}, Want{ServiceLinkedRoles: []string{"arn:aws:iam::111122223333:role/aws-service-role/AWSServiceRoleForAutoScaling"}}, "invalid-principal", ""},
		"role, key unknown":          {aws, Key{}, Want{ServiceLinkedRoles: []string{asgRole}}, "invalid-key", ""},
		"grantee in the key account": {aws, Key{ARN: thisKey}, Want{LaunchGrantees: []string{asgRole}}, "invalid-principal", "key's own account"},
		"grantee everyone":           {aws, Key{ARN: thisKey}, Want{LaunchGrantees: []string{"*"}}, "invalid-principal", ""},
		"grantee a session":          {aws, Key{ARN: thisKey}, Want{LaunchGrantees: []string{"arn:aws:sts::444455556666:assumed-role/r/s"}}, "invalid-principal", ""},
		"grantee account ID":         {aws, Key{ARN: thisKey}, Want{LaunchGrantees: []string{"444455556666"}}, "invalid-principal", ""},
		"grantee, key unknown":       {aws, Key{}, Want{LaunchGrantees: []string{memberASG}}, "invalid-key", ""},
		"version without variables":  {v2008, Key{ARN: thisKey}, Want{LaunchGrantees: []string{memberASG}}, "ineffective", `Version is "2008-10-17"`},
		"a deny of direct grants":    {denyGrants, Key{ARN: thisKey}, Want{LaunchGrantees: []string{memberASG}}, "ineffective", "explicit-deny"},
		"bad account with good role": {aws, Key{ARN: thisKey}, Want{Accounts: []string{"x"}, ServiceLinkedRoles: []string{asgRole}}, "invalid-account", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			edit, err := EnsureForKey(tc.doc, tc.key, tc.want)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want *RefusedError; changes %+v", err, edit.Changes)
			}
			if re.Reason != tc.reason || !strings.Contains(re.Detail, tc.detail) {
				t.Fatalf("refused %s: %s; want %s containing %q", re.Reason, re.Detail, tc.reason, tc.detail)
			}
			if edit.Changed || !bytes.Equal(edit.Document, tc.doc) {
				t.Fatal("a refused edit returned a changed document")
			}
		})
	}
}

// A role the key policy allows only through its account (the root, kms:*) is not allowed: a
// service-linked role has no identity policy for the key, so it is added itself.
func TestServiceLinkedRoleDelegationDoesNotCount(t *testing.T) {
	doc := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)
	edit, err := EnsureServiceLinkedRolesForKey(doc, Key{ARN: thisKey}, []string{asgRole})
	if err != nil || !edit.Changed || len(edit.Changes) != 2 {
		t.Fatalf("err %v changes %+v", err, edit.Changes)
	}
	for _, c := range edit.Changes {
		if c.Principal != asgRole || c.Account != "111122223333" || c.Kind != "add-statement" {
			t.Errorf("change %+v", c)
		}
	}
}

// Nothing to add: the document is returned as it is (and must still parse).
func TestEnsureForKeyNothingWanted(t *testing.T) {
	doc := []byte(`{"Statement":[]}`)
	edit, err := EnsureForKey(doc, Key{ARN: thisKey}, Want{})
	if err != nil || edit.Changed || !bytes.Equal(edit.Document, doc) {
		t.Fatalf("err %v edit %+v", err, edit)
	}
	if _, err := EnsureForKey([]byte(`{`), Key{ARN: thisKey}, Want{LaunchGrantees: []string{memberASG}}); err == nil {
		t.Fatal("a policy that does not parse is refused")
	}
}
