package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// invokeTimeout mirrors the Lambda's timeout so the CLI behaves like the function.
const invokeTimeout = 60 * time.Second

// credentialsHelp is what invoke and check say about credentials and writes.
const credentialsHelp = `Configuration: the function's environment variables (MODE, TRUSTED_ACCOUNT_IDS,
TRUSTED_ORGANIZATION_ID, ALERT_TOPIC_ARN, MEMBER_ROLE_NAME, IAM_POLICY_NAME, ...: see README.md).
Credentials: the AWS SDK's default chain (--profile or AWS_PROFILE, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, IAM Identity Center after aws sso login, ...) of the central account, the
one that owns the keys; in other accounts it assumes MEMBER_ROLE_NAME, as the function does.
Writes: only with MODE=fix, and only for trusted accounts: the key policies of the central
account's keys, and IAM_POLICY_NAME in the principal's account. MODE=alert (the default) changes
nothing. With ALERT_TOPIC_ARN set it publishes the alert, as the function does.
`

const invokeHelp = `usage: amikms invoke [--profile NAME] [--region REGION] [FILE|-]

Runs the remediator on one event exactly as the Lambda does and prints the result JSON (logs go
to standard error). FILE (or standard input, with - or nothing) is an EventBridge event, an SQS
batch of them, a bare CloudTrail record or a CloudTrail log file.

` + credentialsHelp + `
exit codes: 0 handled, 1 processing failed or the alert it owed was not published, 2 unusable
input or usage
`

const checkHelp = `usage: amikms check --image AMI --region REGION --account ACCOUNT [--principal ARN] [--profile NAME]

Diagnoses an image for the account that launches it, as the remediator would on a failed launch:
its snapshots' keys, their policies and (with --principal) the principal's identity policies.
Prints the result JSON; logs go to standard error. --region is the image's region and the region
the SDK uses.

` + credentialsHelp + `
exit codes: 0 handled, 1 processing failed, 2 unusable input or usage
`

// awsOptions are the SDK settings invoke and check take from their flags.
type awsOptions struct {
	profile, region string
}

// newRemediator builds the remediator from the environment exactly as the Lambda does, with the
// flags' profile and region; logs go to logw. It checks first that there are credentials: without
// them every AWS call would fail with the SDK's error, deep in each record.
func newRemediator(ctx context.Context, o awsOptions, logw io.Writer) (*remediate.Remediator, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := loadAWS(ctx, o.profile, o.region)
	if err != nil {
		return nil, err
	}
	return remediate.New(cfg, awsapi.NewClients(awsCfg, cfg.MemberRoleName, ""), logging.New(logw, cfg.LogLevel)), nil
}

// loadAWS loads the SDK configuration for --profile and --region (each empty: the SDK's own),
// with extra options, and checks that it has credentials (within 15 s).
func loadAWS(ctx context.Context, profile, region string, extra ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	opts := extra
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsapi.LoadConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%w (the region is AWS_REGION or --region; the profile AWS_PROFILE or --profile NAME)", err)
	}
	credCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(credCtx); err != nil {
		return aws.Config{}, credentialsHint(err)
	}
	return cfg, nil
}

// credentialsHint says how to give the CLI credentials, the SDK's own error last.
func credentialsHint(err error) error {
	return fmt.Errorf("no usable AWS credentials: use a profile of the central account (--profile NAME, or AWS_PROFILE=NAME; "+
		"after aws sso login --profile NAME for IAM Identity Center), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "+
		"(the SDK said: %w)", err)
}

func runInvoke(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("invoke", invokeHelp, args, stdout, stderr)
	var o awsOptions
	fs.StringVar(&o.profile, "profile", "", "shared configuration `PROFILE` to use (default: AWS_PROFILE, or the SDK's chain)")
	fs.StringVar(&o.region, "region", "", "`REGION` the SDK uses (default: AWS_REGION), as the function's own region")
	if done, code := parseFlags(fs, args); done {
		return code
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
	rm, err := newRemediator(ctx, o, stderr)
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
	fs := newFlags("check", checkHelp, args, stdout, stderr)
	imageID := fs.String("image", "", "AMI `ID` to check (required)")
	region := fs.String("region", "", "`REGION` of the AMI, and the SDK's (required)")
	account := fs.String("account", "", "target `ACCOUNT` that launches the AMI (required)")
	principal := fs.String("principal", "", "IAM user or role `ARN` in the target account whose identity policies to check")
	profile := fs.String("profile", "", "shared configuration `PROFILE` to use (default: AWS_PROFILE, or the SDK's chain)")
	if done, code := parseFlags(fs, args); done {
		return code
	}
	if *imageID == "" || *region == "" || !awsid.IsAccountID(*account) {
		fmt.Fprintln(stderr, "amikms check: --image, --region and a 12-digit --account are required (amikms check --help)")
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
	rm, err := newRemediator(ctx, awsOptions{profile: *profile, region: *region}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "amikms check:", err)
		return 2
	}
	out := rm.Handle(ctx, trigger.Invocation{Records: []trigger.Record{{Trigger: t}}})
	return printResult(stdout, stderr, out.Result)
}

// printResult writes the result JSON; exit 1 when any record or action failed, or when the
// alert it owed could not be published.
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
	code := 0
	if res.Alert.Owed {
		fmt.Fprintln(stderr, "amikms: the alert could not be published (it is owed):", res.Alert.Error)
		code = 1
	}
	if failed(res) {
		code = 1
	}
	return code
}

// failed: a record or an action of res failed.
func failed(res report.Result) bool {
	for _, r := range res.Records {
		if r.Error != "" {
			return true
		}
	}
	for _, a := range res.Actions {
		if a.Status == report.StatusFailed {
			return true
		}
	}
	return false
}
