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
	ClassAlreadyExists   Class = "already-exists"
	// ClassNoOrganization: the caller's account belongs to no AWS Organizations organization.
	ClassNoOrganization Class = "no-organization"
	ClassInvalid        Class = "invalid"
	ClassInvalidState   Class = "invalid-state"
	ClassDeadline       Class = "deadline"
	ClassTransient      Class = "transient"
	ClassOther          Class = "other"
)

// codes maps AWS error codes (what smithy.APIError.ErrorCode returns: the wire code, which is
// also the name of the SDK's modeled error type less "Exception" for the query-protocol
// services) to classes. One table for every service the remediator calls, the fakes' injected
// errors included. Codes from the services' API references, e.g.
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html#API_CreatePolicy_Errors,
// https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html#API_PutKeyPolicy_Errors,
// https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors,
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html and the common
// errors of https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html.
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
	"NotFound":                          ClassNotFound, // SNS
	"AccessDenied":                      ClassAccessDenied,
	"AccessDeniedException":             ClassAccessDenied,
	"UnauthorizedOperation":             ClassAccessDenied,
	"AuthFailure":                       ClassAccessDenied,
	"AuthorizationError":                ClassAccessDenied, // SNS
	"AWSOrganizationsNotInUseException": ClassNoOrganization,
	"ThrottlingException":               ClassThrottled,
	"Throttling":                        ClassThrottled,
	"RequestLimitExceeded":              ClassThrottled,
	"TooManyRequestsException":          ClassThrottled,
	"Throttled":                         ClassThrottled, // SNS
	"KMSThrottling":                     ClassThrottled, // SNS, for an encrypted topic
	"LimitExceededException":            ClassLimitExceeded,
	"LimitExceeded":                     ClassLimitExceeded,
	"EntityAlreadyExists":               ClassAlreadyExists,
	"AlreadyExistsException":            ClassAlreadyExists,
	"MalformedPolicyDocumentException":  ClassMalformedPolicy,
	"MalformedPolicyDocument":           ClassMalformedPolicy,
	"InvalidInput":                      ClassInvalid,
	"InvalidParameter":                  ClassInvalid,
	"InvalidParameterValue":             ClassInvalid,
	"InvalidParameterException":         ClassInvalid,
	"InvalidArnException":               ClassInvalid,
	"ValidationError":                   ClassInvalid,
	"ValidationException":               ClassInvalid,
	"KMSInvalidStateException":          ClassInvalidState,
	"DisabledException":                 ClassInvalidState,
	"DeleteConflict":                    ClassInvalidState,
	"ServiceUnavailable":                ClassTransient,
	"InternalError":                     ClassTransient,
	"InternalFailure":                   ClassTransient,
	"KMSInternalException":              ClassTransient,
	"DependencyTimeoutException":        ClassTransient,
	"ServiceFailure":                    ClassTransient,
	// IAM: "multiple requests to change this object were submitted simultaneously. Wait a few
	// minutes and submit your request again."
	"ConcurrentModification": ClassTransient,
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

// IsNotFound reports whether err says the resource does not exist (or is not visible to the
// caller, which EC2 does not tell apart).
func IsNotFound(err error) bool { return Classify(err) == ClassNotFound }

// IgnoreNotFound returns nil for a not-found error and err otherwise.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}

// IsAccessDenied reports whether the caller lacks the permission (retrying cannot help).
func IsAccessDenied(err error) bool { return Classify(err) == ClassAccessDenied }

// IsThrottled reports whether AWS refused the call for its rate.
func IsThrottled(err error) bool { return Classify(err) == ClassThrottled }

// IsLimitExceeded reports whether a quota was reached (e.g. IAM's five versions of a policy).
func IsLimitExceeded(err error) bool { return Classify(err) == ClassLimitExceeded }

// IsEntityExists reports whether a create failed because the resource already exists.
func IsEntityExists(err error) bool { return Classify(err) == ClassAlreadyExists }

// IsMalformedPolicy reports whether AWS rejected a policy document.
func IsMalformedPolicy(err error) bool { return Classify(err) == ClassMalformedPolicy }

// IsNoOrganization reports whether Organizations answered that the caller's account is in no
// organization.
func IsNoOrganization(err error) bool { return Classify(err) == ClassNoOrganization }

// IsInvalid reports whether AWS rejected the request's parameters.
func IsInvalid(err error) bool { return Classify(err) == ClassInvalid }
