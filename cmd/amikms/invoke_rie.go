package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
)

// invokeUnderRIE runs one sample event (placeholders replaced with the seeded IDs) through the
// bootstrap binary under the Lambda Runtime Interface Emulator and prints the response body.
func invokeUnderRIE(ctx context.Context, env *localaws.Env, seed *scenario.Seeded, sink *scenario.AlertSink, event, rieBin, bootstrap, mode string, stdout, stderr io.Writer) int {
	payload, err := scenario.Event(event, seed.Replace())
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo --invoke:", err)
		return 2
	}
	em, err := rie.Start(ctx, rieBin, bootstrap, scenario.LambdaEnv(env.URL, sink.TopicARN, mode, []string{scenario.Target}))
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo --invoke:", err)
		return 1
	}
	body, err := em.Invoke(ctx, payload)
	em.Close()
	fmt.Fprint(stderr, em.Logs())
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo --invoke:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}
