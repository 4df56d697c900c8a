// The editor/evaluator property of issue 2 §3: after keypolicy.EnsureAccounts the evaluator
// allows each added account what EC2 needs, and decides every other request exactly as before.
// External test package: keypolicy may itself import evaluate.
package evaluate_test

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// editorInputs are the key policies the property runs over: every GetKeyPolicy recording in the
// shared corpus and this package's key-policy fixtures. owner is the key's account.
func editorInputs(t *testing.T) map[string]struct {
	src   []byte
	owner string
} {
	t.Helper()
	out := map[string]struct {
		src   []byte
		owner string
	}{}
	files, err := filepath.Glob("../../../shared/corpus/api/*getkeypolicy*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus key policies found (%v)", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Data struct{ Policy string } `json:"data"`
		}
		if err := json.Unmarshal(b, &rec); err != nil || rec.Data.Policy == "" {
			t.Fatalf("%s: not a GetKeyPolicy recording", f)
		}
		out["corpus/"+filepath.Base(f)] = struct {
			src   []byte
			owner string
		}{[]byte(rec.Data.Policy), "644160558196"}
	}
	for _, f := range []string{"default-key-policy.json", "console-key-policy.json", "aws-ebs-key-policy.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		out["testdata/"+f] = struct {
			src   []byte
			owner string
		}{b, "111122223333"}
	}
	return out
}

// The editor's action patterns as the concrete request actions EC2 sends, and others.
var (
	useRequests   = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair", "kms:DescribeKey"}
	grantRequests = []string{"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
	otherRequests = []string{"kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:DisableKey", "kms:GetKeyPolicy", "kms:RetireGrant",
		"kms:Sign", "kms:Verify", "kms:GetKeyRotationStatus", "kms:TagResource"}
)

// ensured reports whether the editor's action patterns cover a request action.
func ensured(action string) bool {
	for _, p := range append(append([]string{}, keypolicy.UseActions...), keypolicy.GrantActions...) {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(action)); ok {
			return true
		}
	}
	return false
}

func TestEditorPropertyClassification(t *testing.T) {
	for _, a := range append(append([]string{}, useRequests...), grantRequests...) {
		if !ensured(a) {
			t.Errorf("%s is not covered by keypolicy.UseActions/GrantActions", a)
		}
	}
	for _, a := range otherRequests {
		if ensured(a) {
			t.Errorf("%s is covered by the editor's actions; it cannot be an unchanged request", a)
		}
	}
}

func principalsOf(acct string) []string {
	return []string{
		"arn:aws:iam::" + acct + ":root",
		"arn:aws:iam::" + acct + ":user/alice",
		"arn:aws:iam::" + acct + ":role/app",
		"arn:aws:sts::" + acct + ":assumed-role/app/i-0abc",
		"arn:aws:iam::" + acct + ":role/KeyAdmin",
	}
}

func TestEditorProperty(t *testing.T) {
	const region = "us-east-1"
	added := []string{"444455556666", "210987654321"}
	for name, in := range editorInputs(t) {
		t.Run(name, func(t *testing.T) {
			before, err := policy.Parse(in.src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			edit, err := keypolicy.EnsureAccounts(in.src, added)
			if err != nil {
				t.Fatalf("EnsureAccounts: %v", err)
			}
			after, err := policy.Parse(edit.Document)
			if err != nil {
				t.Fatalf("edited document does not parse: %v\n%s", err, edit.Document)
			}
			again, err := keypolicy.EnsureAccounts(edit.Document, added)
			if err != nil || again.Changed {
				t.Fatalf("second EnsureAccounts changed=%v err=%v", again.Changed, err)
			}
			keyARN := "arn:aws:kms:" + region + ":" + in.owner + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
			if !edit.Changed {
				root := "arn:aws:iam::" + added[0] + ":root"
				if got := evaluate.Policy(before, evaluate.Request{PrincipalARN: root, Action: "kms:Decrypt", Resource: keyARN}); got.Decision != evaluate.Allow {
					t.Fatalf("EnsureAccounts changed nothing although %s may not decrypt before", root)
				}
			}

			// Each added account may now use the key from EC2 (key-policy side).
			for _, acct := range added {
				for _, p := range []string{"arn:aws:iam::" + acct + ":root", "arn:aws:sts::" + acct + ":assumed-role/app/i-0abc"} {
					for _, a := range append(append([]string{}, useRequests...), grantRequests...) {
						isGrant := strings.HasSuffix(a, "Grant") || a == "kms:ListGrants"
						got := evaluate.KMS(evaluate.KMSInput{KeyPolicy: after, KeyAccount: in.owner,
							Request: evaluate.Request{PrincipalARN: p, Action: a, Resource: keyARN, Context: evaluate.EC2Context(region, p, isGrant)}})
						if got.Decision != evaluate.Allow {
							t.Errorf("after edit, %s %s via EC2 = %s, want allow\nreasons: %q\n%s", p, a, got.Decision, got.KeyPolicy.Reasons, edit.Document)
						}
					}
				}
			}

			// Every other request is decided as before.
			var principals []string
			for _, acct := range []string{in.owner, "777788889999"} {
				principals = append(principals, principalsOf(acct)...)
			}
			principals = append(principals, "ec2.amazonaws.com", "")
			allActions := append(append(append([]string{}, useRequests...), grantRequests...), otherRequests...)
			contexts := func(p string) map[string]map[string][]string {
				return map[string]map[string][]string{
					"none":      nil,
					"ec2":       evaluate.EC2Context(region, p, false),
					"ec2-grant": evaluate.EC2Context(region, p, true),
				}
			}
			check := func(p, a, cname string, ctx map[string][]string) {
				req := evaluate.Request{PrincipalARN: p, Action: a, Resource: keyARN, Context: ctx}
				b, af := evaluate.Policy(before, req), evaluate.Policy(after, req)
				if b.Decision != af.Decision {
					t.Errorf("%s %s (context %s): decision changed %s -> %s\nafter: %q", p, a, cname, b.Decision, af.Decision, af.Reasons)
				}
			}
			for _, p := range principals {
				for _, a := range allActions {
					for cname, ctx := range contexts(p) {
						check(p, a, cname, ctx)
					}
				}
			}
			// Added accounts: actions the editor did not add are unchanged, and grant actions
			// not made for an AWS resource stay as they were.
			for _, acct := range added {
				for _, p := range principalsOf(acct) {
					for _, a := range otherRequests {
						for cname, ctx := range contexts(p) {
							check(p, a, cname, ctx)
						}
					}
					for _, a := range grantRequests {
						check(p, a, "ec2", evaluate.EC2Context(region, p, false))
						check(p, a, "none", nil)
					}
				}
			}
		})
	}
}

func TestEditorPropertyInputsParse(t *testing.T) {
	for name, in := range editorInputs(t) {
		if _, err := policy.Parse(in.src); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
