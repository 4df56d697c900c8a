package remediate

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The kms-grant action: a grant on a key of one account for a principal of another, created from
// the grantee's account through its member role, as AWS's cross-account procedure requires ("you
// must create AWS KMS grants from the account that owns the Auto Scaling group, not the AWS KMS
// account"), then verified with ListGrants in the key's own account. Any need (a principal, the
// account that creates the grant, the operations) can use it; the key policy must let that
// account create the grant (keypolicy.EnsureLaunchGrantsForKey writes that part, in the key-policy
// stage that runs first).
//
//   - The grant's Name is fixed for its grantee and operations (keypolicy.GrantName): KMS recognises a
//     CreateGrant identical to an existing grant, name included, as a retry and creates nothing,
//     so a redelivered event or a retried call never makes a second grant.
//   - A grant reaches eventual consistency within about five minutes: ListGrants may not list it
//     at once, and EC2 may not honour it yet. Neither fails the action; the reason says so.
//   - Undo: aws kms revoke-grant in the key's account (or retire-grant); the alert gives both.
//
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
// https://docs.aws.amazon.com/kms/latest/developerguide/create-grant-overview.html
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html

// grantNeed is one grant the batch needs.
type grantNeed struct {
	key        *key
	grantee    string   // the principal ARN the grant is for
	account    string   // the account that creates it: the grantee's
	operations []string // KMS grant operations
	items      []*item
}

// needGrant records that k needs a grant for grantee, created from account.
func (r *run) needGrant(k *key, grantee, account string, operations []string, it *item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := k.ARN + " " + grantee
	n, ok := r.grantNeeds[id]
	if !ok {
		n = &grantNeed{key: k, grantee: grantee, account: account, operations: operations}
		r.grantNeeds[id] = n
	}
	if !slices.Contains(n.items, it) {
		n.items = append(n.items, it)
	}
}

// applyGrants makes one kms-grant action per need, after the key-policy actions (keyActs).
func (r *run) applyGrants(ctx context.Context, keyActs []report.Action) []report.Action {
	ids := make([]string, 0, len(r.grantNeeds))
	for id := range r.grantNeeds {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	byKey := map[string]report.Action{}
	for _, a := range keyActs {
		if a.Type == report.ActionKeyPolicy {
			byKey[a.Target] = a
		}
	}
	var out []report.Action
	for _, id := range ids {
		n := r.grantNeeds[id]
		act := r.applyGrantSafely(ctx, n, byKey[n.key.ARN])
		r.log.Info().Str("key", n.key.ARN).Str("principal", n.grantee).Str("status", act.Status).Stringer("cause", act.Cause).
			Str("reason", act.Reason).Str("grant_id", act.GrantID).Str("action", act.Type).Msg("kms grant action")
		if act.Retry() {
			for _, it := range n.items {
				it.retry = true
			}
		}
		out = append(out, act)
	}
	return out
}

func (r *run) applyGrantSafely(ctx context.Context, n *grantNeed, keyAct report.Action) (act report.Action) {
	defer func() {
		if p := recover(); p != nil {
			act = report.Action{Type: report.ActionKMSGrant, Target: n.key.ARN, Accounts: []string{n.account}, Principal: n.grantee,
				Status: report.StatusFailed, Cause: report.CauseInternal, Reason: fmt.Sprintf("transient: internal error: %v", p)}
			r.log.Error().Str("key", n.key.ARN).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("kms grant action panicked")
		}
	}()
	return r.applyGrant(ctx, n, keyAct)
}

// reasonOtherGrantWriter is what people read when another delivery in this process created the
// grant a moment ago (that delivery tells about it).
const reasonOtherGrantWriter = "another delivery created this grant a moment ago"

// errGrantNotAllowedYet: the key policy this invocation just wrote may not be in effect yet.
var errGrantNotAllowedYet = errors.New("the key policy written a moment ago does not let the account create the grant yet: handed back for retry")

func (r *run) applyGrant(ctx context.Context, n *grantNeed, keyAct report.Action) report.Action {
	k := n.key
	name := keypolicy.GrantName(n.grantee, n.operations)
	act := report.Action{Type: report.ActionKMSGrant, Target: k.ARN, Accounts: []string{n.account}, Principal: n.grantee}
	p, ok := awsid.ParsePrincipal(n.grantee)
	switch {
	case !ok || p.Service != "iam" || p.Account != n.account || p.Check() != nil:
		return ended(act, refuse(fmt.Errorf("%q is not an IAM principal of account %s", n.grantee, n.account)))
	case n.account == k.Account:
		return ended(act, refuse(fmt.Errorf("%s is in the key's own account: it needs the key policy, not a grant", n.grantee)))
	}
	trusted, err := r.trusted(ctx, n.account)
	if err != nil {
		return ended(act, err)
	}
	if !trusted { // defence in depth: needs are made for trusted accounts only
		return ended(act, refuse(fmt.Errorf("account %s is not trusted", n.account)))
	}
	// The write scope governs grants as it does key-policy writes: under tagged-keys only an
	// opted-in key gets one (the member role's kms:CreateGrant has the same tag condition).
	optedIn := false
	if r.cfg.TaggedKeysOnly() {
		own, err := r.ownershipOf(ctx, k)
		switch {
		case err != nil:
			return ended(act, err)
		case own.tagsErr != nil:
			return ended(act, refuseFor(report.CauseNotInWriteScope, fmt.Errorf("whether %s has opted in to the write scope is not known: %w", k.ARN, own.tagsErr)))
		case !own.optedIn:
			return ended(act, refuseFor(report.CauseNotInWriteScope, fmt.Errorf("%s has not opted in to the write scope (KEY_WRITE_SCOPE=tagged-keys), which governs grants too: tag it %s=%s (aws kms tag-resource --key-id %s --tags TagKey=%s,TagValue=%s --region %s)",
				k.ARN, config.OptInTagKey, config.OptInTagValue, k.ARN, config.OptInTagKey, config.OptInTagValue, k.Region)))
		}
		optedIn = true
	}
	// The key policy as this invocation leaves it: as read, or as its key-policy action makes it.
	// When another invocation of this process wrote it in between (unchanged, another writer),
	// as that write left it.
	doc, written := k.Doc, false
	switch {
	case keyAct.Document != "" && (keyAct.Status == report.StatusApplied || keyAct.Status == report.StatusPlanned):
		if d, err := policy.Parse([]byte(keyAct.Document)); err == nil {
			doc, written = d, keyAct.Status == report.StatusApplied
		}
	case keyAct.Cause == report.CauseOtherWriter:
		written = true // by the other writer, a moment ago: the policy read before is stale
		if raw, ok := r.coord.keyPolicy(k.ARN); ok {
			if d, err := policy.Parse(raw); err == nil {
				doc = d
			}
		}
	}
	req := evaluate.GrantRequest(k.ARN, keypolicy.RootARN(partitionOf(k.ARN), n.account), n.grantee, n.operations, r.orgOf(ctx, n.account, doc))
	allowed := evaluate.KeyPolicyDecision(doc, req) == evaluate.Allow
	what := fmt.Sprintf("grant %s on %s for %s (%s), created from account %s", name, k.ARN, n.grantee, strings.Join(n.operations, ", "), n.account)
	if r.cfg.Mode != config.ModeFix {
		act.Status, act.Reason = report.StatusPlanned, "MODE=alert: would create "+what
		if !allowed {
			act.Reason += ", once the key policy lets the account create it"
		}
		return act
	}
	switch {
	case !allowed && keyAct.Cause == report.CauseOtherWriter:
		// Another writer changed the policy after this invocation read it: a redelivery reads it again.
		return ended(act, fmt.Errorf("the key policy of %s, as last read, does not let account %s create the grant, and another writer changed it since: %w", k.ARN, n.account, errGrantNotAllowedYet))
	case !allowed:
		return ended(act, refuse(fmt.Errorf("the key policy of %s does not let account %s create the grant (its key-policy action: %s)", k.ARN, n.account, orNone(keyAct.Status))))
	}
	if r.deadlineNear(ctx) {
		return ended(act, errDeadline)
	}
	// One grant at a time: a delivery of the same event that created it a moment ago tells.
	memo := k.ARN + " " + n.grantee + " " + name
	defer r.coord.lockGrant(memo)()
	if id, ok := r.coord.grant(memo, r.now()); ok {
		act.Status, act.Cause, act.GrantID, act.Reason = report.StatusUnchanged, report.CauseOtherWriter, id, reasonOtherGrantWriter
		return act
	}
	cl, err := r.clients.KMS(ctx, n.account, k.Region)
	if err != nil {
		return ended(act, err)
	}
	ops := make([]kmstypes.GrantOperation, len(n.operations))
	for i, o := range n.operations {
		ops[i] = kmstypes.GrantOperation(o)
	}
	out, err := cl.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(k.ARN), GranteePrincipal: aws.String(n.grantee), Operations: ops, Name: aws.String(name)})
	if err != nil {
		switch {
		case written && awsapi.IsAccessDenied(err):
			return ended(act, fmt.Errorf("create %s: %v: %w", what, err, errGrantNotAllowedYet))
		case optedIn && awsapi.IsAccessDenied(err):
			return ended(act, fmt.Errorf("create %s: %w (%v)", what, errOptInNotInEffect, err))
		}
		return ended(act, fmt.Errorf("create %s: %w", what, err))
	}
	act.GrantID = aws.ToString(out.GrantId)
	act.Status = report.StatusApplied
	r.coord.setGrant(memo, act.GrantID, r.now())
	listed, err := r.grantListed(ctx, k, act.GrantID, n.grantee)
	switch {
	case err != nil:
		act.Reason = fmt.Sprintf("created %s (grant %s); not verified: %s", what, act.GrantID, clip(err.Error(), 200))
	case listed:
		act.Reason = fmt.Sprintf("created %s (grant %s), verified with ListGrants in account %s; it takes effect within about five minutes", what, act.GrantID, k.Account)
	default:
		act.Reason = fmt.Sprintf("created %s (grant %s), not listed yet by ListGrants in account %s: a grant takes up to about five minutes to take effect, and launches may keep failing until then", what, act.GrantID, k.Account)
	}
	return act
}

// grantListed reports whether ListGrants, called in the key's own account, lists the grant for
// grantee.
func (r *run) grantListed(ctx context.Context, k *key, grantID, grantee string) (bool, error) {
	cl, err := r.clients.KMS(ctx, k.Account, k.Region)
	if err != nil {
		return false, err
	}
	out, err := cl.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(k.ARN), GrantId: aws.String(grantID)})
	if err != nil {
		return false, fmt.Errorf("list grants of %s: %w", k.ARN, err)
	}
	for _, g := range out.Grants {
		if aws.ToString(g.GrantId) == grantID && aws.ToString(g.GranteePrincipal) == grantee {
			return true, nil
		}
	}
	return false, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
