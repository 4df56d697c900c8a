package benchmark

import (
	"context"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
)

// A small estate of section 6's shape: the sweep makes exactly its documented minimum of reads
// (counts, not time), finds every broken share it seeded, at 1x and after growing; with the
// store, the second sweep alerts for nothing.
func TestEstateSweepAtItsMinimum(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local AWS (moto)")
	}
	ctx := context.Background()
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	sink, err := world.NewAlertSink(ctx, "bench-estate-test")
	if err != nil {
		t.Fatal(err)
	}
	e, err := seedEstate(ctx, world, env.Filler, "8300")
	if err != nil {
		t.Fatal(err)
	}
	for _, perScope := range []int{2, 5} {
		e.grow(env.Filler, perScope)
		run := sweepEstate(ctx, world, e, sink.TopicARN, "")
		if len(run.errs) > 0 {
			t.Fatalf("%d images a scope: errors %v", perScope, run.errs)
		}
		if run.images != e.imageCount() || run.brokenFound != e.brokenShares || e.brokenShares == 0 {
			t.Errorf("%d images a scope: checked %d of %d images, found %d of %d broken shares", perScope, run.images, e.imageCount(), run.brokenFound, e.brokenShares)
		}
		if over, under := Compare(pick(run.stats, readCalls...), e.minimum(run.tasksWithFindings)); len(over)+len(under) > 0 {
			t.Errorf("%d images a scope, against the minimum: over %v, under %v", perScope, over, under)
		}
	}
	name, err := scenario.EstateTable(ctx, scenario.Config(world.Endpoint, "", 2), "bench-estate-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	first := sweepEstate(ctx, world, e, sink.TopicARN, name)
	again := sweepEstate(ctx, world, e, sink.TopicARN, name)
	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.errs)+len(again.errs) > 0 || first.tasksWithFindings == 0 || again.stats["SNS:Publish"] != 0 || len(alerts) != first.stats["SNS:Publish"] {
		t.Errorf("with the store: first sweep %d publishes (%v), second %d (%v); %d alerts delivered",
			first.stats["SNS:Publish"], first.errs, again.stats["SNS:Publish"], again.errs, len(alerts))
	}
	if first.stats["DynamoDB:Query"] == 0 {
		t.Errorf("the store's calls are not counted: %v", first.stats)
	}
}
