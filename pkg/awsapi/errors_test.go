package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// wrapped is err as the SDK returns it from an operation.
func wrapped(err error) error {
	return fmt.Errorf("get key policy k: %w", &smithy.OperationError{ServiceID: "KMS", OperationName: "GetKeyPolicy", Err: err})
}

func generic(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

func TestClassifyByCode(t *testing.T) {
	for code, want := range map[string]Class{
		"NotFoundException":                ClassNotFound,
		"NoSuchEntity":                     ClassNotFound,
		"InvalidAMIID.NotFound":            ClassNotFound,
		"InvalidLaunchTemplateId.NotFound": ClassNotFound, // any *.NotFound
		"AccountNotFoundException":         ClassNotFound,
		"NotFound":                         ClassNotFound,
		"AccessDeniedException":            ClassAccessDenied,
		"AccessDenied":                     ClassAccessDenied,
		"UnauthorizedOperation":            ClassAccessDenied,
		"AuthFailure":                      ClassAccessDenied,
		"AuthorizationError":               ClassAccessDenied,
		// What internal/localaws's fault proxy answers: throttles per protocol, 500 and 503.
		"ThrottlingException":              ClassThrottled,
		"Throttling":                       ClassThrottled,
		"RequestLimitExceeded":             ClassThrottled,
		"InternalFailure":                  ClassTransient,
		"ServiceUnavailable":               ClassTransient,
		"TooManyRequestsException":         ClassThrottled,
		"LimitExceeded":                    ClassLimitExceeded,
		"EntityAlreadyExists":              ClassAlreadyExists,
		"MalformedPolicyDocumentException": ClassMalformedPolicy,
		"InvalidInput":                     ClassInvalid,
		"KMSInvalidStateException":         ClassInvalidState,
		"ConcurrentModification":           ClassTransient,
		"SomethingNew":                     ClassOther,
	} {
		for _, err := range []error{generic(code), wrapped(generic(code))} {
			if got := Classify(err); got != want {
				t.Errorf("Classify(%v) = %q, want %q", err, got, want)
			}
		}
	}
}

// The SDK's modeled error types and the fakes' GenericAPIError with the same code are one class:
// the table reads the code, whatever the type.
func TestModeledErrorsClassifyLikeTheirCode(t *testing.T) {
	for _, err := range []smithy.APIError{
		&kmstypes.NotFoundException{}, &kmstypes.MalformedPolicyDocumentException{}, &kmstypes.KMSInvalidStateException{},
		&kmstypes.KMSInternalException{}, &kmstypes.LimitExceededException{}, &kmstypes.DependencyTimeoutException{},
		&iamtypes.NoSuchEntityException{}, &iamtypes.EntityAlreadyExistsException{}, &iamtypes.LimitExceededException{},
		&iamtypes.MalformedPolicyDocumentException{}, &iamtypes.ConcurrentModificationException{}, &iamtypes.ServiceFailureException{},
		&orgtypes.AccountNotFoundException{}, &orgtypes.AWSOrganizationsNotInUseException{}, &orgtypes.TooManyRequestsException{},
		&snstypes.AuthorizationErrorException{}, &snstypes.NotFoundException{}, &snstypes.InternalErrorException{},
	} {
		if _, known := codes[err.ErrorCode()]; !known {
			t.Errorf("%T: code %q is not in the table", err, err.ErrorCode())
			continue
		}
		if got, want := Classify(wrapped(err)), Classify(generic(err.ErrorCode())); got != want {
			t.Errorf("%T classifies %q, its code %q classifies %q", err, got, err.ErrorCode(), want)
		}
	}
}

func TestPredicates(t *testing.T) {
	notFound, denied, exists := wrapped(generic("NoSuchEntity")), wrapped(generic("AccessDenied")), wrapped(generic("EntityAlreadyExists"))
	throttled, limit, malformed := wrapped(generic("Throttling")), wrapped(generic("LimitExceeded")), wrapped(generic("MalformedPolicyDocument"))
	for name, tc := range map[string]struct {
		pred func(error) bool
		yes  []error
		no   []error
	}{
		"IsNotFound":        {IsNotFound, []error{notFound}, []error{nil, denied, exists, errors.New("NoSuchEntity")}},
		"IsAccessDenied":    {IsAccessDenied, []error{denied}, []error{nil, notFound, errors.New("AccessDenied")}},
		"IsEntityExists":    {IsEntityExists, []error{exists}, []error{nil, notFound, errors.New("EntityAlreadyExists")}},
		"IsThrottled":       {IsThrottled, []error{throttled}, []error{nil, limit}},
		"IsLimitExceeded":   {IsLimitExceeded, []error{limit}, []error{nil, throttled}},
		"IsMalformedPolicy": {IsMalformedPolicy, []error{malformed}, []error{nil, limit}},
		"IsInvalid":         {IsInvalid, []error{wrapped(generic("InvalidInput"))}, []error{nil, malformed}},
		"Transient": {Transient, []error{throttled, wrapped(generic("InternalFailure")), fmt.Errorf("x: %w", context.DeadlineExceeded), serverError(503)},
			[]error{nil, notFound, denied, limit, serverError(400), errors.New("transient: the text decides nothing")}},
	} {
		for _, err := range tc.yes {
			if !tc.pred(err) {
				t.Errorf("%s(%v) = false", name, err)
			}
		}
		for _, err := range tc.no {
			if tc.pred(err) {
				t.Errorf("%s(%v) = true", name, err)
			}
		}
	}
	if IgnoreNotFound(notFound) != nil || IgnoreNotFound(denied) != denied || IgnoreNotFound(nil) != nil {
		t.Error("IgnoreNotFound keeps what it should drop or drops what it should keep")
	}
}

// serverError is an HTTP answer with status and no AWS error code.
func serverError(status int) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("no code")}}
}
