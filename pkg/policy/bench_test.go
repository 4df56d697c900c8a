package policy

import (
	"encoding/json"
	"os"
	"testing"
)

var benchInputs = []struct{ name, file string }{
	{"aws-default", "testdata/roundtrip/aws-default-key-policy.json"},
	{"large-30k", "testdata/large-30k.json"},
}

func BenchmarkParse(b *testing.B) {
	for _, in := range benchInputs {
		src, err := os.ReadFile(in.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStdlibUnmarshalAny is the floor to compare Parse with: encoding/json into any, which
// keeps nothing of the layout.
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
