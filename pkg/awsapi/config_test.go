package awsapi

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

func TestLoadConfigRetryMode(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	for mode, adaptive := range map[string]bool{"": false, "standard": false, "adaptive": true} {
		t.Setenv("AWS_RETRY_MODE", mode)
		cfg, err := LoadConfig(context.Background())
		if err != nil {
			t.Fatalf("AWS_RETRY_MODE=%q: %v", mode, err)
		}
		r := cfg.Retryer()
		if _, ok := r.(*retry.AdaptiveMode); ok != adaptive {
			t.Errorf("AWS_RETRY_MODE=%q: retryer %T", mode, r)
		}
		if r.MaxAttempts() != DefaultMaxAttempts {
			t.Errorf("AWS_RETRY_MODE=%q: %d attempts, want the bound %d", mode, r.MaxAttempts(), DefaultMaxAttempts)
		}
	}
	t.Setenv("AWS_RETRY_MODE", "legacy")
	if _, err := LoadConfig(context.Background()); err == nil || !strings.Contains(err.Error(), "AWS_RETRY_MODE") {
		t.Errorf("AWS_RETRY_MODE=legacy: %v, want an error naming the variable", err)
	}
}
