package remediate

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// The estate view: sweep tasks and key-policy changes spawn one record per image, the estate
// store knows which images use which key, and a record tells the store what it checked.

// WithStore makes the remediator keep the estate's findings in s: alerts tell only what is new,
// changed or resolved, and a key's policy change re-checks the images known to use it.
func WithStore(s *store.Store) Option { return func(r *Remediator) { r.store = s } }

// estateNote is what a record checked, for the store: where, and for which accounts.
type estateNote struct {
	scope   store.Scope // the image's owner and region (else the trigger's account and region)
	covered []store.Coverage
	uses    map[string][]store.ImageRef // key ARN -> the images this record saw use it
	sweeps  *store.Scope                // the record checked every image of this scope
}

func (d diagnosis) OwnedImages(ctx context.Context, account, region string, each func(imageID string)) error {
	return d.r.ownedImages(ctx, account, region, each)
}

func (d diagnosis) MemberStack(ctx context.Context, account, region string) (trigger.MemberStack, error) {
	return d.r.memberStack(ctx, account, region)
}

func (d diagnosis) ImagesUsingKey(ctx context.Context, keyARN string) ([]trigger.ImageRef, error) {
	if d.r.store == nil {
		return nil, nil
	}
	refs, err := d.r.store.ImagesUsing(ctx, keyARN)
	if err != nil {
		return nil, err
	}
	out := make([]trigger.ImageRef, 0, len(refs))
	for _, ref := range refs {
		out = append(out, trigger.ImageRef{Owner: ref.Owner, Region: ref.Region, ImageID: ref.ImageID})
	}
	return out, nil
}

func (d diagnosis) IsRemediator(ctx context.Context, p *trigger.Principal) (bool, error) {
	return d.r.isRemediator(ctx, p)
}

func (d diagnosis) Spawn(t trigger.Trigger) { d.r.spawn(d.it, t) }

func (d diagnosis) Sweeps(account, region string) {
	d.it.estate.sweeps = &store.Scope{Account: account, Region: region}
}

// spawn adds a record diagnosed after the current round, on behalf of parent: it carries the
// parent's message, so a retry of it hands back the parent's message.
func (r *run) spawn(parent *item, t trigger.Trigger) {
	child := newItem(parent.msgID, t)
	child.parent = parent
	r.mu.Lock()
	r.spawned = append(r.spawned, child)
	r.mu.Unlock()
}

// diagnoseSpawned diagnoses the records spawned while diagnosing, round after round, until no
// record spawns another.
func (r *run) diagnoseSpawned(ctx context.Context) {
	for {
		r.mu.Lock()
		next := r.spawned
		r.spawned = nil
		r.mu.Unlock()
		if len(next) == 0 {
			return
		}
		r.items = append(r.items, next...)
		r.diagnoseItems(ctx, next)
	}
}

// busARN is the central account's default event bus in the function's region: where member
// stacks forward their events.
func (r *run) busARN(ctx context.Context) (string, error) {
	central, err := r.clients.CentralAccount(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("arn:%s:events:%s:%s:event-bus/default", awsid.RegionPartition(r.clients.Region()), r.clients.Region(), central), nil
}

// memberStack tells what of the member stack is deployed in account and region: whether the
// member role can be assumed, and whether any rule there forwards events to the central bus
// (events:ListRuleNamesByTarget, https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListRuleNamesByTarget.html).
// The remediator's own account needs no role, and its own region no forwarding rules.
func (r *run) memberStack(ctx context.Context, account, region string) (trigger.MemberStack, error) {
	ms := trigger.MemberStack{Role: true, Rules: true}
	central, err := r.clients.CentralAccount(ctx)
	if err != nil {
		return ms, err
	}
	if account == central && region == r.clients.Region() {
		return ms, nil
	}
	bus, err := r.busARN(ctx)
	if err != nil {
		return ms, err
	}
	// The member role is assumed when the client is made or on its first call, as the factory
	// does it: its refusal is the answer either way.
	var out *eventbridge.ListRuleNamesByTargetOutput
	cl, err := r.clients.EventBridge(ctx, account, region)
	if err == nil {
		out, err = cl.ListRuleNamesByTarget(ctx, &eventbridge.ListRuleNamesByTargetInput{TargetArn: aws.String(bus), Limit: aws.Int32(1)})
	}
	switch {
	case err == nil:
		ms.Rules = len(out.RuleNames) > 0
	case account != central && awsapi.IsAssumeRoleFailure(err):
		ms.Role, ms.Rules = false, false
	case awsapi.Classify(err) == awsapi.ClassAccessDenied:
		// A member stack from before the sweep lets the role read no rules: it cannot tell.
		r.log.Warn().Str("account", account).Str("region", region).Err(err).Msg("cannot tell whether the member stack forwards events here")
	default:
		return ms, fmt.Errorf("list the rules forwarding %s/%s to %s: %w", account, region, bus, err)
	}
	return ms, nil
}

// isRemediator: the member role's own sessions (session name awsapi.SessionName), and any
// session of the role the remediator runs as in the central account.
func (r *run) isRemediator(ctx context.Context, p *trigger.Principal) (bool, error) {
	if p == nil || p.Type != trigger.PrincipalRole {
		return false, nil
	}
	session := p.SessionARN[strings.LastIndex(p.SessionARN, "/")+1:]
	if p.Name == r.cfg.MemberRoleName && session == awsapi.SessionName {
		return true, nil
	}
	self, err := r.clients.CallerARN(ctx)
	if err != nil {
		return false, err
	}
	a, ok := awsid.ParseARN(self)
	role, _, _ := strings.Cut(strings.TrimPrefix(a.Resource, "assumed-role/"), "/")
	return ok && strings.HasPrefix(a.Resource, "assumed-role/") && a.Account == p.Account && role == p.Name, nil
}

// noteChecked records, for the store, that a check of img for targets ran to its end.
func (r *run) noteChecked(it *item, img *image, c trigger.ImageCheck, targets []string) {
	scope := store.Scope{Account: img.Owner, Region: c.Region}
	it.estate.scope = scope
	cov := store.Coverage{Scope: scope, ImageID: img.ID, Accounts: append([]string(nil), targets...), AllAccounts: c.WithShares}
	if d, ok := trigger.Lookup(it.trig.Kind); ok && d.NamesPrincipal && it.trig.Principal != nil {
		cov.Principal = it.trig.Principal.ARN
	}
	it.estate.covered = append(it.estate.covered, cov)
	if it.rec.Checked == nil {
		it.rec.Checked = &report.Checked{}
	}
	for _, t := range targets {
		it.rec.Checked.Accounts = appendUnique(it.rec.Checked.Accounts, t)
	}
	for _, s := range img.Snapshots {
		if !s.Encrypted || s.KMSKeyID == "" {
			continue
		}
		if it.estate.uses == nil {
			it.estate.uses = map[string][]store.ImageRef{}
		}
		keyARN := s.KMSKeyID
		for _, k := range it.keys {
			if k.Err == nil && (k.ARN == s.KMSKeyID || strings.HasSuffix(k.ARN, "/"+s.KMSKeyID)) {
				keyARN = k.ARN
			}
		}
		it.estate.uses[keyARN] = append(it.estate.uses[keyARN], store.ImageRef{Owner: img.Owner, Region: c.Region, ImageID: img.ID})
		it.rec.Checked.Keys = appendUnique(it.rec.Checked.Keys, keyARN)
	}
}
