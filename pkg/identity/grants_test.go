package identity

import (
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// A grant counts for exactly what it grants: its key, its operations, its grantee (a role's grant
// covers the role's sessions), and nothing when an encryption-context constraint makes EC2's
// request unknowable. KMS developer guide, "Grants in AWS KMS" and "Grant constraints".
func TestGrantFor(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const other = "arn:aws:kms:us-east-1:111122223333:key/0000abcd-12ab-34cd-56ef-1234567890ab"
	ops := []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}
	role := Grant{KeyARN: key, Grantee: "arn:aws:iam::444455556666:role/team/app-deployer", Operations: ops}
	user := Grant{KeyARN: key, Grantee: "arn:aws:iam::444455556666:user/alice", Operations: []string{"Decrypt"}}
	session := Grant{KeyARN: key, Grantee: "arn:aws:sts::444455556666:assumed-role/ops/bob", Operations: []string{"Decrypt"}}
	constrained := role
	constrained.Constrained = true
	for name, tc := range map[string]struct {
		grants    []Grant
		principal string
		key       string
		action    string
		want      bool
	}{
		"the role itself":                      {[]Grant{role}, "arn:aws:iam::444455556666:role/team/app-deployer", key, "kms:Decrypt", true},
		"a session of the role":                {[]Grant{role}, "arn:aws:sts::444455556666:assumed-role/app-deployer/i-0abc", key, "kms:CreateGrant", true},
		"the role without its path":            {[]Grant{role}, "arn:aws:iam::444455556666:role/app-deployer", key, "kms:GenerateDataKeyWithoutPlaintext", true},
		"another role":                         {[]Grant{role}, "arn:aws:iam::444455556666:role/app", key, "kms:Decrypt", false},
		"the same name in another account":     {[]Grant{role}, "arn:aws:iam::999988887777:role/app-deployer", key, "kms:Decrypt", false},
		"another key":                          {[]Grant{role}, "arn:aws:iam::444455556666:role/app-deployer", other, "kms:Decrypt", false},
		"an operation it lacks":                {[]Grant{user}, "arn:aws:iam::444455556666:user/alice", key, "kms:CreateGrant", false},
		"the user":                             {[]Grant{user}, "arn:aws:iam::444455556666:user/alice", key, "kms:decrypt", true},
		"a role named like the user":           {[]Grant{user}, "arn:aws:iam::444455556666:role/alice", key, "kms:Decrypt", false},
		"a grant to one session":               {[]Grant{session}, "arn:aws:sts::444455556666:assumed-role/ops/bob", key, "kms:Decrypt", true},
		"another session of that role":         {[]Grant{session}, "arn:aws:sts::444455556666:assumed-role/ops/eve", key, "kms:Decrypt", false},
		"the role of that session":             {[]Grant{session}, "arn:aws:iam::444455556666:role/ops", key, "kms:Decrypt", false},
		"constrained to an encryption context": {[]Grant{constrained}, "arn:aws:iam::444455556666:role/app-deployer", key, "kms:Decrypt", false},
		"no service prefix":                    {[]Grant{role}, "arn:aws:iam::444455556666:role/app-deployer", key, "Decrypt", false},
		"no grants":                            {nil, "arn:aws:iam::444455556666:role/app-deployer", key, "kms:Decrypt", false},
	} {
		t.Run(name, func(t *testing.T) {
			if _, got := GrantFor(tc.grants, tc.principal, tc.key, tc.action); got != tc.want {
				t.Errorf("GrantFor(%s, %s) = %v, want %v", tc.principal, tc.action, got, tc.want)
			}
		})
	}
}

// GrantsOf keeps what decides: the grantee, the operations and whether constraints apply.
func TestGrantsOf(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	grantee := "arn:aws:iam::444455556666:role/app-deployer"
	grants := GrantsOf(key, []kmstypes.GrantListEntry{
		{GrantId: str("g1"), Name: str("ami-kms-remediator-1"), GranteePrincipal: str(grantee), KeyId: str(key),
			Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt, kmstypes.GrantOperationCreateGrant}},
		{GrantId: str("g2"), GranteePrincipal: str(grantee), KeyId: str(key), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt},
			Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"aws:ebs:id": "vol-1"}}},
	})
	if len(grants) != 2 || grants[0].GrantID != "g1" || grants[0].Constrained || !grants[1].Constrained ||
		len(grants[0].Operations) != 2 || grants[0].Name != "ami-kms-remediator-1" || grants[0].Grantee != grantee {
		t.Fatalf("grants %+v", grants)
	}
	if !AllowsAll(grants, grantee, key, []string{"Decrypt", "CreateGrant"}) {
		t.Error("the unconstrained grant does not allow Decrypt and CreateGrant")
	}
	if AllowsAll(grants, grantee, key, []string{"Decrypt", "Encrypt"}) {
		t.Error("a constrained grant counted for Encrypt")
	}
}

func str(s string) *string { return &s }
