package remediate

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// noteLegacyUsagePolicy reports a usage policy that an earlier version of the remediator created
// and attached to the principal: it keeps allowing the keys it names (the evaluation reads it
// like any identity policy), and it is left as it is. The remediator holds no IAM write
// permission, so it neither changes nor detaches it; the note says how to retire it.
func (c *iamRun) noteLegacyUsagePolicy(it *item, p *trigger.Principal, set *identity.Set, log zerolog.Logger) {
	for _, src := range set.Policies {
		if src.Kind != identity.SourceManaged || !usagepolicy.CreatedByRemediator(src.Description) {
			continue
		}
		detach := "aws iam detach-role-policy --role-name " + identityPrincipal(p).Name
		if a, ok := awsid.ParsePrincipal(set.ARN); ok && a.Kind == awsid.PrincipalUser {
			detach = "aws iam detach-user-policy --user-name " + identityPrincipal(p).Name
		}
		it.addNote(fmt.Sprintf("%s has %s attached, which an earlier version of ami-kms-remediator created: it still allows the keys it names and is never changed now (the remediator writes no IAM; launching principals get grants instead). To retire it, first give the principal a grant on each key it names (aws kms create-grant from account %s with EC2's operations, as the alert shows; otherwise its next launch fails until the remediator grants it, within minutes), then detach it in account %s: %s --policy-arn %s",
			shortPrincipal(p.ARN), src.Name, p.Account, p.Account, detach, src.Name))
		log.Warn().Str("policy", src.Name).Msg("usage policy of an earlier version attached: left as it is")
	}
}
