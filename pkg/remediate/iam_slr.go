package remediate

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// checkServiceLinkedRole: a service-linked role cannot take identity policies and is never
// changed. A launching service's role (Auto Scaling, EC2 Fleet, Spot) is the key side's: its
// findings and fixes are made there (launchrole.go). Any other service-linked role can use a key
// when the key policy names the role itself (same account only) or when a grant names it; what
// it lacks is reported with the fix, never made.
func (c *iamRun) checkServiceLinkedRole(ctx context.Context, it *item, p *trigger.Principal, keys []*key, log zerolog.Logger) {
	if _, ok := launchRole(p, p.Account); ok {
		log.Debug().Str("decision", "key-side").Msg("a launching service-linked role: the key side checks it")
		return
	}
	for _, k := range keys {
		klog := log.With().Str("key", k.ARN).Logger()
		org := c.orgOf(ctx, p.Account, k.Doc)
		if roleAllowedByKeyPolicy(k, p.ARN, useRequests, org) && roleAllowedByKeyPolicy(k, p.ARN, grantRequests, org) {
			klog.Debug().Str("decision", "allow").Msg("key policy names the service-linked role")
			continue
		}
		has, err := c.roleHasGrant(ctx, k, p.ARN)
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
				k.ARN, p.Account, p.Account, k.ARN, p.ARN, strings.Join(keypolicy.LaunchGrantOperations, " "))
		}
		msg := fmt.Sprintf("%s is a service-linked role: it cannot take identity policies and the remediator never changes it; %s", shortPrincipal(p.ARN), fix)
		it.addFinding(report.Finding{Code: report.IAMMissingUse, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Message: msg})
		it.addFinding(report.Finding{Code: report.IAMMissingGrant, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Message: msg})
		klog.Info().Str("decision", "missing").Bool("same_account", p.Account == k.Account).Msg("service-linked role cannot use the key: fix is on the key side")
	}
}
