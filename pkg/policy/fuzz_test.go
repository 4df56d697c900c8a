package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, src := range fixtures(f) {
		f.Add(src)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `"x"`, `{"Statement":{}}`, `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Condition":{"Bool":{"k":["true",true,1e999]}}}]}`,
		"{\"Statement\":[],\"a\":\"\\ud83d\\ude00\\u0000\xff\"}", `{"a":-0.0e+1}`, `{"a":[[[[[]]]]]}`,
		strings.Repeat("[", 300) + strings.Repeat("]", 300),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		_, treeErr := parseTree(src)
		var se *SyntaxError
		if treeErr != nil && errors.As(treeErr, &se) && strings.HasPrefix(se.Msg, "nesting deeper") {
			return
		}
		// The tokenizer accepts exactly what encoding/json accepts (up to our nesting limit).
		if valid := json.Valid(src); valid != (treeErr == nil) {
			t.Fatalf("json.Valid=%v but parseTree error=%v", valid, treeErr)
		}
		doc, err := Parse(src)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if !bytes.Equal(doc.Bytes(), src) {
			t.Fatalf("Bytes() differs from the input")
		}
		doc2, err := Parse(doc.Bytes())
		if err != nil || !bytes.Equal(doc2.Bytes(), src) {
			t.Fatalf("Parse(Bytes()) = %v", err)
		}
		_ = doc.Statements()
		_ = doc.Version()
	})
}
