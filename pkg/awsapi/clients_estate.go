package awsapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// EventBridge tells whether a member stack forwards an account's events to the central bus.
type EventBridge interface {
	ListRuleNamesByTarget(ctx context.Context, params *eventbridge.ListRuleNamesByTargetInput, optFns ...func(*eventbridge.Options)) (*eventbridge.ListRuleNamesByTargetOutput, error)
}

// EventBridge returns an EventBridge client acting in account and region.
func (c *Clients) EventBridge(ctx context.Context, account, region string) (EventBridge, error) {
	return client(ctx, c, c.buses, account, region, func(cfg aws.Config) *eventbridge.Client { return eventbridge.NewFromConfig(cfg) })
}

// DynamoDB returns the central account's DynamoDB client, in the function's own region (where
// the estate table is). Its calls are counted like the others.
func (c *Clients) DynamoDB() *dynamodb.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dynamo == nil {
		c.dynamo = dynamodb.NewFromConfig(c.base)
	}
	return c.dynamo
}

// CallerARN is the ARN of the remediator's own session in the central account, as
// sts:GetCallerIdentity tells it (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION in Lambda):
// asked once, with the central account.
func (c *Clients) CallerARN(ctx context.Context) (string, error) {
	if _, err := c.CentralAccount(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	arn := c.callerARN
	c.mu.Unlock()
	if arn != "" {
		return arn, nil
	}
	// The central account was given, not asked: ask for the ARN.
	out, err := c.sts().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get caller identity: %w", err)
	}
	c.mu.Lock()
	c.callerARN = aws.ToString(out.Arn)
	c.mu.Unlock()
	return aws.ToString(out.Arn), nil
}

// IsAssumeRoleFailure reports whether err is the refusal of sts:AssumeRole behind a member
// account's client (the member role is missing, or does not trust the remediator), rather than
// a failure of the call itself. The SDK wraps the credential provider's error in the failed
// call's, so the chain is searched for STS's AssumeRole operation.
func IsAssumeRoleFailure(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		var op *smithy.OperationError
		if errors.As(e, &op) && op.ServiceID == "STS" && op.OperationName == "AssumeRole" {
			return Classify(op.Err) == ClassAccessDenied || Classify(op.Err) == ClassNotFound
		}
		if op == nil {
			return false
		}
		e = op // continue below the operation found
	}
	return false
}
