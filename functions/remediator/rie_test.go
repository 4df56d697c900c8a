package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/emf"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
)

// rieVersion is the pinned Lambda Runtime Interface Emulator (same as the Makefile's).
const rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// rieBinary finds aws-lambda-rie: $AMIKMS_RIE (make test sets it), ../../bin, or a go install
// into a temporary folder.
func rieBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AMIKMS_RIE"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../bin/aws-lambda-rie"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "install", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"+rieVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install aws-lambda-rie: %v\n%s", err, out)
	}
	return filepath.Join(dir, "aws-lambda-rie")
}

// buildBootstrap builds this package as the Lambda would run it, for this machine.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, b)
	}
	return out
}

// The bootstrap under the Lambda Runtime Interface Emulator, against the local AWS: what
// `sam local invoke -e events/<file>.json` does. One event of each trigger, and the SQS batch.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rieBin, bootstrap := rieBinary(t), buildBootstrap(t)
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	seed, err := world.Seed(ctx, env.Filler)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := world.NewAlertSink(ctx, "rie-alerts")
	if err != nil {
		t.Fatal(err)
	}
	lambdaEnv := scenario.LambdaEnv(env.URL, sink.TopicARN, "alert", []string{scenario.Target})
	em, err := rie.Start(ctx, rieBin, bootstrap, lambdaEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()

	tests := map[string]struct{ triggers []string }{
		"share-image.json":         {[]string{"share-image"}},
		"copy-image.json":          {[]string{"copy-image"}},
		"copy-image-failed.json":   {[]string{"copy-image-failed"}},
		"launch-failed.json":       {[]string{"launch-failed"}},
		"instance-terminated.json": {[]string{"instance-terminated"}},
		"ami-available.json":       {[]string{"ami-available"}},
		"asg-launch-failed.json":   {[]string{"asg-launch-failed"}},
		"ignored-dryrun.json":      {[]string{"ignored"}},
		"sqs-batch.json":           {[]string{"share-image", "launch-failed", "ignored"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			payload, err := scenario.Event("../../events/"+name, seed.Replace())
			if err != nil {
				t.Fatal(err)
			}
			body, err := em.Invoke(ctx, payload)
			if err != nil {
				t.Fatalf("%v\nlogs:\n%s", err, em.Logs())
			}
			// The emulator answers handler errors with HTTP 200: read the body.
			var resp struct {
				ErrorMessage      string            `json:"errorMessage"`
				BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
				Records           []struct {
					Trigger  string `json:"trigger"`
					Error    string `json:"error"`
					Findings []struct {
						Code    string `json:"code"`
						Account string `json:"account"`
						KeyARN  string `json:"key_arn"`
					} `json:"findings"`
				} `json:"records"`
			}
			if err := json.Unmarshal(body, &resp); err != nil || resp.ErrorMessage != "" {
				t.Fatalf("response %s (%v)", body, err)
			}
			if len(resp.Records) != len(tc.triggers) {
				t.Fatalf("response %s", body)
			}
			for i, r := range resp.Records {
				if r.Trigger != tc.triggers[i] || r.Error != "" {
					t.Errorf("record %d = %+v, want %s", i, r, tc.triggers[i])
				}
			}
			// The function must see itself in the owner account (not the emulator's placeholder
			// account in its ARN): the seeded key then lacks the target, as diagnosed for real.
			if tc.triggers[0] != "ignored" && tc.triggers[0] != "copy-image" {
				found := false
				for _, f := range resp.Records[0].Findings {
					if f.Code == "key-policy-missing-use" && f.Account == scenario.Target && f.KeyARN == seed.KeyARN {
						found = true
					}
				}
				if !found {
					t.Errorf("no key-policy-missing-use finding for %s on the seeded key: %s", scenario.Target, body)
				}
			}
			if name == "sqs-batch.json" && resp.BatchItemFailures == nil {
				t.Errorf("an SQS batch answers batchItemFailures: %s", body)
			}
		})
	}
	t.Run("unusable input is a handler error", func(t *testing.T) {
		body, err := em.Invoke(ctx, []byte(`{"detail-type": "AWS API Call via CloudTrail", "detail": "nope"}`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), `"errorMessage"`) || !strings.Contains(string(body), "unusable input") {
			t.Errorf("body %s", body)
		}
	})
	// Every invocation wrote its metrics to standard output, as CloudWatch Logs reads them: one
	// totals line each, under the function's name, the unusable payload counted.
	ms, _, err := emf.Lines([]byte(em.Logs()))
	if err != nil {
		t.Fatalf("an EMF line CloudWatch would refuse: %v", err)
	}
	totals, unusable := 0, 0.0
	for _, m := range ms {
		if m.Name == metrics.MetricRecords {
			totals++
			if m.Namespace != metrics.DefaultNamespace || m.Dimensions[metrics.DimFunction] == "" {
				t.Errorf("totals line %+v: namespace or function", m)
			}
		}
		if m.Name == metrics.MetricUnusableRecords {
			unusable += m.Value
		}
	}
	if totals != len(tests)+1 || unusable != 1 {
		t.Errorf("%d totals lines for %d invocations, %v unusable records (want 1):\n%s", totals, len(tests)+1, unusable, em.Logs())
	}
	// One environment, many invocations: one line with the effective configuration, at start.
	if n := strings.Count(em.Logs(), `"message":"cold start: effective configuration"`); n != 1 {
		t.Errorf("%d cold-start configuration lines, want 1:\n%s", n, em.Logs())
	}
	for _, want := range []string{`"mode":"alert"`, `"trusted_accounts":["` + scenario.Target + `"]`, `"alert_topic":"` + sink.TopicARN + `"`} {
		if !strings.Contains(em.Logs(), want) {
			t.Errorf("the cold-start line lacks %s", want)
		}
	}
	if initMs, reports := rie.Durations(em.Logs()); len(reports) == 0 {
		t.Errorf("no REPORT lines from the emulator:\n%s", em.Logs())
	} else {
		t.Logf("init %.1f ms, invokes %v ms", initMs, reports)
	}
}

// A configuration the function refuses fails every invocation with the function's own message,
// as Lambda reports an init error: `make invoke MODE=bad` says what is wrong.
func TestBootstrapReportsBadConfigurationUnderRIE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rieBin, bootstrap := rieBinary(t), buildBootstrap(t)
	env := scenario.LambdaEnv("http://127.0.0.1:9", "arn:aws:sns:us-east-1:111122223333:alerts", "sometimes", nil)
	em, err := rie.Start(ctx, rieBin, bootstrap, env)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	_, err = em.Invoke(ctx, []byte(`{}`))
	var fe *rie.FunctionError
	if !errors.As(err, &fe) || !fe.Init || fe.Type != "Runtime.ConfigInvalid" || !strings.HasPrefix(fe.Message, "MODE: ") {
		t.Fatalf("invoke error = %v (%#v), want the init error naming MODE\nlogs:\n%s", err, fe, em.Logs())
	}
}
