package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

const auditHelp = `usage: amikms audit [--accounts A,B,... | --organization] [--regions r1,r2,...] [--mode alert|fix]
                    [--format json|table|csv|markdown] [--parallel N] [--central-role ARN]
                    [--profile NAME] [--region REGION]

Answers "which of our shared encrypted AMIs cannot be launched today?": for every account and
region, every encrypted image the account owns (its own and the copies made into it) is checked
for every account it is shared with and for the owner, as share-image does, without waiting for an
event. Regions not enabled for an account (account:ListRegions) are skipped; without --regions,
every enabled region. --organization takes the organization's active accounts
(organizations:ListAccounts: only from the management account or a delegated administrator).

Credentials: the SDK's default chain (--profile or AWS_PROFILE, ...). With --central-role (the
central stack's RemediatorRoleArn, whose trust admits you through its AuditPrincipalArn
parameter) it acts as the function does: as that role, and in other accounts as MEMBER_ROLE_NAME,
which trusts only that role. Without it, your own credentials are used, for reading only.
Configuration: TRUSTED_ACCOUNT_IDS, TRUSTED_ORGANIZATION_ID, MEMBER_ROLE_NAME, IAM_POLICY_NAME
from the environment, as the function's; it publishes no alert and leaves the estate store alone.
Writes: nothing, unless --mode fix, which is refused without --central-role and then writes what
the function would: key policies of trusted accounts' keys. It uses the SDK's adaptive retry
mode, so throttling slows it down (key owners' KMS quotas are shared with their workloads).
Progress goes to standard error when it is a terminal.

exit codes: 0 every image launchable where shared, 3 findings remain, 1 a check failed,
2 unusable input or usage
`

// auditOptions are audit's flags.
type auditOptions struct {
	accounts, regions []string
	organization      bool
	mode              config.Mode
	format            string
	parallel          int
	centralRole       string
	profile, region   string
	progress          io.Writer // nil: quiet
	progressEvery     time.Duration
	sessionName       string
	logs              io.Writer
	taskTimeout       time.Duration
	withRetryer       func() aws.Retryer
}

var formats = []string{"json", "table", "csv", "markdown"}

func runAudit(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("audit", auditHelp, args, stdout, stderr)
	accounts := fs.String("accounts", "", "comma-separated `ACCOUNTS` to audit")
	org := fs.Bool("organization", false, "audit every active account of the organization")
	regions := fs.String("regions", "", "comma-separated `REGIONS` (default: every region enabled for each account)")
	mode := fs.String("mode", "alert", "`MODE`: alert (change nothing) or fix (needs --central-role)")
	format := fs.String("format", "table", "output `FORMAT`: json, table, csv or markdown")
	parallel := fs.Int("parallel", 4, "`N` accounts x regions checked at once (1 to 64)")
	central := fs.String("central-role", "", "the central remediator role `ARN` to act as")
	profile := fs.String("profile", "", "shared configuration `PROFILE` to use (default: AWS_PROFILE, or the SDK's chain)")
	region := fs.String("region", "", "`REGION` the SDK uses, the central stack's (default: AWS_REGION)")
	if done, code := parseFlags(fs, args); done {
		return code
	}
	o := auditOptions{organization: *org, mode: config.Mode(*mode), format: *format, parallel: *parallel, centralRole: *central,
		profile: *profile, region: *region, logs: io.Discard, taskTimeout: 15 * time.Minute, sessionName: awsapi.SessionName}
	if err := o.parse(*accounts, *regions, fs.NArg()); err != nil {
		fmt.Fprintln(stderr, "amikms audit:", err, "(amikms audit --help)")
		return 2
	}
	if isTerminal(stderr) {
		o.progress, o.progressEvery = stderr, time.Second
	}
	return audit(context.Background(), o, stdout, stderr)
}

// parse checks the flags: bad input changes nothing.
func (o *auditOptions) parse(accounts, regions string, extra int) error {
	switch {
	case extra > 0:
		return errors.New("no arguments besides the flags")
	case o.organization == (accounts != ""):
		return errors.New("give either --accounts or --organization")
	case o.mode != config.ModeAlert && o.mode != config.ModeFix:
		return fmt.Errorf("--mode %q: alert or fix", o.mode)
	case !slices.Contains(formats, o.format):
		return fmt.Errorf("--format %q: one of %s", o.format, strings.Join(formats, ", "))
	case o.parallel < 1 || o.parallel > 64:
		return fmt.Errorf("--parallel %d: 1 to 64", o.parallel)
	case o.mode == config.ModeFix && o.centralRole == "":
		return errors.New("--mode fix acts only as the central remediator role, with its IAM limits: give --central-role (with your own credentials only --mode alert runs)")
	}
	if o.centralRole != "" {
		a, ok := awsid.ParsePrincipal(o.centralRole)
		if !ok || a.Kind != awsid.PrincipalRole || !awsid.IsAccountID(a.Account) {
			return fmt.Errorf("--central-role %q: want arn:aws:iam::ACCOUNT:role/NAME", o.centralRole)
		}
	}
	for _, a := range strings.FieldsFunc(accounts, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !awsid.IsAccountID(a) {
			return fmt.Errorf("--accounts: %q is not a 12-digit account ID", a)
		}
		o.accounts = append(o.accounts, a)
	}
	rs, err := sweep.ParseRegions(regions)
	if err != nil {
		return fmt.Errorf("--regions: %w", err)
	}
	o.regions = rs
	return nil
}

// auditResult is audit's JSON: the result, and what the plan left out or could not check.
type auditResult struct {
	report.Result
	Skipped []sweep.Skipped `json:"skipped"`
	Notes   []string        `json:"notes"`
}

func audit(ctx context.Context, o auditOptions, stdout, stderr io.Writer) int {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "amikms audit:", err)
		return 2
	}
	cfg.Mode, cfg.AlertTopicARN, cfg.EstateTable = o.mode, "", ""
	awsCfg, self, err := o.awsConfig(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "amikms audit:", err)
		return 2
	}
	plan, err := sweep.Lay(ctx, organizations.NewFromConfig(awsCfg), account.NewFromConfig(awsCfg),
		sweep.Layout{Organization: o.organization, Accounts: o.accounts, Regions: o.regions, Self: self})
	if err != nil {
		fmt.Fprintln(stderr, "amikms audit:", err)
		return 1
	}
	rm := remediate.New(cfg, awsapi.NewClients(awsCfg, cfg.MemberRoleName, self), logging.New(o.logs, cfg.LogLevel))
	out := auditResult{Result: report.Result{Records: []report.Record{}, Actions: []report.Action{}, Stats: map[string]int{}},
		Skipped: append([]sweep.Skipped{}, plan.Skipped...), Notes: append([]string{}, plan.Notes...)}
	results := make([]report.Result, len(plan.Scopes))
	prog := newProgress(o.progress, len(plan.Scopes), o.progressEvery)
	defer prog.stop()
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for i, sc := range plan.Scopes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			tctx, cancel := context.WithTimeout(ctx, o.taskTimeout)
			defer cancel()
			t := trigger.Trigger{Kind: trigger.SweepTask, EventID: "amikms-audit/" + sc.Account + "/" + sc.Region, Source: trigger.SourceSweep,
				DetailType: trigger.DetailTypeSweepTask, Account: sc.Account, Region: sc.Region}
			results[i] = rm.Handle(tctx, trigger.Invocation{Records: []trigger.Record{{Trigger: t}}}).Result
			prog.done(results[i])
		})
	}
	wg.Wait()
	prog.stop()
	for _, r := range results {
		out.Records = append(out.Records, r.Records...)
		out.Actions = append(out.Actions, r.Actions...)
		for k, v := range r.Stats {
			out.Stats[k] += v
		}
	}
	if err := writeAudit(stdout, o.format, out); err != nil {
		fmt.Fprintln(stderr, "amikms audit:", err)
		return 1
	}
	return auditExit(out.Result)
}

// auditExit: 1 when a check or a write failed, 3 when a finding is left that no action of the
// audit fixed, 0 when every image is launchable where it is shared.
func auditExit(res report.Result) int {
	if failed(res) {
		return 1
	}
	for _, r := range res.Records {
		for _, f := range r.Findings {
			if !alert.Fixed(f, principal(f, r), res.Actions) {
				return 3
			}
		}
	}
	return 0
}

// awsConfig loads the SDK configuration with the adaptive retry mode
// (https://docs.aws.amazon.com/sdk-for-go/v2/developer-guide/configure-retries-timeouts.html),
// as --central-role when given (checked by sts:GetCallerIdentity), and returns the account it
// acts in.
func (o auditOptions) awsConfig(ctx context.Context) (aws.Config, string, error) {
	retryer := o.withRetryer
	if retryer == nil {
		retryer = func() aws.Retryer {
			return retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
				ao.StandardOptions = append(ao.StandardOptions, func(so *retry.StandardOptions) { so.MaxAttempts = 10 })
			})
		}
	}
	cfg, err := loadAWS(ctx, o.profile, o.region, awsconfig.WithRetryer(retryer))
	if err != nil {
		return aws.Config{}, "", err
	}
	credCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if o.centralRole != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.centralRole,
			func(ao *stscreds.AssumeRoleOptions) { ao.RoleSessionName = o.sessionName }))
	}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(credCtx, &sts.GetCallerIdentityInput{})
	if err != nil {
		if o.centralRole != "" {
			return aws.Config{}, "", fmt.Errorf("assume %s (its trust must admit you: the central stack's AuditPrincipalArn): %w", o.centralRole, err)
		}
		return aws.Config{}, "", credentialsHint(err)
	}
	if o.centralRole != "" {
		role := o.centralRole[strings.LastIndex(o.centralRole, "/")+1:]
		if a, _ := awsid.ParseARN(aws.ToString(who.Arn)); !strings.HasPrefix(a.Resource, "assumed-role/"+role+"/") {
			return aws.Config{}, "", fmt.Errorf("--central-role %s: the credentials are %s, not that role's", o.centralRole, aws.ToString(who.Arn))
		}
	}
	return cfg, aws.ToString(who.Account), nil
}

// principal is the principal a finding is about: its own, or its record's.
func principal(f report.Finding, r report.Record) string {
	if f.PrincipalARN != "" {
		return f.PrincipalARN
	}
	return r.PrincipalARN
}

// isTerminal reports whether w is a character device (a terminal), not a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
