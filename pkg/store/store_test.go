package store_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

// The store's tests run its real DynamoDB calls against the local AWS.
var db *dynamodb.Client

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(withMoto(m))
}

// withMoto runs the tests against moto behind the gap filler, which makes DynamoDB's
// conditional writes atomic as they are on AWS.
func withMoto(m *testing.M) int {
	ctx := context.Background()
	env, err := localaws.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the local AWS:", err)
		return 1
	}
	defer env.Close()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 2,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAAMIKMSESTATE0001", "local-secret", "")}
	db = dynamodb.NewFromConfig(cfg)
	return m.Run()
}

var tableSeq atomic.Int64

// clock is a settable time shared by the stores of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// counting counts the calls a store makes.
type counting struct {
	store.DynamoDB
	mu    sync.Mutex
	calls map[string]int
}

func (c *counting) count(op string) {
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
}

func (c *counting) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count("Query")
	return c.DynamoDB.Query(ctx, in, o...)
}

func (c *counting) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem")
	return c.DynamoDB.PutItem(ctx, in, o...)
}

func (c *counting) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.count("BatchWriteItem")
	return c.DynamoDB.BatchWriteItem(ctx, in, o...)
}

// newTable makes a fresh table and a store over it whose clock starts at t0.
func newTable(t *testing.T) (string, *clock) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local AWS (moto)")
	}
	name, err := scenario.EstateTable(context.Background(), aws.Config{Region: "us-east-1", BaseEndpoint: db.Options().BaseEndpoint,
		Credentials: db.Options().Credentials}, fmt.Sprintf("estate-%d", tableSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return name, &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
}

func open(table string, c *clock) *store.Store { return store.New(db, table, store.WithClock(c.now)) }

var (
	scope = store.Scope{Account: "111122223333", Region: "us-east-1"}
	key   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func gap(account, image string) store.Finding {
	return store.Finding{Code: report.KeyPolicyMissingUse, KeyARN: key, Account: account, PrincipalARN: "arn:aws:iam::" + account + ":root",
		ImageID: image, Scope: scope, Severity: "high", Remedy: "key-policy", Message: "missing", Fixable: true}
}

func sweep(started time.Time, fs ...store.Finding) store.Report {
	return store.Report{Findings: fs, Covered: []store.Coverage{{Scope: scope, AllAccounts: true}}, Started: started}
}

type summary struct {
	kind  store.Kind
	alert bool
}

func summarize(chs []store.Change) map[string]summary {
	out := map[string]summary{}
	for _, ch := range chs {
		out[ch.Finding.Account+" "+ch.Finding.ImageID] = summary{ch.Kind, ch.Alert}
	}
	return out
}

func record(t *testing.T, s *store.Store, rep store.Report) []store.Change {
	t.Helper()
	chs, err := s.Record(context.Background(), rep)
	if err != nil {
		t.Fatal(err)
	}
	return chs
}

func expect(t *testing.T, step string, chs []store.Change, want map[string]summary) {
	t.Helper()
	got := summarize(chs)
	if len(got) != len(want) {
		t.Errorf("%s: changes %v, want %v", step, got, want)
		return
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %+v, want %+v", step, k, got[k], w)
		}
	}
}

// TestAlertOnChangeOnly: a sweep alerts once for a new finding, not when the next sweep sees it
// again, once when its severity changes, and once when a complete sweep no longer finds it.
func TestAlertOnChangeOnly(t *testing.T) {
	table, c := newTable(t)
	s := open(table, c)
	ctx := context.Background()
	a, b := gap("444455556666", "ami-1"), gap("777788889999", "ami-2")

	chs := record(t, s, sweep(c.now(), a, b))
	expect(t, "first sweep", chs, map[string]summary{"444455556666 ami-1": {store.Appeared, true}, "777788889999 ami-2": {store.Appeared, true}})
	if err := s.Told(ctx, chs); err != nil {
		t.Fatal(err)
	}
	c.add(24 * time.Hour)
	expect(t, "second sweep", record(t, s, sweep(c.now(), a, b)), map[string]summary{
		"444455556666 ami-1": {store.SeenAgain, false}, "777788889999 ami-2": {store.SeenAgain, false}})

	c.add(24 * time.Hour)
	worse := a
	worse.Severity = "critical"
	chs = record(t, s, sweep(c.now(), worse, b))
	expect(t, "third sweep", chs, map[string]summary{"444455556666 ami-1": {store.Changed, true}, "777788889999 ami-2": {store.SeenAgain, false}})
	if err := s.Told(ctx, chs); err != nil {
		t.Fatal(err)
	}

	c.add(24 * time.Hour)
	chs = record(t, s, sweep(c.now(), worse))
	expect(t, "b fixed", chs, map[string]summary{"444455556666 ami-1": {store.SeenAgain, false}, "777788889999 ami-2": {store.Resolved, true}})
	if err := s.Told(ctx, chs); err != nil {
		t.Fatal(err)
	}
	c.add(24 * time.Hour)
	expect(t, "after", record(t, s, sweep(c.now(), worse)), map[string]summary{"444455556666 ami-1": {store.SeenAgain, false}})

	open, err := s.OpenFindings(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].ID() != a.ID() || open[0].Severity != "critical" || !open[0].Open {
		t.Errorf("open findings %+v, want only a, critical", open)
	}
}

// TestUntoldIsOwed: a change whose alert was never published (Told not called) is told on the
// next sighting, and a resolution likewise.
func TestUntoldIsOwed(t *testing.T) {
	table, c := newTable(t)
	s := open(table, c)
	a := gap("444455556666", "ami-1")
	record(t, s, sweep(c.now(), a)) // alert lost
	c.add(time.Hour)
	chs := record(t, s, sweep(c.now(), a))
	expect(t, "next sweep", chs, map[string]summary{"444455556666 ami-1": {store.SeenAgain, true}})
	if err := s.Told(context.Background(), chs); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	expect(t, "told", record(t, s, sweep(c.now(), a)), map[string]summary{"444455556666 ami-1": {store.SeenAgain, false}})
	c.add(time.Hour)
	expect(t, "resolved, alert lost", record(t, s, sweep(c.now())), map[string]summary{"444455556666 ami-1": {store.Resolved, true}})
	c.add(time.Hour)
	chs = record(t, s, sweep(c.now()))
	expect(t, "resolution owed", chs, map[string]summary{"444455556666 ami-1": {store.Resolved, true}})
	if err := s.Told(context.Background(), chs); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	expect(t, "resolution told", record(t, s, sweep(c.now())), map[string]summary{})
}

// TestResolvedOnlyByCoverage: a finding is resolved only by a check that covered it without
// seeing it (a complete sweep of its scope, or a re-check of its image and account), never by
// a check of something else, by an errored record (which covers nothing) or by expiry.
func TestResolvedOnlyByCoverage(t *testing.T) {
	table, c := newTable(t)
	s := open(table, c)
	a := gap("444455556666", "ami-1")
	iam := store.Finding{Code: report.IAMMissingUse, KeyARN: key, Account: "444455556666", PrincipalARN: "arn:aws:iam::444455556666:role/app",
		ImageID: "ami-1", Scope: scope, Severity: "high", Remedy: "iam-policy"}
	if err := s.Told(context.Background(), record(t, s, store.Report{Findings: []store.Finding{a, iam}})); err != nil {
		t.Fatal(err)
	}
	for name, rep := range map[string]store.Report{
		"an errored record":         {},
		"another region's sweep":    {Covered: []store.Coverage{{Scope: store.Scope{Account: scope.Account, Region: "eu-west-1"}, AllAccounts: true}}},
		"another image's re-check":  {Covered: []store.Coverage{{Scope: scope, ImageID: "ami-2", AllAccounts: true}}},
		"another account's launch":  {Covered: []store.Coverage{{Scope: scope, ImageID: "ami-1", Accounts: []string{"777788889999"}}}},
		"a sweep started before it": {Covered: []store.Coverage{{Scope: scope, AllAccounts: true}}, Started: c.now().Add(-time.Minute)},
	} {
		if chs := record(t, s, rep); len(chs) != 0 {
			t.Errorf("%s changed %v", name, summarize(chs))
		}
	}
	c.add(store.OpenRetention / 2)
	chs := record(t, s, sweep(c.now()))
	expect(t, "a complete sweep resolves the key side, not IAM", chs, map[string]summary{"444455556666 ami-1": {store.Resolved, true}})
	if err := s.Told(context.Background(), chs); err != nil {
		t.Fatal(err)
	}
	open, err := s.OpenFindings(context.Background(), "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].Code != report.IAMMissingUse {
		t.Fatalf("open findings %+v, want the IAM one", open)
	}
	launch := store.Report{Covered: []store.Coverage{{Scope: scope, ImageID: "ami-1", Accounts: []string{"444455556666"}, Principal: iam.PrincipalARN}}, Started: c.now()}
	c.add(time.Minute)
	if chs := record(t, s, launch); len(chs) != 1 || chs[0].Kind != store.Resolved || chs[0].Finding.Code != report.IAMMissingUse {
		t.Errorf("a re-check of the principal changed %v, want the IAM finding resolved", summarize(chs))
	}

	// Expiry retires an open finding silently; seen again after that it is new.
	b := gap("777788889999", "ami-3")
	record(t, s, store.Report{Findings: []store.Finding{b}})
	c.add(store.OpenRetention + time.Hour)
	if open, err := s.OpenFindings(context.Background(), "777788889999"); err != nil || len(open) != 0 {
		t.Errorf("expired finding still listed: %+v %v", open, err)
	}
	expect(t, "after expiry", record(t, s, store.Report{Findings: []store.Finding{b}}), map[string]summary{"777788889999 ami-3": {store.Appeared, true}})
}

// TestSeenDuringSweep: a finding an event sees while a sweep runs is not resolved by that sweep,
// even though the sweep did not see it.
func TestSeenDuringSweep(t *testing.T) {
	table, c := newTable(t)
	s := open(table, c)
	a := gap("444455556666", "ami-1")
	record(t, s, store.Report{Findings: []store.Finding{a}})
	c.add(time.Hour)
	started := c.now()
	c.add(time.Second)
	record(t, s, store.Report{Findings: []store.Finding{a}}) // an event, mid-sweep
	c.add(time.Second)
	if chs := record(t, s, sweep(started)); len(chs) != 0 {
		t.Errorf("the sweep changed %v, want nothing (the finding was seen after it began)", summarize(chs))
	}
}

// TestLaunchAlertsHourly: a real failed launch alerts for a finding seen again at most once an hour.
func TestLaunchAlertsHourly(t *testing.T) {
	table, c := newTable(t)
	s := open(table, c)
	a := gap("444455556666", "ami-1")
	launch := store.Report{Findings: []store.Finding{a}, LaunchFailed: true}
	ctx := context.Background()
	var alerts []bool
	for _, step := range []time.Duration{0, 10 * time.Minute, 40 * time.Minute, 15 * time.Minute, 30 * time.Minute} {
		c.add(step)
		chs := record(t, s, launch)
		if err := s.Told(ctx, chs); err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, chs[0].Alert)
	}
	// t = 0 (new), 10m, 50m, 65m (an hour after the first), 95m.
	if want := []bool{true, false, false, true, false}; fmt.Sprint(alerts) != fmt.Sprint(want) {
		t.Errorf("launch alerts %v, want %v", alerts, want)
	}
	// A sweep in between does not count as a launch alert.
	c.add(61 * time.Minute)
	if chs := record(t, s, sweep(c.now(), a)); chs[0].Alert {
		t.Error("a sweep alerted for a finding seen again")
	}
	if chs := record(t, s, launch); !chs[0].Alert {
		t.Error("a launch an hour after the last launch alert did not alert")
	}
}

// TestConcurrentRecordsAlertOnce: many stores (as many Lambda environments) record the same new
// finding at once; exactly one of them is told to alert, and the item ends with every write.
func TestConcurrentRecordsAlertOnce(t *testing.T) {
	table, c := newTable(t)
	a := gap("444455556666", "ami-1")
	const n = 8
	var wg sync.WaitGroup
	results := make([][]store.Change, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			s := open(table, c)
			<-start
			results[i], errs[i] = s.Record(context.Background(), store.Report{Findings: []store.Finding{a}})
		})
	}
	close(start)
	wg.Wait()
	appeared, alerted := 0, 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("store %d: %v", i, errs[i])
		}
		for _, ch := range results[i] {
			if ch.Kind == store.Appeared {
				appeared++
			}
			if ch.Alert && ch.Kind == store.Appeared {
				alerted++
			}
		}
	}
	if appeared != 1 || alerted != 1 {
		t.Errorf("%d stores saw it appear (%d alerted), want exactly 1", appeared, alerted)
	}
}

// TestLease: among stores racing for one lease, one holds it at a time; a holder that never
// releases loses it when it expires.
func TestLease(t *testing.T) {
	table, _ := newTable(t)
	ctx := context.Background()
	var holding, most atomic.Int32
	var wg sync.WaitGroup
	var got atomic.Int32
	for range 6 {
		wg.Go(func() {
			s := store.New(db, table)
			l, err := s.Acquire(ctx, "key/k1", 10*time.Second, 20*time.Second)
			if err != nil {
				t.Errorf("acquire: %v", err)
				return
			}
			got.Add(1)
			h := holding.Add(1)
			for {
				m := most.Load()
				if h <= m || most.CompareAndSwap(m, h) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			holding.Add(-1)
			if err := l.Release(ctx, true); err != nil {
				t.Errorf("release: %v", err)
			}
		})
	}
	wg.Wait()
	if got.Load() != 6 || most.Load() != 1 {
		t.Errorf("%d holders got the lease, at most %d at once; want 6, 1", got.Load(), most.Load())
	}

	c := &clock{t: time.Now()}
	s := store.New(db, table, store.WithClock(c.now))
	first, err := s.Acquire(ctx, "key/k2", time.Minute, 0)
	if err != nil || !first.LastWrite.IsZero() {
		t.Fatalf("first holder: %+v %v, want no write before", first, err)
	}
	if _, err := s.Acquire(ctx, "key/k2", time.Minute, 0); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a held lease was taken again: %v", err)
	}
	c.add(time.Minute + time.Second)
	l, err := s.Acquire(ctx, "key/k2", time.Minute, 0)
	if err != nil {
		t.Fatalf("an expired lease was not taken: %v", err)
	}
	if err := first.Release(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "key/k2", time.Minute, 0); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatal("the expired holder's release freed the new holder's lease")
	}
	wroteAt := c.now()
	if err := l.Release(ctx, true); err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	next, err := s.Acquire(ctx, "key/k2", time.Minute, 0)
	if err != nil || !next.LastWrite.Equal(wroteAt.Truncate(time.Millisecond)) {
		t.Fatalf("the next holder: %+v %v, want the last write at %v", next, err, wroteAt)
	}
	if err := next.Release(ctx, false); err != nil {
		t.Fatal(err)
	}
	again, err := s.Acquire(ctx, "key/k2", time.Minute, 0)
	if err != nil || !again.LastWrite.Equal(next.LastWrite) {
		t.Errorf("a release without a write moved the last write: %+v %v", again, err)
	}
}

// TestOwedAlerts: an owed alert is kept until one caller claims it (of concurrent claims, one),
// oldest first, and retires with the longest SQS retention.
func TestOwedAlerts(t *testing.T) {
	table, c := newTable(t)
	s := open(table, c)
	ctx := context.Background()
	if err := s.Owe(ctx, store.OwedAlert{ID: "fp1", Records: []string{"ev-2", "ev-1", "ev-2"}, Payload: []byte(`{"subject":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	if err := s.Owe(ctx, store.OwedAlert{ID: "fp2", Payload: []byte("second")}); err != nil {
		t.Fatal(err)
	}
	owed, err := s.Owed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(owed) != 2 || owed[0].ID != "fp1" || string(owed[0].Payload) != `{"subject":"x"}` || fmt.Sprint(owed[0].Records) != "[ev-1 ev-2]" || owed[1].ID != "fp2" {
		t.Fatalf("owed = %+v", owed)
	}
	var claimed atomic.Int32
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			ok, err := store.New(db, table).Claim(ctx, owed[0])
			if err != nil {
				t.Error(err)
			}
			if ok {
				claimed.Add(1)
			}
		})
	}
	wg.Wait()
	if claimed.Load() != 1 {
		t.Errorf("%d of 5 concurrent claims succeeded, want 1", claimed.Load())
	}
	if owed, err := s.Owed(ctx); err != nil || len(owed) != 1 || owed[0].ID != "fp2" {
		t.Errorf("after the claim: %+v %v", owed, err)
	}
	c.add(store.OwedRetention)
	if owed, err := s.Owed(ctx); err != nil || len(owed) != 0 {
		t.Errorf("after retention: %+v (%v)", owed, err)
	}
}

// TestKeyUsage: the images using a key are remembered with one Query per key, writing only what
// is new or a week old.
func TestKeyUsage(t *testing.T) {
	table, c := newTable(t)
	cnt := &counting{DynamoDB: db, calls: map[string]int{}}
	s := store.New(cnt, table, store.WithClock(c.now))
	ctx := context.Background()
	var imgs []store.ImageRef
	for i := range 30 {
		imgs = append(imgs, store.ImageRef{Owner: scope.Account, Region: scope.Region, ImageID: fmt.Sprintf("ami-%03d", i)})
	}
	if err := s.RecordUsage(ctx, key, imgs); err != nil {
		t.Fatal(err)
	}
	if cnt.calls["Query"] != 1 || cnt.calls["BatchWriteItem"] != 2 {
		t.Errorf("first record: %v, want 1 Query, 2 BatchWriteItem (30 items)", cnt.calls)
	}
	c.add(time.Hour)
	if err := s.RecordUsage(ctx, key, imgs); err != nil {
		t.Fatal(err)
	}
	if cnt.calls["Query"] != 2 || cnt.calls["BatchWriteItem"] != 2 {
		t.Errorf("second record: %v, want one more Query and no write", cnt.calls)
	}
	got, err := s.ImagesUsing(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 || got[0] != imgs[0] {
		t.Errorf("images using the key: %d, first %+v", len(got), got)
	}
	if got, err := s.ImagesUsing(ctx, key+"-other"); err != nil || len(got) != 0 {
		t.Errorf("another key: %+v %v", got, err)
	}
}
