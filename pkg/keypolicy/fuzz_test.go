package keypolicy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

func FuzzEnsureAccounts(f *testing.F) {
	files, _ := filepath.Glob("testdata/edit/*.json")
	for i, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, []string{"444455556666", "111122223333,555566667777", "*"}[i%3])
	}
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Principal":{"AWS":[]},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}}`), "444455556666")
	f.Add([]byte(`{"Statement":[{"Sid":"Allow use of the key","Effect":"Allow","Principal":{},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}`), "444455556666,444455556666")
	f.Add([]byte(`{"Statement":[]}`), "")
	f.Add([]byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`), "444455556666")
	f.Fuzz(func(t *testing.T, doc []byte, accountList string) {
		var accounts []string
		if accountList != "" {
			accounts = strings.Split(accountList, ",")
		}
		edit, err := EnsureAccounts(doc, accounts)
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason == "" {
				t.Fatalf("error %v (%T) is not a *RefusedError", err, err)
			}
			if edit.Changed || !bytes.Equal(edit.Document, doc) {
				t.Fatal("a refused edit changed the document")
			}
			return
		}
		if !edit.Changed {
			if !bytes.Equal(edit.Document, doc) || len(edit.Changes) != 0 {
				t.Fatal("unchanged edit with a different document or changes")
			}
			return
		}
		d, err := policy.Parse(edit.Document)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, edit.Document)
		}
		if !isSubsequence(doc, edit.Document) {
			t.Fatalf("the edit removed input bytes:\n%s\n%s", doc, edit.Document)
		}
		r := newReader(Key{}, partitionOf(d, ""))
		for _, a := range accounts {
			for _, n := range needs {
				if why := r.denied(d, a, n); why != "" {
					t.Fatalf("account %s cannot %s after the edit: %s\n%s", a, n.what, why, edit.Document)
				}
			}
		}
		again, err := EnsureAccounts(edit.Document, accounts)
		if err != nil || again.Changed || !bytes.Equal(again.Document, edit.Document) {
			t.Fatalf("second run: err %v changed %v %+v\n%s", err, again.Changed, again.Changes, again.Document)
		}
	})
}
