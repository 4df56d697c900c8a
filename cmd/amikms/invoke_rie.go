package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/scenario"
)

// LambdaEnv is the environment `sam local invoke` would give the function for the seeded local
// AWS: the template's variables plus the SDK's endpoint, region and (central) credentials.
func LambdaEnv(endpoint, topicARN, mode string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_REGION=" + scenario.Region,
		"AWS_ACCESS_KEY_ID=" + scenario.CentralAccessKey,
		"AWS_SECRET_ACCESS_KEY=local-secret",
		"AWS_MAX_ATTEMPTS=2",
		"AWS_EC2_METADATA_DISABLED=true",
		"MODE=" + mode,
		"TRUSTED_ACCOUNT_IDS=" + scenario.Target,
		"ALERT_TOPIC_ARN=" + topicARN,
		"MEMBER_ROLE_NAME=" + scenario.MemberRoleName,
		"LOG_LEVEL=info",
	}
}

// invokeUnderRIE runs one sample event (placeholders replaced with the seeded IDs) through the
// bootstrap binary under the Lambda Runtime Interface Emulator and prints the response body.
func invokeUnderRIE(ctx context.Context, env *localaws.Env, seed *scenario.Seeded, sink *scenario.AlertSink, event, rieBin, bootstrap, mode string, stdout, stderr io.Writer) int {
	payload, err := scenario.Event(event, seed.Replace())
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo --invoke:", err)
		return 2
	}
	em, err := rie.Start(ctx, rieBin, bootstrap, LambdaEnv(env.URL, sink.TopicARN, mode))
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
