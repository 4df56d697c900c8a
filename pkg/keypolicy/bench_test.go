package keypolicy

import (
	"encoding/json"
	"os"
	"testing"
)

var benchInputs = []struct{ name, file string }{
	{"aws-default", "testdata/edit/aws-default.json"},
	{"large-30k", "testdata/large-30k.json"},
}

var benchAccounts = []string{"444455556666", "777788889999"}

func BenchmarkEnsureAccounts(b *testing.B) {
	for _, in := range benchInputs {
		src, err := os.ReadFile(in.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				edit, err := EnsureAccounts(src, benchAccounts)
				if err != nil || !edit.Changed {
					b.Fatalf("err %v changed %v", err, edit.Changed)
				}
			}
		})
	}
}

// BenchmarkEnsureAccountsNoop is the common steady state: the accounts are already there.
func BenchmarkEnsureAccountsNoop(b *testing.B) {
	for _, in := range benchInputs {
		src, err := os.ReadFile(in.file)
		if err != nil {
			b.Fatal(err)
		}
		edit, err := EnsureAccounts(src, benchAccounts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if again, err := EnsureAccounts(edit.Document, benchAccounts); err != nil || again.Changed {
					b.Fatalf("err %v changed %v", err, again.Changed)
				}
			}
		})
	}
}

// BenchmarkStdlibUnmarshalAny is the floor: encoding/json into any on the same inputs.
func BenchmarkStdlibUnmarshalAny(b *testing.B) {
	for _, in := range benchInputs {
		src, err := os.ReadFile(in.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(src, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
