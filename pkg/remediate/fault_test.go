package remediate

// Fault tests: the remediator's real AWS calls go through localaws.FaultProxy, which
// throttles, answers 500/503, resets connections and adds latency (seeded), with the SDK's
// standard retryer bounded to a few attempts. Failed records are redelivered the way SQS does.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

const (
	faultRate = 0.30
	faultSeed = 20261129
	// faultAttempts bounds the SDK's standard retryer. Three attempts (not the deployed five) so
	// that at 30% faults some calls exhaust their attempts and the redelivery path really runs:
	// with five, a call fails for good only 0.24% of the time.
	faultAttempts = 3
	// maxDeliveries bounds the redelivery rounds (the deployed queue's maxReceiveCount is 5).
	maxDeliveries = 8
)

// faultProxy serves a FaultProxy in front of target.
func faultProxy(t *testing.T, target string, cfg localaws.FaultConfig) (*localaws.FaultProxy, string) {
	t.Helper()
	p := localaws.NewFaultProxy(target, cfg)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// deliverUntilDone delivers the events as SQS batches of batchSize, then redelivers only the
// batchItemFailures, as SQS does, until none remain or maxDeliveries rounds have run. It checks
// that every record with an error was handed back (under injected faults nothing is final). It
// returns the responses and the number of rounds.
func deliverUntilDone(t *testing.T, rm *Remediator, events map[string][]byte, batchSize int) ([]SQSResponse, int) {
	t.Helper()
	pending := make([]string, 0, len(events))
	for id := range events {
		pending = append(pending, id)
	}
	sort.Strings(pending)
	var out []SQSResponse
	round := 0
	for ; len(pending) > 0 && round < maxDeliveries; round++ {
		var next []string
		for start := 0; start < len(pending); start += batchSize {
			ids := pending[start:min(start+batchSize, len(pending))]
			bodies := make([][]byte, len(ids))
			for i, id := range ids {
				bodies[i] = events[id]
			}
			resp := invokeSQS(t, context.Background(), rm, sqsRecords(t, ids, bodies))
			failed := map[string]bool{}
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
				next = append(next, f.ItemIdentifier)
			}
			for i, r := range resp.Records {
				if r.Error != "" && !failed[ids[i]] {
					t.Errorf("round %d: record %s failed but was acknowledged: %s", round, ids[i], r.Error)
				}
			}
			for _, a := range resp.Actions {
				if a.Status == report.StatusFailed && len(resp.BatchItemFailures) == 0 {
					t.Errorf("round %d: action failed and nothing handed back: %+v", round, a)
				}
			}
			out = append(out, resp)
		}
		sort.Strings(next)
		pending = next
	}
	if len(pending) > 0 {
		t.Errorf("after %d deliveries %d events still fail: %v", round, len(pending), pending)
	}
	return out, round
}

// Under 30% injected faults: every event ends handled or handed back; redelivering what was
// handed back completes the work; each key changes exactly once; every policy left in KMS parses
// and keeps all its statements; no account is granted that should not be. The second run adds
// resets after the request reached AWS (the answer is lost, the SDK retries a write that
// happened): the repeated write is byte-identical, so it changes nothing.
func TestFaultsThirtyPercentCompleteWithoutDoubleWork(t *testing.T) {
	needsLocalAWS(t)
	all := []string{localaws.FaultThrottle, localaws.Fault500, localaws.Fault503, localaws.FaultReset, localaws.FaultLatency}
	runs := map[string]struct {
		seed     int64
		kinds    []string
		attempts int
	}{
		"throttle 500 503 reset latency":         {seed: faultSeed, attempts: faultAttempts},
		"with resets after the write":            {seed: faultSeed + 1, kinds: append(all, localaws.FaultResetAfter), attempts: faultAttempts},
		"two attempts: many calls fail for good": {seed: faultSeed + 2, attempts: 2},
	}
	redelivered := 0
	for name, run := range runs {
		t.Run(name, func(t *testing.T) {
			if faultScenario(t, run.seed, run.kinds, run.attempts) > 1 {
				redelivered++
			}
		})
	}
	if redelivered == 0 {
		t.Error("no run needed a redelivery: the retry path was not exercised")
	}
}

// faultScenario runs the scenario and returns how many delivery rounds it took.
func faultScenario(t *testing.T, seed int64, kinds []string, attempts int) int {
	trusted := []string{scenario.Target, "222233334444", "555566667777"}
	events := map[string][]byte{}
	initial, mayAdd := map[string]string{}, map[string][]string{}
	type expect struct{ key, account string }
	var fixed []expect
	var untouched []string

	// Twelve keys, each with an image shared with one trusted account: one change per key.
	for i := range 12 {
		acct := trusted[i%len(trusted)]
		f := newFixture(t, "", acct)
		initial[f.key], mayAdd[f.key] = keyPolicy(t, f.key), []string{acct}
		fixed = append(fixed, expect{f.key, acct})
		events[fmt.Sprintf("share-%02d", i)] = shareEvent(t, f.image, acct)
	}
	// Images shared with an untrusted account, a public one, and forged events naming a trusted
	// account the image is not shared with: none may change anything.
	for i := range 3 {
		f := newFixture(t, "", scenario.Untrusted)
		initial[f.key] = keyPolicy(t, f.key)
		untouched = append(untouched, f.key)
		events[fmt.Sprintf("untrusted-%02d", i)] = shareEvent(t, f.image, scenario.Untrusted)
	}
	pub := newFixture(t, "")
	makePublic(t, pub.image)
	initial[pub.key] = keyPolicy(t, pub.key)
	untouched = append(untouched, pub.key)
	events["public"] = shareItem(t, pub.image, `"group": "all"`)
	for i := range 2 {
		forged := newFixture(t, "")
		initial[forged.key] = keyPolicy(t, forged.key)
		untouched = append(untouched, forged.key)
		events[fmt.Sprintf("forged-%02d", i)] = shareEvent(t, forged.image, scenario.Target)
	}
	// Second deliveries of events already in the run (EventBridge delivers at least once).
	events["share-00-dup"] = events["share-00"]
	events["share-05-dup"] = events["share-05"]

	rec := newRecorder(t, env.URL)
	proxy, url := faultProxy(t, rec.URL, localaws.FaultConfig{Seed: seed, Rate: faultRate, Kinds: kinds, LatencyMillis: 50})
	rm, sink := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: trusted, alerts: true}, url, attempts)

	resps, rounds := deliverUntilDone(t, rm, events, 4)

	// The end state, read from KMS directly (not through the faults).
	intact := 0
	for _, e := range fixed {
		pol := keyPolicy(t, e.key)
		if _, err := policy.Parse([]byte(pol)); err != nil {
			t.Errorf("%s: policy does not parse: %v", e.key, err)
			continue
		}
		if err := statementsKept(initial[e.key], pol); err != nil {
			t.Errorf("%s: %v", e.key, err)
			continue
		}
		if !allowsAccount(t, e.key, pol, e.account) {
			t.Errorf("%s: %s not granted", e.key, e.account)
		}
		for _, other := range append([]string{scenario.Untrusted}, trusted...) {
			if other != e.account && allowsAccount(t, e.key, pol, other) {
				t.Errorf("%s: %s granted but the image is not shared with it", e.key, other)
			}
		}
		intact++
	}
	for _, k := range untouched {
		if keyPolicy(t, k) != initial[k] {
			t.Errorf("%s changed", k)
		} else {
			intact++
		}
	}
	ws := rec.Writes()
	checkWrites(t, ws, initial, mayAdd)
	changes := effectiveChanges(ws, initial)
	effective, accepted := 0, acceptedWrites(ws)
	for _, e := range fixed {
		if changes[e.key] != 1 {
			t.Errorf("%s: changed %d times, want exactly once", e.key, changes[e.key])
		}
		if !slices.Contains(kinds, localaws.FaultResetAfter) && accepted[e.key] != 1 {
			t.Errorf("%s: %d writes reached KMS, want 1 (no fault here lets a write through twice)", e.key, accepted[e.key])
		}
		effective += changes[e.key]
	}
	if effective != len(fixed) {
		t.Errorf("%d effective changes for %d keys", effective, len(fixed))
	}

	deliveries, logicalPuts, failedActions := 0, 0, 0
	for _, r := range resps {
		deliveries += len(r.Records)
		logicalPuts += r.Stats["KMS:PutKeyPolicy"]
		for _, a := range r.Actions {
			if a.Status == report.StatusFailed {
				failedActions++
			}
		}
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := proxy.Stats()
	if s.Faults == 0 {
		t.Errorf("no fault injected: %+v", s)
	}
	t.Logf("fault injection (seed %d, rate %.0f%%, standard retryer, %d attempts): %d requests, %d faults injected %v, %d forwarded",
		seed, faultRate*100, attempts, s.Requests, s.Faults, s.ByKind, s.Forwarded)
	t.Logf("events: %d, all handled after %d delivery rounds (%d record deliveries in %d invocations, %d failed actions handed back)",
		len(events), rounds, deliveries, len(resps), failedActions)
	t.Logf("key policies: %d verified intact (%d fixed, %d untouched); PutKeyPolicy: %d calls by the remediator, %d reached KMS, %d effective changes for %d keys; %d alerts",
		intact, len(fixed), len(untouched), logicalPuts, len(ws), effective, len(fixed), len(alerts))
	return rounds
}

// effectiveChanges counts, per key, the accepted writes that changed the policy (a write of the
// bytes already there changes nothing).
func effectiveChanges(ws []keyWrite, initial map[string]string) map[string]int {
	cur := map[string]string{}
	for k, p := range initial {
		cur[k] = p
	}
	out := map[string]int{}
	for _, w := range ws {
		if w.Status != 200 || cur[w.KeyID] == w.Policy {
			continue
		}
		out[w.KeyID]++
		cur[w.KeyID] = w.Policy
	}
	return out
}

// When every call fails transiently, every event is handed back for retry; malformed records
// are acknowledged (reported, never retried: a retry cannot fix them).
func TestFaultsTransientFailuresHandedBackMalformedAcknowledged(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	proxy, url := faultProxy(t, rec.URL, localaws.FaultConfig{Seed: 1, Rate: 1,
		Kinds: []string{localaws.FaultThrottle, localaws.Fault500, localaws.Fault503, localaws.FaultReset}})
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, url, 2)
	ids := []string{"ok-1", "bad-json", "no-detail", "ok-2"}
	resp := invokeSQS(t, context.Background(), rm, sqsRecords(t, ids, [][]byte{
		shareEvent(t, f.image, scenario.Target),
		[]byte(`{"detail-type": "AWS API Call via CloudTrail", `),
		[]byte(`{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","account":"111122223333","region":"us-east-1","detail":"oops"}`),
		shareEvent(t, f.image, scenario.Target),
	}))
	var failed []string
	for _, b := range resp.BatchItemFailures {
		failed = append(failed, b.ItemIdentifier)
	}
	if strings.Join(failed, ",") != "ok-1,ok-2" {
		t.Errorf("batchItemFailures = %v, want the two valid records only", failed)
	}
	if len(resp.Records) != 4 {
		t.Fatalf("records: %+v", resp.Records)
	}
	for _, i := range []int{1, 2} {
		if r := resp.Records[i]; r.Error == "" || r.Trigger != "invalid" {
			t.Errorf("malformed record %s not reported: %+v", ids[i], r)
		}
	}
	for _, i := range []int{0, 3} {
		if resp.Records[i].Error == "" {
			t.Errorf("record %s has no error although nothing could be read", ids[i])
		}
	}
	if len(rec.Writes()) != 0 || keyPolicy(t, f.key) != before {
		t.Error("something was written")
	}
	if s := proxy.Stats(); s.Forwarded != 0 || s.Faults != s.Requests {
		t.Errorf("proxy stats %+v", s)
	}
}

// Near the invocation's deadline no write is started: the records go back for retry, and the
// retry (with time left) does the work once.
func TestFaultsDeadlineNearStartsNoWrite(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2, WithWriteMargin(time.Minute))
	batch := sqsRecords(t, []string{"m-1"}, [][]byte{shareEvent(t, f.image, scenario.Target)})

	t.Run("deadline within the write margin", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp := invokeSQS(t, ctx, rm, batch)
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-1" {
			t.Errorf("want the record handed back: %+v", resp.BatchItemFailures)
		}
		if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusFailed || resp.Actions[0].Reason != reasonDeadline ||
			resp.Actions[0].Cause != report.CauseDeadline {
			t.Errorf("actions: %+v", resp.Actions)
		}
		if len(rec.Writes()) != 0 || keyPolicy(t, f.key) != before {
			t.Error("a write was started")
		}
	})
	t.Run("deadline already passed", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		n := rec.Requests()
		resp := invokeSQS(t, ctx, rm, batch)
		if len(resp.BatchItemFailures) != 1 {
			t.Errorf("want the record handed back: %+v", resp)
		}
		if got := rec.Requests() - n; got != 0 {
			t.Errorf("%d requests reached AWS after the deadline", got)
		}
	})
	t.Run("redelivery with time left", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		resp := invokeSQS(t, ctx, rm, batch)
		if len(resp.BatchItemFailures) != 0 || len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied {
			t.Fatalf("retry did not complete: %+v %+v", resp.BatchItemFailures, resp.Actions)
		}
		if n := len(rec.Writes()); n != 1 {
			t.Errorf("%d writes, want 1", n)
		}
		checkWrites(t, rec.Writes(), map[string]string{f.key: before}, map[string][]string{f.key: {scenario.Target}})
	})
}

// The answer to a write is lost (the connection resets after KMS applied it): the SDK's retryer
// sends the same bytes again, which changes nothing; the action is applied once.
func TestFaultsLostWriteAnswerRetriedIdempotently(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	lose := localaws.NewFaultProxy(rec.URL, localaws.FaultConfig{Seed: 1, Rate: 1, Kinds: []string{localaws.FaultResetAfter}})
	u, err := url.Parse(rec.URL)
	if err != nil {
		t.Fatal(err)
	}
	direct := httputil.NewSingleHostReverseProxy(u)
	var lost atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "TrentService.PutKeyPolicy" && lost.CompareAndSwap(false, true) {
			lose.ServeHTTP(w, r)
			return
		}
		direct.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, srv.URL, faultAttempts)
	res := invokeRaw(t, rm, shareEvent(t, f.image, scenario.Target))
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", res.Actions)
	}
	ws := rec.Writes()
	if len(ws) != 2 || ws[0].Policy != ws[1].Policy {
		t.Fatalf("want the same write twice (the first answer lost): %d writes", len(ws))
	}
	if n := effectiveChanges(ws, map[string]string{f.key: before})[f.key]; n != 1 {
		t.Errorf("%d effective changes, want 1", n)
	}
	checkWrites(t, ws, map[string]string{f.key: before}, map[string][]string{f.key: {scenario.Target}})
	if got := res.Stats["KMS:PutKeyPolicy"]; got != 1 {
		t.Errorf("the remediator made %d PutKeyPolicy calls, want 1 (the SDK retried it)", got)
	}
}

// An alert that cannot be published (SNS failing transiently) hands its records back: in alert
// mode the alert is all there is, and the redelivery finds the same things and tells them.
func TestFaultsUnpublishedAlertIsRetried(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	direct := httputil.NewSingleHostReverseProxy(u)
	snsDown := localaws.NewFaultProxy(env.URL, localaws.FaultConfig{Seed: 1, Rate: 1, Kinds: []string{localaws.Fault503}})
	var down atomic.Bool
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && strings.Contains(r.Header.Get("Authorization"), "/sns/aws4_request") {
			snsDown.ServeHTTP(w, r)
			return
		}
		direct.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rm, sink := newRemediatorOn(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true}, srv.URL, 2)
	batch := sqsRecords(t, []string{"m-1"}, [][]byte{shareEvent(t, f.image, scenario.Target)})

	resp := invokeSQS(t, context.Background(), rm, batch)
	if resp.Alert.Published || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("SNS down: want no alert and the record handed back: %+v %+v", resp.Alert, resp.BatchItemFailures)
	}
	down.Store(false)
	resp = invokeSQS(t, context.Background(), rm, batch)
	if !resp.Alert.Published || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("SNS up again: want the alert and nothing handed back: %+v %+v", resp.Alert, resp.BatchItemFailures)
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, f.key) {
		t.Errorf("want the one alert about %s: %d alerts", f.key, len(alerts))
	}
}
