package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sharedCorpus is the team's recorded-samples directory, relative to this package. The recordings
// that hold key policies are also copied into testdata/corpus so the tests never depend on it.
const sharedCorpus = "../../../shared/corpus/api"

// corpusPolicies returns data.Policy of every placebo recording in dir that holds one.
func corpusPolicies(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Data struct {
				Policy *string `json:"Policy"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if rec.Data.Policy != nil {
			out[filepath.Base(f)] = []byte(*rec.Data.Policy)
		}
	}
	return out
}

func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	out := corpusPolicies(t, "testdata/corpus")
	if len(out) < 7 {
		t.Fatalf("testdata/corpus: want 7 key policies, found %d", len(out))
	}
	files, err := filepath.Glob("testdata/roundtrip/*.json")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "testdata/large-30k.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = raw
	}
	return out
}

func TestRoundTripIdentity(t *testing.T) {
	for name, src := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !bytes.Equal(doc.Bytes(), src) {
				t.Fatalf("Bytes() differs from the input:\n got %q\nwant %q", doc.Bytes(), src)
			}
			if len(doc.Statements()) == 0 && !strings.Contains(name, "empty") {
				t.Fatal("no statements")
			}
			// The document keeps its own copy: changing the caller's buffer changes nothing.
			cp := bytes.Clone(src)
			doc2, _ := Parse(cp)
			cp[0] = 'X'
			if !bytes.Equal(doc2.Bytes(), src) {
				t.Fatal("document aliases the caller's buffer")
			}
		})
	}
}

// Every recording in the shared corpus that holds a policy round-trips too (the copies in
// testdata/corpus cover the same files when the shared directory is not there).
func TestRoundTripSharedCorpus(t *testing.T) {
	if _, err := os.Stat(sharedCorpus); err != nil {
		t.Logf("shared corpus not present (%v); testdata/corpus covers it", err)
		return
	}
	pols := corpusPolicies(t, sharedCorpus)
	if len(pols) == 0 {
		t.Fatal("shared corpus holds no policies")
	}
	for name, src := range pols {
		doc, err := Parse(src)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(doc.Bytes(), src) {
			t.Errorf("%s: round trip changed the document", name)
		}
	}
}

// The views agree with encoding/json on every fixture: same statements, same strings.
func TestViewsAgreeWithStdlib(t *testing.T) {
	for name, src := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			var generic map[string]any
			dec := json.NewDecoder(bytes.NewReader(src))
			dec.UseNumber()
			if err := dec.Decode(&generic); err != nil {
				t.Fatal(err)
			}
			var stmts []any
			switch s := generic["Statement"].(type) {
			case []any:
				stmts = s
			case map[string]any:
				stmts = []any{s}
			}
			if len(stmts) != len(doc.Statements()) {
				t.Fatalf("statements: got %d, want %d", len(doc.Statements()), len(stmts))
			}
			for i, st := range doc.Statements() {
				m := stmts[i].(map[string]any)
				if got, want := string(st.Effect), m["Effect"]; got != want {
					t.Errorf("[%d] Effect %q, want %q", i, got, want)
				}
				if sid, _ := m["Sid"].(string); st.Sid != sid {
					t.Errorf("[%d] Sid %q, want %q", i, st.Sid, sid)
				}
				checkValues(t, i, "Action", st.Action, m["Action"])
				checkValues(t, i, "NotAction", st.NotAction, m["NotAction"])
				checkValues(t, i, "Resource", st.Resource, m["Resource"])
				checkValues(t, i, "NotResource", st.NotResource, m["NotResource"])
			}
			if v, _ := generic["Version"].(string); doc.Version() != v {
				t.Errorf("Version %q, want %q", doc.Version(), v)
			}
		})
	}
}

func checkValues(t *testing.T, i int, name string, got *Values, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if got != nil {
			t.Errorf("[%d] %s: got %v, want absent", i, name, got)
		}
	case string:
		if got == nil || got.IsList || !reflect.DeepEqual(got.List, []string{w}) {
			t.Errorf("[%d] %s: got %+v, want string %q", i, name, got, w)
		}
	case []any:
		if got == nil || !got.IsList || len(got.List) != len(w) {
			t.Fatalf("[%d] %s: got %+v, want list %v", i, name, got, w)
		}
		for j := range w {
			if got.List[j] != w[j] {
				t.Errorf("[%d] %s[%d]: got %q, want %q", i, name, j, got.List[j], w[j])
			}
		}
	}
}

func TestStatementViews(t *testing.T) {
	src, err := os.ReadFile("testdata/roundtrip/mixed-arrays-big-numbers.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Statement{{
		Index:  0,
		Sid:    "Mixed",
		Effect: Deny,
		NotPrincipal: &Principal{By: map[string][]string{
			"AWS":     {"arn:aws:iam::111122223333:root", "444455556666"},
			"Service": {"ec2.amazonaws.com"},
		}},
		NotAction:   &Values{List: []string{"kms:Create*", "kms:List*"}, IsList: true},
		NotResource: &Values{List: []string{"arn:aws:kms:us-east-1:111122223333:key/*"}},
		Conditions: []Condition{
			{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"true", "true", "false", "false"}},
			{Operator: "NumericLessThan", Key: "kms:RecipientAttestation:ImageSha384", Values: []string{"12"}},
			{Operator: "NumericLessThan", Key: "s3:max-keys", Values: []string{"10", "20", "1e3", "340282366920938463463374607431768211457"}},
			{Operator: "ForAnyValue:StringLike", Key: "kms:EncryptionContextKeys", Values: []string{}},
			{Operator: "Null", Key: "aws:PrincipalOrgID", Values: []string{"false"}},
		},
	}}
	if got := doc.Statements(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Statements():\n got %+v\nwant %+v", got, want)
	}
}

func TestPrincipalForms(t *testing.T) {
	tests := map[string]struct {
		principal string
		want      *Principal
	}{
		"bare wildcard":  {`"*"`, &Principal{Wildcard: true}},
		"AWS wildcard":   {`{"AWS": "*"}`, &Principal{By: map[string][]string{"AWS": {"*"}}}},
		"account id":     {`{"AWS": "111122223333"}`, &Principal{By: map[string][]string{"AWS": {"111122223333"}}}},
		"root ARN":       {`{"AWS": "arn:aws:iam::111122223333:root"}`, &Principal{By: map[string][]string{"AWS": {"arn:aws:iam::111122223333:root"}}}},
		"user and role":  {`{"AWS": ["arn:aws:iam::111122223333:user/u", "arn:aws:iam::111122223333:role/r"]}`, &Principal{By: map[string][]string{"AWS": {"arn:aws:iam::111122223333:user/u", "arn:aws:iam::111122223333:role/r"}}}},
		"service":        {`{"Service": "ec2.amazonaws.com"}`, &Principal{By: map[string][]string{"Service": {"ec2.amazonaws.com"}}}},
		"federated":      {`{"Federated": "cognito-identity.amazonaws.com"}`, &Principal{By: map[string][]string{"Federated": {"cognito-identity.amazonaws.com"}}}},
		"canonical user": {`{"CanonicalUser": "79a59df9"}`, &Principal{By: map[string][]string{"CanonicalUser": {"79a59df9"}}}},
		"empty list":     {`{"AWS": []}`, &Principal{By: map[string][]string{"AWS": {}}}},
		"unknown type":   {`{"Other": "x"}`, &Principal{By: map[string][]string{"Other": {"x"}}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse([]byte(`{"Statement":{"Effect":"Allow","Principal":` + tc.principal + `,"Action":"kms:*","Resource":"*"}}`))
			if err != nil {
				t.Fatal(err)
			}
			st := doc.Statements()
			if len(st) != 1 || st[0].Index != 0 {
				t.Fatalf("statements: %+v", st)
			}
			if !reflect.DeepEqual(st[0].Principal, tc.want) {
				t.Fatalf("Principal: got %+v, want %+v", st[0].Principal, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		doc  string
		want string // the exact error message
	}{
		"not JSON":             {`Version: 2012`, `line 1, column 1: unexpected 'V', expecting a value`},
		"empty":                {``, `line 1, column 1: unexpected end of input, expecting a value`},
		"trailing garbage":     {`{"Statement":[]} x`, `line 1, column 18: unexpected 'x' after the end of the document`},
		"two documents":        {"{\"Statement\":[]}\n{}", `line 2, column 1: unexpected '{' after the end of the document`},
		"truncated":            {`{"Statement":[{"Effect":"Allow"`, `line 1, column 32: unexpected end of input, expecting ',' or '}'`},
		"unterminated string":  {`{"Statement":"abc`, `line 1, column 14: unterminated string`},
		"raw control char":     {"{\"Sid\":\"a\tb\"}", `line 1, column 10: control character 0x09 in string (must be escaped)`},
		"bad escape":           {`{"a":"\x"}`, `line 1, column 7: invalid escape "\\x" in string`},
		"bad unicode escape":   {`{"a":"\u12G4"}`, `line 1, column 7: invalid \u escape in string`},
		"leading zero":         {`{"a":01}`, `line 1, column 7: unexpected '1' after member "a", expecting ',' or '}'`},
		"bad number":           {`{"a":-}`, `line 1, column 7: invalid number: expecting a digit, got '}'`},
		"trailing comma":       {`{"a":[1,]}`, `line 1, column 9: unexpected ']', expecting a value`},
		"single quotes":        {`{'a':1}`, `line 1, column 2: unexpected '\'', expecting a member name in double quotes`},
		"BOM":                  {"\ufeff{}", `line 1, column 1: unexpected byte 0xef, expecting a value`},
		"top-level array":      {`[]`, `policy must be a JSON object, got array`},
		"no statement":         {`{"Version":"2012-10-17"}`, `Statement: missing`},
		"statement string":     {`{"Statement":"x"}`, `Statement: must be an object or an array of objects, got string`},
		"statement null":       {`{"Statement":null}`, `Statement: must be an object or an array of objects, got null`},
		"element not object":   {`{"Statement":[{"Effect":"Allow"},[]]}`, `Statement[1]: must be an object, got array`},
		"empty effect":         {`{"Statement":[{"Effect":"Allow"},{"Effect":"Deny"},{"Effect":""}]}`, `Statement[2].Effect: must be "Allow" or "Deny", got ""`},
		"lower-case effect":    {`{"Statement":{"Effect":"allow"}}`, `Statement.Effect: must be "Allow" or "Deny", got "allow"`},
		"missing effect":       {`{"Statement":[{"Action":"*"}]}`, `Statement[0].Effect: missing`},
		"effect not string":    {`{"Statement":[{"Effect":true}]}`, `Statement[0].Effect: must be "Allow" or "Deny", got boolean`},
		"version not string":   {`{"Version":2012,"Statement":[]}`, `Version: must be a string, got number`},
		"sid not string":       {`{"Statement":[{"Sid":1,"Effect":"Allow"}]}`, `Statement[0].Sid: must be a string, got number`},
		"principal list":       {`{"Statement":[{"Effect":"Allow","Principal":["*"]}]}`, `Statement[0].Principal: must be "*" or an object, got array`},
		"principal string":     {`{"Statement":[{"Effect":"Allow","Principal":"111122223333"}]}`, `Statement[0].Principal: must be "*" or an object, got "111122223333"`},
		"principal number":     {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":111122223333}}]}`, `Statement[0].Principal.AWS: must be a string or an array of strings, got number`},
		"notprincipal element": {`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["a",1]}}]}`, `Statement[0].NotPrincipal.AWS[1]: must be a string, got number`},
		"action object":        {`{"Statement":[{"Effect":"Allow","Action":{}}]}`, `Statement[0].Action: must be a string or an array of strings, got object`},
		"resource bool":        {`{"Statement":[{"Effect":"Allow","Resource":[true]}]}`, `Statement[0].Resource[0]: must be a string, got boolean`},
		"action and notaction": {`{"Statement":[{"Effect":"Allow","Action":"a","NotAction":"b"}]}`, `Statement[0]: has both Action and NotAction`},
		"condition list":       {`{"Statement":[{"Effect":"Allow","Condition":[]}]}`, `Statement[0].Condition: must be an object, got array`},
		"condition operator":   {`{"Statement":[{"Effect":"Allow","Condition":{"Bool":"true"}}]}`, `Statement[0].Condition.Bool: must be an object of condition keys, got string`},
		"condition null":       {`{"Statement":[{"Effect":"Allow","Condition":{"Null":{"k":null}}}]}`, `Statement[0].Condition.Null.k: must be a string, boolean, number or an array of them, got null`},
		"condition nested":     {`{"Statement":[{"Effect":"Allow","Condition":{"Bool":{"k":["a",{}]}}}]}`, `Statement[0].Condition.Bool.k[1]: must be a string, boolean or number, got object`},
		"duplicate top-level":  {`{"Statement":[],"Statement":[]}`, `duplicate member "Statement"`},
		"duplicate effect":     {`{"Statement":[{"Effect":"Deny","Effect":"Allow"}]}`, `Statement[0]: duplicate member "Effect"`},
		"duplicate cond key":   {`{"Statement":[{"Effect":"Allow","Condition":{"Bool":{"k":"true","k":"false"}}}]}`, `Statement[0].Condition.Bool: duplicate member "k"`},
		"duplicate among many": {`{"Statement":{"Effect":"Allow","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"Sid":"x","Sid":"y"}}`, `Statement: duplicate member "Sid"`},
		"too deep":             {strings.Repeat("[", 300), `line 1, column 257: nesting deeper than 256 levels`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %s", doc.Bytes())
			}
			if err.Error() != tc.want {
				t.Fatalf("error:\n got %s\nwant %s", err, tc.want)
			}
			var se *SyntaxError
			var ee *ElementError
			if !errors.As(err, &se) && !errors.As(err, &ee) {
				t.Fatalf("error %T is neither *SyntaxError nor *ElementError", err)
			}
		})
	}
}

func TestDecodeIAM(t *testing.T) {
	tests := map[string]struct {
		in, want string
		wantErr  bool
	}{
		"encoded":           {in: "%7B%22Version%22%3A%222012-10-17%22%7D", want: `{"Version":"2012-10-17"}`},
		"plus stays plus":   {in: "%7B%22Sid%22%3A%22a+b%20c%22%7D", want: `{"Sid":"a+b c"}`},
		"already decoded":   {in: `{"Sid":"100%"}`, want: `{"Sid":"100%"}`},
		"decoded with ws":   {in: "\n {\"a\":1}", want: "\n {\"a\":1}"},
		"encoded percent":   {in: "%7B%22Sid%22%3A%22100%25%22%7D", want: `{"Sid":"100%"}`},
		"bad escape":        {in: "%7B%zz", wantErr: true},
		"truncated escape":  {in: "%7B%2", wantErr: true},
		"encoded multibyte": {in: "%7B%22Sid%22%3A%22caf%C3%A9%22%7D", want: `{"Sid":"café"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeIAM(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestVersionAndId(t *testing.T) {
	doc, err := Parse([]byte(`{"Id":"key-1","Version":"2008-10-17","Statement":{"Effect":"Allow"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Version() != "2008-10-17" || doc.Id() != "key-1" || doc.StatementIsList() {
		t.Fatalf("Version %q Id %q list %v", doc.Version(), doc.Id(), doc.StatementIsList())
	}
	doc, err = Parse([]byte(`{"Statement":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Version() != "" || doc.Id() != "" || !doc.StatementIsList() || len(doc.Statements()) != 0 {
		t.Fatalf("Version %q Id %q list %v", doc.Version(), doc.Id(), doc.StatementIsList())
	}
}

func TestUnicodeDecoding(t *testing.T) {
	src, err := os.ReadFile("testdata/roundtrip/unicode-escapes.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	st := doc.Statements()[0]
	if want := "Unicodeéé😀/x\t\"q\"\\"; st.Sid != want {
		t.Errorf("Sid %q, want %q", st.Sid, want)
	}
	var generic struct{ Statement []struct{ Sid string } }
	if err := json.Unmarshal(src, &generic); err != nil {
		t.Fatal(err)
	}
	if st.Sid != generic.Statement[0].Sid {
		t.Errorf("Sid %q, encoding/json says %q", st.Sid, generic.Statement[0].Sid)
	}
	if got := st.Conditions[0].Values[0]; got != "Français ☃ ☃" {
		t.Errorf("condition value %q", got)
	}
	// Lone surrogates and invalid UTF-8 decode to U+FFFD, as encoding/json does.
	doc, err = Parse([]byte("{\"Statement\":{\"Sid\":\"\\ud800x\xff\",\"Effect\":\"Allow\"}}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Statements()[0].Sid; got != "\uFFFDx\uFFFD" {
		t.Errorf("Sid %q", got)
	}
}
