package remediate

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// The IAM half. A key policy that names an account only delegates: the user or role in that
// account still needs an identity policy allowing the key, or a grant. For every record that
// names a principal, the principal's identity policies are gathered in its account (once per
// invocation) and evaluated for each key the record depends on, with the grants that name it;
// what is missing becomes iam-missing-use / iam-missing-grant findings. The remediator writes no
// IAM: where the guardrails allow, what is missing becomes a kms-grant (grant.go) for the
// principal, with EC2's operations on exactly that key, created from the principal's own account
// through its member role; a grant alone authorizes a principal of another account than the
// key's (identity package). This stage runs before the key policies are planned, since the key
// policy must let the principal's account create that grant.

// iamRun is the IAM side of one invocation.
type iamRun struct {
	*run
	gather *identity.Gatherer
}

// checkIdentities checks the launching principals' identity policies and grants, and plans the
// grants that would give them what they lack.
func (r *run) checkIdentities(ctx context.Context) {
	c := &iamRun{run: r, gather: identity.New()}
	for _, it := range r.items {
		c.checkItem(ctx, it)
	}
}

// checkItem runs the IAM check for one record.
func (c *iamRun) checkItem(ctx context.Context, it *item) {
	if it.rec.Error != "" || it.trig.Kind == trigger.Ignored || it.rec.IgnoredReason != "" {
		return
	}
	keys := iamKeys(it.keys)
	if len(keys) == 0 {
		return
	}
	p := it.trig.Principal
	switch kind, _ := trigger.Lookup(it.trig.Kind); {
	case kind == nil || !kind.NamesPrincipal:
		// Whoever shared or copied the image is not who will launch it: no launching principal
		// is known yet. The failed launch (or `amikms check --principal`) checks it.
		it.addNote("no launching principal is known yet: identity policies are checked when a launch fails, or with amikms check --principal")
		return
	case p == nil:
		it.addNote("no principal is named (the event has none, or check ran without --principal): identity policies were not checked")
		return
	}
	log := c.log.With().Str("event_id", clip(it.rec.EventID, 256)).Str("image", clip(it.rec.ImageID, 256)).Str("principal", p.ARN).
		Str("account", p.Account).Logger()
	switch p.Type {
	case trigger.PrincipalRoot:
		log.Debug().Str("decision", "root").Msg("the account root user is not governed by identity policies")
	case trigger.PrincipalServiceLinkedRole:
		c.checkServiceLinkedRole(ctx, it, p, keys, log)
	case trigger.PrincipalUser, trigger.PrincipalRole:
		c.checkIdentity(ctx, it, p, keys, log)
	default:
		it.addNote(fmt.Sprintf("principal %s is not an IAM user or role: its identity policies were not checked", clip(p.ARN, 256)))
	}
}

// iamKeys returns the keys whose IAM side can matter: readable, enabled, customer managed (the
// others already have their own findings), each once.
func iamKeys(ks []*key) []*key {
	seen := map[string]bool{}
	var out []*key
	for _, k := range ks {
		if k == nil || k.Err != nil || k.Doc == nil || k.Manager == kmstypes.KeyManagerTypeAws || k.State != kmstypes.KeyStateEnabled || seen[k.ARN] {
			continue
		}
		seen[k.ARN] = true
		out = append(out, k)
	}
	return out
}

// identityPrincipal maps a trigger principal to what pkg/identity gathers.
func identityPrincipal(p *trigger.Principal) identity.Principal {
	kind := identity.Role
	if p.Type == trigger.PrincipalUser {
		kind = identity.User
	}
	name := p.Name
	if name == "" {
		name = p.ARN[strings.LastIndex(p.ARN, "/")+1:]
	}
	return identity.Principal{Account: p.Account, Kind: kind, Name: name}
}

func (c *iamRun) checkIdentity(ctx context.Context, it *item, p *trigger.Principal, keys []*key, log zerolog.Logger) {
	set, err := c.gatherSet(ctx, p)
	if err != nil {
		c.gatherFailed(it, p, err, log)
		return
	}
	for _, u := range set.Unparsed() {
		it.addNote(fmt.Sprintf("%s: %s could not be parsed and was not evaluated", shortPrincipal(p.ARN), clip(u, 300)))
	}
	c.noteLegacyUsagePolicy(it, p, set, log)
	for _, k := range keys {
		g := evaluateIdentity(set, k, p.ARN, c.orgOf(ctx, p.Account, append(set.Documents(), k.Doc, set.BoundaryDocument())...))
		klog := log.With().Str("key", k.ARN).Logger()
		klog.Debug().Strs("not_evaluated", g.notEvaluated).Msg("identity side evaluated")
		if g.keyDenies {
			klog.Debug().Str("decision", "key-policy-denies").Msg("a Deny in the key policy: no identity policy can help")
			continue
		}
		if len(g.denies) > 0 {
			it.addFinding(report.Finding{Code: report.ExplicitDeny, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN,
				Message: fmt.Sprintf("a Deny in the identity policies or permissions boundary of %s blocks this key: never fixed automatically (%s)",
					shortPrincipal(p.ARN), clip(strings.Join(g.denies, "; "), 600))})
			klog.Info().Str("decision", "explicit-deny").Msg("identity side denies")
			continue
		}
		if !g.missing() {
			klog.Debug().Str("decision", "allow").Msg("identity policies allow the key")
			continue
		}
		if c.grantsCover(ctx, it, set, k, &g, klog) {
			continue
		}
		// Trust is only asked when there is something to fix (it may cost an Organizations call).
		trusted, err := c.trusted(ctx, p.Account)
		if err != nil {
			it.addNote(fmt.Sprintf("trust of account %s not confirmed: %s", p.Account, clip(err.Error(), 200)))
			it.retry = it.retry || awsapi.Transient(err)
			c.addIAMFindings(it, p, k, set, g, false, "the trust of account "+p.Account+" could not be confirmed")
			continue
		}
		ob := c.whyNotFixable(ctx, it, p, k, trusted, set, g)
		fixable := ob.kind == fixableNow
		c.addIAMFindings(it, p, k, set, g, fixable, ob.why)
		klog.Info().Str("decision", "missing").Strs("missing_use", g.use).Bool("missing_grant", g.grant).
			Bool("boundary_blocks", len(g.boundary) > 0).Bool("fixable", fixable).Str("not_fixable_because", ob.why).Msg("identity policy gap")
		if fixable {
			c.planIdentityGrant(ctx, it, set, k, klog)
		}
	}
}

func (c *iamRun) gatherSet(ctx context.Context, p *trigger.Principal) (*identity.Set, error) {
	cl, err := c.clients.IAM(ctx, p.Account)
	if err != nil {
		return nil, err
	}
	return c.gather.Gather(ctx, cl, identityPrincipal(p))
}

// gatherFailed notes why the identity side could not be checked; transient failures hand the
// record back for retry.
func (c *iamRun) gatherFailed(it *item, p *trigger.Principal, err error, log zerolog.Logger) {
	switch {
	case errors.Is(err, identity.ErrPrincipalNotFound):
		it.addNote(fmt.Sprintf("%s does not exist in account %s (any more): its identity policies were not checked", shortPrincipal(p.ARN), p.Account))
	case awsapi.Transient(err):
		it.missingPart(report.PartIdentity, err)
		it.addNote(fmt.Sprintf("identity policies of %s could not be read (transient, handed back for retry): %s", shortPrincipal(p.ARN), clip(err.Error(), 300)))
	default:
		it.missingPart(report.PartIdentity, err)
		it.addNote(fmt.Sprintf("identity policies of %s could not be read (is %s deployed in %s with the IAM read permissions?): %s",
			shortPrincipal(p.ARN), c.cfg.MemberRoleName, p.Account, clip(err.Error(), 300)))
	}
	log.Warn().Err(err).Bool("retry", it.retry || awsapi.Transient(err)).Msg("identity policies not read")
}

// obstacle is what keeps the remediator from fixing a principal's identity side for one key: a
// kind for the decisions, a sentence for people.
type obstacle struct {
	kind obstacleKind
	why  string
}

type obstacleKind uint8

const (
	fixableNow obstacleKind = iota
	untrustedAccount
	otherAccount
	ownMemberRole
	identityCenterRole
	blockedByBoundary
	keyOwnerUnconfirmed
	keyOwnerUntrusted
	sameAccountKey
	centralPrincipal
	keyNotOptedIn
	launchUnconfirmed
)

// whyNotFixable returns the obstacle (kind fixableNow when there is none) to fixing the
// principal's identity side for k.
func (c *iamRun) whyNotFixable(ctx context.Context, it *item, p *trigger.Principal, k *key, trusted bool, set *identity.Set, g identityGap) obstacle {
	switch {
	case !trusted:
		if !it.untrusted[p.Account] {
			it.untrusted[p.Account] = true
			it.addFinding(report.Finding{Code: report.UntrustedAccount, Account: p.Account, KeyARN: k.ARN,
				Message: fmt.Sprintf("account %s is not in TRUSTED_ACCOUNT_IDS or the trusted organization: its IAM is not changed", p.Account)})
		}
		return obstacle{untrustedAccount, "account " + p.Account + " is not trusted"}
	case p.Account != it.trig.Account:
		return obstacle{otherAccount, fmt.Sprintf("the principal's account %s is not the event's account %s", p.Account, it.trig.Account)}
	case p.Type == trigger.PrincipalRole && strings.EqualFold(identityPrincipal(p).Name, c.cfg.MemberRoleName):
		return obstacle{ownMemberRole, "the principal is the remediator's own member role"}
	case isIdentityCenterRole(p):
		return obstacle{identityCenterRole, identityCenterWhy(p)}
	case g.boundaryBlocks():
		return obstacle{blockedByBoundary, whyBoundary(set)}
	}
	ok, err := c.ownerTrusted(ctx, k.Account)
	if err != nil {
		it.retry = it.retry || awsapi.Transient(err)
		return obstacle{keyOwnerUnconfirmed, "the trust of the key's account " + k.Account + " could not be confirmed"}
	}
	if !ok {
		return obstacle{keyOwnerUntrusted, "the key belongs to account " + k.Account + ", which is not trusted"}
	}
	return c.whyNoGrant(ctx, it, p, k)
}

func whyBoundary(set *identity.Set) string {
	name := "(unreadable)"
	if set.Boundary != nil {
		name = set.Boundary.Name
	}
	return "the permissions boundary " + name + " does not allow the key: neither a grant nor an identity policy is made for the principal while it would not be enough; the boundary must change first (never done automatically)"
}

// addIAMFindings words the findings so that what matters survives the alert's 256-character
// cut: the principal and what it lacks first (the key is the finding's key_arn), then why it is
// not fixed, then what was not evaluated.
func (c *iamRun) addIAMFindings(it *item, p *trigger.Principal, k *key, set *identity.Set, g identityGap, fixable bool, why string) {
	who := shortPrincipal(p.ARN)
	checked := fmt.Sprintf("checked %s; SCPs, RCPs and session policies not evaluated", set.Counts())
	var tail string
	switch {
	case g.boundaryBlocks():
		tail = fmt.Sprintf(": its permissions boundary %s does not allow them, so a grant or %s alone may NOT fix this; the boundary must allow them too (never changed automatically)",
			boundaryName(set), c.cfg.IAMPolicyName)
	case fixable:
		tail = "; the fix is a grant on the key for the principal, with EC2's operations"
	case !fixable:
		tail = "; not fixed automatically: " + why
	}
	if len(g.use) > 0 {
		it.addFinding(report.Finding{Code: report.IAMMissingUse, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Fixable: fixable,
			Message: fmt.Sprintf("no identity policy of %s, nor a grant naming it, allows %s on this key%s (%s)", who, useSummary(g.use), tail, checked)})
	}
	if g.grant {
		it.addFinding(report.Finding{Code: report.IAMMissingGrant, Account: p.Account, KeyARN: k.ARN, PrincipalARN: p.ARN, Fixable: fixable,
			Message: fmt.Sprintf("no identity policy of %s, nor a grant naming it, allows kms:CreateGrant for AWS resources on this key%s (%s)", who, tail, checked)})
	}
}

// useSummary names the missing use requests; all of them read as the policy's wildcard form.
func useSummary(missing []string) string {
	if len(missing) == len(useRequests) {
		return strings.Join(keypolicy.UseActions, ", ")
	}
	return strings.Join(missing, ", ")
}

func boundaryName(set *identity.Set) string {
	if set.Boundary == nil {
		return ""
	}
	return set.Boundary.Name
}

// identityGap is what the identity side (identity policies and boundary) lacks for one key.
type identityGap struct {
	use          []string // use requests not allowed where the identity side is needed
	grant        bool     // kms:CreateGrant (for AWS resources) not allowed
	denies       []string // explicit denies (identity policies or boundary)
	boundary     []string // requests the permissions boundary does not allow
	boundaryBad  bool     // a boundary is set but could not be parsed: it may block anything
	keyDenies    bool     // the key policy denies: its own finding says so, IAM cannot help
	reasons      []string
	notEvaluated []string
}

func (g identityGap) missing() bool { return len(g.use) > 0 || g.grant }
func (g identityGap) boundaryBlocks() bool {
	return len(g.boundary) > 0 || (g.boundaryBad && g.missing())
}

// evaluateIdentity evaluates the identity side of EC2's requests on k for the principal: the
// policy engine's KMS rules decide whether the identity side is needed at all (in the key's own
// account a key policy naming the principal itself is enough).
func evaluateIdentity(set *identity.Set, k *key, principalARN string, org *evaluate.Org) identityGap {
	var g identityGap
	docs, boundary := set.Documents(), set.BoundaryDocument()
	g.boundaryBad = set.Boundary != nil && boundary == nil
	for _, a := range append(append([]string{}, useRequests...), grantRequests...) {
		grant := a == "kms:CreateGrant"
		req := evaluate.EC2Request(k.ARN, principalARN, a, org)
		res := evaluate.KMS(evaluate.KMSInput{KeyPolicy: k.Doc, KeyAccount: k.Account, IdentityPolicies: docs, IdentityKnown: true,
			Boundary: boundary, Request: req})
		for _, ne := range res.NotEvaluated {
			g.notEvaluated = appendUnique(g.notEvaluated, ne)
		}
		if res.KeyPolicy.Decision == evaluate.ExplicitDeny {
			g.keyDenies = true
		}
		if res.Identity == nil {
			continue
		}
		if res.Identity.Decision == evaluate.ExplicitDeny {
			for _, r := range res.Identity.Reasons {
				if strings.Contains(r, " denies ") {
					g.denies = appendUnique(g.denies, r)
				}
			}
			if len(g.denies) == 0 {
				g.denies = append(g.denies, "explicit deny of "+a)
			}
			continue
		}
		if !contains(res.Missing, evaluate.SideIdentity) {
			continue
		}
		if grant {
			g.grant = true
		} else {
			g.use = append(g.use, a)
		}
		if boundary != nil && evaluate.Policy(boundary, req).Decision != evaluate.Allow {
			g.boundary = append(g.boundary, a)
		}
		for _, r := range res.Identity.Reasons {
			g.reasons = appendUnique(g.reasons, r)
		}
	}
	return g
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// shortPrincipal is "role/app-deployer" for an IAM ARN, the ARN otherwise.
func shortPrincipal(a string) string {
	if x, ok := awsid.ParseARN(a); ok && x.Service == "iam" {
		return clip(x.Resource, 200)
	}
	return clip(a, 256)
}

func (it *item) addNote(n string) {
	for _, x := range it.rec.Notes {
		if x == n {
			return
		}
	}
	it.rec.Notes = append(it.rec.Notes, n)
}

// isIdentityCenterRole: a role IAM Identity Center made for a permission set. Identity Center
// manages it: a policy attached in IAM is undone when the permission set is provisioned again,
// and the role is replaced (with a new suffix) when the set is assigned anew.
// https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html
func isIdentityCenterRole(p *trigger.Principal) bool {
	a, ok := awsid.ParsePrincipal(p.ARN)
	return ok && awsid.IsIdentityCenterRole(a)
}

func identityCenterWhy(p *trigger.Principal) string {
	a, _ := awsid.ParsePrincipal(p.ARN)
	set := awsid.PermissionSetName(a.Name)
	if set == "" {
		set = "its permission set"
	} else {
		set = "the permission set " + set
	}
	return "it is an IAM Identity Center role, which Identity Center manages (and replaces when the permission set is assigned anew): the remediator gives it neither a policy nor a grant; add the statements of the usage policy to " +
		set + "'s inline policy (the alert gives them)"
}
