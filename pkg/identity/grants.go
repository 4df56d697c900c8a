package identity

import (
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// A KMS grant is the other way to give a principal the use of a key: "when authorizing access to
// a KMS key, grants are considered along with key policies and IAM policies", and a grant can
// name a principal of another account than the key's. A grant alone authorizes its grantee: no
// key policy or identity policy needs to allow what the grant allows (AWS's own procedure for an
// Auto Scaling group of another account rests on that: its service-linked role can have no
// identity policy for the key, only the grant). It never overrides an explicit deny: "no AWS
// principal has any permissions to a KMS key unless that permission is provided explicitly and
// never denied".
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
// https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html#policy-example-cmk-cross-account-access

// Grant is one grant on a key, as ListGrants reports it in the key's account.
type Grant struct {
	KeyARN     string
	GrantID    string
	Name       string
	Grantee    string   // the grantee principal's ARN
	Operations []string // "Decrypt", "CreateGrant", ...
	// Constrained: the grant has encryption-context constraints. EC2's requests carry the
	// volume's ID in their encryption context, which is not known before the launch, so such a
	// grant is never counted as allowing them.
	Constrained bool
}

// GrantsOf converts the grants ListGrants reports for keyARN (in the key's account).
func GrantsOf(keyARN string, entries []kmstypes.GrantListEntry) []Grant {
	out := make([]Grant, 0, len(entries))
	for _, g := range entries {
		gr := Grant{KeyARN: keyARN, GrantID: aws.ToString(g.GrantId), Name: aws.ToString(g.Name), Grantee: aws.ToString(g.GranteePrincipal)}
		for _, op := range g.Operations {
			gr.Operations = append(gr.Operations, string(op))
		}
		if c := g.Constraints; c != nil && (len(c.EncryptionContextEquals) > 0 || len(c.EncryptionContextSubset) > 0) {
			gr.Constrained = true
		}
		out = append(out, gr)
	}
	return out
}

// AllowsAll reports whether grants let principalARN call every operation of ops ("Decrypt", ...)
// on keyARN.
func AllowsAll(grants []Grant, principalARN, keyARN string, ops []string) bool {
	for _, op := range ops {
		if _, ok := GrantFor(grants, principalARN, keyARN, "kms:"+op); !ok {
			return false
		}
	}
	return true
}

// GrantFor returns the grant among grants that lets principalARN (a user, a role or one of its
// sessions) call action (e.g. "kms:Decrypt") on keyARN: one naming it as grantee, with that
// operation, without constraints. A grant to a role covers every session of the role.
func GrantFor(grants []Grant, principalARN, keyARN, action string) (Grant, bool) {
	op, ok := strings.CutPrefix(action, "kms:")
	if !ok {
		return Grant{}, false
	}
	for _, g := range grants {
		if g.KeyARN == keyARN && !g.Constrained && slices.ContainsFunc(g.Operations, func(o string) bool { return strings.EqualFold(o, op) }) &&
			awsid.SamePrincipal(g.Grantee, principalARN) {
			return g, true
		}
	}
	return Grant{}, false
}
