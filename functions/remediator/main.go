// Command bootstrap is the remediator Lambda: it only wires configuration, clients, the write
// coordinator and the handler from pkg/ together. Nothing here touches the network before the
// first event.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
)

func main() {
	if err := run(); err != nil {
		reportInitError(err, os.Stdout, os.Stderr)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	log := logging.New(os.Stdout, cfg.LogLevel)
	log.Info().Fields(cfg.Effective()).Msg("cold start: effective configuration")
	awsCfg, err := awsapi.LoadConfig(context.Background())
	if err != nil {
		return err
	}
	// One coordinator per execution environment: its write locks and memory of what was written
	// serve every invocation this environment runs.
	rm := remediate.New(cfg, awsapi.NewClients(awsCfg, cfg.MemberRoleName, ""), log, remediate.WithCoordinator(remediate.NewCoordinator()),
		// The invocation's metrics go where Lambda sends the logs: CloudWatch Logs extracts them.
		remediate.WithMetrics(os.Stdout, lambdacontext.FunctionName))
	lambda.Start(rm.Invoke)
	return nil
}
