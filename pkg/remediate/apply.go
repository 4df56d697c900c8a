package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// maxWriteAttempts bounds the re-plan loop when a concurrent writer changed the policy under us.
const maxWriteAttempts = 3

// applyKeyPolicies makes one plan (and in fix mode one write) per key, merging every account
// that any record of the batch needs.
func (r *run) applyKeyPolicies(ctx context.Context) []report.Action {
	var arns []string
	for a := range r.needs {
		arns = append(arns, a)
	}
	sort.Strings(arns)
	// Different keys are independent (each has its own lock and read-back), so their writes
	// overlap, a few at a time: a batch over ten keys waits for about three write+verify round
	// trips instead of ten. The bound stays well under KMS's request quotas.
	planned := make([]report.Action, len(arns))
	sem := make(chan struct{}, writeParallel)
	var wg sync.WaitGroup
	for i, a := range arns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, n *keyNeed) {
			defer wg.Done()
			defer func() { <-sem }()
			planned[i] = r.applyKeySafely(ctx, n)
		}(i, r.needs[a])
	}
	wg.Wait()
	// Records may depend on several keys: mark them for retry here, after the writes, in order.
	var actions []report.Action
	for i, a := range arns {
		n, act := r.needs[a], planned[i]
		r.log.Info().Str("key", a).Strs("accounts", act.Accounts).Str("status", act.Status).Stringer("cause", act.Cause).
			Str("reason", act.Reason).Str("action", act.Type).Msg("key policy action")
		for _, it := range n.items {
			it.retry = it.retry || act.Retry()
			for _, f := range n.found {
				it.addFinding(f)
			}
		}
		actions = append(actions, act)
	}
	return actions
}

// applyKeySafely turns a panic while planning or writing one key into a failed action whose
// records are handed back, instead of a crashed batch (diagnoseSafely does the same for reads).
func (r *run) applyKeySafely(ctx context.Context, n *keyNeed) (act report.Action) {
	defer func() {
		if p := recover(); p != nil {
			act = report.Action{Type: report.ActionKeyPolicy, Target: n.key.ARN, Accounts: sortedKeys(n.accounts),
				Status: report.StatusFailed, Cause: report.CauseInternal, Reason: fmt.Sprintf("transient: internal error: %v", p)}
			r.log.Error().Str("key", n.key.ARN).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("key policy action panicked")
		}
	}()
	return r.applyKey(ctx, n)
}

// writeParallel bounds the key-policy writes of one invocation that run at once.
const writeParallel = 4

// reasonOtherWriter is what people read when, between this invocation's read and its write,
// another writer (often a concurrent delivery of the same event) made the change.
const reasonOtherWriter = "another writer already added these accounts"

func (r *run) applyKey(ctx context.Context, n *keyNeed) report.Action {
	k := n.key
	w := wantOf(n)
	act := report.Action{Type: report.ActionKeyPolicy, Target: k.ARN, Accounts: actionAccounts(w)}
	for _, a := range w.Accounts {
		if !awsid.IsAccountID(a) { // defence in depth: the editor refuses these too
			return ended(act, refuse(fmt.Errorf("%q is not an account ID", a)))
		}
	}
	// The editor reads the policy as the evaluator does, for this key (its ARN: the replica's in
	// the launch region for a multi-Region key) and what is known of each account's organization
	// (the accounts added, and those of the roles and grantees): it extends a statement only when
	// that makes the account allowed.
	target := keypolicy.Key{ARN: k.ARN, Orgs: r.orgsOf(ctx, actionAccounts(w), k.Doc)}
	edit, err := keypolicy.EnsureForKey(k.Policy, target, w)
	if err != nil {
		return ended(act, refuse(err))
	}
	if !edit.Changed {
		act.Status, act.Reason = report.StatusUnchanged, "the key policy already grants these accounts what the editor adds"
		return act
	}
	act.Diff = PolicyDiff(k.Policy, edit.Document)
	act.Document = string(edit.Document)
	act.Reason = describeChanges(edit.Changes)
	// Whether the key is the remediator's to write: in alert mode too, so that the plan says
	// what fix mode would do.
	own, err := r.ownershipOf(ctx, k)
	if err != nil {
		return ended(act, err)
	}
	found, err := r.gate(k, own, actionAccounts(w))
	n.found = append(n.found, found...)
	if err != nil {
		return ended(act, err)
	}
	if r.cfg.Mode != config.ModeFix {
		act.Status = report.StatusPlanned
		act.Reason = "MODE=alert: " + act.Reason
		return act
	}
	if r.deadlineNear(ctx) {
		return ended(act, errDeadline)
	}
	defer r.coord.lockKey(k.ARN)()
	if err := r.writeKeyPolicy(ctx, &act, k, target, w, edit); err != nil {
		if own.optedIn && r.cfg.TaggedKeysOnly() && awsapi.IsAccessDenied(err) {
			err = fmt.Errorf("%w (%v)", errOptInNotInEffect, err)
		}
		return ended(act, err)
	}
	return act
}

// writeKeyPolicy puts the planned policy, reads it back and proves it: the policy KMS now holds
// must allow every account, role and launch grant it was written for (the same evaluation the
// diagnosis made). When another writer changed the policy in between, it re-plans from the fresh
// policy (bounded). When the policy read back is the one written and still does not allow them,
// the write was ineffective: the action fails for good (a redelivery would write the same thing)
// and the findings stay. A write this delivery made is never reported as another writer's. On
// success it sets act's status (applied, or unchanged because another writer made the change)
// and reason.
func (r *run) writeKeyPolicy(ctx context.Context, act *report.Action, k *key, target keypolicy.Key, w keypolicy.Want, edit keypolicy.Edit) error {
	cl, err := r.clients.KMS(ctx, k.Account, k.Region)
	if err != nil {
		return err
	}
	release, stale, err := r.leaseKey(ctx, k.ARN)
	if err != nil {
		return err
	}
	wrote := false
	defer func() { release(wrote) }()
	current := k.Policy
	if r.store == nil {
		// No lease: another environment may have written the key since diagnosis read it. Start
		// from the policy as it is now (crosswrite.go).
		if current, err = r.freshKeyPolicy(ctx, cl, k); err != nil {
			return err
		}
	} else if last, ok := r.coord.keyPolicy(k.ARN); stale || ok && !bytes.Equal(last, current) {
		// Another invocation in this process wrote this key since we read it: start from the
		// stored policy, never from our stale copy.
		if current, err = getKeyPolicy(ctx, cl, k.ARN); err != nil {
			return err
		}
	}
	var done []keypolicy.Change // what this delivery's writes changed
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		if attempt > 1 && r.store == nil {
			// Our change was lost, and no lease keeps other environments out: after a pause,
			// re-plan from the policy as it is then (crosswrite.go).
			if err := r.replanPause(ctx, attempt); err != nil {
				return err
			}
			if current, err = r.freshKeyPolicy(ctx, cl, k); err != nil {
				return err
			}
		}
		if attempt > 1 || !bytes.Equal(current, k.Policy) {
			if edit, err = keypolicy.EnsureForKey(current, target, w); err != nil {
				return refuse(err)
			}
			if !edit.Changed {
				if err := verifyKeyPolicy(current, k, target, w); err != nil {
					return fmt.Errorf("key policy %s: %w", k.ARN, err)
				}
				if len(done) > 0 { // our write is there, whoever wrote after it
					act.Status, act.Reason = report.StatusApplied, describeChanges(done)+"; verified by reading it back"
					return nil
				}
				act.Status, act.Cause, act.Reason = report.StatusUnchanged, report.CauseOtherWriter, reasonOtherWriter
				return nil
			}
		}
		if r.deadlineNear(ctx) {
			return errDeadline
		}
		_, err = cl.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
			KeyId: aws.String(k.ARN), PolicyName: aws.String("default"), Policy: aws.String(string(edit.Document)),
			BypassPolicyLockoutSafetyCheck: false, // never: KMS's lockout check stays on
		})
		if err != nil {
			return fmt.Errorf("put key policy %s: %w", k.ARN, err)
		}
		wrote = true
		done = append(done, edit.Changes...)
		r.coord.setKeyPolicy(k.ARN, edit.Document)
		fresh, unverified, err := r.readBack(ctx, cl, k, target, w)
		if err != nil {
			return err
		}
		switch {
		case unverified == nil:
			r.coord.setKeyPolicy(k.ARN, fresh)
			act.Status, act.Reason = report.StatusApplied, describeChanges(edit.Changes)+"; verified by reading it back"
			return nil
		case bytes.Equal(fresh, edit.Document):
			// Nobody else wrote: the policy written does not do what it was written for.
			return fmt.Errorf("key policy %s was written but %w", k.ARN, unverified)
		}
		r.log.Warn().Str("key", k.ARN).Int("attempt", attempt).Err(unverified).Msg("key policy changed under us: re-planning")
		current = fresh
	}
	return fmt.Errorf("key policy %s: %w", k.ARN, errConcurrentWriter)
}

func getKeyPolicy(ctx context.Context, cl awsapi.KMS, keyARN string) ([]byte, error) {
	out, err := cl.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		return nil, fmt.Errorf("get key policy %s: %w", keyARN, err)
	}
	return []byte(aws.ToString(out.Policy)), nil
}

// wantOf is what a key's policy must gain for the batch.
func wantOf(n *keyNeed) keypolicy.Want {
	return keypolicy.Want{Accounts: sortedKeys(n.accounts), ServiceLinkedRoles: sortedKeys(n.roles), LaunchGrantees: sortedKeys(n.grantees)}
}

// actionAccounts are the accounts a key-policy action is about: the accounts added, and the
// accounts of the roles and grantees.
func actionAccounts(w keypolicy.Want) []string {
	set := map[string]bool{}
	for _, a := range w.Accounts {
		set[a] = true
	}
	for _, p := range append(append([]string{}, w.ServiceLinkedRoles...), w.LaunchGrantees...) {
		if a, ok := awsid.ParsePrincipal(p); ok {
			set[a.Account] = true
		}
	}
	return sortedKeys(set)
}

// errNotProven: the policy read back does not allow every account it was written for.
var errNotProven = errors.New("the policy read back does not allow every account")

// verifyKeyPolicy checks a policy read back from KMS: it parses; it allows every account the use
// and grant requests EC2 makes, every role its own, evaluated exactly as the diagnosis evaluates
// them; and it lets every grantee's account create its launch grant.
func verifyKeyPolicy(fresh []byte, k *key, target keypolicy.Key, w keypolicy.Want) error {
	doc, err := policy.Parse(fresh)
	if err != nil {
		return fmt.Errorf("%w: it does not parse: %v", errNotProven, err)
	}
	check := *k
	check.Doc = doc
	orgOf := func(account string) *evaluate.Org {
		if o, ok := target.Orgs[account]; ok {
			return &o
		}
		return nil
	}
	for _, a := range w.Accounts {
		use, grant := evaluateKey(&check, "arn:"+partitionOf(k.ARN)+":iam::"+a+":root", orgOf(a))
		for _, res := range []evaluate.KMSResult{use, grant} {
			if res.KeyPolicy.Decision != evaluate.Allow {
				return fmt.Errorf("%w: account %s is not allowed (%s)", errNotProven, a, clip(strings.Join(res.KeyPolicy.Reasons, "; "), 300))
			}
		}
	}
	for _, role := range w.ServiceLinkedRoles {
		org := orgOf(check.Account)
		if !roleAllowedByKeyPolicy(&check, role, useRequests, org) || !roleAllowedByKeyPolicy(&check, role, grantRequests, org) {
			return fmt.Errorf("%w: %s is not allowed", errNotProven, role)
		}
	}
	for _, g := range w.LaunchGrantees {
		p, _ := awsid.ParsePrincipal(g)
		req := evaluate.GrantRequest(k.ARN, keypolicy.RootARN(partitionOf(k.ARN), p.Account), g, keypolicy.LaunchGrantOperations, orgOf(p.Account))
		if evaluate.KeyPolicyDecision(doc, req) != evaluate.Allow {
			return fmt.Errorf("%w: account %s may not create the grant for %s", errNotProven, p.Account, g)
		}
	}
	return nil
}

// partitionOf is the partition of an ARN ("aws" when it has none).
func partitionOf(arn string) string {
	if a, ok := awsid.ParseARN(arn); ok && a.Partition != "" {
		return a.Partition
	}
	return "aws"
}

func (r *run) deadlineNear(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < r.writeMargin
}

func describeChanges(cs []keypolicy.Change) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Description)
	}
	return strings.Join(parts, "; ")
}
