package benchmark

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// The documents pkg/policy's BenchmarkParse and BenchmarkStdlibUnmarshalAny (the floor) and
// pkg/keypolicy's BenchmarkEnsureAccounts use, so the table's evaluate ratio compares like with
// like (pkg/evaluate's own benchmarks use other documents).
var engineDocs = []struct{ name, file string }{
	{"aws-default", "../../pkg/policy/testdata/roundtrip/aws-default-key-policy.json"},
	{"large-30k", "../../pkg/policy/testdata/large-30k.json"},
}

// BenchmarkStdlibUnmarshalAny is the floor for BenchmarkEvaluate: encoding/json decoding the same
// documents into any, in the same test binary.
func BenchmarkStdlibUnmarshalAny(b *testing.B) {
	for _, d := range engineDocs {
		src, err := os.ReadFile(d.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(d.name, func(b *testing.B) {
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

// BenchmarkEvaluate is one EC2 request from another account (kms:Decrypt by 444455556666's root,
// via EC2) against a parsed key policy: the remediator's decision for one key and account makes
// eight of these (seven use actions and kms:CreateGrant).
func BenchmarkEvaluate(b *testing.B) {
	for _, d := range engineDocs {
		src, err := os.ReadFile(d.file)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := policy.Parse(src)
		if err != nil {
			b.Fatal(err)
		}
		const principal = "arn:aws:iam::444455556666:root"
		in := evaluate.KMSInput{KeyPolicy: doc, KeyAccount: "111122223333", Request: evaluate.Request{
			PrincipalARN: principal, Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			Context: evaluate.EC2Context("us-east-1", principal, false)}}
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				evaluate.KMS(in)
			}
		})
	}
}
