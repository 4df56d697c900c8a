package benchmark

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
)

// Section 6, the estate at scale: an estate of EstateAccounts accounts x EstateRegions regions,
// each account and region with EstateKeys keys and its share of the images, every image shared
// with one or two of EstateTargets accounts. The keys let in all, half or none of the targets,
// so some shares work and some do not. It is swept (one task per account and region, as the
// schedule does, EstateParallel at a time, each task a fresh Lambda environment) at 1x, then
// grown and swept at 2x and 4x the images.
const (
	EstateAccounts = 20
	EstateTargets  = 10
	EstateKeys     = 3
	EstateParallel = 4
	PeakTaskGoalMB = 64.0
	// LinearGoal bounds the wall time per image at 2x and 4x the estate against 1x.
	LinearGoal = 1.25
)

// EstateRegions are the regions of the estate.
var EstateRegions = []string{"us-east-1", "us-west-2", "eu-west-1"}

// estate is the seeded estate.
type estate struct {
	accounts, targets []string
	scopes            []sweep.Scope
	keys              map[sweep.Scope][]string     // per scope: grants all, half, no targets
	snapshots         map[string]string            // key ARN -> a snapshot encrypted with it
	images            map[sweep.Scope]int          // images seeded per scope
	brokenShares      int                          // (image, target) pairs whose key does not let the target in
	brokenKeys        map[sweep.Scope]map[int]bool // per scope: the keys with a broken share, whose policy a plan changes
}

func estateAccounts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%08d", prefix, i+1)
	}
	return out
}

// seedEstate deploys the member stacks in accounts with prefix and creates their keys; grow adds
// the images.
func seedEstate(ctx context.Context, world *scenario.World, filler *localaws.Filler, prefix string) (*estate, error) {
	e := &estate{accounts: estateAccounts(prefix, EstateAccounts), targets: estateAccounts("8100", EstateTargets),
		keys: map[sweep.Scope][]string{}, snapshots: map[string]string{}, images: map[sweep.Scope]int{},
		brokenKeys: map[sweep.Scope]map[int]bool{}}
	half := e.targets[:EstateTargets/2]
	for _, a := range e.accounts {
		if err := world.MemberStack(ctx, a, EstateRegions...); err != nil {
			return nil, err
		}
		for _, r := range EstateRegions {
			sc := sweep.Scope{Account: a, Region: r}
			e.scopes = append(e.scopes, sc)
			for _, grant := range [][]string{e.targets, half, nil} {
				k, err := world.CreateKeyLettingIn(ctx, a, r, grant...)
				if err != nil {
					return nil, err
				}
				e.keys[sc] = append(e.keys[sc], k)
				e.snapshots[k] = filler.CreateSnapshot(a, r, k, true, 8)
			}
		}
	}
	return e, nil
}

// grow adds images to every scope until each has perScope: image i uses key i mod EstateKeys and
// is shared with target i mod EstateTargets, and every third one with the next target too.
func (e *estate) grow(filler *localaws.Filler, perScope int) {
	half := EstateTargets / 2
	for si, sc := range e.scopes {
		for i := e.images[sc]; i < perScope; i++ {
			k := i % EstateKeys
			key := e.keys[sc][k]
			id := filler.CreateImage(sc.Account, sc.Region, fmt.Sprintf("estate-%d-%d", si, i), []localaws.SnapshotSpec{{SnapshotID: e.snapshots[key]}})
			shares := []int{(i + si) % EstateTargets}
			if i%3 == 0 {
				shares = append(shares, (i+si+1)%EstateTargets)
			}
			for _, t := range shares {
				filler.ShareImage(id, e.targets[t])
				if k == 2 || k == 1 && t >= half {
					e.brokenShares++
					if e.brokenKeys[sc] == nil {
						e.brokenKeys[sc] = map[int]bool{}
					}
					e.brokenKeys[sc][k] = true
				}
			}
		}
		e.images[sc] = perScope
	}
}

func (e *estate) imageCount() int {
	n := 0
	for _, c := range e.images {
		n += c
	}
	return n
}

// minimum is the AWS calls a sweep of the estate needs at least, each task a fresh environment:
// per task its identity, the member role, the forwarding rules, one page of images per 1,000, a
// batch of snapshots per 500, the launch permissions of each image, each key once, the tags of
// each key a plan changes (its write scope), one alert.
func (e *estate) minimum(alerts int) map[string]int {
	m := map[string]int{}
	for _, sc := range e.scopes {
		n := e.images[sc]
		m["STS:GetCallerIdentity"]++
		m["STS:AssumeRole"]++
		m["EventBridge:ListRuleNamesByTarget"]++
		m["EC2:DescribeImages"] += (n + 999) / 1000
		m["EC2:DescribeSnapshots"] += (n + 499) / 500
		m["EC2:DescribeImageAttribute"] += n
		m["KMS:DescribeKey"] += min(n, EstateKeys) // the keys the scope's images use
		m["KMS:GetKeyPolicy"] += min(n, EstateKeys)
		m["KMS:ListResourceTags"] += len(e.brokenKeys[sc]) // each key a plan changes: its write scope
	}
	m["SNS:Publish"] = alerts
	return m
}

// estateRun is one sweep of the estate.
type estateRun struct {
	images, brokenFound int
	wall                time.Duration
	stats               map[string]int
	errs                []string
	tasksWithFindings   int
}

// sweepEstate runs one sweep task per scope, EstateParallel at a time, each in a fresh
// environment (a new remediator), through the Lambda handler's SQS path.
func sweepEstate(ctx context.Context, world *scenario.World, e *estate, topicARN, table string) estateRun {
	trusted := append(append([]string{}, e.accounts...), e.targets...)
	run := estateRun{stats: map[string]int{}}
	var mu sync.Mutex
	sem := make(chan struct{}, EstateParallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i, sc := range e.scopes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rm := newRemediatorWith(world, config.ModeAlert, trusted, topicARN, table)
			body, err := sweep.Task("bench", "estate", sc, start)
			if err == nil {
				var raw []byte
				if raw, err = Batch(i, body); err == nil {
					var res report.Result
					if res, err = invoke(ctx, rm, raw); err == nil {
						mu.Lock()
						defer mu.Unlock()
						run.add(res)
						return
					}
				}
			}
			mu.Lock()
			run.errs = append(run.errs, fmt.Sprintf("%s: %v", sc, err))
			mu.Unlock()
		})
	}
	wg.Wait()
	run.wall = time.Since(start)
	return run
}

func (r *estateRun) add(res report.Result) {
	findings := false
	for _, rec := range res.Records {
		if rec.Error != "" {
			r.errs = append(r.errs, rec.EventID+": "+rec.Error)
		}
		if rec.Trigger == "estate-image" {
			r.images++
		}
		pairs := map[string]bool{}
		for _, f := range rec.Findings {
			findings = true
			if f.Code == report.KeyPolicyMissingUse {
				pairs[f.Account] = true
			}
		}
		r.brokenFound += len(pairs)
	}
	if findings {
		r.tasksWithFindings++
	}
	for k, v := range res.Stats {
		r.stats[k] += v
	}
}

// estateResult is section 6's measurements.
type estateResult struct {
	runs         []estateRun // 1x, 2x, 4x
	mins         []map[string]int
	brokenShares []int
	storeFirst   estateRun
	storeAgain   estateRun
	peakKB       int
	largest      int
	seedWall     time.Duration
}

// runEstate seeds the estate and sweeps it at 1x, 2x and 4x (growing it in place), then once more
// at 1x's size against a fresh copy with the estate store, twice (new findings, then seen again);
// last it runs the largest task through bootstrap under the emulator for its peak RSS.
func runEstate(ctx context.Context, env *localaws.Env, world *scenario.World, rieBin, bootstrap, topicARN string, perScope int, say func(string, ...any)) (*estateResult, error) {
	start := time.Now()
	e, err := seedEstate(ctx, world, env.Filler, "8000")
	if err != nil {
		return nil, err
	}
	r := &estateResult{}
	for _, mult := range []int{1, 2, 4} {
		e.grow(env.Filler, perScope*mult)
		if mult == 1 {
			r.seedWall = time.Since(start)
		}
		say("section 6: sweeping the estate at %dx: %d images over %d accounts x %d regions", mult, e.imageCount(), EstateAccounts, len(EstateRegions))
		runtime.GC()
		run := sweepEstate(ctx, world, e, topicARN, "")
		r.runs = append(r.runs, run)
		r.mins = append(r.mins, e.minimum(run.tasksWithFindings))
		r.brokenShares = append(r.brokenShares, e.brokenShares)
	}

	say("section 6: the estate store, two sweeps of a %d-image estate", perScope*len(e.scopes))
	name, err := scenario.EstateTable(ctx, scenario.Config(world.Endpoint, "", 2), fmt.Sprintf("bench-estate-%d", time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	small, err := seedEstate(ctx, world, env.Filler, "8200")
	if err != nil {
		return nil, err
	}
	small.grow(env.Filler, perScope)
	r.storeFirst = sweepEstate(ctx, world, small, topicARN, name)
	r.storeAgain = sweepEstate(ctx, world, small, topicARN, name)

	// The largest task: the scope with the most images (all have 4x perScope).
	say("section 6: the largest task (%d images) through bootstrap under the emulator", e.images[e.scopes[0]])
	r.largest = e.images[e.scopes[0]]
	body, err := sweep.Task("bench", "estate", e.scopes[0], time.Now())
	if err != nil {
		return nil, err
	}
	raw, err := Batch(0, body)
	if err != nil {
		return nil, err
	}
	trusted := append(append([]string{scenario.Owner}, e.accounts...), e.targets...)
	em, err := rie.Start(ctx, rieBin, bootstrap, scenario.LambdaEnv(env.URL, topicARN, string(config.ModeAlert), trusted))
	if err != nil {
		return nil, err
	}
	defer em.Close()
	if _, err := em.Invoke(ctx, raw); err != nil {
		return nil, fmt.Errorf("the largest sweep task under the emulator: %w\n%s", err, em.Logs())
	}
	pid, err := em.BootstrapPID()
	if err != nil {
		return nil, err
	}
	if r.peakKB, err = PeakRSSKB(pid); err != nil {
		return nil, err
	}
	return r, nil
}

// callsOf sums the calls of stats whose service is one of services.
func callsOf(stats map[string]int, services ...string) int {
	n := 0
	for k, v := range stats {
		svc, _, _ := strings.Cut(k, ":")
		for _, s := range services {
			if svc == s {
				n += v
			}
		}
	}
	return n
}

// readCalls are the services a sweep reads (and the alert): what the minimum counts.
var readCalls = []string{"EC2", "KMS", "STS", "EventBridge", "SNS"}

func estateRows(t *Table, r *estateResult) {
	const sec = "6 estate"
	tasks := EstateAccounts * len(EstateRegions)
	per := func(d time.Duration, n int) float64 { return ms(d) / float64(max(n, 1)) }
	base := per(r.runs[0].wall, r.runs[0].images)
	for i, mult := range []int{1, 2, 4} {
		run, min := r.runs[i], r.mins[i]
		row := Row{Section: sec, Measure: fmt.Sprintf("%dx: AWS calls per image, %d images (EC2, KMS, STS, EventBridge, SNS)", mult, run.images),
			Ours:     fmt.Sprintf("%.2f", float64(callsOf(run.stats, readCalls...))/float64(max(run.images, 1))),
			Baseline: fmt.Sprintf("%.2f (minimum)", float64(total(min))/float64(max(run.images, 1))),
			Ratio:    Ratio(float64(callsOf(run.stats, readCalls...)), float64(total(min))), Goal: "= minimum"}
		over, under := Compare(pick(run.stats, readCalls...), min)
		switch {
		case len(run.errs) > 0:
			row.Verdict, row.Notes = Fail, fmt.Sprintf("%d errors, first: %s", len(run.errs), run.errs[0])
		case len(under) > 0:
			row.Verdict, row.Notes = Fail, fmt.Sprintf("below the minimum (the minimum or the run is wrong): %v", under)
		case len(over) > 0:
			row.Verdict, row.Notes = Over, fmt.Sprintf("above the minimum: %v", over)
		default:
			row.Verdict, row.Notes = Pass, statsLine(pick(run.stats, readCalls...))
		}
		t.Add(row)
		found := Row{Section: sec, Measure: fmt.Sprintf("%dx: broken shares found", mult), Ours: fmt.Sprint(run.brokenFound),
			Baseline: fmt.Sprintf("%d seeded", r.brokenShares[i]), Goal: "= seeded", Verdict: Pass,
			Notes: fmt.Sprintf("%d of %d tasks found some", run.tasksWithFindings, tasks)}
		if run.brokenFound != r.brokenShares[i] {
			found.Verdict = Fail
		}
		if i == 0 {
			found.Notes = fmt.Sprintf("%d accounts x %d regions, %d keys each (letting in all, half, none of %d targets); %d of %d tasks found some",
				EstateAccounts, len(EstateRegions), EstateKeys, EstateTargets, run.tasksWithFindings, tasks)
		}
		t.Add(found)
		wall := Row{Section: sec, Measure: fmt.Sprintf("%dx: wall time per image", mult), Ours: fmt.Sprintf("%.2f ms", per(run.wall, run.images)),
			Notes: fmt.Sprintf("%.1f s for %d images, %d tasks %d at a time, in process against the local AWS", run.wall.Seconds(), run.images, tasks, EstateParallel)}
		if i == 0 {
			wall.Goal, wall.Verdict = "-", Info
		} else {
			ratio := per(run.wall, run.images) / base
			wall.Baseline, wall.Ratio = fmt.Sprintf("%.2f ms (1x)", base), Ratio(ratio, 1)
			wall.Goal, wall.Verdict = fmt.Sprintf("≤ %.2f× (linear)", LinearGoal), AtMost(ratio, LinearGoal)
		}
		t.Add(wall)
	}
	for _, s := range []struct {
		name  string
		run   estateRun
		again bool
	}{{"first sweep (every finding new)", r.storeFirst, false}, {"next sweep (every finding seen again)", r.storeAgain, true}} {
		row := Row{Section: sec, Measure: "estate store, " + s.name + ": DynamoDB calls per image",
			Ours: fmt.Sprintf("%.2f", float64(callsOf(s.run.stats, "DynamoDB"))/float64(max(s.run.images, 1))), Goal: "-", Verdict: Info,
			Notes: statsLine(pick(s.run.stats, "DynamoDB"))}
		t.Add(row)
		// Alerts on change only: every task with findings alerts on the first sweep, none on the next.
		want := s.run.tasksWithFindings
		if s.again {
			want = 0
		}
		row = Row{Section: sec, Measure: "estate store, " + s.name + ": alerts (SNS Publish)", Ours: fmt.Sprint(s.run.stats["SNS:Publish"]),
			Baseline: fmt.Sprintf("%d tasks with findings", s.run.tasksWithFindings), Goal: fmt.Sprintf("= %d", want), Verdict: Pass}
		if s.run.stats["SNS:Publish"] != want {
			row.Verdict = Fail
		}
		if len(s.run.errs) > 0 {
			row.Verdict, row.Notes = Fail, fmt.Sprintf("%d errors, first: %s", len(s.run.errs), s.run.errs[0])
		}
		t.Add(row)
	}
	mb := float64(r.peakKB) / 1024
	t.Add(Row{Section: sec, Measure: fmt.Sprintf("peak RSS of bootstrap running the largest task (%d images, VmHWM)", r.largest), Ours: fmt.Sprintf("%.1f MB", mb),
		Goal: fmt.Sprintf("≤ %.0f MB", PeakTaskGoalMB), Verdict: AtMost(mb, PeakTaskGoalMB), Notes: "alert mode under aws-lambda-rie; images listed 1,000 a page, snapshots read 500 at a time"})
}

// pick keeps the calls of services.
func pick(stats map[string]int, services ...string) map[string]int {
	out := map[string]int{}
	for k, v := range stats {
		svc, _, _ := strings.Cut(k, ":")
		for _, s := range services {
			if svc == s {
				out[k] = v
			}
		}
	}
	return out
}
