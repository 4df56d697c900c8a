package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// invokeTimeout mirrors the Lambda's timeout so the CLI behaves like the function.
const invokeTimeout = 60 * time.Second

// newRemediator builds the remediator from the environment exactly as the Lambda does; logs go to
// logw.
func newRemediator(ctx context.Context, logw io.Writer) (*remediate.Remediator, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsapi.LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return remediate.New(cfg, awsapi.NewClients(awsCfg, cfg.MemberRoleName, ""), logging.New(logw, cfg.LogLevel)), nil
}

func runInvoke(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "amikms invoke: at most one FILE (or - for standard input)")
		return 2
	}
	var raw []byte
	var err error
	if fs.NArg() == 0 || fs.Arg(0) == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(stderr, "amikms invoke:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	rm, err := newRemediator(ctx, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "amikms invoke:", err)
		return 2
	}
	out, err := rm.Invoke(ctx, raw)
	if err != nil {
		fmt.Fprintln(stderr, "amikms invoke:", err)
		var ue *remediate.UnusableInputError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return printResult(stdout, stderr, out)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	imageID := fs.String("image", "", "AMI ID to check (required)")
	region := fs.String("region", "", "region of the AMI (required)")
	account := fs.String("account", "", "target account that launches the AMI (required)")
	principal := fs.String("principal", "", "IAM user or role ARN in the target account whose identity policies to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *imageID == "" || *region == "" || !awsid.IsAccountID(*account) {
		fmt.Fprintln(stderr, "amikms check: --image, --region and a 12-digit --account are required")
		return 2
	}
	t := trigger.Trigger{Kind: trigger.Check, EventID: "amikms-check", Account: *account, Region: *region, ImageID: *imageID}
	if *principal != "" {
		p, err := remediate.PrincipalFromARN(*principal)
		if err != nil {
			fmt.Fprintln(stderr, "amikms check:", err)
			return 2
		}
		t.Principal = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	rm, err := newRemediator(ctx, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "amikms check:", err)
		return 2
	}
	out := rm.Handle(ctx, trigger.Invocation{Records: []trigger.Record{{Trigger: t}}})
	return printResult(stdout, stderr, out.Result)
}

// printResult writes the result JSON; exit 1 when any record or action failed.
func printResult(stdout, stderr io.Writer, out any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "amikms:", err)
		return 1
	}
	var res report.Result
	switch v := out.(type) {
	case report.Result:
		res = v
	case remediate.SQSResponse:
		res = v.Result
	}
	for _, r := range res.Records {
		if r.Error != "" {
			return 1
		}
	}
	for _, a := range res.Actions {
		if a.Status == report.StatusFailed {
			return 1
		}
	}
	return 0
}
