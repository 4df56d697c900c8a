package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
)

// invokeUnderRIE runs one sample event (placeholders replaced with the seeded IDs) through the
// bootstrap binary under the Lambda Runtime Interface Emulator and prints the response body. The
// function's own log lines go to stderr (with verbose, the emulator's too); when the function
// cannot start, its init error is the last line.
func invokeUnderRIE(ctx context.Context, env *localaws.Env, seed *scenario.Seeded, sink *scenario.AlertSink, event, rieBin, bootstrap, mode string, verbose bool, stdout, stderr io.Writer) int {
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
	if verbose {
		fmt.Fprint(stderr, em.Logs())
	} else if out := rie.FunctionOutput(em.Logs()); len(out) > 0 {
		fmt.Fprintln(stderr, strings.Join(out, "\n"))
	}
	if err != nil {
		var fe *rie.FunctionError
		if errors.As(err, &fe) && fe.Init {
			fmt.Fprintf(stderr, "amikms demo --invoke: %v\n", err)
			return 2
		}
		fmt.Fprintln(stderr, "amikms demo --invoke:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}
