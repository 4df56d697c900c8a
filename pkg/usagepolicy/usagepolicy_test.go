package usagepolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	keyA = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"
	keyB = "arn:aws:kms:eu-west-1:111122223333:key/mrk-2222bbbb22bb22bb22bb222222bbbbbb"
	keyC = "arn:aws-us-gov:kms:us-gov-west-1:444455556666:key/3333cccc-33cc-33cc-33cc-333333cccccc"
)

func TestEnsureGolden(t *testing.T) {
	tests := map[string]struct {
		input     string // file in testdata, "" to create
		keys      []string
		wantAdded []string
	}{
		// A new document, keys sorted and deduplicated.
		"create": {"", []string{keyB, keyA, keyB}, []string{keyB, keyA}},
		// Our own document gains a second key in both statements.
		"add-to-created": {"golden/create.json", []string{keyC}, []string{keyC}},
		// Compact, Resource written as a string: it becomes a list; "true" as a string is the
		// same grant condition.
		"compact-string-resource": {"compact-string-resource.json", []string{keyB}, []string{keyB}},
		// The use statement was narrowed to s3 by someone: it is left alone and a new use
		// statement is added; the grant statement (with an unknown member) is extended.
		"modified": {"modified.json", []string{keyB}, []string{keyB}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var src []byte
			if tc.input != "" {
				var err error
				if src, err = os.ReadFile(filepath.Join("testdata", tc.input)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Ensure(src, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, res.Document, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Document, want) {
				t.Fatalf("document differs from %s:\n%s", golden, res.Document)
			}
			if !res.Changed || res.Created != (src == nil) || !reflect.DeepEqual(res.Added, tc.wantAdded) {
				t.Fatalf("Changed %v Created %v Added %v", res.Changed, res.Created, res.Added)
			}
			if src != nil && !isSubsequence(src, res.Document) {
				t.Fatal("the edit removed or rewrote bytes of the existing document")
			}
			for _, k := range tc.keys {
				if !Covers(res.Document, k) {
					t.Errorf("result does not cover %s", k)
				}
			}
			again, err := Ensure(res.Document, tc.keys)
			if err != nil || again.Changed || !bytes.Equal(again.Document, res.Document) || len(again.Added) != 0 {
				t.Fatalf("second run: err %v changed %v added %v", err, again.Changed, again.Added)
			}
		})
	}
}

// The created document is exactly the form, read back with encoding/json.
func TestCreateShape(t *testing.T) {
	res, err := Ensure(nil, []string{keyA})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version   string
		Statement []struct {
			Sid, Effect string
			Action      []string
			Resource    []string
			Condition   map[string]map[string]any `json:",omitempty"`
		}
	}
	if err := json.Unmarshal(res.Document, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "2012-10-17" || len(got.Statement) != 2 {
		t.Fatalf("%+v", got)
	}
	use, grant := got.Statement[0], got.Statement[1]
	if use.Sid != UseSid || use.Effect != "Allow" || strings.Join(use.Action, ",") != "kms:Encrypt,kms:Decrypt,kms:ReEncrypt*,kms:GenerateDataKey*,kms:DescribeKey" || use.Condition != nil {
		t.Errorf("use statement %+v", use)
	}
	if grant.Sid != GrantSid || strings.Join(grant.Action, ",") != "kms:CreateGrant,kms:ListGrants,kms:RevokeGrant" {
		t.Errorf("grant statement %+v", grant)
	}
	if v, ok := grant.Condition["Bool"]["kms:GrantIsForAWSResource"].(bool); !ok || !v {
		t.Errorf("grant condition %#v, want the JSON boolean true", grant.Condition)
	}
	for _, s := range got.Statement {
		if !reflect.DeepEqual(s.Resource, []string{keyA}) {
			t.Errorf("Resource %v", s.Resource)
		}
	}
	if !bytes.HasPrefix(res.Document, []byte("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n")) {
		t.Errorf("not pretty-printed with two spaces:\n%s", res.Document)
	}
}

func TestEnsureUnchanged(t *testing.T) {
	broad, err := os.ReadFile("testdata/broad.json")
	if err != nil {
		t.Fatal(err)
	}
	created, err := os.ReadFile("testdata/golden/create.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		doc  []byte
		keys []string
	}{
		"already listed":           {created, []string{keyA, keyB}},
		"one already listed":       {created, []string{keyB}},
		"covered by a wildcard":    {broad, []string{keyA, keyB}},
		"no keys, existing":        {created, nil},
		"duplicates already there": {created, []string{keyA, keyA}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := Ensure(tc.doc, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed || res.Created || len(res.Added) != 0 || !bytes.Equal(res.Document, tc.doc) {
				t.Fatalf("Changed %v Created %v Added %v", res.Changed, res.Created, res.Added)
			}
		})
	}
}

func TestEnsureRefused(t *testing.T) {
	created, err := os.ReadFile("testdata/golden/create.json")
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 0, 50)
	for i := range 50 {
		many = append(many, "arn:aws:kms:us-east-1:111122223333:key/"+strings.Repeat("a", 30)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	tests := map[string]struct {
		doc    []byte
		keys   []string
		reason string
	}{
		"star":                {nil, []string{"*"}, "invalid-key-arn"},
		"key wildcard":        {nil, []string{"arn:aws:kms:us-east-1:111122223333:key/*"}, "invalid-key-arn"},
		"alias":               {nil, []string{"arn:aws:kms:us-east-1:111122223333:alias/aws/ebs"}, "invalid-key-arn"},
		"key id only":         {nil, []string{"1111aaaa-11aa-11aa-11aa-111111aaaaaa"}, "invalid-key-arn"},
		"other service":       {nil, []string{"arn:aws:s3:us-east-1:111122223333:key/x"}, "invalid-key-arn"},
		"short account":       {nil, []string{"arn:aws:kms:us-east-1:11112222333:key/x"}, "invalid-key-arn"},
		"no region":           {nil, []string{"arn:aws:kms::111122223333:key/x"}, "invalid-key-arn"},
		"bad partition":       {nil, []string{"arn:azure:kms:us-east-1:111122223333:key/x"}, "invalid-key-arn"},
		"trailing newline":    {nil, []string{keyA + "\n"}, "invalid-key-arn"},
		"good then bad":       {created, []string{keyA, "*"}, "invalid-key-arn"},
		"nothing to create":   {nil, nil, "invalid-key-arn"},
		"existing not JSON":   {[]byte("%7B"), []string{keyA}, "invalid-policy"},
		"existing bad Effect": {[]byte(`{"Statement":[{"Effect":"allow"}]}`), []string{keyA}, "invalid-policy"},
		"too large":           {nil, many, "too-large"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := Ensure(tc.doc, tc.keys)
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("error %v, want reason %q", err, tc.reason)
			}
			if res.Changed || !bytes.Equal(res.Document, tc.doc) {
				t.Fatal("a refused edit returned a changed document")
			}
		})
	}
}

func TestValidKeyARN(t *testing.T) {
	tests := map[string]struct {
		arn  string
		want bool
	}{
		"uuid":      {keyA, true},
		"mrk":       {keyB, true},
		"govcloud":  {keyC, true},
		"china":     {"arn:aws-cn:kms:cn-north-1:111122223333:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa", true},
		"iso":       {"arn:aws-iso-b:kms:us-isob-east-1:111122223333:key/abc", true},
		"alias":     {"arn:aws:kms:us-east-1:111122223333:alias/x", false},
		"upper":     {"ARN:AWS:KMS:US-EAST-1:111122223333:key/x", false},
		"empty id":  {"arn:aws:kms:us-east-1:111122223333:key/", false},
		"wildcard":  {"arn:aws:kms:us-east-1:111122223333:key/?", false},
		"extra":     {keyA + "/x", false},
		"empty":     {"", false},
		"iam":       {"arn:aws:iam::111122223333:root", false},
		"no digits": {"arn:aws:kms:us-east-x:111122223333:key/x", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ValidKeyARN(tc.arn); got != tc.want {
				t.Fatalf("ValidKeyARN(%q) = %v", tc.arn, got)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	created, _ := os.ReadFile("testdata/golden/create.json")
	modified, _ := os.ReadFile("testdata/modified.json")
	tests := map[string]struct {
		doc  []byte
		key  string
		want bool
	}{
		"listed":                     {created, keyA, true},
		"not listed":                 {created, keyC, false},
		"use statement has s3 cond":  {modified, keyA, false},
		"not JSON":                   {[]byte("x"), keyA, false},
		"grant without condition ok": {[]byte(`{"Statement":[{"Effect":"Allow","Action":["kms:*"],"Resource":"` + keyA + `"}]}`), keyA, true},
		"deny only":                  {[]byte(`{"Statement":[{"Effect":"Deny","Action":["kms:*"],"Resource":"*"}]}`), keyA, false},
		"use only":                   {[]byte(`{"Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}`), keyA, false},
		"case-insensitive actions":   {[]byte(`{"Statement":[{"Effect":"Allow","Action":"KMS:*","Resource":"*"}]}`), keyA, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Covers(tc.doc, tc.key); got != tc.want {
				t.Fatalf("Covers = %v", got)
			}
		})
	}
}

func FuzzEnsure(f *testing.F) {
	for _, name := range []string{"golden/create.json", "compact-string-resource.json", "modified.json", "broad.json"} {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, keyB)
	}
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":[]}}`), keyA)
	f.Fuzz(func(t *testing.T, doc []byte, key string) {
		res, err := Ensure(doc, []string{key})
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("error %T", err)
			}
			return
		}
		if !res.Changed {
			if !bytes.Equal(res.Document, doc) {
				t.Fatal("unchanged but a different document")
			}
			return
		}
		if _, err := policy.Parse(res.Document); err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		if !isSubsequence(doc, res.Document) || !Covers(res.Document, key) {
			t.Fatalf("bad edit:\n%s", res.Document)
		}
		again, err := Ensure(res.Document, []string{key})
		if err != nil || again.Changed {
			t.Fatalf("second run: %v %v", err, again.Changed)
		}
	})
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
