package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
)

// Options configures Run.
type Options struct {
	ModuleDir  string // the repository root (where go.mod is)
	RIE        string // path of aws-lambda-rie
	Go         string // the go command
	ColdStarts int    // fresh starts per binary, interleaved (≥ 30 for the cold-start goal)
	BenchTime  string // -benchtime of the Go benchmarks
	BenchCount int    // rounds of the Go benchmarks: the table shows medians
	// EstateImages is section 6's estate at 1x (at least 2,000 for the table); 0 means 2,040
	// (34 images in each of its 60 accounts x regions), negative skips the section.
	EstateImages int
	Progress     io.Writer
}

// Goals, each with its reason: the cold start against the SDK floor, the peak RSS of a batch, and
// the policy engine against encoding/json decoding the same document.
const (
	ColdStartRatioGoal = 1.05 // cold start (init + first invoke), ours / the SDK floor
	PeakRSSGoalMB      = 40.0
	ParseRatioGoal     = 1.5 // ns/op over encoding/json into any: parse keeps order and raw values, about one decode
	EvaluateRatioGoal  = 1.0 // one request against a parsed policy costs less than decoding it
	EditRatioGoal      = 3.0 // parse, plan, write back: about three passes
)

// Run builds the binaries, starts a local AWS with the seed scenario, measures sections 2, 3, 4,
// 1 and 5 in that order (the Go benchmarks last, on a machine the other sections no longer load)
// and returns the table in section order.
func Run(ctx context.Context, o Options) (*Table, error) {
	if o.ColdStarts <= 0 {
		o.ColdStarts = 30
	}
	if o.BenchTime == "" {
		o.BenchTime = "300ms"
	}
	if o.BenchCount <= 0 {
		o.BenchCount = 5
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	say := func(f string, a ...any) { fmt.Fprintf(o.Progress, "bench: "+f+"\n", a...) }
	eventsDir := filepath.Join(o.ModuleDir, "events")
	tmp, err := os.MkdirTemp("", "amikms-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	say("building bootstrap, the empty handler and the SDK floor (%s/%s) and the arm64 bootstrap", runtime.GOOS, runtime.GOARCH)
	bin := func(name string) string { return filepath.Join(tmp, name) }
	builds := []struct{ pkg, out, goos, goarch string }{
		{"./functions/remediator", bin("bootstrap"), "", ""},
		{"./internal/rie/testdata/emptyhandler", bin("empty"), "", ""},
		{"./internal/rie/testdata/sdkfloor", bin("sdkfloor"), "", ""},
		{"./functions/remediator", bin("bootstrap-arm64"), "linux", "arm64"},
	}
	for _, b := range builds {
		if err := BuildLambda(ctx, o.Go, o.ModuleDir, b.pkg, b.out, b.goos, b.goarch); err != nil {
			return nil, err
		}
	}

	say("starting the local AWS and seeding the scenario")
	env, err := localaws.Start(ctx)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	seed, err := world.Seed(ctx, env.Filler)
	if err != nil {
		return nil, err
	}
	// Under the emulator the owner is a member account (see lambdaEnv).
	if err := world.MemberRole(ctx, scenario.Owner); err != nil {
		return nil, err
	}
	sink, err := world.NewAlertSink(ctx, "bench-alerts")
	if err != nil {
		return nil, err
	}
	t := &Table{}

	say("section 2: AWS calls per event")
	calls, err := sampleCalls(ctx, world, seed, sink.TopicARN, eventsDir)
	if err != nil {
		return nil, err
	}
	more, err := scenarioCalls(ctx, world, sink.TopicARN, eventsDir, env.Filler.RecordTrail)
	if err != nil {
		return nil, err
	}
	calls = append(calls, more...)

	say("section 3: batch coalescing")
	batch, err := runBatch(ctx, world, sink.TopicARN, eventsDir)
	if err != nil {
		return nil, err
	}
	calls = append(calls, batch.calls)

	say("section 4: peak RSS of bootstrap on the batch, under the emulator")
	mem, err := batchUnderRIE(ctx, o.RIE, bin("bootstrap"), env.URL, sink.TopicARN, world, batch.fixture)
	if err != nil {
		return nil, err
	}

	var est *estateResult
	if o.EstateImages >= 0 {
		scopes := EstateAccounts * len(EstateRegions)
		perScope := 34
		if o.EstateImages > 0 {
			perScope = (o.EstateImages + scopes - 1) / scopes
		}
		if est, err = runEstate(ctx, env, world, o.RIE, bin("bootstrap"), sink.TopicARN, perScope, say); err != nil {
			return nil, fmt.Errorf("section 6: %w", err)
		}
	}

	say("section 1: %d cold starts each of bootstrap, the empty handler and the SDK floor", o.ColdStarts)
	cold, err := coldStarts(ctx, o, bin, env.URL, sink.TopicARN, eventsDir, seed)
	if err != nil {
		return nil, err
	}

	say("section 5: Go benchmarks (-benchtime %s, %d rounds)", o.BenchTime, o.BenchCount)
	rounds, err := runGoBench(ctx, o.Go, o.ModuleDir, `^Benchmark(Parse|StdlibUnmarshalAny|EnsureAccounts|EnsureAccountsNoop|Evaluate|Policy|KMS|Decode)$`, o.BenchTime, o.BenchCount,
		"./pkg/policy", "./pkg/keypolicy", "./pkg/evaluate", "./pkg/trigger", "./internal/benchmark")
	if err != nil {
		return nil, err
	}

	coldRows(t, cold, o.ColdStarts)
	callRows(t, calls)
	batchRows(t, batch, mem)
	memoryRows(t, mem, cold, bin)
	engineRows(t, rounds)
	if est != nil {
		estateRows(t, est)
	}
	return t, nil
}

// coldResult is section 1's measurements.
type coldResult struct {
	empty, floor, ignored, real series
	emptyRSS, ignoredRSS        []float64 // MB
	realStats                   map[string]int
}

func coldStarts(ctx context.Context, o Options, bin func(string) string, endpoint, topicARN, eventsDir string, seed *scenario.Seeded) (*coldResult, error) {
	ignored, err := scenario.Event(filepath.Join(eventsDir, "ignored-dryrun.json"), seed.Replace())
	if err != nil {
		return nil, err
	}
	real, err := scenario.Event(filepath.Join(eventsDir, "share-image.json"), seed.Replace())
	if err != nil {
		return nil, err
	}
	envAlert := scenario.LambdaEnv(endpoint, topicARN, string(config.ModeAlert), []string{scenario.Owner, scenario.Target})
	r := &coldResult{}
	// Interleaved, so drift on a noisy machine hits every binary alike.
	for i := 0; i < o.ColdStarts; i++ {
		for _, c := range []struct {
			bin     string
			payload []byte
			into    *series
			rss     *[]float64
		}{
			{bin("empty"), ignored, &r.empty, &r.emptyRSS},
			{bin("sdkfloor"), ignored, &r.floor, nil},
			{bin("bootstrap"), ignored, &r.ignored, &r.ignoredRSS},
			{bin("bootstrap"), real, &r.real, nil},
		} {
			st, err := ColdStart(ctx, o.RIE, c.bin, envAlert, c.payload)
			if err != nil {
				return nil, fmt.Errorf("cold start of %s: %w", filepath.Base(c.bin), err)
			}
			c.into.add(st)
			if c.into == &r.real && r.realStats == nil {
				var res struct {
					Stats map[string]int `json:"stats"`
				}
				if err := json.Unmarshal(st.Response, &res); err != nil {
					return nil, fmt.Errorf("cold start with a real event answered %.300s: %w", st.Response, err)
				}
				r.realStats = res.Stats
			}
			if c.rss != nil && st.PeakRSSKB > 0 {
				*c.rss = append(*c.rss, float64(st.PeakRSSKB)/1024)
			}
		}
	}
	return r, nil
}

// pairedRatio is the median of a[i]/b[i]: the starts are interleaved, so each pair ran under the
// same load, and the median of their ratios is steadier than the ratio of the medians.
func pairedRatio(a, b []float64) float64 {
	var rs []float64
	for i := range a {
		if i < len(b) && b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return Median(rs)
}

func coldRows(t *Table, c *coldResult, n int) {
	const sec = "1 cold start"
	ms := func(v float64) string { return fmt.Sprintf("%.1f ms", v) }
	med := Median
	note := fmt.Sprintf("medians of %d fresh starts under aws-lambda-rie; ratio = median of the interleaved pairs' ratios", n)
	goal := fmt.Sprintf("≤ %.2f×", ColdStartRatioGoal)
	boot, floor, empty := c.ignored.coldStart(), c.floor.coldStart(), c.empty.coldStart()
	r := pairedRatio(boot, floor)
	t.Add(Row{Section: sec, Measure: "cold start (init + first invoke, events/ignored-dryrun.json), bootstrap vs the SDK floor", Ours: ms(med(boot)), Baseline: ms(med(floor)),
		Ratio: Ratio(r, 1), Goal: goal, Verdict: AtMost(r, ColdStartRatioGoal),
		Notes: note + "; the floor links the same SDK services and loads the SDK configuration: what this project's own code adds"})
	r = pairedRatio(c.ignored.init, c.floor.init)
	t.Add(Row{Section: sec, Measure: "init (INIT REPORT), bootstrap vs the SDK floor", Ours: ms(med(c.ignored.init)), Baseline: ms(med(c.floor.init)),
		Ratio: Ratio(r, 1), Goal: "-", Verdict: Info, Notes: "the init half of the row above"})
	r = pairedRatio(floor, empty)
	t.Add(Row{Section: sec, Measure: "cold start, the SDK floor vs an empty aws-lambda-go handler", Ours: ms(med(floor)), Baseline: ms(med(empty)),
		Ratio: Ratio(r, 1), Goal: "-", Verdict: Info,
		Notes: "for the record: what any Go Lambda pays to link these SDK clients and load their configuration (Go runs every imported package's initialisers before main)"})
	r = pairedRatio(boot, empty)
	t.Add(Row{Section: sec, Measure: "cold start, bootstrap vs an empty aws-lambda-go handler", Ours: ms(med(boot)), Baseline: ms(med(empty)),
		Ratio: Ratio(r, 1), Goal: "-", Verdict: Info, Notes: "for the record"})
	r = pairedRatio(c.real.first, c.empty.first)
	t.Add(Row{Section: sec, Measure: "first invoke, real event: events/share-image.json, MODE=alert", Ours: ms(med(c.real.first)), Baseline: ms(med(c.empty.first)),
		Ratio: Ratio(r, 1), Goal: "-", Verdict: Info,
		Notes: fmt.Sprintf("%d AWS calls to the local AWS (%s), including the environment's one sts:GetCallerIdentity", total(c.realStats), statsLine(c.realStats))})
}

// batchResult is section 3's measurements.
type batchResult struct {
	fixture                *BatchFixture
	calls                  CallRun
	batchWall, singlesWall float64 // ms, medians of batchReps runs
	singlesCalls           map[string]int
	singlesErr, keys       int
}

// batchReps is how many times the batch and the 100 singles each run (alternately); the table
// shows the median wall times.
const batchReps = 3

// runBatch times one SQS batch of 100 records against 100 single-record invocations of a warm
// environment (both starting from the same key policies), in process.
func runBatch(ctx context.Context, world *scenario.World, topicARN, eventsDir string) (*batchResult, error) {
	f, err := NewBatchFixture(ctx, world, eventsDir, 10, 20, 100)
	if err != nil {
		return nil, err
	}
	raw, err := Batch(0, f.Bodies...)
	if err != nil {
		return nil, err
	}
	r := &batchResult{fixture: f, keys: len(f.Keys)}
	var batchWalls, singleWalls []float64
	for rep := 0; rep < batchReps; rep++ {
		start := time.Now()
		c := callRun(ctx, BatchScenario, newRemediator(world, config.ModeFix, f.Accounts, topicARN), raw)
		batchWalls = append(batchWalls, ms(time.Since(start)))
		if rep == 0 || c.Err != "" {
			r.calls = c
		}
		if err := f.Restore(ctx, world); err != nil {
			return nil, err
		}
		rm := newRemediator(world, config.ModeFix, f.Accounts, topicARN)
		calls := map[string]int{}
		start = time.Now()
		for i, b := range f.Bodies {
			one, err := Batch(i, b)
			if err != nil {
				return nil, err
			}
			s := callRun(ctx, "single", rm, one)
			for k, v := range s.Stats {
				calls[k] += v
			}
			if s.Err != "" {
				r.singlesErr++
			}
		}
		singleWalls = append(singleWalls, ms(time.Since(start)))
		r.singlesCalls = calls
		if err := f.Restore(ctx, world); err != nil {
			return nil, err
		}
	}
	r.batchWall, r.singlesWall = Median(batchWalls), Median(singleWalls)
	return r, nil
}

// memResult is section 4's batch under the emulator.
type memResult struct {
	peakKB int
	stats  map[string]int
	failed int // batchItemFailures
}

// batchUnderRIE runs the 100-record batch through bootstrap under the emulator in fix mode and
// reads the bootstrap's peak RSS before the emulator stops it.
func batchUnderRIE(ctx context.Context, rieBin, bootstrap, endpoint, topicARN string, world *scenario.World, f *BatchFixture) (*memResult, error) {
	raw, err := Batch(0, f.Bodies...)
	if err != nil {
		return nil, err
	}
	em, err := rie.Start(ctx, rieBin, bootstrap, scenario.LambdaEnv(endpoint, topicARN, string(config.ModeFix), append([]string{scenario.Owner}, f.Accounts...)))
	if err != nil {
		return nil, err
	}
	defer em.Close()
	body, err := em.Invoke(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("batch under the emulator: %w\n%s", err, em.Logs())
	}
	pid, err := em.BootstrapPID()
	if err != nil {
		return nil, err
	}
	kb, err := PeakRSSKB(pid)
	if err != nil {
		return nil, err
	}
	var resp struct {
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		Stats             map[string]int    `json:"stats"`
		ErrorMessage      string            `json:"errorMessage"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.ErrorMessage != "" {
		return nil, fmt.Errorf("batch under the emulator answered %.300s (%v)", body, err)
	}
	if err := f.Restore(ctx, world); err != nil {
		return nil, err
	}
	return &memResult{peakKB: kb, stats: resp.Stats, failed: len(resp.BatchItemFailures)}, nil
}

func callRows(t *Table, calls []CallRun) {
	const sec = "2 AWS calls"
	for _, c := range calls {
		min, ok := Minimums[c.Name]
		row := Row{Section: sec, Measure: c.Name, Ours: fmt.Sprintf("%d", c.Total()), Goal: "= minimum"}
		switch {
		case c.Err != "":
			row.Verdict, row.Notes = Fail, "error: "+c.Err
		case !ok:
			row.Verdict, row.Notes = Fail, "no documented minimum: "+statsLine(c.Stats)
		default:
			row.Baseline = fmt.Sprintf("%d", total(min))
			over, under := Compare(c.Stats, min)
			switch {
			case len(under) > 0:
				row.Verdict, row.Notes = Fail, fmt.Sprintf("below the documented minimum (the minimum or the run is wrong): %v; %s", under, statsLine(c.Stats))
			case len(over) > 0:
				row.Verdict, row.Notes = Over, fmt.Sprintf("above minimum: %v; all: %s", over, statsLine(c.Stats))
			default:
				row.Verdict, row.Notes = Pass, statsLine(c.Stats)
			}
		}
		t.Add(row)
	}
}

func batchRows(t *Table, b *batchResult, m *memResult) {
	const sec = "3 batch coalescing"
	puts, pubs := b.calls.Stats["KMS:PutKeyPolicy"], b.calls.Stats["SNS:Publish"]
	eq := func(got, want int) Verdict {
		if got == want {
			return Pass
		}
		return Over
	}
	t.Add(Row{Section: sec, Measure: "one SQS batch of 100 records, 10 keys, 20 accounts: PutKeyPolicy", Ours: fmt.Sprint(puts),
		Baseline: fmt.Sprint(b.singlesCalls["KMS:PutKeyPolicy"]) + " (100 singles)", Goal: fmt.Sprintf("= %d (one per key)", b.keys), Verdict: eq(puts, b.keys),
		Notes: fmt.Sprintf("under the emulator too: %d PutKeyPolicy, %d Publish, %d batch item failures", m.stats["KMS:PutKeyPolicy"], m.stats["SNS:Publish"], m.failed)})
	t.Add(Row{Section: sec, Measure: "same batch: alerts (SNS Publish)", Ours: fmt.Sprint(pubs), Baseline: fmt.Sprint(b.singlesCalls["SNS:Publish"]) + " (100 singles)",
		Goal: "= 1", Verdict: eq(pubs, 1)})
	t.Add(Row{Section: sec, Measure: "same batch: AWS calls, 1 batch vs 100 single-record invocations", Ours: fmt.Sprint(b.calls.Total()),
		Baseline: fmt.Sprint(total(b.singlesCalls)), Ratio: Ratio(float64(b.calls.Total()), float64(total(b.singlesCalls))), Goal: "-", Verdict: Info,
		Notes: "singles run in one warm environment; each re-reads its image and key"})
	note := fmt.Sprintf("medians of %d alternating runs, in process against the local AWS; reads run 8 records at a time, writes 4 keys at a time", batchReps)
	if b.singlesErr > 0 {
		note += fmt.Sprintf("; %d single invocations had record errors", b.singlesErr)
	}
	t.Add(Row{Section: sec, Measure: "same batch: wall time, 1 batch vs 100 single-record invocations", Ours: fmt.Sprintf("%.0f ms", b.batchWall),
		Baseline: fmt.Sprintf("%.0f ms", b.singlesWall), Ratio: Ratio(b.batchWall, b.singlesWall), Goal: "≤ 1.0×",
		Verdict: AtMost(b.batchWall/b.singlesWall, 1), Notes: note})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func memoryRows(t *Table, m *memResult, c *coldResult, bin func(string) string) {
	const sec = "4 memory"
	mb := float64(m.peakKB) / 1024
	t.Add(Row{Section: sec, Measure: "peak RSS of bootstrap processing the 100-record batch (VmHWM)", Ours: fmt.Sprintf("%.1f MB", mb),
		Baseline: fmt.Sprintf("%.1f MB (empty handler, 1 invoke)", Median(c.emptyRSS)), Ratio: Ratio(mb, Median(c.emptyRSS)),
		Goal: fmt.Sprintf("≤ %.0f MB", PeakRSSGoalMB), Verdict: AtMost(mb, PeakRSSGoalMB),
		Notes: fmt.Sprintf("bootstrap after one ignored event: %.1f MB; fix mode under aws-lambda-rie", Median(c.ignoredRSS))})
	size := func(name string) float64 {
		n, err := fileSize(bin(name))
		if err != nil {
			return 0
		}
		return float64(n) / (1 << 20)
	}
	t.Add(Row{Section: sec, Measure: "bootstrap size, linux/arm64, stripped (as build-RemediatorFunction)", Ours: fmt.Sprintf("%.1f MB", size("bootstrap-arm64")),
		Baseline: fmt.Sprintf("%.1f MB (empty handler, %s/%s)", size("empty"), runtime.GOOS, runtime.GOARCH), Goal: "-", Verdict: Info,
		Notes: fmt.Sprintf("this machine's build: %.1f MB; SDK floor %.1f MB", size("bootstrap"), size("sdkfloor"))})
}

// engineRows compares each operation with encoding/json decoding the same document into any,
// measured by the same package's test binary in the same round (pkg/policy for parse,
// pkg/keypolicy for edit, internal/benchmark for evaluate): the ratio is the median of the rounds'
// ratios; ns/op and allocs/op are medians too.
func engineRows(t *Table, rounds []map[string]GoBench) {
	const sec = "5 policy engine"
	gb := medians(rounds)
	for _, doc := range []string{"aws-default", "large-30k"} {
		for _, e := range []struct {
			op, pkg, dir, bench string
			goal                float64
		}{
			{"parse", "policy", "pkg/policy", "Parse", ParseRatioGoal},
			{"evaluate (1 request)", "benchmark", "internal/benchmark", "Evaluate", EvaluateRatioGoal},
			{"edit (EnsureAccounts)", "keypolicy", "pkg/keypolicy", "EnsureAccounts", EditRatioGoal},
		} {
			key, floorKey := e.pkg+"."+e.bench+"/"+doc, e.pkg+".StdlibUnmarshalAny/"+doc
			row := Row{Section: sec, Measure: e.op + ", " + doc, Goal: fmt.Sprintf("≤ %.1f× floor", e.goal)}
			b, found := gb[key]
			floor, ok := gb[floorKey]
			if !found || !ok {
				row.Verdict, row.Notes = Fail, "benchmark "+key+" or "+floorKey+" did not run"
				t.Add(row)
				continue
			}
			row.Ours = benchCell(b)
			row.Baseline = benchCell(floor) + " (encoding/json into any)"
			ratio := medianRatio(rounds, key, floorKey)
			row.Ratio = Ratio(ratio, 1)
			row.Verdict = AtMost(ratio, e.goal)
			row.Notes = "allocs " + Ratio(b.AllocsPerOp, floor.AllocsPerOp) + "; " + e.dir
			t.Add(row)
		}
	}
	for _, x := range []struct{ key, what string }{
		{"keypolicy.EnsureAccountsNoop/aws-default", "edit when nothing is missing (parse + coverage check), aws-default"},
		{"keypolicy.EnsureAccountsNoop/large-30k", "edit when nothing is missing, large-30k"},
		{"evaluate.Policy/default-key-policy", "pkg/evaluate BenchmarkPolicy, its 270-byte default policy"},
		{"evaluate.Policy/30KB", "pkg/evaluate BenchmarkPolicy, its generated 30 KB policy"},
		{"evaluate.KMS", "pkg/evaluate BenchmarkKMS: key policy + identity policy, kms:CreateGrant"},
		{"trigger.Decode", "pkg/trigger BenchmarkDecode: an SQS batch of 100 sample events"},
	} {
		if b, ok := gb[x.key]; ok {
			t.Add(Row{Section: sec, Measure: x.what, Ours: benchCell(b), Goal: "-", Verdict: Info})
		}
	}
}

func benchCell(b GoBench) string {
	return fmt.Sprintf("%s/op, %.0f allocs/op", nsString(b.NsPerOp), b.AllocsPerOp)
}

func nsString(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
