package localaws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AccessKeyFor is the access key ID Env.Config uses for account: "AKIA" + the account + "LOCL"
// (20 characters of [A-Z0-9], as moto requires).
func AccessKeyFor(account string) string { return "AKIA" + account + "LOCL" }

// Config returns an SDK config that talks to this local AWS as account in region: static
// credentials whose access key is mapped to account (in the filler and, through
// x-moto-account-id, in moto), the filler as base endpoint, and at most 2 attempts per call
// (moto answers "not implemented" with HTTP 500, which the SDK would otherwise retry 3 times).
// opts are applied last and can override any of it.
func (e *Env) Config(ctx context.Context, account, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	if !isAccountID(account) {
		return aws.Config{}, fmt.Errorf("local aws config: account %q is not 12 digits", account)
	}
	akid := AccessKeyFor(account)
	e.Filler.MapAccessKey(akid, account)
	base := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, "localaws-secret-"+account, "")),
		config.WithBaseEndpoint(e.URL),
		config.WithRetryMaxAttempts(2),
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(base, opts...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("local aws config for %s in %s: %w", account, region, err)
	}
	return cfg, nil
}
