package remediate

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// slrGrantOperations are the operations a grant for a service-linked role must carry for EC2 to
// launch from the key on its behalf (the Auto Scaling documentation's create-grant command, the
// same the alert prints).
var slrGrantOperations = []kmstypes.GrantOperation{
	kmstypes.GrantOperationEncrypt, kmstypes.GrantOperationDecrypt, kmstypes.GrantOperationReEncryptFrom,
	kmstypes.GrantOperationReEncryptTo, kmstypes.GrantOperationGenerateDataKey,
	kmstypes.GrantOperationGenerateDataKeyWithoutPlaintext, kmstypes.GrantOperationDescribeKey, kmstypes.GrantOperationCreateGrant,
}

// checkServiceLinkedRole: a service-linked role cannot take identity policies and is never
// changed. It can use a key when the key policy names the role itself (same account only: from
// another account an identity policy would be needed too) or when a grant names it.
func (c *iamRun) checkServiceLinkedRole(ctx context.Context, it *item, p *trigger.Principal, keys []*key, log zerolog.Logger) {
	for _, k := range keys {
		klog := log.With().Str("key", k.ARN).Logger()
		if slrAllowedByKeyPolicy(k, p.ARN, c.orgOf(ctx, p.Account, k.Doc)) {
			klog.Debug().Str("decision", "allow").Msg("key policy names the service-linked role")
			continue
		}
		has, err := c.slrHasGrant(ctx, k, p.ARN)
		switch {
		case err != nil:
			it.addNote(fmt.Sprintf("grants on %s for %s were not checked: %s", k.ARN, shortPrincipal(p.ARN), clip(err.Error(), 300)))
			klog.Warn().Err(err).Msg("list grants")
		case has:
			klog.Debug().Str("decision", "allow").Msg("a grant names the service-linked role")
			continue
		}
		var fix string
		if p.Account == k.Account {
			fix = fmt.Sprintf("the fix is on the key side: a statement in the key policy of %s naming %s for the use and grant actions, or a grant for it (aws kms create-grant --grantee-principal %s)",
				k.ARN, p.ARN, p.ARN)
		} else {
			fix = fmt.Sprintf("from another account a key policy naming the role is not enough (that would also need an identity policy, which the role cannot have): the fix is a grant for it on %s, created by a principal of account %s whose identity policy allows kms:CreateGrant on the key (with the key policy allowing account %s): aws kms create-grant --key-id %s --grantee-principal %s --operations %s",
				k.ARN, p.Account, p.Account, k.ARN, p.ARN, grantOps())
		}
		msg := fmt.Sprintf("%s is a service-linked role: it cannot take identity policies and the remediator never changes it; %s", shortPrincipal(p.ARN), fix)
		it.addFinding(report.Finding{Code: report.IAMMissingUse, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Message: msg})
		it.addFinding(report.Finding{Code: report.IAMMissingGrant, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Message: msg})
		klog.Info().Str("decision", "missing").Bool("same_account", p.Account == k.Account).Msg("service-linked role cannot use the key: fix is on the key side")
	}
}

func grantOps() string {
	var s []string
	for _, o := range slrGrantOperations {
		s = append(s, string(o))
	}
	return strings.Join(s, " ")
}

// slrAllowedByKeyPolicy: every EC2 request is allowed with no identity policy at all (so only
// by a key policy statement naming the role, in the key's own account).
func slrAllowedByKeyPolicy(k *key, roleARN string, org *evaluate.Org) bool {
	for _, a := range append(append([]string{}, useRequests...), grantRequests...) {
		res := evaluate.KMS(evaluate.KMSInput{KeyPolicy: k.Doc, KeyAccount: k.Account, IdentityKnown: true,
			Request: evaluate.EC2Request(k.ARN, roleARN, a, org)})
		if res.Decision != evaluate.Allow {
			return false
		}
	}
	return true
}

// slrHasGrant lists the key's grants (as the key's owner) and looks for one naming the role with
// every operation EC2 needs.
func (c *iamRun) slrHasGrant(ctx context.Context, k *key, roleARN string) (bool, error) {
	cl, err := c.clients.KMS(ctx, k.Account, k.Region)
	if err != nil {
		return false, err
	}
	pg := kms.NewListGrantsPaginator(cl, &kms.ListGrantsInput{KeyId: aws.String(k.ARN)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("list grants of %s: %w", k.ARN, err)
		}
		for _, g := range page.Grants {
			if aws.ToString(g.GranteePrincipal) == roleARN && hasOperations(g.Operations, slrGrantOperations) {
				return true, nil
			}
		}
	}
	return false, nil
}

func hasOperations(have, want []kmstypes.GrantOperation) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if h == w {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
