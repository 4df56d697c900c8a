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
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

// maxWriteAttempts bounds the re-plan loop when a concurrent writer changed the policy under us.
const maxWriteAttempts = 3

// keyLocks serialises writes to one key policy within this process (concurrent invocations of a
// warm environment, or of the CLI). Across Lambda environments the function's reserved
// concurrency of 1 does the same; the read-back check below catches anything else.
var keyLocks sync.Map // key ARN -> *sync.Mutex

func lockFor(m *sync.Map, k string) *sync.Mutex {
	v, _ := m.LoadOrStore(k, &sync.Mutex{})
	return v.(*sync.Mutex)
}

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
	// trips instead of ten (issue 7). The bound stays well under KMS's request quotas.
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
		r.log.Info().Str("key", a).Strs("accounts", act.Accounts).Str("status", act.Status).Str("reason", act.Reason).
			Str("action", act.Type).Msg("key policy action")
		if act.Status == report.StatusFailed {
			for _, it := range n.items {
				it.retry = it.retry || act.Reason == reasonDeadline || strings.HasPrefix(act.Reason, "transient")
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
				Status: report.StatusFailed, Reason: fmt.Sprintf("transient: internal error: %v", p)}
			r.log.Error().Str("key", n.key.ARN).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("key policy action panicked")
		}
	}()
	return r.applyKey(ctx, n)
}

// writeParallel bounds the key-policy writes of one invocation that run at once.
const writeParallel = 4

const reasonDeadline = "too close to the invocation deadline to start a write: handed back for retry"

// reasonOtherWriter: between this invocation's read and its write, another writer (often a
// concurrent delivery of the same event) made the change. publishAlert keys on it.
const reasonOtherWriter = "another writer already added these accounts"

func (r *run) applyKey(ctx context.Context, n *keyNeed) report.Action {
	k := n.key
	accounts := sortedKeys(n.accounts)
	act := report.Action{Type: report.ActionKeyPolicy, Target: k.ARN, Accounts: accounts}
	for _, a := range accounts {
		if !awsid.IsAccountID(a) { // defence in depth: the editor refuses these too
			act.Status, act.Reason = report.StatusRefused, fmt.Sprintf("%q is not an account ID", a)
			return act
		}
	}
	edit, err := keypolicy.EnsureAccounts(k.Policy, accounts)
	if err != nil {
		act.Status, act.Reason = report.StatusRefused, err.Error()
		return act
	}
	if !edit.Changed {
		act.Status, act.Reason = report.StatusUnchanged, "the key policy already grants these accounts what the editor adds"
		return act
	}
	act.Diff = PolicyDiff(k.Policy, edit.Document)
	act.Document = string(edit.Document)
	act.Reason = describeChanges(edit.Changes)
	if r.cfg.Mode != config.ModeFix {
		act.Status = report.StatusPlanned
		act.Reason = "MODE=alert: " + act.Reason
		return act
	}
	if r.deadlineNear(ctx) {
		act.Status, act.Reason = report.StatusFailed, reasonDeadline
		return act
	}
	mu := lockFor(&keyLocks, k.ARN)
	mu.Lock()
	defer mu.Unlock()
	status, reason, err := r.writeKeyPolicy(ctx, k, accounts, edit)
	act.Status = status
	if err != nil {
		act.Reason = err.Error()
		// A writer that kept replacing the policy is transient too: hand the records back (issue 6
		// found that this reason did not start with "transient" and was acknowledged instead).
		if awsapi.Transient(err) || errors.Is(err, errConcurrentWriter) || errors.Is(err, store.ErrLeaseHeld) {
			act.Reason = "transient: " + act.Reason
		}
		return act
	}
	if reason != "" {
		act.Reason = reason
	}
	return act
}

// writeKeyPolicy puts the planned policy, reads it back and verifies it; when a concurrent
// writer got in between, it re-plans from the fresh policy (bounded).
func (r *run) writeKeyPolicy(ctx context.Context, k *key, accounts []string, edit keypolicy.Edit) (string, string, error) {
	cl, err := r.clients.KMS(ctx, k.Account, k.Region)
	if err != nil {
		return report.StatusFailed, "", err
	}
	release, stale, err := r.leaseKey(ctx, k.ARN)
	if err != nil {
		return report.StatusFailed, "", err
	}
	wrote := false
	defer func() { release(wrote) }()
	current := k.Policy
	if gen, ok := lastWritten.Load(k.ARN); stale || ok && !bytes.Equal(gen.([]byte), current) {
		// Another invocation in this process wrote this key since we read it: start from the
		// stored policy, never from our stale copy.
		fresh, err := getKeyPolicy(ctx, cl, k.ARN)
		if err != nil {
			return report.StatusFailed, "", err
		}
		current = fresh
	}
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		if attempt > 1 || !bytes.Equal(current, k.Policy) {
			edit, err = keypolicy.EnsureAccounts(current, accounts)
			if err != nil {
				return report.StatusRefused, "", err
			}
			if !edit.Changed {
				return report.StatusUnchanged, reasonOtherWriter, nil
			}
		}
		if r.deadlineNear(ctx) {
			return report.StatusFailed, reasonDeadline, nil
		}
		_, err = cl.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{
			KeyId: aws.String(k.ARN), PolicyName: aws.String("default"), Policy: aws.String(string(edit.Document)),
			BypassPolicyLockoutSafetyCheck: false, // never: KMS's lockout check stays on
		})
		if err != nil {
			return report.StatusFailed, "", fmt.Errorf("put key policy %s: %w", k.ARN, err)
		}
		wrote = true
		lastWritten.Store(k.ARN, edit.Document)
		fresh, err := getKeyPolicy(ctx, cl, k.ARN)
		if err != nil {
			return report.StatusFailed, "", fmt.Errorf("verify key policy %s: %w", k.ARN, err)
		}
		if err := verifyKeyPolicy(fresh, k, accounts); err == nil {
			lastWritten.Store(k.ARN, fresh)
			return report.StatusApplied, describeChanges(edit.Changes), nil
		} else {
			r.log.Warn().Str("key", k.ARN).Int("attempt", attempt).Err(err).Msg("key policy changed under us: re-planning")
		}
		current = fresh
	}
	return report.StatusFailed, "", fmt.Errorf("key policy %s: %w", k.ARN, errConcurrentWriter)
}

var errConcurrentWriter = errors.New("a concurrent writer kept replacing the policy; handed back for retry")

// lastWritten remembers, per key, the last policy this process wrote (see writeKeyPolicy).
var lastWritten sync.Map

func getKeyPolicy(ctx context.Context, cl awsapi.KMS, keyARN string) ([]byte, error) {
	out, err := cl.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		return nil, fmt.Errorf("get key policy %s: %w", keyARN, err)
	}
	return []byte(aws.ToString(out.Policy)), nil
}

// verifyKeyPolicy checks the policy read back from KMS: it parses, and the key policy now allows
// every account the use and grant requests.
func verifyKeyPolicy(fresh []byte, k *key, accounts []string) error {
	doc, err := policy.Parse(fresh)
	if err != nil {
		return fmt.Errorf("read-back policy does not parse: %w", err)
	}
	check := *k
	check.Doc = doc
	for _, a := range accounts {
		use, grant := evaluateKey(&check, "arn:aws:iam::"+a+":root")
		if use.KeyPolicy.Decision != "allow" || grant.KeyPolicy.Decision != "allow" {
			return fmt.Errorf("account %s is not allowed after the write", a)
		}
	}
	return nil
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
