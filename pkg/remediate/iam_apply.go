package remediate

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// maxPolicyVersions is how many versions IAM keeps of a managed policy.
const maxPolicyVersions = 5

const usagePolicyDescription = "Lets principals of this account use specific KMS keys from EC2 (managed by ami-kms-remediator)"

// applyAll makes one iam-policy action per principal.
func (c *iamRun) applyAll(ctx context.Context) []report.Action {
	var actions []report.Action
	for _, n := range c.sortedNeeds() {
		act := c.applyNeed(ctx, n)
		c.log.Info().Str("action", act.Type).Str("target", act.Target).Str("principal", act.Principal).
			Strs("keys", sortedKeyARNs(n)).Str("status", act.Status).Stringer("cause", act.Cause).Str("reason", act.Reason).Msg("iam policy action")
		if act.Retry() {
			for _, it := range n.items {
				it.retry = true
			}
		}
		actions = append(actions, act)
	}
	return actions
}

func sortedKeyARNs(n *iamNeed) []string {
	out := make([]string, 0, len(n.keys))
	for a := range n.keys {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// usagePolicyARN is IAM_POLICY_NAME's ARN in the principal's account and partition.
func usagePolicyARN(principalARN, account, name string) string {
	partition := "aws"
	if a, ok := awsid.ParseARN(principalARN); ok && a.Partition != "" {
		partition = a.Partition
	}
	return "arn:" + partition + ":iam::" + account + ":policy/" + name
}

// storedPolicy is IAM_POLICY_NAME as it is in IAM now.
type storedPolicy struct {
	exists  bool
	doc     []byte
	version string
}

// usagePolicy is the stored usage policy: when it is attached to the principal, gathering
// already read it (no second read), else it is read now.
func (c *iamRun) usagePolicy(ctx context.Context, cl awsapi.IAM, n *iamNeed, policyARN string) (storedPolicy, error) {
	if n.set != nil && n.set.IsAttached(policyARN) {
		src, err := c.gather.Managed(ctx, cl, policyARN)
		if err == nil && src.Doc != nil {
			return storedPolicy{exists: true, doc: src.Doc.Bytes(), version: src.Version}, nil
		}
	}
	return readUsagePolicy(ctx, cl, policyARN)
}

func readUsagePolicy(ctx context.Context, cl awsapi.IAM, policyARN string) (storedPolicy, error) {
	doc, version, err := identity.ReadDefaultVersion(ctx, cl, policyARN)
	if err != nil {
		if awsapi.IsNotFound(err) {
			return storedPolicy{}, nil
		}
		return storedPolicy{}, err
	}
	return storedPolicy{exists: true, doc: []byte(doc), version: version}, nil
}

func (c *iamRun) applyNeed(ctx context.Context, n *iamNeed) report.Action {
	p := n.principal
	keys := sortedKeyARNs(n)
	policyARN := usagePolicyARN(p.ARN, p.Account, c.cfg.IAMPolicyName)
	act := report.Action{Type: report.ActionIAMPolicy, Target: policyARN, Accounts: []string{p.Account}, Principal: p.ARN}
	cl, err := c.clients.IAM(ctx, p.Account)
	if err != nil {
		return ended(act, err)
	}
	cur, err := c.usagePolicy(ctx, cl, n, policyARN)
	if err != nil {
		return ended(act, err)
	}
	plan, err := planUsagePolicy(cur, keys)
	if err != nil {
		return ended(act, refuse(err))
	}
	attached := n.set.IsAttached(policyARN)
	act.Document = string(plan.Document)
	if cur.exists && plan.Changed {
		act.Diff = PolicyDiff(cur.doc, plan.Document)
	}
	act.Reason = describeUsagePlan(c.cfg.IAMPolicyName, cur, plan, attached, shortPrincipal(p.ARN))
	switch {
	case n.refusal != nil:
		act.Status, act.Reason = report.StatusRefused, n.refusal.why
		return act
	case !plan.Changed && attached:
		act.Status = report.StatusUnchanged
		act.Reason = fmt.Sprintf("%s already allows %s and is attached to %s; what is still missing is elsewhere (see the findings)",
			c.cfg.IAMPolicyName, strings.Join(keys, ", "), shortPrincipal(p.ARN))
		return act
	case c.cfg.Mode != config.ModeFix:
		act.Status, act.Reason = report.StatusPlanned, "MODE=alert: "+act.Reason
		return act
	case c.deadlineNear(ctx):
		return ended(act, errDeadline)
	}
	defer c.coord.lockUsagePolicy(p.Account, c.cfg.IAMPolicyName)()
	if err := c.writeUsagePolicy(ctx, &act, cl, n, policyARN, keys, cur); err != nil {
		return ended(act, err)
	}
	return act
}

// planUsagePolicy is the pure plan: the document the principal's keys need.
func planUsagePolicy(cur storedPolicy, keys []string) (usagepolicy.Result, error) {
	var existing []byte
	if cur.exists {
		existing = cur.doc
	}
	return usagepolicy.Ensure(existing, keys)
}

func describeUsagePlan(name string, cur storedPolicy, plan usagepolicy.Result, attached bool, who string) string {
	var parts []string
	switch {
	case !cur.exists:
		parts = append(parts, fmt.Sprintf("create %s allowing %s", name, strings.Join(plan.Added, ", ")))
	case plan.Changed:
		parts = append(parts, fmt.Sprintf("add %s to %s as a new default version (was %s)", strings.Join(plan.Added, ", "), name, cur.version))
	}
	if !attached {
		parts = append(parts, fmt.Sprintf("attach %s to %s", name, who))
	}
	if len(parts) == 0 {
		return "nothing to change"
	}
	return strings.Join(parts, "; ")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reasonOtherIAMWriter is what people read when, between this invocation's read and its write,
// another writer (usually a concurrent delivery of the same event) made exactly the change.
const reasonOtherIAMWriter = "another writer already made this change"

// writeUsagePolicy creates or versions the policy and attaches it, then verifies by reading
// back what it wrote. A concurrent writer (policy created or versioned in between) makes it
// re-plan from the fresh policy, a bounded number of times. On success it sets act's status
// (applied, or unchanged because another writer made the change) and reason.
func (c *iamRun) writeUsagePolicy(ctx context.Context, act *report.Action, cl awsapi.IAM, n *iamNeed, policyARN string, keys []string, cur storedPolicy) error {
	p := n.principal
	who := shortPrincipal(p.ARN)
	var done []string
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		if attempt > 1 {
			// IAM is eventually consistent: give a read-back that missed our write a moment
			// before re-planning, so a lagging read does not cost a policy version.
			if err := sleepCtx(ctx, time.Duration(attempt-1)*c.iamSettle); err != nil {
				return err
			}
		}
		// The policy read before the lock is current unless this is a re-plan or another
		// invocation of this process wrote it since: only then read it again.
		if last, ok := c.coord.usagePolicy(policyARN); attempt > 1 || (ok && last != cur.version+string(cur.doc)) {
			var err error
			if cur, err = readUsagePolicy(ctx, cl, policyARN); err != nil {
				return err
			}
		}
		plan, err := planUsagePolicy(cur, keys)
		if err != nil {
			return err
		}
		if c.deadlineNear(ctx) {
			return errDeadline
		}
		written := cur
		if plan.Changed {
			version, replan, err := c.putUsagePolicy(ctx, cl, policyARN, cur, plan)
			if err != nil {
				return err
			}
			if replan {
				c.log.Warn().Str("policy", policyARN).Int("attempt", attempt).Msg("policy changed under us: re-planning")
				continue
			}
			written = storedPolicy{exists: true, doc: plan.Document, version: version}
			c.coord.setUsagePolicy(policyARN, written.version+string(written.doc))
			if cur.exists {
				done = append(done, fmt.Sprintf("added %s to %s (new default version)", strings.Join(plan.Added, ", "), c.cfg.IAMPolicyName))
			} else {
				done = append(done, fmt.Sprintf("created %s allowing %s", c.cfg.IAMPolicyName, strings.Join(plan.Added, ", ")))
			}
		}
		// The attachment read before the lock may be stale when another invocation of this
		// process attached the policy meanwhile: the coordinator remembers attachments made here.
		if !c.coord.attachedHere(policyARN, p.ARN) && !n.set.IsAttached(policyARN) {
			if err := attachUsagePolicy(ctx, cl, n, policyARN); err != nil {
				return err
			}
			c.coord.setAttached(policyARN, p.ARN, true)
			done = appendUnique(done, fmt.Sprintf("attached it to %s", who))
		}
		ok, why, err := c.verifyUsage(ctx, cl, n, policyARN, keys, written)
		if err != nil {
			return fmt.Errorf("verify %s: %w", policyARN, err)
		}
		if ok {
			if len(done) == 0 {
				act.Status, act.Cause, act.Reason = report.StatusUnchanged, report.CauseOtherWriter, reasonOtherIAMWriter
				return nil
			}
			act.Status, act.Reason = report.StatusApplied, strings.Join(done, "; ")+"; verified by reading it back"
			return nil
		}
		c.coord.setAttached(policyARN, p.ARN, false) // the memo may be what is wrong: read the attachment again
		if why != "" {
			return fmt.Errorf("after the change %s still cannot use the keys: %s", who, why)
		}
		c.log.Warn().Str("policy", policyARN).Int("attempt", attempt).Msg("read-back misses our change: re-planning")
	}
	return fmt.Errorf("%s: %w", policyARN, errConcurrentWriter)
}

// putUsagePolicy writes the planned document. replan is true when someone else created or
// versioned the policy in between (re-plan from the fresh one).
func (c *iamRun) putUsagePolicy(ctx context.Context, cl awsapi.IAM, policyARN string, cur storedPolicy, plan usagepolicy.Result) (version string, replan bool, err error) {
	if !cur.exists {
		out, err := cl.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(c.cfg.IAMPolicyName),
			PolicyDocument: aws.String(string(plan.Document)), Description: aws.String(usagePolicyDescription)})
		if err != nil {
			if awsapi.IsEntityExists(err) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("create policy %s: %w", policyARN, err)
		}
		return aws.ToString(out.Policy.DefaultVersionId), false, nil
	}
	if err := makeVersionRoom(ctx, cl, policyARN); err != nil {
		return "", false, err
	}
	out, err := cl.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(policyARN),
		PolicyDocument: aws.String(string(plan.Document)), SetAsDefault: true})
	if err != nil {
		if awsapi.IsLimitExceeded(err) {
			return "", true, nil // a concurrent writer took the free slot
		}
		return "", false, fmt.Errorf("create policy version of %s: %w", policyARN, err)
	}
	return aws.ToString(out.PolicyVersion.VersionId), false, nil
}

// makeVersionRoom deletes the oldest non-default version when IAM's limit of five is reached.
func makeVersionRoom(ctx context.Context, cl awsapi.IAM, policyARN string) error {
	var versions []iamtypes.PolicyVersion
	pg := iam.NewListPolicyVersionsPaginator(cl, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(policyARN)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of %s: %w", policyARN, err)
		}
		versions = append(versions, page.Versions...)
	}
	if len(versions) < maxPolicyVersions {
		return nil
	}
	oldest := oldestNonDefault(versions)
	if oldest == "" {
		return fmt.Errorf("policy %s has %d versions and none can be deleted", policyARN, len(versions))
	}
	if _, err := cl.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(policyARN), VersionId: aws.String(oldest)}); err != nil {
		if awsapi.IsNotFound(err) {
			return nil // a concurrent writer deleted it already
		}
		return fmt.Errorf("delete version %s of %s: %w", oldest, policyARN, err)
	}
	return nil
}

// oldestNonDefault picks the non-default version created first (ties: the lower version
// number; IAM numbers versions in creation order).
func oldestNonDefault(vs []iamtypes.PolicyVersion) string {
	var best *iamtypes.PolicyVersion
	for i := range vs {
		v := &vs[i]
		if v.IsDefaultVersion || aws.ToString(v.VersionId) == "" {
			continue
		}
		if best == nil || older(v, best) {
			best = v
		}
	}
	if best == nil {
		return ""
	}
	return aws.ToString(best.VersionId)
}

func older(a, b *iamtypes.PolicyVersion) bool {
	if a.CreateDate != nil && b.CreateDate != nil && !a.CreateDate.Equal(*b.CreateDate) {
		return a.CreateDate.Before(*b.CreateDate)
	}
	return versionNumber(aws.ToString(a.VersionId)) < versionNumber(aws.ToString(b.VersionId))
}

func versionNumber(id string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "v"))
	if err != nil {
		return 1 << 30
	}
	return n
}

func attachUsagePolicy(ctx context.Context, cl awsapi.IAM, n *iamNeed, policyARN string) error {
	name := identityPrincipal(n.principal).Name
	var err error
	if n.set.Principal.Kind == identity.User {
		_, err = cl.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(name), PolicyArn: aws.String(policyARN)})
	} else {
		_, err = cl.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(policyARN)})
	}
	if err != nil {
		return fmt.Errorf("attach %s to %s: %w", policyARN, n.principal.ARN, err)
	}
	return nil
}

// verifyUsage proves the write with the two reads that can: the version written is the default
// and covers every key, and the policy is attached to the principal. Then it evaluates the
// principal's policies as they now are (the others did not change). ok false with why "" means
// our change is not there (a concurrent writer): re-plan. why non-empty: the change is there but
// the principal still cannot use a key.
func (c *iamRun) verifyUsage(ctx context.Context, cl awsapi.IAM, n *iamNeed, policyARN string, keys []string, written storedPolicy) (ok bool, why string, err error) {
	if !written.exists || written.version == "" {
		return false, "", nil
	}
	v, err := cl.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(policyARN), VersionId: aws.String(written.version)})
	if err != nil {
		if awsapi.IsNotFound(err) {
			return false, "", nil // deleted by a concurrent writer's version cleanup
		}
		return false, "", err
	}
	if !v.PolicyVersion.IsDefaultVersion {
		return false, "", nil
	}
	doc, err := policy.DecodeIAM(aws.ToString(v.PolicyVersion.Document))
	if err != nil {
		return false, "", fmt.Errorf("policy %s version %s: %w", policyARN, written.version, err)
	}
	for _, k := range keys {
		if !usagepolicy.Covers([]byte(doc), k) {
			return false, "", nil
		}
	}
	attached, err := listAttached(ctx, cl, n)
	if err != nil {
		return false, "", err
	}
	set := n.set.WithManaged(policyARN, written.version, doc, attached)
	if !set.IsAttached(policyARN) {
		return false, "", nil
	}
	n.set = set
	for _, k := range keys {
		g := evaluateIdentity(set, n.keys[k], n.principal.ARN, c.orgOf(ctx, n.principal.Account, append(set.Documents(), n.keys[k].Doc, set.BoundaryDocument())...))
		if len(g.denies) > 0 || g.missing() {
			reasons := append(append([]string{}, g.denies...), g.reasons...)
			return false, fmt.Sprintf("%s: %s", k, clip(strings.Join(reasons, "; "), 500)), nil
		}
	}
	return true, "", nil
}

// listAttached lists the managed policies attached directly to the principal.
func listAttached(ctx context.Context, cl awsapi.IAM, n *iamNeed) ([]string, error) {
	name := identityPrincipal(n.principal).Name
	var out []string
	add := func(ps []iamtypes.AttachedPolicy) {
		for _, a := range ps {
			out = append(out, aws.ToString(a.PolicyArn))
		}
	}
	if n.set.Principal.Kind == identity.User {
		pg := iam.NewListAttachedUserPoliciesPaginator(cl, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(name)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list attached policies of %s: %w", n.principal.ARN, err)
			}
			add(page.AttachedPolicies)
		}
		return out, nil
	}
	pg := iam.NewListAttachedRolePoliciesPaginator(cl, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list attached policies of %s: %w", n.principal.ARN, err)
		}
		add(page.AttachedPolicies)
	}
	return out, nil
}
