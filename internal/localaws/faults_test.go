package localaws_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
)

func startFaultProxy(t *testing.T, cfg localaws.FaultConfig) (*localaws.FaultProxy, string) {
	t.Helper()
	p := localaws.NewFaultProxy(env.URL, cfg)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// rawSTSCalls sends n GetCallerIdentity requests one after another and tallies what the client
// saw: HTTP status codes, and -1 for a connection that broke without an answer.
func rawSTSCalls(t *testing.T, url string, n int) map[int]int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	seen := map[int]int{}
	for range n {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+localaws.AccessKeyFor(owner)+"/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := client.Do(req)
		if err != nil {
			seen[-1]++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		seen[resp.StatusCode]++
	}
	return seen
}

// The injector fails about Rate of the requests, each fault is what the client observes, and the
// same seed with the same request order gives the same faults.
func TestFaultProxyRateAndDeterminism(t *testing.T) {
	const n = 200
	cfg := localaws.FaultConfig{Seed: 7, Rate: 0.3, LatencyMillis: 1}
	p1, url1 := startFaultProxy(t, cfg)
	seen := rawSTSCalls(t, url1, n)
	s := p1.Stats()

	// Binomial(200, 0.3): mean 60, sd ~6.5.
	if s.Requests != n || s.Faults < 35 || s.Faults > 85 {
		t.Fatalf("stats = %+v, want %d requests and 35..85 faults", s, n)
	}
	if got := s.Forwarded; got != n-s.Faults+s.ByKind[localaws.FaultLatency] {
		t.Errorf("forwarded %d, want requests - faults + latency faults = %d", got, n-s.Faults+s.ByKind[localaws.FaultLatency])
	}
	for _, k := range []string{localaws.FaultThrottle, localaws.Fault500, localaws.Fault503, localaws.FaultReset, localaws.FaultLatency} {
		if s.ByKind[k] == 0 {
			t.Errorf("no %q fault in %d requests: %+v", k, n, s.ByKind)
		}
	}
	want := map[int]int{
		http.StatusBadRequest:          int(s.ByKind[localaws.FaultThrottle]),
		http.StatusInternalServerError: int(s.ByKind[localaws.Fault500]),
		http.StatusServiceUnavailable:  int(s.ByKind[localaws.Fault503]),
		-1:                             int(s.ByKind[localaws.FaultReset]),
		http.StatusOK:                  int(n - s.Faults + s.ByKind[localaws.FaultLatency]),
	}
	if !maps.Equal(seen, want) {
		t.Errorf("client saw %v, want %v", seen, want)
	}

	p2, url2 := startFaultProxy(t, cfg)
	rawSTSCalls(t, url2, n)
	if s2 := p2.Stats(); !maps.Equal(s.ByKind, s2.ByKind) {
		t.Errorf("same seed, different faults: %v vs %v", s.ByKind, s2.ByKind)
	}
}

// Injected throttles are shaped like each protocol's real throttling error, so the SDK's standard
// retryer classifies them as throttles and retryable (aws-sdk-go-v2 retry.DefaultThrottles);
// 500, 503 and reset connections are retryable too.
func TestFaultsClassifiedBySDK(t *testing.T) {
	calls := map[string]struct {
		call     func(cfg aws.Config) error
		throttle string // error code of the throttle
	}{
		"kms json": {
			call: func(cfg aws.Config) error {
				_, err := kms.NewFromConfig(cfg).ListKeys(context.Background(), &kms.ListKeysInput{})
				return err
			},
			throttle: "ThrottlingException",
		},
		"sts query": {
			call: func(cfg aws.Config) error {
				_, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
				return err
			},
			throttle: "Throttling",
		},
		"ec2": {
			call: func(cfg aws.Config) error {
				_, err := ec2.NewFromConfig(cfg).DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"}})
				return err
			},
			throttle: "RequestLimitExceeded",
		},
	}
	kinds := []string{localaws.FaultThrottle, localaws.Fault500, localaws.Fault503, localaws.FaultReset}
	for name, tc := range calls {
		for _, kind := range kinds {
			t.Run(name+"/"+kind, func(t *testing.T) {
				_, url := startFaultProxy(t, localaws.FaultConfig{Seed: 1, Rate: 1, Kinds: []string{kind}})
				cfg, err := env.Config(testCtx(t), owner, region, config.WithBaseEndpoint(url), config.WithRetryMaxAttempts(1))
				if err != nil {
					t.Fatal(err)
				}
				err = tc.call(cfg)
				if err == nil {
					t.Fatal("call succeeded through a proxy that fails every request")
				}
				if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
					t.Errorf("SDK does not classify %v as retryable", err)
				}
				if kind == localaws.FaultThrottle {
					if apiCode(err) != tc.throttle {
						t.Errorf("code %q, want %q (%v)", apiCode(err), tc.throttle, err)
					}
					if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
						t.Errorf("SDK does not classify %v as a throttle", err)
					}
				}
			})
		}
	}
}

// Under 30% injected faults of every kind, the SDK's own standard retryer (bounded attempts, no
// hand-written loop) completes every call.
func TestSDKRetriesThroughFaults(t *testing.T) {
	url, p, err := env.ServeFaultProxy(localaws.FaultConfig{Seed: 42, Rate: 0.3, LatencyMillis: 2})
	if err != nil {
		t.Fatal(err)
	}
	retryer := func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = 20 * time.Millisecond
			o.RateLimiter = ratelimit.None
		})
	}
	cfg, err := env.Config(testCtx(t), owner, region, config.WithBaseEndpoint(url), config.WithRetryer(retryer))
	if err != nil {
		t.Fatal(err)
	}
	kc, sc, ec := kms.NewFromConfig(cfg), sts.NewFromConfig(cfg), ec2.NewFromConfig(cfg)
	ctx := testCtx(t)
	for i := range 30 {
		var err error
		switch i % 3 {
		case 0:
			_, err = kc.ListKeys(ctx, &kms.ListKeysInput{})
		case 1:
			_, err = sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		case 2:
			_, err = ec.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
		}
		if err != nil {
			t.Fatalf("call %d failed despite retries: %v", i, err)
		}
	}
	if s := p.Stats(); s.Faults == 0 || s.Requests <= 30 {
		t.Errorf("stats %+v: expected faults and retried requests", s)
	}
}
