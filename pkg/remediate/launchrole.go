package remediate

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// A service-linked role that launches for a service (Auto Scaling, and so EKS managed node
// groups; EC2 Fleet; Spot) cannot take identity policies, and its permissions include no
// customer managed key. It can use a key only when (EC2 Auto Scaling User Guide, "Required AWS
// KMS key policy for use with encrypted volumes"):
//   - the key is in its own account and the key policy names the role itself (Example 1); the
//     remediator adds it only for an Auto Scaling group's role read from DescribeAutoScalingGroups
//     (SECURITY.md), in a trusted account;
//   - or a grant on the key names it. From another account this is the only way (Example 2): the
//     key policy lets the role's account create the grant (keypolicy.EnsureLaunchGrantsForKey),
//     and a principal of that account creates it (the kms-grant action, grant.go).
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html

// launchRole says whether p is a launching service's service-linked role of target.
func launchRole(p *trigger.Principal, target string) (awsid.LaunchRole, bool) {
	if p == nil || p.Account != target || p.Type != trigger.PrincipalServiceLinkedRole {
		return awsid.LaunchRole{}, false
	}
	parsed, ok := awsid.ParsePrincipal(p.ARN)
	if !ok {
		return awsid.LaunchRole{}, false
	}
	return awsid.LaunchRoleOf(parsed)
}

// checkKeyForLaunchRole reports (and, where the guardrails allow, plans) what key k needs for the
// launching role p of role's service.
func (r *run) checkKeyForLaunchRole(ctx context.Context, it *item, k *key, p *trigger.Principal, role awsid.LaunchRole, log zerolog.Logger) {
	target := p.Account
	log = log.With().Str("principal", p.ARN).Logger()
	org := r.orgOf(ctx, target, k.Doc)
	if k.Account == target && roleAllowedByKeyPolicy(k, p.ARN, useRequests, org) && roleAllowedByKeyPolicy(k, p.ARN, grantRequests, org) {
		log.Debug().Str("decision", "allow").Msg("the key policy names the service-linked role")
		return
	}
	has, err := r.roleHasGrant(ctx, k, p.ARN)
	switch {
	case err != nil && awsapi.Transient(err):
		it.rec.Error, it.retry = err.Error(), true
		return
	case err != nil:
		it.addNote(fmt.Sprintf("grants on %s for %s were not listed: %s", k.ARN, shortPrincipal(p.ARN), clip(err.Error(), 300)))
	case has:
		log.Debug().Str("decision", "allow").Msg("a grant names the service-linked role")
		return
	}
	trusted, err := r.ownerTrusted(ctx, target) // the central account, or a trusted one
	if err != nil {
		it.rec.Error, it.retry = err.Error(), awsapi.Transient(err)
		return
	}
	r.untrustedFinding(it, k, target, trusted)
	who := fmt.Sprintf("%s (the %s service-linked role of account %s)", p.ARN, role.What, target)
	if k.Account == target {
		r.roleKeyPolicyFindings(it, k, p, role, who, trusted, org)
		return
	}
	// Another account's key: a grant, which the role's account creates.
	req := evaluate.GrantRequest(k.ARN, keypolicy.RootARN(partitionOf(k.ARN), target), p.ARN, keypolicy.LaunchGrantOperations, org)
	res := evaluate.KeyPolicy(k.Doc, req)
	if res.Decision == evaluate.ExplicitDeny {
		it.addFinding(report.Finding{Code: report.ExplicitDeny, Account: target, KeyARN: k.ARN, PrincipalARN: p.ARN,
			Message: fmt.Sprintf("a Deny in the key policy of %s keeps account %s from creating the grant %s needs: never fixed automatically", k.ARN, target, who)})
		return
	}
	if res.Decision != evaluate.Allow {
		it.addFinding(report.Finding{Code: report.KeyPolicyMissingLaunchGrant, Account: target, KeyARN: k.ARN, PrincipalARN: p.ARN, Fixable: trusted,
			Message: fmt.Sprintf("the key policy of %s does not let account %s create, itself, the grant %s needs to launch (kms:CreateGrant without kms:GrantIsForAWSResource, AWS's cross-account example): a statement naming the account for EC2's use is not enough for a service-linked role",
				k.ARN, target, who)})
		if trusted {
			r.needLaunchGrantee(k, p.ARN, it)
		}
	}
	it.addFinding(report.Finding{Code: report.SLRMissingGrant, Account: target, KeyARN: k.ARN, PrincipalARN: p.ARN, Fixable: trusted,
		Message: fmt.Sprintf("%s has no grant on %s of account %s: a service-linked role takes no identity policy, so from another account only a grant, created from account %s, lets it launch",
			who, k.ARN, k.Account, target)})
	log.Info().Str("decision", "missing-grant").Bool("trusted", trusted).Bool("key_policy_allows_grant", res.Decision == evaluate.Allow).Msg("service-linked role has no grant")
	if trusted {
		r.needGrant(k, p.ARN, target, keypolicy.LaunchGrantOperations, it)
	}
}

// roleKeyPolicyFindings: in the key's own account, the key policy must name the role itself.
func (r *run) roleKeyPolicyFindings(it *item, k *key, p *trigger.Principal, role awsid.LaunchRole, who string, trusted bool, org *evaluate.Org) {
	why := ""
	switch {
	case !trusted:
		why = "account " + p.Account + " is not trusted"
	case role.Service != awsid.AutoScalingService:
		why = "the remediator adds no role to a key policy but an Auto Scaling group's service-linked role; add it by hand"
	case it.groupRole != p.ARN:
		why = "the role was not read from the group (DescribeAutoScalingGroups): only such a role is added to a key policy"
	}
	fixable := why == ""
	tail := ""
	if !fixable {
		tail = "; not fixed automatically: " + why
	}
	if !roleAllowedByKeyPolicy(k, p.ARN, useRequests, org) {
		it.addFinding(report.Finding{Code: report.KeyPolicyMissingUse, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Fixable: fixable,
			Message: fmt.Sprintf("the key policy of %s does not name %s for the use actions: a service-linked role has no identity policy, so the account's own statement does not reach it (AWS's Example 1)%s", k.ARN, who, tail)})
	}
	if !roleAllowedByKeyPolicy(k, p.ARN, grantRequests, org) {
		it.addFinding(report.Finding{Code: report.KeyPolicyMissingGrant, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Fixable: fixable,
			Message: fmt.Sprintf("the key policy of %s does not let %s create grants for EC2 (kms:CreateGrant with kms:GrantIsForAWSResource, AWS's Example 1)%s", k.ARN, who, tail)})
	}
	if fixable {
		r.needRole(k, p.ARN, it)
	}
}

// roleAllowedByKeyPolicy: every one of EC2's requests is allowed with no identity policy at all
// (so only by a key policy statement naming the role, in the key's own account).
func roleAllowedByKeyPolicy(k *key, roleARN string, requests []string, org *evaluate.Org) bool {
	for _, a := range requests {
		res := evaluate.KMS(evaluate.KMSInput{KeyPolicy: k.Doc, KeyAccount: k.Account, IdentityKnown: true,
			Request: evaluate.EC2Request(k.ARN, roleARN, a, org)})
		if res.Decision != evaluate.Allow {
			return false
		}
	}
	return true
}

// roleHasGrant looks, in the key's grants (listed as the key's owner), for one naming the role
// with every operation EC2 needs.
func (r *run) roleHasGrant(ctx context.Context, k *key, roleARN string) (bool, error) {
	grants, err := r.inv.grants(ctx, k)
	if err != nil {
		return false, err
	}
	return identity.AllowsAll(identity.GrantsOf(k.ARN, grants), roleARN, k.ARN, keypolicy.LaunchGrantOperations), nil
}

// grants lists a key's grants in its own account, once per invocation.
func (inv *inventory) grants(ctx context.Context, k *key) ([]kmstypes.GrantListEntry, error) {
	return load(inv, inv.launch.grants, k.ARN, func() ([]kmstypes.GrantListEntry, error) {
		cl, err := inv.clients.KMS(ctx, k.Account, k.Region)
		if err != nil {
			return nil, err
		}
		var out []kmstypes.GrantListEntry
		pg := kms.NewListGrantsPaginator(cl, &kms.ListGrantsInput{KeyId: aws.String(k.ARN)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list grants of %s: %w", k.ARN, err)
			}
			out = append(out, page.Grants...)
		}
		return out, nil
	})
}

func launchGrantOperations() []kmstypes.GrantOperation {
	out := make([]kmstypes.GrantOperation, len(keypolicy.LaunchGrantOperations))
	for i, o := range keypolicy.LaunchGrantOperations {
		out[i] = kmstypes.GrantOperation(o)
	}
	return out
}

func hasOperations(have, want []kmstypes.GrantOperation) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
