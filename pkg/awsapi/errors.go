package awsapi

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Class is what an AWS error means for the remediator.
type Class string

const (
	ClassNone            Class = ""
	ClassNotFound        Class = "not-found"
	ClassAccessDenied    Class = "access-denied"
	ClassThrottled       Class = "throttled"
	ClassMalformedPolicy Class = "malformed-policy"
	ClassLimitExceeded   Class = "limit-exceeded"
	ClassInvalidState    Class = "invalid-state"
	ClassDeadline        Class = "deadline"
	ClassTransient       Class = "transient"
	ClassOther           Class = "other"
)

// codes maps AWS error codes to classes. One table for every service we call.
var codes = map[string]Class{
	"NotFoundException":                 ClassNotFound,
	"NoSuchEntity":                      ClassNotFound,
	"InvalidAMIID.NotFound":             ClassNotFound,
	"InvalidAMIID.Unavailable":          ClassNotFound,
	"InvalidAMIID.Malformed":            ClassNotFound,
	"InvalidSnapshot.NotFound":          ClassNotFound,
	"InvalidInstanceID.NotFound":        ClassNotFound,
	"InvalidInstanceID.Malformed":       ClassNotFound,
	"AccountNotFoundException":          ClassNotFound,
	"AccessDenied":                      ClassAccessDenied,
	"AccessDeniedException":             ClassAccessDenied,
	"UnauthorizedOperation":             ClassAccessDenied,
	"AuthFailure":                       ClassAccessDenied,
	"AWSOrganizationsNotInUseException": ClassAccessDenied,
	"ThrottlingException":               ClassThrottled,
	"Throttling":                        ClassThrottled,
	"RequestLimitExceeded":              ClassThrottled,
	"TooManyRequestsException":          ClassThrottled,
	"LimitExceededException":            ClassLimitExceeded,
	"LimitExceeded":                     ClassLimitExceeded,
	"MalformedPolicyDocumentException":  ClassMalformedPolicy,
	"MalformedPolicyDocument":           ClassMalformedPolicy,
	"KMSInvalidStateException":          ClassInvalidState,
	"DisabledException":                 ClassInvalidState,
	"ServiceUnavailable":                ClassTransient,
	"InternalError":                     ClassTransient,
	"InternalFailure":                   ClassTransient,
	"KMSInternalException":              ClassTransient,
	"DependencyTimeoutException":        ClassTransient,
	"ServiceFailure":                    ClassTransient,
}

// Classify returns the class of err (ClassNone for nil).
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ClassDeadline
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if c, ok := codes[api.ErrorCode()]; ok {
			return c
		}
		if strings.HasSuffix(api.ErrorCode(), ".NotFound") {
			return ClassNotFound
		}
	}
	// What the SDK's retryer would retry (5xx, connection resets, ...) is transient for us too:
	// the retryer already spent its attempts, so Lambda/SQS should redeliver later.
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
		return ClassTransient
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return ClassTransient
	}
	return ClassOther
}

// Transient reports whether retrying the whole event later may succeed.
func Transient(err error) bool {
	switch Classify(err) {
	case ClassThrottled, ClassTransient, ClassDeadline:
		return true
	}
	return false
}
