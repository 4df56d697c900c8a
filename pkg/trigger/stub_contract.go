package trigger

import "errors"

// Decode decodes the Lambda payload: an EventBridge event, an SQS event whose bodies are
// EventBridge events, a bare CloudTrail record, or a CloudTrail log file {"Records": [...]}.
// Unusable input (not JSON, no detail, wrong types) returns an error naming what is wrong.
// A malformed record inside an SQS batch does not fail the batch: it becomes a Record with Err.
func Decode(raw []byte) (Invocation, error) { return Invocation{}, errors.New("unimplemented") }

// ResolvePrincipal resolves a CloudTrail userIdentity object to the IAM principal to check.
func ResolvePrincipal(userIdentity []byte) (*Principal, error) {
	return nil, errors.New("unimplemented")
}
