package remediate

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// SQSResponse is the Lambda's answer to an SQS batch: the partial-batch failures Lambda reads
// (ReportBatchItemFailures), plus the result for people and tests (Lambda ignores extra fields).
type SQSResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
	report.Result
}

// BatchItemFailure names one SQS message to hand back for retry.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// UnusableInputError means the payload, or one record of it, can never be processed (not JSON,
// wrong shape, a field that fails validation): acknowledged and reported, never retried.
type UnusableInputError struct{ Err error }

func (e *UnusableInputError) Error() string { return "unusable input: " + e.Err.Error() }
func (e *UnusableInputError) Unwrap() error { return e.Err }

// Invoke is the Lambda handler: raw event in, result (or SQS batch response) out.
func (rm *Remediator) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	log := rm.log
	requestID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		// The function ARN is not used to learn the central account: under the runtime
		// emulator and `sam local invoke` it names a placeholder account. Clients asks STS
		// once per environment instead.
		requestID = lc.AwsRequestID
		log = log.With().Str("request_id", requestID).Logger()
	}
	scoped := *rm
	scoped.log = log
	in, err := trigger.Decode(raw)
	if err != nil {
		log.Error().Err(err).Msg("unusable input: nothing was called")
		scoped.emitMetrics(unusablePayload(), requestID)
		return nil, &UnusableInputError{Err: fmt.Errorf("decode: %w", err)}
	}
	out := scoped.Handle(ctx, in)
	scoped.emitMetrics(out.Counts, requestID)
	if !in.FromSQS {
		return out.Result, nil
	}
	resp := SQSResponse{BatchItemFailures: []BatchItemFailure{}, Result: out.Result}
	for _, id := range out.Failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}
