package awsapi

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// DefaultMaxAttempts bounds the SDK's standard retryer (throttling, 5xx, connection resets).
// AWS_MAX_ATTEMPTS overrides it.
const DefaultMaxAttempts = 5

// LoadConfig loads the SDK configuration the usual way (environment, AWS_ENDPOINT_URL, the Lambda
// role) with the standard retryer bounded to a few attempts and short backoffs, so every call
// fits inside the invocation's deadline. AWS_RETRY_MODE=adaptive makes it the adaptive retryer
// with the same bounds.
func LoadConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	attempts := DefaultMaxAttempts
	if v := os.Getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			return aws.Config{}, fmt.Errorf("AWS_MAX_ATTEMPTS: %q is not a number from 1 to 20", v)
		}
		attempts = n
	}
	bounded := func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.MaxBackoff = 2 * time.Second
	}
	retryer := func() aws.Retryer { return retry.NewStandard(bounded) }
	switch mode := os.Getenv("AWS_RETRY_MODE"); mode {
	case "", string(aws.RetryModeStandard):
	case string(aws.RetryModeAdaptive):
		// Adaptive mode adds a client-side rate limiter that slows a client's calls down once
		// they are throttled (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html):
		// sweep tasks use it, so that reading every image of a large account stays within its
		// EC2 request quotas instead of failing on them. Each client (one per account and region)
		// has its own limiter.
		retryer = func() aws.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, bounded)
			})
		}
	default:
		return aws.Config{}, fmt.Errorf("AWS_RETRY_MODE: %q is not standard or adaptive", mode)
	}
	opts = append([]func(*config.LoadOptions) error{config.WithRetryer(retryer)}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION: not set (the SDK needs a region)")
	}
	return cfg, nil
}
