package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

const statusHelp = `usage: amikms status [--table NAME] [--account ACCOUNT] [--format json|table|csv|markdown]
                     [--profile NAME] [--region REGION]

Lists the open findings across the estate from the estate store (the central stack's
EstateTableName output), as the sweep and the events left them: each with its image, the
account it is about, its key, its severity, and when it was first and last seen. --account
keeps the findings about that account (the account a finding names, or the owner of its image).

Credentials: the SDK's default chain (--profile or AWS_PROFILE, ...) of the central account,
allowed dynamodb:Scan on the table. Writes: nothing.

exit codes: 0 nothing open, 3 findings are open, 1 the store could not be read, 2 usage
`

func runStatus(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("status", statusHelp, args, stdout, stderr)
	table := fs.String("table", os.Getenv("ESTATE_TABLE"), "the estate store's `TABLE` (default: ESTATE_TABLE)")
	account := fs.String("account", "", "only the findings about `ACCOUNT`")
	format := fs.String("format", "table", "output `FORMAT`: json, table, csv or markdown")
	profile := fs.String("profile", "", "shared configuration `PROFILE` to use (default: AWS_PROFILE, or the SDK's chain)")
	region := fs.String("region", "", "`REGION` of the table, the central stack's (default: AWS_REGION)")
	if done, code := parseFlags(fs, args); done {
		return code
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintln(stderr, "amikms status: no arguments besides the flags (amikms status --help)")
		return 2
	case strings.TrimSpace(*table) == "":
		fmt.Fprintln(stderr, "amikms status: --table (or ESTATE_TABLE): the central stack's EstateTableName output")
		return 2
	case *account != "" && !awsid.IsAccountID(*account):
		fmt.Fprintf(stderr, "amikms status: --account %q is not a 12-digit account ID\n", *account)
		return 2
	case !slices.Contains(formats, *format):
		fmt.Fprintf(stderr, "amikms status: --format %q: one of %s\n", *format, strings.Join(formats, ", "))
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var opts []func(*awsconfig.LoadOptions) error
	if *profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(*profile))
	}
	if *region != "" {
		opts = append(opts, awsconfig.WithRegion(*region))
	}
	cfg, err := awsapi.LoadConfig(ctx, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "amikms status:", err)
		return 2
	}
	open, err := store.New(dynamodb.NewFromConfig(cfg), strings.TrimSpace(*table)).OpenFindings(ctx, *account)
	if err != nil {
		fmt.Fprintln(stderr, "amikms status:", err)
		return 1
	}
	if err := writeStatus(stdout, *format, open); err != nil {
		fmt.Fprintln(stderr, "amikms status:", err)
		return 1
	}
	if len(open) > 0 {
		return 3
	}
	return 0
}
