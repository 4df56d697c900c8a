package remediate

import (
	"context"
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// trusted reports whether account may be granted anything: listed in TRUSTED_ACCOUNT_IDS, or
// confirmed by organizations:DescribeAccount to belong to TRUSTED_ORGANIZATION_ID. Anything that
// is not exactly 12 ASCII digits is never trusted.
func (r *run) trusted(ctx context.Context, account string) (bool, error) {
	if !awsid.IsAccountID(account) {
		return false, nil
	}
	if r.cfg.Trusted(account) {
		return true, nil
	}
	if r.cfg.TrustedOrganizationID == "" {
		return false, nil
	}
	return r.memberOfTrustedOrg(ctx, account)
}

// memberOfTrustedOrg asks Organizations (once per invocation and account) whether account
// belongs to TRUSTED_ORGANIZATION_ID.
func (r *run) memberOfTrustedOrg(ctx context.Context, account string) (bool, error) {
	org := r.cfg.TrustedOrganizationID
	return load(r.inv, r.inv.membership, account, func() (bool, error) {
		out, err := r.clients.Organizations().DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(account)})
		if err != nil {
			if awsapi.IsNotFound(err) {
				return false, nil // not in the organization the remediator runs in
			}
			return false, fmt.Errorf("describe account %s: %w", account, err)
		}
		if out.Account == nil {
			return false, nil // a malformed answer confirms nothing (and is no nil dereference)
		}
		// The account ARN is arn:aws:organizations::MANAGEMENT:account/o-xxxxxxxxxx/ACCOUNT.
		a := aws.ToString(out.Account.Arn)
		return strings.Contains(a, ":account/"+org+"/"+account) && aws.ToString(out.Account.Id) == account, nil
	})
}
