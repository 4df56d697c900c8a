// Package remediate is the remediator's spine: for each decoded trigger it resolves the image,
// its snapshots and their KMS keys, decides what each target account is missing, then plans (and
// in fix mode applies and verifies) one key-policy write per key, and reports.
package remediate

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// DefaultWriteMargin is how much time must be left before the invocation's deadline for the
// remediator to start a write; closer than that, it hands the work back for retry.
const DefaultWriteMargin = 5 * time.Second

// Remediator is built once per Lambda environment and reused by warm invocations.
type Remediator struct {
	cfg         config.Config
	clients     awsapi.Factory
	log         zerolog.Logger
	coord       *Coordinator
	writeMargin time.Duration
	keySettle   time.Duration
	alerts      *alertMemory
	now         func() time.Time
	metrics     metricSink
	store       *store.Store // nil: no estate store
}

// Option adjusts a Remediator.
type Option func(*Remediator)

// WithWriteMargin sets the deadline margin under which no write is started.
func WithWriteMargin(d time.Duration) Option { return func(r *Remediator) { r.writeMargin = d } }

// WithCoordinator makes the Remediator share c's write locks and memory with every other
// Remediator built with c (all of one process should be).
func WithCoordinator(c *Coordinator) Option { return func(r *Remediator) { r.coord = c } }

// New builds a Remediator that acts with clients (an *awsapi.Clients in the Lambda).
func New(cfg config.Config, clients awsapi.Factory, log zerolog.Logger, opts ...Option) *Remediator {
	r := &Remediator{cfg: cfg, clients: clients, log: log, writeMargin: DefaultWriteMargin,
		keySettle: DefaultKeySettle, alerts: newAlertMemory(time.Hour), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	if r.coord == nil {
		r.coord = NewCoordinator()
	}
	return r
}

// Outcome is what one invocation produced.
type Outcome struct {
	Result report.Result
	// Failed lists the SQS message IDs to hand back for retry (transient failures only; records
	// that can never succeed are acknowledged and reported instead).
	Failed []string
	// Counts are the invocation's metrics (the Lambda handler writes them as EMF lines).
	Counts metrics.Counts
}

// item is one record on its way through the invocation.
type item struct {
	msgID     string
	receives  int // SQS ApproximateReceiveCount, 0 when unknown
	trig      trigger.Trigger
	rec       report.Record
	retry     bool // hand back for retry
	untrusted map[string]bool
	keys      []*key // the keys this record's image depends on
	targets   []string
	// groupRole is the service-linked role ARN DescribeAutoScalingGroups gave for the record's
	// group: the only role other than an account root a key policy may gain (asg.go).
	groupRole string
	// trailLauncher is the launching principal the remediator itself read from the account's
	// CloudTrail RunInstances record (launcher.go); launchLookup what CloudTrail said of the
	// record the event claims to be (identity_grant.go).
	trailLauncher string
	launchLookup  *launchLookup
	// tag is what the findings being added are about (see addFinding).
	tag    findingTag
	parent *item      // the record that spawned this one (estate.go)
	estate estateNote // what it checked, for the estate store

	err        error         // why the record ended in an error; nil when it did not
	isUnusable bool          // unusable input: acknowledged, never retried
	missing    []missingPart // optional parts that could not be done
	told       bool          // the alert of this invocation tells about the record (settle decides)
	last       bool          // this is the record's last delivery: nothing redelivers it
}

// findingTag is the part a key plays in what is being checked, and the launch template it comes
// from: addFinding puts them on the findings that do not say.
type findingTag struct {
	role, template string
}

// newItem is a record on its way: its report starts from what its trigger says.
func newItem(msgID string, t trigger.Trigger) *item {
	it := &item{msgID: msgID, trig: t, untrusted: map[string]bool{}}
	it.rec = report.Record{EventID: t.EventID, Trigger: string(t.Kind), Account: t.Account,
		Region: t.Region, ImageID: t.ImageID, IgnoredReason: t.IgnoredReason, Findings: []report.Finding{}}
	if t.Principal != nil {
		it.rec.PrincipalARN = t.Principal.ARN
	}
	return it
}

// run is the state of one invocation.
type run struct {
	*Remediator
	inv   *inventory
	log   zerolog.Logger
	items []*item

	owners ownerCache // what each key's tags and stack say about writing it (ownership.go)

	mu         sync.Mutex
	needs      map[string]*keyNeed   // key ARN -> what its policy must gain
	grantNeeds map[string]*grantNeed // key ARN + " " + grantee -> the grant to create
	spawned    []*item               // records spawned in the current round (estate.go)
	started    time.Time
	estate     *estateOutcome // what the estate store made of the findings
}

// keyNeed collects, across the batch, what one key policy must gain: accounts (their roots, for
// EC2's use), Auto Scaling service-linked roles of the key's own account (for EC2's use, by the
// role itself), and principals of other accounts whose account must be able to create a launch
// grant for them.
type keyNeed struct {
	key      *key
	accounts map[string]bool
	roles    map[string]bool
	grantees map[string]bool
	items    []*item
	found    []report.Finding // what planning the write found about the key (added to items after the writes)
}

// Handle processes one decoded invocation.
func (rm *Remediator) Handle(ctx context.Context, in trigger.Invocation) Outcome {
	ctx, counter := awsapi.WithCounter(ctx)
	r := &run{Remediator: rm, inv: newInventory(rm.clients), log: rm.log, needs: map[string]*keyNeed{}, grantNeeds: map[string]*grantNeed{}, started: rm.now()}
	partition := awsid.RegionPartition(rm.clients.Region())
	for _, rec := range in.Records {
		it := newItem(rec.MessageID, rec.Trigger)
		it.receives = rec.ReceiveCount
		if rec.Err != nil {
			it.rec.Trigger = "invalid"
			it.unusable(rec.Err)
			if it.rec.EventID == "" {
				it.rec.EventID = rec.MessageID
			}
			r.log.Warn().Str("message_id", clip(rec.MessageID, 256)).Err(rec.Err).Msg("malformed record acknowledged")
		} else if err := validateTrigger(rec.Trigger, partition); err != nil {
			it.unusable(err)
			r.log.Warn().Str("message_id", clip(rec.MessageID, 256)).Str("event_id", clip(it.rec.EventID, 256)).Err(err).
				Msg("unusable record acknowledged: nothing was called")
		}
		r.items = append(r.items, it)
	}

	r.diagnoseAll(ctx)
	var actions []report.Action
	// The identity side is checked first: a grant it needs may need the key policy to allow it.
	r.stage("identity policies", func() { r.checkIdentities(ctx) })
	r.stage("key policies", func() { actions = append(actions, r.applyKeyPolicies(ctx)...) })
	r.stage("grants", func() { actions = append(actions, r.applyGrants(ctx, actions)...) })
	for _, it := range r.items {
		r.settle(it, r.lastDelivery(in.FromSQS, it))
	}
	// After settle: a failure is a finding the estate store keeps like any other.
	r.stage("estate store", func() { r.recordEstate(ctx, actions) })

	res := report.Result{Records: make([]report.Record, 0, len(r.items)), Actions: actions}
	for _, it := range r.items {
		res.Records = append(res.Records, it.rec)
	}
	if res.Actions == nil {
		res.Actions = []report.Action{}
	}
	r.publishAlert(ctx, &res)
	res.Stats = counter.Snapshot()
	r.log.Info().Interface("stats", res.Stats).Int("records", len(res.Records)).Int("actions", len(res.Actions)).
		Bool("alert_published", res.Alert.Published).Bool("alert_owed", res.Alert.Owed).Msg("invocation done")

	var failed []string
	handedBack := map[string]bool{} // spawned records share their parent's message
	for _, it := range r.items {
		if it.retry && it.msgID != "" && !handedBack[it.msgID] {
			handedBack[it.msgID] = true
			failed = append(failed, it.msgID)
		}
	}
	sort.Strings(failed)
	out := Outcome{Result: res, Failed: failed}
	out.Counts = r.counts(out, in.FromSQS)
	return out
}

// diagnoseAll diagnoses every record; records run concurrently (bounded) so their AWS reads
// overlap, and the inventory makes sure each image or key is read once.
func (r *run) diagnoseAll(ctx context.Context) {
	r.diagnoseItems(ctx, r.items)
	r.diagnoseSpawned(ctx)
}

// diagnoseItems diagnoses items, a bounded number at a time.
func (r *run) diagnoseItems(ctx context.Context, items []*item) {
	const parallel = 8
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, it := range items {
		if it.rec.Error != "" || it.trig.Kind == trigger.Ignored {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(it *item) {
			defer wg.Done()
			defer func() { <-sem }()
			r.diagnoseSafely(ctx, it)
		}(it)
	}
	wg.Wait()
}

// diagnoseSafely turns a panic into a failed record instead of a crashed batch.
func (r *run) diagnoseSafely(ctx context.Context, it *item) {
	defer func() {
		if p := recover(); p != nil {
			it.fail(fmt.Errorf("%w: %v", errInternal, p))
			r.log.Error().Str("event_id", clip(it.rec.EventID, 256)).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("record panicked")
		}
	}()
	if err := r.diagnose(ctx, it); err != nil {
		it.fail(err)
		r.log.Warn().Str("event_id", clip(it.rec.EventID, 256)).Str("image", clip(it.rec.ImageID, 256)).Bool("retry", it.retry).Err(err).Msg("record failed")
	}
}

// stage runs one stage of the invocation; a panic in it fails (and hands back for retry) every
// record that reached it instead of crashing the batch. Records still carry their event IDs.
func (r *run) stage(name string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error().Str("stage", name).Interface("panic", p).Bytes("stack", debug.Stack()).Msg("stage panicked")
			for _, it := range r.items {
				if it.rec.Error == "" && it.trig.Kind != trigger.Ignored && it.rec.IgnoredReason == "" {
					it.fail(fmt.Errorf("%w in %s: %v", errInternal, name, p))
				}
			}
		}
	}()
	f()
}
