package benchmark

import (
	"context"
	"fmt"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/scenario"
)

func TestTmpProbeBatch(t *testing.T) {
	ctx := context.Background()
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	sink, _ := world.NewAlertSink(ctx, "x")
	for i := 0; i < 3; i++ {
		b, err := runBatch(ctx, world, sink.TopicARN, "../../events")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("batch", b.batchWall, "singles", b.singlesWall, b.calls.Total())
	}
}
