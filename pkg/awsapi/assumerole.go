package awsapi

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// AssumeRoleError is a failure to assume the member role in Account: the role is missing, its
// trust policy does not name the remediator's role, or STS failed. STS answers AccessDenied
// both when the role does not exist and when its trust policy does not allow the caller, so the
// two cannot be told apart from here
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html). The SDK reports it
// from the call that needed the credentials, wrapped in that call's error; errors.As finds it.
type AssumeRoleError struct {
	Account string
	RoleARN string // "" when not known
	Err     error
}

func (e *AssumeRoleError) Error() string {
	role := e.RoleARN
	if role == "" {
		role = "the member role of " + e.Account
	}
	return fmt.Sprintf("assume role %s: %v", role, e.Err)
}

func (e *AssumeRoleError) Unwrap() error { return e.Err }

// assumeRole is an AssumeRole credentials provider whose failures say which account and role
// they are about (the SDK's own error names neither in a form a program can read).
type assumeRole struct {
	inner            aws.CredentialsProvider
	account, roleARN string
}

func (p assumeRole) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.inner.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, &AssumeRoleError{Account: p.account, RoleARN: p.roleARN, Err: err}
	}
	return c, nil
}
