// Command bootstrap is the sweep's starter: EventBridge Scheduler invokes it with the fixed Input
// naming the sweep, and it sends one task per account and region to the sweep's queue. It only
// wires configuration and clients to pkg/sweep.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ami-kms-remediator sweeper:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := sweep.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	level := strings.ToLower(strings.TrimSpace(os.Getenv("LOG_LEVEL")))
	switch level {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error, got %q", level)
	}
	awsCfg, err := awsapi.LoadConfig(context.Background())
	if err != nil {
		return err
	}
	s := &sweep.Starter{
		Config: cfg,
		Orgs:   organizations.NewFromConfig(awsCfg),
		Acct:   account.NewFromConfig(awsCfg),
		SQS:    sqs.NewFromConfig(awsCfg),
		Self:   sweep.SelfFromSTS(sts.NewFromConfig(awsCfg)),
		Log:    logging.New(os.Stdout, level),
	}
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (sweep.Started, error) {
		in, err := sweep.ParseInput(raw)
		if err != nil {
			s.Log.Error().Err(err).Msg("not a sweep start: nothing sent")
			return sweep.Started{}, err
		}
		return s.Start(ctx, in)
	})
	return nil
}
