package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

// functionARN is the ARN Lambda hands the function: it names the central account, so the
// remediator never needs sts:GetCallerIdentity.
const functionARN = "arn:aws:lambda:us-east-1:" + scenario.Owner + ":function:ami-kms-remediator"

// invokeTimeout is the deadline each in-process invocation gets (the template's Timeout).
const invokeTimeout = 60 * time.Second

// newRemediator builds a remediator the way functions/remediator does, as a fresh Lambda
// environment would (no cached clients or credentials), with logs discarded.
func newRemediator(world *scenario.World, mode config.Mode, trusted []string, topicARN string) *remediate.Remediator {
	return newRemediatorWith(world, mode, trusted, topicARN, "")
}

// newRemediatorWith is newRemediator with the estate store in table ("" for none), whose
// DynamoDB calls are counted with the others, as in the Lambda.
func newRemediatorWith(world *scenario.World, mode config.Mode, trusted []string, topicARN, table string) *remediate.Remediator {
	cfg := config.Config{Mode: mode, TrustedAccountIDs: append([]string(nil), trusted...), AlertTopicARN: topicARN,
		MemberRoleName: scenario.MemberRoleName, IAMPolicyName: config.DefaultIAMPolicyName, LogLevel: "info"}
	sort.Strings(cfg.TrustedAccountIDs)
	clients := awsapi.NewClients(world.Central, cfg.MemberRoleName, "")
	var opts []remediate.Option
	if table != "" {
		opts = append(opts, remediate.WithStore(store.New(clients.DynamoDB(), table)))
	}
	return remediate.New(cfg, clients, logging.New(io.Discard, "info"), opts...)
}

var requestSeq atomic.Int64

// invoke runs raw through the Lambda handler with the context Lambda gives it (request ID,
// function ARN, deadline) and returns the result as it goes over the wire.
func invoke(ctx context.Context, rm *remediate.Remediator, raw []byte) (report.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, invokeTimeout)
	defer cancel()
	lc := &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("bench-%d", requestSeq.Add(1)), InvokedFunctionArn: functionARN}
	out, err := rm.Invoke(lambdacontext.NewContext(ctx, lc), raw)
	if err != nil {
		return report.Result{}, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return report.Result{}, fmt.Errorf("encode result: %w", err)
	}
	var res report.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return report.Result{}, fmt.Errorf("decode result: %w", err)
	}
	return res, nil
}

// recordErrors lists the records that failed.
func recordErrors(res report.Result) []string {
	var out []string
	for _, r := range res.Records {
		if r.Error != "" {
			out = append(out, r.Trigger+": "+r.Error)
		}
	}
	return out
}
