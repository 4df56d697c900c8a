package benchmark

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/scenario"
)

func TestProbe(t *testing.T) {
	ctx := context.Background()
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	seed, err := world.Seed(ctx, env.Filler)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := world.NewAlertSink(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sampleCalls(ctx, world, seed, sink.TopicARN, "../../events")
	if err != nil {
		t.Fatal(err)
	}
	more, err := scenarioCalls(ctx, world, sink.TopicARN, "../../events")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(runs, more...) {
		fmt.Printf("%-45s %3d  %s  ERR=%s\n", r.Name, r.Total(), statsLine(r.Stats), r.Err)
	}
	f, err := NewBatchFixture(ctx, world, "../../events", 10, 20, 100)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := Batch(0, f.Bodies...)
	trusted := f.Accounts
	t0 := time.Now()
	c := callRun(ctx, "batch", newRemediator(world, config.ModeFix, trusted, sink.TopicARN), raw)
	d := time.Since(t0)
	fmt.Printf("batch %v %d %s ERR=%s\n", d, c.Total(), statsLine(c.Stats), c.Err)
	if err := f.Restore(ctx, world); err != nil {
		t.Fatal(err)
	}
	rm := newRemediator(world, config.ModeFix, trusted, sink.TopicARN)
	tot := map[string]int{}
	t0 = time.Now()
	for i, b := range f.Bodies {
		raw, _ := Batch(i, b)
		c := callRun(ctx, "single", rm, raw)
		for k, v := range c.Stats {
			tot[k] += v
		}
		if c.Err != "" {
			fmt.Println("ERR", c.Err)
		}
	}
	fmt.Printf("singles %v %s\n", time.Since(t0), statsLine(tot))
}
