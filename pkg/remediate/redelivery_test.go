package remediate

// Idempotency under redelivery: EventBridge and SQS deliver at least once, so the same
// event arrives several times, one after another or at once.

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

const deliveries = 5

// The same event delivered 5 times leads to one write and one alert. In fix mode the later
// deliveries find nothing missing (sequentially), or find that another invocation already made
// the change (concurrently), and say nothing; in alert mode the environment's alert memory
// drops the repeated identical alert.
func TestRedeliverySameEventFiveTimes(t *testing.T) {
	needsLocalAWS(t)
	cases := map[string]struct {
		mode       config.Mode
		concurrent bool
		separate   bool // a Remediator per delivery, sharing the process's Coordinator
		writes     int
	}{
		"fix, one after another":              {mode: config.ModeFix, writes: 1},
		"fix, at once, one environment":       {mode: config.ModeFix, concurrent: true, writes: 1},
		"fix, at once, separate environments": {mode: config.ModeFix, concurrent: true, separate: true, writes: 1},
		"alert, one after another":            {mode: config.ModeAlert},
		"alert, at once, one environment":     {mode: config.ModeAlert, concurrent: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "", scenario.Target)
			before := keyPolicy(t, f.key)
			rec := newRecorder(t, env.URL)
			first, sink := newRemediatorOn(t, setup{mode: c.mode, trusted: []string{scenario.Target}, alerts: true}, rec.URL, 2)
			rms := make([]*Remediator, deliveries)
			for i := range rms {
				rms[i] = first
				if c.separate && i > 0 {
					rms[i] = New(first.cfg, awsapi.NewClients(scenario.Config(rec.URL, "", 2), first.cfg.MemberRoleName, ""), first.log,
						WithCoordinator(first.coord))
				}
			}
			event := shareEvent(t, f.image, scenario.Target)
			results := make([]report.Result, deliveries)
			deliver := func(i int) {
				out, err := rms[i].Invoke(context.Background(), event)
				if err != nil {
					t.Errorf("delivery %d: %v", i, err)
					return
				}
				results[i] = out.(report.Result)
			}
			if c.concurrent {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range deliveries {
					wg.Go(func() { <-start; deliver(i) })
				}
				close(start)
				wg.Wait()
			} else {
				for i := range deliveries {
					deliver(i)
				}
			}

			if n := len(rec.Writes()); n != c.writes {
				t.Errorf("%d writes, want %d", n, c.writes)
			}
			if c.mode == config.ModeFix {
				checkWrites(t, rec.Writes(), map[string]string{f.key: before}, map[string][]string{f.key: {scenario.Target}})
				if !allowsAccount(t, f.key, keyPolicy(t, f.key), scenario.Target) {
					t.Error("target not granted")
				}
			} else if keyPolicy(t, f.key) != before {
				t.Error("alert mode changed the policy")
			}
			published := 0
			for i, r := range results {
				if r.Alert.Published {
					published++
				}
				for _, a := range r.Actions {
					if a.Status == report.StatusFailed || a.Status == report.StatusRefused {
						t.Errorf("delivery %d: %+v", i, a)
					}
				}
			}
			alerts, err := sink.Drain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(alerts) != 1 || published != 1 {
				t.Errorf("%d alerts read back, %d reported published; want 1", len(alerts), published)
				for i, r := range results {
					t.Logf("delivery %d: published %v, actions %+v", i, r.Alert.Published, r.Actions)
				}
			}
		})
	}
}

// The identity side under concurrent redelivery: five deliveries of one failed launch at once, in
// one environment, make one key-policy change, one grant, and one alert per change (two when
// different deliveries made the two changes), each telling only its own; IAM is never written.
func TestRedeliveryFailedLaunchAtOnce(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := "redeliver-" + f.image[4:12]
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	event := inTrail(t, launchEventOf(t, map[string]string{scenario.PlaceholderImage: f.image, "app-deployer": role}))
	results := make([]report.Result, deliveries)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range deliveries {
		wg.Go(func() {
			<-start
			results[i] = invokeRaw(t, rm, event)
		})
	}
	close(start)
	wg.Wait()

	calls := map[string]int{}
	published, changers := 0, 0
	for i, r := range results {
		for k, v := range r.Stats {
			calls[k] += v
		}
		if r.Alert.Published {
			published++
		}
		changed := false
		for _, a := range r.Actions {
			changed = changed || a.Status == report.StatusApplied
		}
		if changed {
			changers++
		}
		if r.Alert.Published != changed {
			t.Errorf("delivery %d: alert published %v, but made a change %v", i, r.Alert.Published, changed)
		}
		for _, a := range r.Actions {
			if a.Status == report.StatusFailed || a.Status == report.StatusRefused {
				t.Errorf("delivery %d: %+v", i, a)
			}
		}
	}
	if calls["KMS:PutKeyPolicy"] != 1 || calls["KMS:CreateGrant"] != 1 || iamWrites(calls) != 0 {
		t.Errorf("want one key write and one grant across deliveries, no IAM write: %v", calls)
	}
	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != published || published != changers || published < 1 || published > 2 {
		t.Errorf("%d alerts read back, %d published, %d deliveries made a change; want one alert per changing delivery (1 or 2)", len(alerts), published, changers)
		for i, r := range results {
			t.Logf("delivery %d: published %v, actions %+v", i, r.Alert.Published, r.Actions)
		}
	}
	for _, a := range alerts {
		if strings.Contains(a.Message, "another writer") {
			t.Errorf("an alert tells about another delivery's change:\n%s", a.Message)
		}
	}
}
