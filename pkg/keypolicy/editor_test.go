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

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Each case edits testdata/edit/<input> and compares the document and the changes with
// testdata/golden/<name>.json and <name>.changes.json.
var goldenCases = map[string]struct {
	input    string
	accounts []string
}{
	// AWS's console default: both default statements name a role inline; accounts join them.
	"aws-default-two-accounts": {"aws-default.json", []string{"777788889999", "444455556666"}},
	// The key's own account is already allowed everything by "Enable IAM User Permissions".
	"aws-default-owner-account": {"aws-default.json", []string{"111122223333"}},
	// KMS's own pretty printer, string principals: each becomes a one-line list.
	"string-principal": {"string-principal.json", []string{"555566667777"}},
	// Already there (as root ARN) for both needs: nothing changes.
	"string-principal-present": {"string-principal.json", []string{"444455556666", "444455556666"}},
	// The default use Sid belongs to a Deny: new statements, the use one with a suffixed Sid.
	"with-deny": {"with-deny.json", []string{"444455556666"}},
	// The use statement pins kms:CallerAccount and kms:ViaService (s3): a new statement is added;
	// the grant statement (condition written as a JSON boolean) is extended.
	"with-conditions": {"with-conditions.json", []string{"555566667777"}},
	// No use/grant statements: both are appended in the document's compact style.
	"compact": {"compact.json", []string{"444455556666", "555566667777"}},
	// A single-object Statement becomes an array; the partition follows the policy's principals.
	"single-statement-govcloud": {"single-statement-govcloud.json", []string{"444455556666"}},
	// Use is already allowed (by ID and by root ARN); the grant statement has only a Service
	// principal, so it gains an "AWS" member. CRLF line ends are kept.
	"partial-crlf": {"partial-crlf.json", []string{"444455556666", "777788889999"}},
	// aws/ebs's own policy pins kms:CallerAccount/kms:ViaService: it is never extended.
	"aws-managed-ebs": {"aws-managed-ebs.json", []string{"444455556666"}},
}

func TestEnsureAccountsGolden(t *testing.T) {
	for name, tc := range goldenCases {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/edit", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			edit, err := EnsureAccounts(src, tc.accounts)
			if err != nil {
				t.Fatal(err)
			}
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
			if edit.Changed != !bytes.Equal(src, edit.Document) || edit.Changed != (len(edit.Changes) > 0) {
				t.Errorf("Changed = %v with %d changes", edit.Changed, len(edit.Changes))
			}
			// Only insertions: every input byte is still there, in order.
			if !isSubsequence(src, edit.Document) {
				t.Errorf("the edit removed or rewrote input bytes")
			}
			checkGrants(t, edit.Document, tc.accounts)
			checkIdempotent(t, edit.Document, tc.accounts)
		})
	}
}

// checkGrants asserts that for each account some Allow statement without NotPrincipal names its
// root or ID for each needed action, with either no condition or exactly the grant condition.
func checkGrants(t *testing.T, doc []byte, accounts []string) {
	t.Helper()
	d, err := policy.Parse(doc)
	if err != nil {
		t.Fatalf("result does not parse: %v", err)
	}
	for _, a := range accounts {
		for _, n := range needs {
			if !covered(d.Statements(), a, n) {
				t.Errorf("account %s is not allowed to %s", a, n.what)
			}
		}
	}
}

func checkIdempotent(t *testing.T, doc []byte, accounts []string) {
	t.Helper()
	again, err := EnsureAccounts(doc, accounts)
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
			checkGrants(t, edit.Document, accounts)
			checkIdempotent(t, edit.Document, accounts)
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
	tests := map[string]struct {
		doc      []byte
		accounts []string
		reason   string
		detail   string
	}{
		"wildcard":            {defaultPolicy, []string{"*"}, "invalid-account", `"*" is not a 12-digit AWS account ID`},
		"root ARN":            {defaultPolicy, []string{"arn:aws:iam::444455556666:root"}, "invalid-account", ""},
		"13 digits":           {defaultPolicy, []string{"4444555566667"}, "invalid-account", ""},
		"11 digits":           {defaultPolicy, []string{"03412312600"}, "invalid-account", ""},
		"unicode digits":      {defaultPolicy, []string{"４４４４５５５５６６６６"}, "invalid-account", ""},
		"arabic-indic digits": {defaultPolicy, []string{"٤٤٤٤٥٥٥٥٦٦٦٦"}, "invalid-account", ""},
		"padded":              {defaultPolicy, []string{" 44445555666"}, "invalid-account", ""},
		"empty":               {defaultPolicy, []string{""}, "invalid-account", ""},
		"one bad among good":  {defaultPolicy, []string{"444455556666", "44445555666x"}, "invalid-account", `"44445555666x" is not a 12-digit AWS account ID`},
		"not JSON":            {[]byte("Version: 1"), []string{"444455556666"}, "invalid-policy", "line 1, column 1: unexpected 'V', expecting a value"},
		"trailing garbage":    {append(bytes.Clone(defaultPolicy), '}'), []string{"444455556666"}, "invalid-policy", ""},
		"empty Effect":        {[]byte(`{"Statement":[{"Effect":""}]}`), []string{"444455556666"}, "invalid-policy", `Statement[0].Effect: must be "Allow" or "Deny", got ""`},
		"too large":           {large, many, "too-large", ""},
		"snowman":             {[]byte(`{"Statement":[{"Sid":"☃","Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}`), []string{"444455556666"}, "invalid-characters", "byte offset 22 holds U+2603, which KMS does not accept in a key policy"},
		"DEL":                 {[]byte("{\"Statement\":[{\"Sid\":\"\x7f\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}"), []string{"444455556666"}, "invalid-characters", ""},
		"C1 control":          {[]byte("{\"Statement\":[{\"Sid\":\"\u0085\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}"), []string{"444455556666"}, "invalid-characters", ""},
		"invalid UTF-8":       {[]byte("{\"Statement\":[{\"Sid\":\"\xff\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\"}]}"), []string{"444455556666"}, "invalid-characters", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			edit, err := EnsureAccounts(tc.doc, tc.accounts)
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *RefusedError; edit %+v", err, err, edit.Changes)
			}
			if re.Reason != tc.reason {
				t.Fatalf("reason %q (%s), want %q", re.Reason, re.Detail, tc.reason)
			}
			if tc.detail != "" && re.Detail != tc.detail {
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
