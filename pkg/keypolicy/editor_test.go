package keypolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Each case edits testdata/edit/<input> and compares the document and the changes with
// testdata/golden/<name>.json and <name>.changes.json.
var goldenCases = map[string]struct {
	input    string
	accounts []string
	key      Key // Key{}: EnsureAccounts
}{
	// AWS's console default: both default statements name a role inline; accounts join them.
	"aws-default-two-accounts": {"aws-default.json", []string{"777788889999", "444455556666"}, Key{}},
	// The key's own account is already allowed everything by "Enable IAM User Permissions".
	"aws-default-owner-account": {"aws-default.json", []string{"111122223333"}, Key{}},
	// KMS's own pretty printer, string principals: each becomes a one-line list.
	"string-principal": {"string-principal.json", []string{"555566667777"}, Key{}},
	// Already there (as root ARN) for both needs: nothing changes.
	"string-principal-present": {"string-principal.json", []string{"444455556666", "444455556666"}, Key{}},
	// The default use Sid belongs to a Deny: new statements, the use one with a suffixed Sid.
	"with-deny": {"with-deny.json", []string{"444455556666"}, Key{}},
	// The use statement pins kms:CallerAccount and kms:ViaService (s3): a new statement is added;
	// the grant statement (condition written as a JSON boolean) is extended.
	"with-conditions": {"with-conditions.json", []string{"555566667777"}, Key{}},
	// No use/grant statements: both are appended in the document's compact style.
	"compact": {"compact.json", []string{"444455556666", "555566667777"}, Key{}},
	// A single-object Statement becomes an array; the partition follows the policy's principals.
	"single-statement-govcloud": {"single-statement-govcloud.json", []string{"444455556666"}, Key{}},
	// Use is already allowed (by ID and by root ARN); the grant statement has only a Service
	// principal, so it gains an "AWS" member. CRLF line ends are kept.
	"partial-crlf": {"partial-crlf.json", []string{"444455556666", "777788889999"}, Key{}},
	// aws/ebs's own policy pins kms:CallerAccount/kms:ViaService: it is never extended.
	"aws-managed-ebs": {"aws-managed-ebs.json", []string{"444455556666"}, Key{}},

	// The editor extends only what the evaluator says applies to this key.
	// The use and attachment statements name another key's ARN: extending them would change
	// nothing for this key, so AWS's default statements are appended.
	"other-key-resource": {"other-key-resource.json", []string{"444455556666"}, Key{ARN: thisKey}},
	// The same statements on the key they name: they are extended.
	"same-key-resource": {"other-key-resource.json", []string{"444455556666"}, Key{ARN: otherKey}},
	// Without the key ARN only "*" is known to cover the key: new statements.
	"key-resource-key-unknown": {"other-key-resource.json", []string{"444455556666"}, Key{}},

	// Conditions that hold for EC2 (kms:ViaService = ec2.REGION.amazonaws.com, a pattern
	// matching it, kms:CallerAccount or aws:PrincipalOrgID including the target): the statements
	// written to be EC2-only are extended, nothing unconditioned is added.
	"ec2-scoped": {"ec2-scoped.json", []string{"444455556666"}, Key{ARN: thisKey}},
	// The key is in another region than kms:ViaService names: the conditions do not hold.
	"ec2-scoped-other-region": {"ec2-scoped.json", []string{"444455556666"}, Key{ARN: thisKeyEU}},
	// kms:ViaService is not known without the key: new statements.
	"ec2-scoped-key-unknown": {"ec2-scoped.json", []string{"444455556666"}, Key{}},
	// A kms:ViaService pattern and a kms:CallerAccount list that includes 444455556666 but not
	// 555566667777: the first joins the statements, the second gets new ones.
	"ec2-pattern-caller-account": {"ec2-pattern-caller-account.json", []string{"444455556666", "555566667777"}, Key{ARN: thisKey}},
	// Organization-only key: the target is a confirmed member, so the guard Deny does not apply,
	// the organization-wide Allow already covers use, and the attachment statement scoped to
	// the organization is extended.
	"org-scoped-member": {"org-scoped.json", []string{"444455556666"}, Key{ARN: thisKey, Orgs: map[string]evaluate.Org{"444455556666": {ID: "o-a1b2c3d4e5"}}}},
}

const (
	thisKey   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	thisKeyEU = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	otherKey  = "arn:aws:kms:us-east-1:111122223333:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
)

func TestEnsureAccountsGolden(t *testing.T) {
	for name, tc := range goldenCases {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/edit", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			edit, err := EnsureAccountsForKey(src, tc.key, tc.accounts)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, name, edit)
			if edit.Changed != !bytes.Equal(src, edit.Document) || edit.Changed != (len(edit.Changes) > 0) {
				t.Errorf("Changed = %v with %d changes", edit.Changed, len(edit.Changes))
			}
			// Only insertions: every input byte is still there, in order.
			if !isSubsequence(src, edit.Document) {
				t.Errorf("the edit removed or rewrote input bytes")
			}
			checkGrants(t, edit.Document, tc.key, tc.accounts)
			checkIdempotent(t, edit.Document, tc.key, tc.accounts)
		})
	}
}

// checkGrants asserts that the evaluator allows each account's root every request EC2 makes
// for both needs on the edited policy.
func checkGrants(t *testing.T, doc []byte, key Key, accounts []string) {
	t.Helper()
	d, err := policy.Parse(doc)
	if err != nil {
		t.Fatalf("result does not parse: %v", err)
	}
	r := newReader(key, partitionOf(d, key.ARN))
	for _, a := range accounts {
		for _, n := range needs {
			if why := r.denied(d, a, n); why != "" {
				t.Errorf("account %s is not allowed to %s: %s", a, n.what, why)
			}
		}
	}
}

func checkIdempotent(t *testing.T, doc []byte, key Key, accounts []string) {
	t.Helper()
	again, err := EnsureAccountsForKey(doc, key, accounts)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if again.Changed || len(again.Changes) != 0 || !bytes.Equal(again.Document, doc) {
		t.Fatalf("second run changed the document: %+v\n%s", again.Changes, again.Document)
	}
}

func isSubsequence(sub, s []byte) bool {
	i := 0
	for j := 0; j < len(s) && i < len(sub); j++ {
		if s[j] == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

// Every key policy in the shared corpus (copies in ../policy/testdata/corpus) takes an account.
func TestEnsureAccountsCorpus(t *testing.T) {
	files, err := filepath.Glob("../policy/testdata/corpus/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var rec struct{ Data struct{ Policy string } }
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			src := []byte(rec.Data.Policy)
			accounts := []string{"444455556666", "644160558196"}
			edit, err := EnsureAccounts(src, accounts)
			if err != nil {
				t.Fatal(err)
			}
			// The "Public" statement (Principal "*", kms:*, no condition) already allows everyone.
			wantChanged := !strings.Contains(f, "public-statement-before")
			if edit.Changed != wantChanged || !isSubsequence(src, edit.Document) {
				t.Fatalf("Changed=%v, want %v; insertion only=%v", edit.Changed, wantChanged, isSubsequence(src, edit.Document))
			}
			for _, c := range edit.Changes {
				if c.Account == "644160558196" && strings.Contains(f, "creategrant-calleraccount") {
					// The root of 644160558196 has kms:* in this policy: nothing to add for it.
					t.Errorf("re-added the key's own account: %+v", c)
				}
			}
			checkGrants(t, edit.Document, Key{}, accounts)
			checkIdempotent(t, edit.Document, Key{}, accounts)
		})
	}
}

func TestEnsureAccountsRefused(t *testing.T) {
	defaultPolicy, err := os.ReadFile("testdata/edit/aws-default.json")
	if err != nil {
		t.Fatal(err)
	}
	large, err := os.ReadFile("testdata/large-30k.json")
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 0, 60)
	for i := range 60 {
		many = append(many, "3000000000"+string(rune('0'+i/10))+string(rune('0'+i%10)))
	}
	orgScoped, err := os.ReadFile("testdata/edit/org-scoped.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		doc      []byte
		accounts []string
		key      Key
		reason   string
		detail   string
	}{
		// The organization guard denies (or might deny) the account whatever is added: no write
		// that changes nothing for it.
		"org guard, organization unknown": {doc: orgScoped, accounts: []string{"444455556666"}, key: Key{ARN: thisKey}, reason: "ineffective",
			detail: "adding arn:aws:iam::444455556666:root would not let it use the key"},
		"org guard, not a member": {doc: orgScoped, accounts: []string{"444455556666"}, key: Key{ARN: thisKey, Orgs: map[string]evaluate.Org{"444455556666": {}}},
			reason: "ineffective"},
		"explicit deny of the account": {doc: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"}]}`),
			accounts: []string{"444455556666"}, key: Key{ARN: thisKey}, reason: "ineffective", detail: "kms:Decrypt is explicit-deny"},
		"wildcard":            {defaultPolicy, []string{"*"}, Key{}, "invalid-account", `"*" is not a 12-digit AWS account ID`},
		"root ARN":            {defaultPolicy, []string{"arn:aws:iam::444455556666:root"}, Key{}, "invalid-account", ""},
		"13 digits":           {defaultPolicy, []string{"4444555566667"}, Key{}, "invalid-account", ""},
		"11 digits":           {defaultPolicy, []string{"03412312600"}, Key{}, "invalid-account", ""},
		"unicode digits":      {defaultPolicy, []string{"４４４４５５５５６６６６"}, Key{}, "invalid-account", ""},
		"arabic-indic digits": {defaultPolicy, []string{"٤٤٤٤٥٥٥٥٦٦٦٦"}, Key{}, "invalid-account", ""},
		"padded":              {defaultPolicy, []string{" 44445555666"}, Key{}, "invalid-account", ""},
		"empty":               {defaultPolicy, []string{""}, Key{}, "invalid-account", ""},
		"one bad among good":  {defaultPolicy, []string{"444455556666", "44445555666x"}, Key{}, "invalid-account", `"44445555666x" is not a 12-digit AWS account ID`},
		"not JSON":            {[]byte("Version: 1"), []string{"444455556666"}, Key{}, "invalid-policy", "line 1, column 1: unexpected 'V', expecting a value"},
		"trailing garbage":    {append(bytes.Clone(defaultPolicy), '}'), []string{"444455556666"}, Key{}, "invalid-policy", ""},
		"empty Effect":        {[]byte(`{"Statement":[{"Effect":""}]}`), []string{"444455556666"}, Key{}, "invalid-policy", `Statement[0].Effect: must be "Allow" or "Deny", got ""`},
		"too large":           {large, many, Key{}, "too-large", ""},
		"snowman":             {[]byte(`{"Statement":[{"Sid":"☃","Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}`), []string{"444455556666"}, Key{}, "invalid-characters", "byte offset 22 holds U+2603, which KMS does not accept in a key policy"},
		"DEL":                 {[]byte("{\"Statement\":[{\"Sid\":\"\x7f\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}"), []string{"444455556666"}, Key{}, "invalid-characters", ""},
		"C1 control":          {[]byte("{\"Statement\":[{\"Sid\":\"\u0085\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}"), []string{"444455556666"}, Key{}, "invalid-characters", ""},
		"invalid UTF-8":       {[]byte("{\"Statement\":[{\"Sid\":\"\xff\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}"), []string{"444455556666"}, Key{}, "invalid-characters", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			edit, err := EnsureAccountsForKey(tc.doc, tc.key, tc.accounts)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *RefusedError; edit %+v", err, err, edit.Changes)
			}
			if re.Reason != tc.reason {
				t.Fatalf("reason %q (%s), want %q", re.Reason, re.Detail, tc.reason)
			}
			if tc.detail != "" && !strings.Contains(re.Detail, tc.detail) {
				t.Fatalf("detail %q, want %q", re.Detail, tc.detail)
			}
			if edit.Changed || !bytes.Equal(edit.Document, tc.doc) {
				t.Fatal("a refused edit returned a changed document")
			}
		})
	}
}

// Latin-1 and escaped characters are what KMS accepts: the edit goes through.
func TestEnsureAccountsAcceptedCharacters(t *testing.T) {
	doc := []byte("{\"Statement\":[{\"Sid\":\"caf\u00e9 \\u2603\\tx\u00ff\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}")
	edit, err := EnsureAccounts(doc, []string{"444455556666"})
	if err != nil || !edit.Changed {
		t.Fatalf("err %v changed %v", err, edit.Changed)
	}
}

func TestEnsureAccountsNoAccounts(t *testing.T) {
	doc := []byte(`{"Statement":[]}`)
	edit, err := EnsureAccounts(doc, nil)
	if err != nil || edit.Changed || !bytes.Equal(edit.Document, doc) {
		t.Fatalf("err %v edit %+v", err, edit)
	}
	if _, err := EnsureAccounts([]byte(`{}`), nil); err == nil {
		t.Fatal("an invalid policy is refused even with no accounts")
	}
}

// Sid collisions: each new statement gets the first free numbered Sid.
func TestFreeSid(t *testing.T) {
	stmts := []policy.Statement{{Sid: UseSid}, {Sid: UseSid + " 2"}, {Sid: GrantSid + " 2"}}
	tests := map[string]struct{ sid, want string }{
		"taken twice": {UseSid, UseSid + " 3"},
		"free":        {GrantSid, GrantSid},
		"other":       {"x", "x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := freeSid(stmts, tc.sid); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
