package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendStrings(t *testing.T) {
	const jackson = "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n    \"Action\" : [ \"kms:Encrypt\", \"kms:Decrypt\" ],\n    \"Resource\" : \"*\"\n  } ]\n}"
	const console = "{\n    \"Statement\": [\n        {\n            \"Effect\": \"Allow\",\n            \"Principal\": {\n                \"AWS\": \"arn:aws:iam::111122223333:root\"\n            },\n            \"Action\": [\n                \"kms:Encrypt\"\n            ],\n            \"Resource\": \"*\"\n        },\n        {\n            \"Effect\": \"Allow\",\n            \"Principal\": {\"AWS\": \"arn:aws:iam::111122223333:role/R\"},\n            \"Action\": \"kms:Decrypt\",\n            \"Resource\": \"*\"\n        }\n    ]\n}\n"
	tests := map[string]struct {
		doc    string
		stmt   int
		path   []string
		values []string
		want   string
	}{
		"compact string becomes list": {
			doc:  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"a"},"Action":"x"}]}`,
			path: []string{"Principal", "AWS"}, values: []string{"b", "c"},
			want: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["a","b","c"]},"Action":"x"}]}`,
		},
		"compact list gains values": {
			doc:  `{"Statement":[{"Effect":"Allow","Resource":["a"],"Action":"x"}]}`,
			path: []string{"Resource"}, values: []string{"b"},
			want: `{"Statement":[{"Effect":"Allow","Resource":["a","b"],"Action":"x"}]}`,
		},
		"one-line spaced list": {
			doc:  `{"Statement": [{"Effect": "Allow", "Resource": ["a"], "Action": ["x", "y"]}]}`,
			path: []string{"Resource"}, values: []string{"b"},
			want: `{"Statement": [{"Effect": "Allow", "Resource": ["a", "b"], "Action": ["x", "y"]}]}`,
		},
		"jackson style string in multi-line object": {
			doc: jackson, path: []string{"Principal", "AWS"}, values: []string{"arn:aws:iam::444455556666:root"},
			want: strings.Replace(jackson, `"AWS" : "arn:aws:iam::111122223333:root"`, `"AWS" : [ "arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root" ]`, 1),
		},
		"jackson style list": {
			doc: jackson, path: []string{"Action"}, values: []string{"kms:ReEncrypt*"},
			want: strings.Replace(jackson, `[ "kms:Encrypt", "kms:Decrypt" ]`, `[ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*" ]`, 1),
		},
		"console style string becomes multi-line list": {
			doc: console, path: []string{"Principal", "AWS"}, values: []string{"arn:aws:iam::444455556666:root"},
			want: strings.Replace(console, "\"AWS\": \"arn:aws:iam::111122223333:root\"\n", "\"AWS\": [\n                    \"arn:aws:iam::111122223333:root\",\n                    \"arn:aws:iam::444455556666:root\"\n                ]\n", 1),
		},
		"console style one-element multi-line list": {
			doc: console, path: []string{"Action"}, values: []string{"kms:Decrypt"},
			want: strings.Replace(console, "\"kms:Encrypt\"\n", "\"kms:Encrypt\",\n                \"kms:Decrypt\"\n", 1),
		},
		"console style inline principal stays inline": {
			doc: console, stmt: 1, path: []string{"Principal", "AWS"}, values: []string{"arn:aws:iam::444455556666:root"},
			want: strings.Replace(console, `{"AWS": "arn:aws:iam::111122223333:role/R"}`, `{"AWS": ["arn:aws:iam::111122223333:role/R", "arn:aws:iam::444455556666:root"]}`, 1),
		},
		"escapes of the old value are kept": {
			doc:  `{"Statement":{"Effect":"Allow","Resource":"arn:aws:kms:us-east-1:111122223333:key\/k\u0031"}}`,
			path: []string{"Resource"}, values: []string{"caf\u00e9\"\n"},
			want: `{"Statement":{"Effect":"Allow","Resource":["arn:aws:kms:us-east-1:111122223333:key\/k\u0031","café\"\n"]}}`,
		},
		"empty list": {
			doc:  "{\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Resource\": []\n    }\n  ]\n}",
			path: []string{"Resource"}, values: []string{"a"},
			want: "{\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Resource\": [\n        \"a\"\n      ]\n    }\n  ]\n}",
		},
		"crlf and tabs": {
			doc:  "{\r\n\t\"Statement\": [\r\n\t\t{\r\n\t\t\t\"Effect\": \"Allow\",\r\n\t\t\t\"Resource\": \"a\"\r\n\t\t}\r\n\t]\r\n}\r\n",
			path: []string{"Resource"}, values: []string{"b"},
			want: "{\r\n\t\"Statement\": [\r\n\t\t{\r\n\t\t\t\"Effect\": \"Allow\",\r\n\t\t\t\"Resource\": [\r\n\t\t\t\t\"a\",\r\n\t\t\t\t\"b\"\r\n\t\t\t]\r\n\t\t}\r\n\t]\r\n}\r\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.AppendStrings(tc.stmt, tc.path, tc.values...); err != nil {
				t.Fatal(err)
			}
			if got := doc.String(); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			// The views follow the edit.
			v := doc.Statements()[tc.stmt].Resource
			if tc.path[0] == "Principal" {
				v = &Values{List: doc.Statements()[tc.stmt].Principal.By[tc.path[1]]}
			} else if tc.path[0] == "Action" {
				v = doc.Statements()[tc.stmt].Action
			}
			if got := v.List[len(v.List)-1]; got != tc.values[len(tc.values)-1] {
				t.Fatalf("view's last value %q, want %q", got, tc.values[len(tc.values)-1])
			}
		})
	}
}

func TestAppendStatement(t *testing.T) {
	stmt := Object(
		Member{"Sid", String("New")},
		Member{"Effect", String("Allow")},
		Member{"Principal", Object(Member{"AWS", Strings("arn:aws:iam::444455556666:root")})},
		Member{"Action", Strings("kms:CreateGrant", "kms:ListGrants")},
		Member{"Resource", String("*")},
		Member{"Condition", Object(Member{"Bool", Object(Member{"kms:GrantIsForAWSResource", String("true")})})},
	)
	tests := map[string]struct{ doc, want string }{
		"compact": {
			doc:  `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*"}]}`,
			want: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*"},{"Sid":"New","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root"]},"Action":["kms:CreateGrant","kms:ListGrants"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`,
		},
		"one-line spaced": {
			doc:  `{"Statement": [{"Effect": "Deny", "Action": "*"}]}`,
			want: `{"Statement": [{"Effect": "Deny", "Action": "*"}, {"Sid": "New", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]}, "Action": ["kms:CreateGrant", "kms:ListGrants"], "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]}`,
		},
		"jackson": {
			doc:  "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Effect\" : \"Deny\",\n    \"Action\" : [ \"kms:Decrypt\" ]\n  } ]\n}",
			want: "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Effect\" : \"Deny\",\n    \"Action\" : [ \"kms:Decrypt\" ]\n  }, {\n    \"Sid\" : \"New\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : [ \"arn:aws:iam::444455556666:root\" ]\n    },\n    \"Action\" : [ \"kms:CreateGrant\", \"kms:ListGrants\" ],\n    \"Resource\" : \"*\",\n    \"Condition\" : {\n      \"Bool\" : {\n        \"kms:GrantIsForAWSResource\" : \"true\"\n      }\n    }\n  } ]\n}",
		},
		"console": {
			doc:  "{\n    \"Statement\": [\n        {\n            \"Effect\": \"Deny\",\n            \"Action\": [\n                \"kms:Decrypt\"\n            ]\n        }\n    ]\n}\n",
			want: "{\n    \"Statement\": [\n        {\n            \"Effect\": \"Deny\",\n            \"Action\": [\n                \"kms:Decrypt\"\n            ]\n        },\n        {\n            \"Sid\": \"New\",\n            \"Effect\": \"Allow\",\n            \"Principal\": {\n                \"AWS\": [\n                    \"arn:aws:iam::444455556666:root\"\n                ]\n            },\n            \"Action\": [\n                \"kms:CreateGrant\",\n                \"kms:ListGrants\"\n            ],\n            \"Resource\": \"*\",\n            \"Condition\": {\n                \"Bool\": {\n                    \"kms:GrantIsForAWSResource\": \"true\"\n                }\n            }\n        }\n    ]\n}\n",
		},
		"single object becomes list": {
			doc:  `{"Statement":{"Effect":"Deny","Action":"*"}}`,
			want: `{"Statement":[{"Effect":"Deny","Action":"*"},{"Sid":"New","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root"]},"Action":["kms:CreateGrant","kms:ListGrants"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`,
		},
		"empty list": {
			doc:  `{"Statement":[]}`,
			want: `{"Statement":[{"Sid":"New","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root"]},"Action":["kms:CreateGrant","kms:ListGrants"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			before := len(doc.Statements())
			i, err := doc.AppendStatement(stmt)
			if err != nil {
				t.Fatal(err)
			}
			if got := doc.String(); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if i != before || len(doc.Statements()) != before+1 || doc.Statements()[i].Sid != "New" {
				t.Fatalf("index %d, statements %+v", i, doc.Statements())
			}
		})
	}
}

func TestAddMember(t *testing.T) {
	tests := map[string]struct {
		doc  string
		path []string
		want string
	}{
		"compact": {
			doc:  `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"}}]}`,
			path: []string{"Principal"},
			want: `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com","AWS":["111122223333"]}}]}`,
		},
		"jackson": {
			doc:  "{\n  \"Statement\" : [ {\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"Service\" : \"ec2.amazonaws.com\"\n    }\n  } ]\n}",
			path: []string{"Principal"},
			want: "{\n  \"Statement\" : [ {\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"Service\" : \"ec2.amazonaws.com\",\n      \"AWS\" : [ \"111122223333\" ]\n    }\n  } ]\n}",
		},
		"empty object": {
			doc:  "{\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Principal\": {}\n    }\n  ]\n}",
			path: []string{"Principal"},
			want: "{\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"AWS\": [\n          \"111122223333\"\n        ]\n      }\n    }\n  ]\n}",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.AddMember(0, tc.path, "AWS", Strings("111122223333")); err != nil {
				t.Fatal(err)
			}
			if got := doc.String(); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestEditErrors(t *testing.T) {
	const src = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":{"x":1},"Resource":"*"}]}`
	tests := map[string]struct {
		edit func(d *Document) error
		want string
	}{
		"no such statement": {func(d *Document) error { return d.AppendStrings(3, []string{"Resource"}, "a") }, `edit Statement: no statement 3 (the document has 1)`},
		"missing member":    {func(d *Document) error { return d.AppendStrings(0, []string{"NotResource"}, "a") }, `edit Statement[0].NotResource: missing`},
		"through a string":  {func(d *Document) error { return d.AppendStrings(0, []string{"Principal", "AWS"}, "a") }, `edit Statement[0].Principal.AWS: parent is not an object`},
		"object":            {func(d *Document) error { return d.AppendStrings(0, []string{"Action"}, "a") }, `edit Statement[0].Action: must be a string or an array to append to, got object`},
		"invalid result":    {func(d *Document) error { return d.AppendStrings(0, []string{"Principal"}, "a") }, `edit produced an invalid document: Statement[0].Principal: must be "*" or an object, got array`},
		"member exists":     {func(d *Document) error { return d.AddMember(0, nil, "Effect", String("Deny")) }, `edit Statement[0]: already has a member "Effect"`},
		"add to a string":   {func(d *Document) error { return d.AddMember(0, []string{"Resource"}, "a", String("b")) }, `edit Statement[0].Resource: must be an object to add a member to, got string`},
		"statement string":  {func(d *Document) error { _, err := d.AppendStatement(String("x")); return err }, `edit Statement: a statement must be an object`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(src, `"Action":{"x":1}`, `"Action":"a"`, 1)
			if name == "object" {
				src = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","Resource":"*","Condition":{"Bool":{"k":"true"}}}]}`
				tc.edit = func(d *Document) error { return d.AppendStrings(0, []string{"Condition", "Bool"}, "a") }
				tc.want = `edit Statement[0].Condition.Bool: must be a string or an array to append to, got object`
			}
			doc, err := Parse([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.edit(doc)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tc.want)
			}
			var ee *EditError
			var pe *ElementError
			if !errors.As(err, &ee) && !errors.As(err, &pe) {
				t.Fatalf("error type %T", err)
			}
			if doc.String() != src {
				t.Fatalf("a failed edit changed the document: %s", doc.Bytes())
			}
		})
	}
}

// Appending to every fixture leaves the document parseable and changes bytes only at the splice.
func TestEditFixturesOnlyTouchTarget(t *testing.T) {
	files, _ := filepath.Glob("testdata/roundtrip/*.json")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.AppendStatement(Object(Member{"Effect", String("Allow")}, Member{"Action", Strings("a", "b")})); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := doc.Bytes()
		prefix := 0
		for prefix < len(src) && prefix < len(out) && src[prefix] == out[prefix] {
			prefix++
		}
		suffix := 0
		for suffix < len(src)-prefix && src[len(src)-1-suffix] == out[len(out)-1-suffix] {
			suffix++
		}
		if prefix+suffix != len(src) && !strings.Contains(f, "single-statement") {
			t.Errorf("%s: the edit changed more than an insertion: kept %d+%d of %d bytes", f, prefix, suffix, len(src))
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("%s: edited document does not parse: %v\n%s", f, err, out)
		}
		if got := len(again.Statements()); got == 0 || again.Statements()[got-1].Action.List[1] != "b" {
			t.Errorf("%s: new statement not last", f)
		}
	}
}

func TestEncode(t *testing.T) {
	v := Object(
		Member{"Version", String("2012-10-17")},
		Member{"Statement", List(Object(
			Member{"Effect", String("Allow")},
			Member{"Action", Strings("a", "b<&>")},
			Member{"Condition", Object(Member{"Bool", Object(Member{"k", Bool(true)})})},
			Member{"Empty", List()},
		))},
	)
	tests := map[string]struct{ indent, want string }{
		"pretty":  {"  ", "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": [\n        \"a\",\n        \"b<&>\"\n      ],\n      \"Condition\": {\n        \"Bool\": {\n          \"k\": true\n        }\n      },\n      \"Empty\": []\n    }\n  ]\n}"},
		"compact": {"", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["a","b<&>"],"Condition":{"Bool":{"k":true}},"Empty":[]}]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Encode(v, tc.indent)
			if string(got) != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if _, err := Parse(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodeEscapes(t *testing.T) {
	got := string(Encode(Strings("q\"b\\s\n\r\t\x01\x1f/<é>\xff", ""), ""))
	want := `["q\"b\\s\n\r\t\u0001\u001f/<é>\ufffd",""]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var back []string
	if err := json.Unmarshal([]byte(got), &back); err != nil || back[0] != "q\"b\\s\n\r\t\x01\x1f/<é>\uFFFD" {
		t.Fatalf("encoding/json reads %q, %v", back, err)
	}
	if got := string(Encode(List(Bool(false), Object()), "  ")); got != "[\n  false,\n  {}\n]" {
		t.Fatalf("got %q", got)
	}
}
