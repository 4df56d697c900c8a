package evaluate

import (
	"fmt"
	"strings"
	"testing"
)

// largePolicy generates a key policy of about size bytes: many account statements with
// conditions, the request's own statement last so every statement is evaluated.
func largePolicy(size int) string {
	var stmts []string
	for i := 0; ; i++ {
		s := fmt.Sprintf(`{"Sid":"Account%04d","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::%012d:root","arn:aws:iam::%012d:role/r%d"]},`+
			`"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*",`+
			`"Condition":{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"},"Bool":{"kms:GrantIsForAWSResource":"true"}}}`,
			i, 100000000000+i, 200000000000+i, i)
		stmts = append(stmts, s)
		if len(strings.Join(stmts, ",")) > size-600 {
			break
		}
	}
	stmts = append(stmts, stmt("Deny", `"*"`, `"kms:ScheduleKeyDeletion"`, `"*"`, `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Admin"}}`),
		`{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}`)
	return doc(stmts...)
}

func TestLargePolicySize(t *testing.T) {
	p := largePolicy(30 << 10)
	if n := len(p); n < 28<<10 || n > 32<<10 {
		t.Fatalf("generated policy is %d bytes, want about 30 KB", n)
	}
	got := Policy(mustParse(t, p), Request{PrincipalARN: otherSess, Action: "kms:Decrypt", Resource: keyARN, Context: EC2Context("us-east-1", otherSess, false)})
	if got.Decision != Allow || len(got.Matched) != 1 {
		t.Fatalf("got %+v", got)
	}
}

func BenchmarkPolicy(b *testing.B) {
	cases := map[string]string{
		"default-key-policy": "",
		"30KB":               largePolicy(30 << 10),
	}
	for name, src := range cases {
		b.Run(name, func(b *testing.B) {
			d := loadDoc(b, "default-key-policy.json")
			if src != "" {
				d = mustParse(b, src)
			}
			req := Request{PrincipalARN: otherSess, Action: "kms:Decrypt", Resource: keyARN, Context: EC2Context("us-east-1", otherSess, true)}
			b.SetBytes(int64(len(d.Bytes())))
			b.ReportAllocs()
			for b.Loop() {
				Policy(d, req)
			}
		})
	}
}

func BenchmarkKMS(b *testing.B) {
	in := KMSInput{
		KeyPolicy: loadDoc(b, "console-key-policy.json"), KeyAccount: "111122223333",
		IdentityPolicies: nil, IdentityKnown: true,
		Request: Request{PrincipalARN: otherSess, Action: "kms:CreateGrant", Resource: keyARN, Context: EC2Context("us-east-1", otherSess, true)},
	}
	in.IdentityPolicies = append(in.IdentityPolicies, loadDoc(b, "identity-kms-use.json"))
	b.ReportAllocs()
	for b.Loop() {
		KMS(in)
	}
}
