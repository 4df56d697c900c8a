package remediate

// Concurrency tests: many invocations needing different accounts on one key at once,
// and a writer outside this process that replaces the policy under the remediator.

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

const concurrentInvocations = 20

// concurrentAccounts are n distinct 12-digit accounts for one test.
func concurrentAccounts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i+1)
	}
	return out
}

// 20 handler invocations at once, each needing a different trusted account on the same key: all
// 20 accounts are in the policy at the end and every original statement is intact. Once with a
// Remediator per invocation sharing the process's one Coordinator (as the remediators of one
// Lambda environment would), once with one shared Remediator (concurrent invocations of one
// environment, as `amikms` can run them).
func TestConcurrentInvocationsOnOneKey(t *testing.T) {
	needsLocalAWS(t)
	for name, shared := range map[string]bool{"a remediator each": false, "one shared remediator": true} {
		t.Run(name, func(t *testing.T) {
			prefix := "100001"
			if shared {
				prefix = "100002"
			}
			accounts := concurrentAccounts(prefix, concurrentInvocations)
			f := newFixture(t, "")
			before := keyPolicy(t, f.key)
			images := imagesOnKey(t, f.key, accounts)
			rec := newRecorder(t, env.URL)
			coord := NewCoordinator()
			rms := make([]*Remediator, concurrentInvocations)
			for i := range rms {
				if i == 0 || !shared {
					rms[i], _ = newRemediatorOn(t, setup{mode: config.ModeFix, trusted: accounts}, rec.URL, 3, WithCoordinator(coord))
				} else {
					rms[i] = rms[0]
				}
			}
			events := make([][]byte, concurrentInvocations)
			for i := range events {
				events[i] = shareEvent(t, images[i], accounts[i])
			}

			results := make([]report.Result, concurrentInvocations)
			errs := make([]error, concurrentInvocations)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range concurrentInvocations {
				wg.Go(func() {
					<-start
					out, err := rms[i].Invoke(context.Background(), events[i])
					if err == nil {
						results[i] = out.(report.Result)
					}
					errs[i] = err
				})
			}
			close(start)
			wg.Wait()

			statuses := map[string]int{}
			for i, res := range results {
				if errs[i] != nil {
					t.Fatalf("invocation %d: %v", i, errs[i])
				}
				if len(res.Records) != 1 || res.Records[0].Error != "" {
					t.Errorf("invocation %d: %+v", i, res.Records)
				}
				for _, a := range res.Actions {
					statuses[a.Status]++
					if a.Status != report.StatusApplied && a.Status != report.StatusUnchanged {
						t.Errorf("invocation %d: action %+v", i, a)
					}
				}
			}
			after := keyPolicy(t, f.key)
			missing := 0
			for _, a := range accounts {
				if !allowsAccount(t, f.key, after, a) {
					missing++
					t.Errorf("account %s is not in the policy at the end", a)
				}
			}
			if err := statementsKept(before, after); err != nil {
				t.Errorf("original statements: %v", err)
			}
			ws := rec.Writes()
			checkWrites(t, ws, map[string]string{f.key: before}, map[string][]string{f.key: accounts})
			if len(ws) > concurrentInvocations {
				t.Errorf("%d writes for %d invocations", len(ws), concurrentInvocations)
			}
			t.Logf("%d concurrent invocations: %d/%d accounts present, actions %v, %d PutKeyPolicy writes",
				concurrentInvocations, concurrentInvocations-missing, concurrentInvocations, statuses, len(ws))
		})
	}
}

// A writer outside this process (another Lambda environment, a person in the console) replaces
// the policy right after the remediator's write, from the policy it read before: last writer
// wins and the remediator's change is gone. The read-back check notices, re-plans from the fresh
// policy (keeping the other writer's change) and writes again. When the other writer keeps doing
// it, the record is handed back for retry, and the retry completes once it stops.
func TestConcurrentWriterOutsideProcess(t *testing.T) {
	needsLocalAWS(t)
	const theirs = "777700001111"
	trusted := []string{scenario.Target, theirs}

	// dropOurs plays the other writer: it puts the policy from before our write plus its own
	// account, directly (not through the recorder).
	dropOurs := func(t *testing.T, base *string) func(keyWrite) {
		return func(w keyWrite) {
			edit, err := keypolicy.EnsureAccounts([]byte(*base), []string{theirs})
			if err != nil {
				t.Error(err)
				return
			}
			*base = string(edit.Document)
			if _, err := world.KMS(scenario.Owner, scenario.Region).PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{
				KeyId: aws.String(w.KeyID), PolicyName: aws.String("default"), Policy: aws.String(*base)}); err != nil {
				t.Error(err)
			}
		}
	}

	t.Run("once", func(t *testing.T) {
		f := newFixture(t, "", scenario.Target)
		base := keyPolicy(t, f.key)
		rec := newRecorder(t, env.URL)
		var once sync.Once
		drop := dropOurs(t, &base)
		rec.afterPut = func(w keyWrite) { once.Do(func() { drop(w) }) }
		rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: trusted}, rec.URL, 2)
		res := invokeRaw(t, rm, shareEvent(t, f.image, scenario.Target))
		if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied {
			t.Fatalf("actions: %+v", res.Actions)
		}
		after := keyPolicy(t, f.key)
		if !allowsAccount(t, f.key, after, scenario.Target) || !allowsAccount(t, f.key, after, theirs) {
			t.Errorf("want both writers' accounts:\n%s", after)
		}
		if n := len(rec.Writes()); n != 2 {
			t.Errorf("%d writes, want 2 (the first was dropped by the other writer)", n)
		}
	})

	t.Run("keeps replacing it", func(t *testing.T) {
		f := newFixture(t, "", scenario.Target)
		base := keyPolicy(t, f.key)
		rec := newRecorder(t, env.URL)
		var mu sync.Mutex
		replacing := true
		drop := dropOurs(t, &base)
		rec.afterPut = func(w keyWrite) {
			mu.Lock()
			defer mu.Unlock()
			if replacing {
				drop(w)
			}
		}
		rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: trusted}, rec.URL, 2)
		batch := sqsRecords(t, []string{"m-1"}, [][]byte{shareEvent(t, f.image, scenario.Target)})
		resp := invokeSQS(t, context.Background(), rm, batch)
		if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusFailed {
			t.Fatalf("actions: %+v", resp.Actions)
		}
		if len(resp.BatchItemFailures) != 1 {
			t.Errorf("the record must be handed back for retry: %+v (action reason %q)", resp.BatchItemFailures, resp.Actions[0].Reason)
		}
		if n := len(rec.Writes()); n != maxWriteAttempts {
			t.Errorf("%d writes, want the bounded %d", n, maxWriteAttempts)
		}
		mu.Lock()
		replacing = false
		mu.Unlock()
		resp = invokeSQS(t, context.Background(), rm, batch)
		if len(resp.BatchItemFailures) != 0 || len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied {
			t.Fatalf("retry: %+v %+v", resp.BatchItemFailures, resp.Actions)
		}
		after := keyPolicy(t, f.key)
		if !allowsAccount(t, f.key, after, scenario.Target) || !allowsAccount(t, f.key, after, theirs) {
			t.Errorf("want both writers' accounts:\n%s", after)
		}
	})
}

// The identity side of the same race: 20 failed launches at once in one account, by 20 roles,
// each on a key of its own, in one process. Every role ends with exactly one grant on its key,
// every key policy lets the account create them, and IAM is never written.
func TestConcurrentLaunchesGetOneGrantEach(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	roles, keys := make([]string, concurrentInvocations), make([]string, concurrentInvocations)
	events := make([][]byte, concurrentInvocations)
	for i := range concurrentInvocations {
		roles[i] = uniq("concurrent")
		if err := world.Role(ctx, scenario.Target, roles[i]); err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, "", scenario.Target)
		keys[i] = f.key
		events[i] = inTrail(t, launchEventOf(t, launchFailed(f, roles[i], scenario.Target)))
	}
	coord := NewCoordinator()
	rms := make([]*Remediator, concurrentInvocations)
	for i := range rms {
		rms[i], _ = newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, env.URL, 3, WithCoordinator(coord))
	}

	results := make([]report.Result, concurrentInvocations)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range concurrentInvocations {
		wg.Go(func() {
			<-start
			out, err := rms[i].Invoke(ctx, events[i])
			if err != nil {
				t.Errorf("invocation %d: %v", i, err)
				return
			}
			results[i] = out.(report.Result)
		})
	}
	close(start)
	wg.Wait()

	statuses := map[string]int{}
	for i, res := range results {
		for _, a := range res.Actions {
			statuses[a.Type+" "+a.Status]++
			if a.Status != report.StatusApplied && a.Status != report.StatusUnchanged {
				t.Errorf("invocation %d: %+v", i, a)
			}
		}
		if iamWrites(res.Stats) != 0 {
			t.Errorf("invocation %d wrote IAM: %v", i, res.Stats)
		}
	}
	for i := range concurrentInvocations {
		checkIdentityGrant(t, keys[i], roleARN(scenario.Target, roles[i]), "")
	}
	t.Logf("%d concurrent failed launches: actions %v", concurrentInvocations, statuses)
}
