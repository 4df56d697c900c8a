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
// fits inside the invocation's deadline.
func LoadConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	attempts := DefaultMaxAttempts
	if v := os.Getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			return aws.Config{}, fmt.Errorf("AWS_MAX_ATTEMPTS: %q is not a number from 1 to 20", v)
		}
		attempts = n
	}
	opts = append([]func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 2 * time.Second
			})
		}),
	}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION: not set (the SDK needs a region)")
	}
	return cfg, nil
}
