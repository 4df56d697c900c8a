package remediate

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// EC2's requests to KMS carry aws:PrincipalOrgID (and aws:PrincipalOrgPaths) of the account the
// launching principal belongs to (IAM User Guide, AWS global condition context keys:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid).
// The remediator knows an account's organization only when Organizations confirms it, never by
// guessing: a member of TRUSTED_ORGANIZATION_ID confirmed by DescribeAccount (which answers
// only in the management account or a delegated administrator), or the central account itself,
// whose organization DescribeOrganization gives. Everything else is unknown, and conditions on
// those keys are then not evaluated (they never count towards an Allow).

// referencesOrg reports whether any statement of doc has a condition on aws:PrincipalOrgID or
// aws:PrincipalOrgPaths: only then is the organization worth an Organizations call.
func referencesOrg(docs ...*policy.Document) bool {
	for _, d := range docs {
		if d == nil {
			continue
		}
		for _, s := range d.Statements() {
			for _, c := range s.Conditions {
				k := strings.ToLower(c.Key)
				if k == "aws:principalorgid" || k == "aws:principalorgpaths" {
					return true
				}
			}
		}
	}
	return false
}

// orgOf returns what is known of account's organization, or nil when it is not known. It asks
// Organizations only when docs have conditions on the organization keys.
func (r *run) orgOf(ctx context.Context, account string, docs ...*policy.Document) *evaluate.Org {
	if !referencesOrg(docs...) {
		return nil
	}
	org, err := load(r.inv, r.inv.orgs, account, func() (*evaluate.Org, error) { return r.lookupOrg(ctx, account) })
	if err != nil {
		// Unknown, and said so where it matters: the conditions go to not_evaluated.
		r.log.Warn().Str("account", account).Err(err).Msg("organization not known")
		return nil
	}
	return org
}

// orgsOf is orgOf for every account that has a known organization, as the key-policy editor
// takes them.
func (r *run) orgsOf(ctx context.Context, accounts []string, docs ...*policy.Document) map[string]evaluate.Org {
	out := map[string]evaluate.Org{}
	for _, a := range accounts {
		if o := r.orgOf(ctx, a, docs...); o != nil {
			out[a] = *o
		}
	}
	return out
}

func (r *run) lookupOrg(ctx context.Context, account string) (*evaluate.Org, error) {
	central, err := r.clients.CentralAccount(ctx)
	if err != nil {
		return nil, err
	}
	if account == central {
		out, err := r.clients.Organizations().DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		switch {
		case awsapi.IsNoOrganization(err):
			return &evaluate.Org{}, nil // the central account is in no organization
		case err != nil:
			return nil, fmt.Errorf("describe organization: %w", err)
		case out.Organization == nil || aws.ToString(out.Organization.Id) == "":
			return nil, nil
		}
		return &evaluate.Org{ID: aws.ToString(out.Organization.Id)}, nil
	}
	if r.cfg.TrustedOrganizationID == "" {
		return nil, nil
	}
	member, err := r.memberOfTrustedOrg(ctx, account)
	if err != nil || !member {
		// Not in the trusted organization says nothing of any other organization it may be in.
		return nil, err
	}
	return &evaluate.Org{ID: r.cfg.TrustedOrganizationID}, nil
}
