package remediate

// Harness for the unit tests: the remediator against the in-memory AWS of internal/fake, through
// the Lambda handler (sample events from events/, delivered as SQS batches so that what is handed
// back for retry shows). No local AWS: these run with -short.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

const unitTopic = "arn:aws:sns:us-east-1:111122223333:ami-kms-remediator-alerts"

// unit is one remediator over one fake cloud: Owner runs the remediator and owns keys and
// images, Target launches them, Untrusted is never trusted.
type unit struct {
	t     *testing.T
	cloud *fake.AWS
	rm    *Remediator
}

type unitSetup struct {
	mode    config.Mode // ModeAlert when empty
	trusted []string
	alerts  bool
	org     string // TRUSTED_ORGANIZATION_ID
	opts    []Option
	config  func(*config.Config) // adjusts the configuration (write scope, IaC settings)
}

func newUnit(t *testing.T, s unitSetup) *unit {
	t.Helper()
	cloud := fake.New(scenario.Owner, scenario.Region)
	return &unit{t: t, cloud: cloud, rm: unitRemediator(t, cloud, s)}
}

// unitRemediator builds a remediator over cloud, configured like the Lambda.
func unitRemediator(t *testing.T, cloud *fake.AWS, s unitSetup) *Remediator {
	t.Helper()
	cfg := config.Config{Mode: s.mode, TrustedAccountIDs: slices.Clone(s.trusted), MemberRoleName: scenario.MemberRoleName,
		IAMPolicyName: config.DefaultIAMPolicyName, TrustedOrganizationID: s.org, LogLevel: "debug"}
	if cfg.Mode == "" {
		cfg.Mode = config.ModeAlert
	}
	sort.Strings(cfg.TrustedAccountIDs)
	if s.alerts {
		cfg.AlertTopicARN = unitTopic
	}
	if s.config != nil {
		s.config(&cfg)
	}
	// No settle pause unless a test asks for one: tests count the calls of a write.
	return New(cfg, cloud, newRemediatorLog(t), append([]Option{WithKeySettle(0)}, s.opts...)...)
}

// key creates a customer managed key in Owner with policy (the console's default when ""),
// opted in to the default write scope.
func (u *unit) key(policy string) string {
	if policy == "" {
		policy = scenario.DefaultKeyPolicy(scenario.Owner)
	}
	return u.cloud.AddKey(scenario.Owner, scenario.Region, policy)
}

// image registers an image in Owner on keys, shared with accounts.
func (u *unit) image(keys []string, shareWith ...string) string {
	img := u.cloud.AddImage(scenario.Owner, scenario.Region, keys...)
	u.cloud.Share(img, shareWith...)
	return img
}

// deliver runs events as one SQS batch (message IDs m-0, m-1, ...) through the handler and
// returns its answer as the handler made it (with the actions' machine-only fields).
func (u *unit) deliver(events ...[]byte) SQSResponse {
	u.t.Helper()
	return u.deliverWith(context.Background(), u.rm, events...)
}

func (u *unit) deliverWith(ctx context.Context, rm *Remediator, events ...[]byte) SQSResponse {
	u.t.Helper()
	ids := make([]string, len(events))
	for i := range ids {
		ids[i] = fmt.Sprintf("m-%d", i)
	}
	return invokeSQS(u.t, ctx, rm, sqsRecords(u.t, ids, events))
}

// launchEvent is events/launch-failed.json for image, launched by role in Target.
func launchEvent(t *testing.T, image, role string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/launch-failed.json", map[string]string{scenario.PlaceholderImage: image, "app-deployer": role})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// confirmLaunch records event's CloudTrail record in the account and Region of the event, as
// CloudTrail has it a few minutes after the call: what a grant for the launcher waits for.
func (u *unit) confirmLaunch(t *testing.T, event []byte) {
	t.Helper()
	var ev struct {
		Account string          `json:"account"`
		Region  string          `json:"region"`
		Detail  json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	u.cloud.AddTrailRecord(ev.Account, ev.Region, ev.Detail)
}

// failed lists the message IDs handed back for retry.
func failed(resp SQSResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// puts returns the policies written to keyARN, in order.
func (u *unit) puts(keyARN string) []*kms.PutKeyPolicyInput {
	var out []*kms.PutKeyPolicyInput
	for _, c := range u.cloud.Calls("KMS:PutKeyPolicy") {
		if in := c.Input.(*kms.PutKeyPolicyInput); aws.ToString(in.KeyId) == keyARN {
			out = append(out, in)
		}
	}
	return out
}

// grantsAccount reports whether the key policy lets account use the key and create grants for EC2.
func grantsAccount(t *testing.T, keyARN, doc, account string) bool {
	t.Helper()
	d, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy does not parse: %v\n%s", err, doc)
	}
	use, grant := evaluateKey(&key{ARN: keyARN, Account: scenario.Owner, Region: scenario.Region, Doc: d}, "arn:aws:iam::"+account+":root", nil)
	return use.KeyPolicy.Decision == "allow" && grant.KeyPolicy.Decision == "allow"
}

func findingCodes(recs []report.Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, codes(r)...)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func statuses(acts []report.Action) string {
	var out []string
	for _, a := range acts {
		out = append(out, a.Type+":"+a.Status)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// denyStatement is a key policy statement denying account any use of the key.
func denyStatement(account string) string {
	return `{"Sid":"DenyTarget","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}`
}

// withStatement adds a statement to the console's default key policy of Owner.
func withStatement(t *testing.T, stmt string) string {
	t.Helper()
	return appendStatement(t, scenario.DefaultKeyPolicy(scenario.Owner), stmt)
}

// allowingTarget is the console's default key policy plus a statement letting Target use the key.
func allowingTarget(t *testing.T) string {
	t.Helper()
	return withStatement(t, `{"Sid":"AllowTarget","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+scenario.Target+
		`:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant"],"Resource":"*"}`)
}
