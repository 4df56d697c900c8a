package remediate

import (
	"context"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// grantsCover reads k's grants (in the key's account, once per invocation) when
// its identity policies lack something, and takes out of g what a grant allows: a grant naming
// the principal satisfies the identity side for its operations (identity package). It reports
// whether nothing is missing any more. Grants that cannot be read leave g as it is, with a note;
// the identity side is then a missing part of the record (settle decides about a retry).
func (c *iamRun) grantsCover(ctx context.Context, it *item, set *identity.Set, k *key, g *identityGap, log zerolog.Logger) bool {
	grantee := set.ARN // as IAM reports it, with its path: the principal a grant names
	if grantee == "" {
		return false
	}
	entries, err := c.inv.grants(ctx, k)
	if err != nil {
		it.missingPart(report.PartIdentity, fmt.Errorf("list the grants on %s: %w", k.ARN, err))
		it.addNote(fmt.Sprintf("grants on %s for %s were not read, so only its identity policies were evaluated: %s", k.ARN, shortPrincipal(grantee), clip(err.Error(), 300)))
		log.Warn().Err(err).Msg("list grants of the key")
		return false
	}
	grants := identity.GrantsOf(k.ARN, entries)
	covered := func(action string) bool {
		_, ok := identity.GrantFor(grants, grantee, k.ARN, action)
		return ok
	}
	g.use = slices.DeleteFunc(g.use, covered)
	g.boundary = slices.DeleteFunc(g.boundary, covered)
	if g.grant && covered("kms:CreateGrant") {
		g.grant = false
	}
	if g.missing() {
		return false
	}
	log.Debug().Str("decision", "allow").Msg("a grant naming the principal allows what its identity policies do not")
	return true
}
