package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
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

// ReadGrants lists the grants on keyARN whose grantee is principalARN (ListGrants with
// GranteePrincipal), with cl acting in the key's own account.
func ReadGrants(ctx context.Context, cl awsapi.KMS, keyARN, principalARN string) ([]Grant, error) {
	var out []Grant
	pg := kms.NewListGrantsPaginator(cl, &kms.ListGrantsInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String(principalARN)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list grants of %s for %s: %w", keyARN, principalARN, err)
		}
		for _, g := range page.Grants {
			if !SamePrincipal(aws.ToString(g.GranteePrincipal), principalARN) {
				continue // the filter is KMS's; an answer that ignores it still says nothing of others
			}
			gr := Grant{KeyARN: keyARN, GrantID: aws.ToString(g.GrantId), Name: aws.ToString(g.Name), Grantee: aws.ToString(g.GranteePrincipal)}
			for _, op := range g.Operations {
				gr.Operations = append(gr.Operations, string(op))
			}
			if c := g.Constraints; c != nil && (len(c.EncryptionContextEquals) > 0 || len(c.EncryptionContextSubset) > 0) {
				gr.Constrained = true
			}
			out = append(out, gr)
		}
	}
	return out, nil
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
			SamePrincipal(g.Grantee, principalARN) {
			return g, true
		}
	}
	return Grant{}, false
}

// SamePrincipal reports whether grantee (a user, role or role-session ARN) is the principal p
// names: the same user, the same role or a session of it, or the same session. Role and user names are unique in an account
// whatever their path, so a session ARN (which has no path) matches its role by name.
func SamePrincipal(grantee, p string) bool {
	g, ok1 := awsid.ParsePrincipal(grantee)
	q, ok2 := awsid.ParsePrincipal(p)
	if !ok1 || !ok2 || g.Account != q.Account || g.Partition != q.Partition || g.Name == "" {
		return false
	}
	role := func(k awsid.PrincipalKind) bool {
		return k == awsid.PrincipalRole || k == awsid.PrincipalServiceLinkedRole || k == awsid.PrincipalAssumedRole
	}
	switch {
	case g.Kind == awsid.PrincipalUser:
		return q.Kind == awsid.PrincipalUser && g.Name == q.Name
	case g.Kind == awsid.PrincipalAssumedRole: // a grant to one session is that session's only
		return q.Kind == awsid.PrincipalAssumedRole && g.Name == q.Name && g.Session == q.Session
	case role(g.Kind):
		return role(q.Kind) && g.Name == q.Name
	}
	return false
}
