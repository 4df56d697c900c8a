package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// The identity side is fixed with a grant, never with IAM: a KMS grant on the key names the
// launching user or role with EC2's operations (keypolicy.LaunchGrantOperations, those of AWS's
// Auto Scaling example), created from the principal's own account through its member role
// (the kms-grant action, grant.go), after the key policy lets that account create grants for its
// own principals (AllowEC2LaunchGrants). A grant alone authorizes a principal of another account:
// no identity policy has to allow what it grants (identity package). It is made only when:
//   - the principal's launch is confirmed by its account's own CloudTrail: the RunInstances record
//     the remediator read itself (instance-terminated), or the record the event claims to be,
//     found by its eventID with LookupEvents in that account (launch-failed); never on an event's
//     word alone, and never for a principal an operator names (amikms check);
//   - the principal exists (gathering its policies read it from IAM) and is no Identity Center
//     role, no service-linked role (those are the key side's: launchrole.go), not the remediator's
//     own member role, and its permissions boundary allows the key;
//   - the key is in another account than the principal's (in its own account the key policy, or
//     an identity policy, is the fix), the principal's account is not the central one (the
//     function's role holds no kms:CreateGrant), and the key has opted in to the write scope: the
//     member role may create grants only on keys tagged ami-kms-remediator=managed, under the same
//     scope as key-policy writes.

// whyNoGrant returns the obstacle to a grant for p on k (kind fixableNow when there is none). What
// could not be read is a missing part of the record (report.PartIdentityGrant): settle decides
// whether a redelivery tries again.
func (c *iamRun) whyNoGrant(ctx context.Context, it *item, p *trigger.Principal, k *key) obstacle {
	central, err := c.clients.CentralAccount(ctx)
	switch {
	case err != nil:
		it.missingPart(report.PartIdentityGrant, fmt.Errorf("tell the central account: %w", err))
		return obstacle{centralPrincipal, "the central account could not be told: " + clip(err.Error(), 200)}
	case p.Account == k.Account:
		return obstacle{sameAccountKey, "the key is in the principal's own account, where no grant is made: give it an identity policy, or name it in the key policy (by hand)"}
	case p.Account == central:
		return obstacle{centralPrincipal, "the principal is of the central account, whose function role creates no grants: give it an identity policy (by hand)"}
	}
	own, err := c.ownershipOf(ctx, k)
	switch {
	case err != nil:
		it.missingPart(report.PartIdentityGrant, err)
		return obstacle{keyNotOptedIn, "whether the key has opted in to the write scope could not be read: " + clip(err.Error(), 200)}
	case c.cfg.TaggedKeysOnly() && own.tagsErr != nil:
		return obstacle{keyNotOptedIn, "whether the key has opted in to the write scope is not known: " + clip(own.tagsErr.Error(), 200)}
	case c.cfg.TaggedKeysOnly() && !own.optedIn:
		return obstacle{keyNotOptedIn, fmt.Sprintf("the key has not opted in to the remediator's write scope, which governs its grants too: tag it %s=%s (aws kms tag-resource --key-id %s --tags TagKey=%s,TagValue=%s --region %s)",
			config.OptInTagKey, config.OptInTagValue, k.ARN, config.OptInTagKey, config.OptInTagValue, k.Region)}
	}
	if err := c.launchConfirmed(ctx, it, p); err != nil {
		return obstacle{launchUnconfirmed, clip(err.Error(), 300)}
	}
	return obstacle{}
}

// planIdentityGrant records the grant k needs for the principal (the ARN IAM reports for it, with
// its path: the principal the grant names), and, when the key policy does not let the principal's
// account create it yet, the AllowEC2LaunchGrants statement the key-policy stage adds for it.
func (c *iamRun) planIdentityGrant(ctx context.Context, it *item, set *identity.Set, k *key, log zerolog.Logger) {
	p := it.trig.Principal
	grantee := set.ARN
	if grantee == "" {
		grantee = p.ARN
	}
	org := c.orgOf(ctx, p.Account, k.Doc)
	req := evaluate.GrantRequest(k.ARN, keypolicy.RootARN(partitionOf(k.ARN), p.Account), grantee, keypolicy.LaunchGrantOperations, org)
	switch evaluate.KeyPolicy(k.Doc, req).Decision {
	case evaluate.ExplicitDeny:
		it.addFinding(report.Finding{Code: report.ExplicitDeny, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN,
			Message: fmt.Sprintf("a Deny in the key policy of %s keeps account %s from creating the grant %s needs: never fixed automatically", k.ARN, p.Account, shortPrincipal(grantee))})
		return
	case evaluate.Allow:
	default:
		c.needLaunchGrantee(k, grantee, it)
	}
	c.needGrant(k, grantee, p.Account, keypolicy.LaunchGrantOperations, it)
	log.Info().Str("decision", "grant").Str("grantee", grantee).Msg("the identity side gets a grant")
}

// launchConfirmed returns nil when p's launch is confirmed by the account's own CloudTrail, and
// otherwise why not. A lookup that failed, or a record CloudTrail does not show yet (it is
// searchable only minutes after the call), is a missing part: a redelivery looks again.
func (c *iamRun) launchConfirmed(ctx context.Context, it *item, p *trigger.Principal) error {
	if it.trailLauncher != "" {
		if awsid.SamePrincipal(it.trailLauncher, p.ARN) {
			return nil
		}
		return errors.New("the account's CloudTrail shows another principal launching")
	}
	if it.trig.EventName != "RunInstances" || it.trig.CloudTrailEventID == "" {
		return errors.New("who launches was named, not read from the account's CloudTrail RunInstances record: no grant is made on a name alone")
	}
	if it.launchLookup == nil {
		it.launchLookup = &launchLookup{}
		found, err := c.lookUpLaunch(ctx, it, p)
		switch {
		case err != nil:
			it.launchLookup.err = err
		case !found:
			it.launchLookup.err = fmt.Errorf("%w: record %s by %s", errNotInTrailYet, clip(it.trig.CloudTrailEventID, 64), shortPrincipal(p.ARN))
		}
		if it.launchLookup.err != nil {
			it.missingPart(report.PartIdentityGrant, it.launchLookup.err)
		}
	}
	return it.launchLookup.err
}

// launchLookup is what CloudTrail said of a record's RunInstances: nil when it shows the launch.
type launchLookup struct {
	err error
}

// lookUpLaunch finds the trigger's RunInstances record by its eventID in the account and region
// it names, and checks that the record is a RunInstances call by p, in p's account.
func (c *iamRun) lookUpLaunch(ctx context.Context, it *item, p *trigger.Principal) (bool, error) {
	cl, err := c.clients.CloudTrail(ctx, p.Account, it.trig.Region)
	if err != nil {
		return false, err
	}
	out, err := cl.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventId, AttributeValue: aws.String(it.trig.CloudTrailEventID)}},
		MaxResults:       aws.Int32(1),
	})
	if err != nil {
		return false, fmt.Errorf("look up RunInstances record %s in %s/%s: %w", clip(it.trig.CloudTrailEventID, 64), p.Account, it.trig.Region, err)
	}
	for _, e := range out.Events {
		var rec struct {
			EventName    string          `json:"eventName"`
			EventID      string          `json:"eventID"`
			UserIdentity json.RawMessage `json:"userIdentity"`
		}
		if aws.ToString(e.EventName) != "RunInstances" || json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec) != nil ||
			rec.EventName != "RunInstances" || rec.EventID != it.trig.CloudTrailEventID {
			continue
		}
		who, err := trigger.ResolvePrincipal(rec.UserIdentity)
		if err == nil && who != nil && who.Account == p.Account && awsid.SamePrincipal(who.ARN, p.ARN) {
			return true, nil
		}
	}
	return false, nil
}
