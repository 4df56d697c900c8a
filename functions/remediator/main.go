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
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
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
	clients := awsapi.NewClients(awsCfg, cfg.MemberRoleName, "")
	// One coordinator per execution environment: its write locks and memory of what was written
	// serve every invocation this environment runs. The estate store keeps writes to one key to
	// one environment at a time, and the estate's findings. The invocation's metrics go where
	// Lambda sends the logs: CloudWatch Logs extracts them.
	opts := []remediate.Option{remediate.WithCoordinator(remediate.NewCoordinator()),
		remediate.WithMetrics(os.Stdout, lambdacontext.FunctionName)}
	if cfg.EstateTable != "" {
		opts = append(opts, remediate.WithStore(store.New(clients.DynamoDB(), cfg.EstateTable)))
	}
	rm := remediate.New(cfg, clients, log, opts...)
	lambda.Start(rm.Invoke)
	return nil
}
