package evaluate

import (
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// The statement that lets accounts create launch grants, read as AWS does: the policy variable
// is the caller's account, ForAllValues bounds the operations.
func TestGrantRequestLaunchStatement(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	doc := func(version string) *policy.Document {
		d, err := policy.Parse([]byte(`{"Version":"` + version + `","Statement":[{"Sid":"AllowEC2LaunchGrants","Effect":"Allow",
			"Principal":{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::777788889999:root"]},"Action":"kms:CreateGrant","Resource":"*",
			"Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt","ReEncryptFrom","ReEncryptTo","GenerateDataKey","GenerateDataKeyWithoutPlaintext","DescribeKey","CreateGrant"]},
			"StringLike":{"kms:GranteePrincipal":"arn:aws:iam::${aws:PrincipalAccount}:*"}}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	slr := func(acct string) string {
		return "arn:aws:iam::" + acct + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	}
	ops := []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}
	tests := map[string]struct {
		version string
		req     Request
		want    Decision
	}{
		"its own role":                 {"2012-10-17", GrantRequest(key, "arn:aws:iam::444455556666:role/member", slr("444455556666"), ops, nil), Allow},
		"fewer operations":             {"2012-10-17", GrantRequest(key, "arn:aws:iam::444455556666:root", slr("444455556666"), []string{"Decrypt"}, nil), Allow},
		"another account's role":       {"2012-10-17", GrantRequest(key, "arn:aws:iam::444455556666:root", slr("777788889999"), ops, nil), ImplicitDeny},
		"an operation more":            {"2012-10-17", GrantRequest(key, "arn:aws:iam::444455556666:root", slr("444455556666"), append(ops, "RetireGrant"), nil), ImplicitDeny},
		"an account not listed":        {"2012-10-17", GrantRequest(key, "arn:aws:iam::555566667777:root", slr("555566667777"), ops, nil), ImplicitDeny},
		"no variables in this version": {"2008-10-17", GrantRequest(key, "arn:aws:iam::444455556666:root", slr("444455556666"), ops, nil), ImplicitDeny},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := KeyPolicy(doc(tc.version), tc.req); got.Decision != tc.want {
				t.Fatalf("%s, want %s: %q %q", got.Decision, tc.want, got.Reasons, got.NotEvaluated)
			}
		})
	}
	// EC2's own CreateGrant (for an AWS resource) has a grantee the remediator cannot know: the
	// statement is not counted for it.
	req := EC2Request(key, "arn:aws:iam::444455556666:root", "kms:CreateGrant", nil)
	if got := KeyPolicy(doc("2012-10-17"), req); got.Decision == Allow || len(got.NotEvaluated) == 0 {
		t.Fatalf("EC2's grant: %s %q", got.Decision, got.NotEvaluated)
	}
	if req := GrantRequest(key, "arn:aws:iam::444455556666:root", slr("444455556666"), ops, nil); req.Context["kms:ViaService"] != nil ||
		req.Context["kms:GrantIsForAWSResource"] != nil {
		t.Fatalf("a direct call has no kms:ViaService and no kms:GrantIsForAWSResource: %v", req.Context)
	}
}
