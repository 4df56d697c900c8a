package sweep_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// TestStartOnLocalAWS: from the organization's management account, a start lists the
// organization's accounts (organizations:ListAccounts), each one's enabled regions
// (account:ListRegions), and sends one task per account and enabled region to the queue, each of
// which the remediator decodes as the sweep task of that scope. An opt-in region only one account
// enabled is swept there alone.
func TestStartOnLocalAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local AWS (moto)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	const management = "111122223333"
	cfg, err := env.Config(ctx, management, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	orgs := organizations.NewFromConfig(cfg)
	if _, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	var members []string
	for i := range 3 {
		out, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(fmt.Sprintf("m%d", i)), Email: aws.String(fmt.Sprintf("m%d@example.com", i))})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, aws.ToString(out.CreateAccountStatus.AccountId))
	}
	env.Filler.SetAccountManager(management)
	env.Filler.EnableRegion(members[0], "eu-south-1")
	q := sqs.NewFromConfig(cfg)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("sweep")})
	if err != nil {
		t.Fatal(err)
	}
	s := &sweep.Starter{
		Config: sweep.Config{Layout: sweep.Layout{Organization: true, Regions: []string{"us-east-1", "eu-south-1"}}, QueueURL: aws.ToString(queue.QueueUrl)},
		Orgs:   orgs, Acct: account.NewFromConfig(cfg), SQS: q, Log: zerolog.Nop(),
		Self: func(context.Context) (string, error) { return management, nil },
	}
	st, err := s.Start(ctx, sweep.Input{Sweep: "estate", ScheduledTime: "2026-11-29T06:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range append([]string{management}, members...) {
		want = append(want, a+"/us-east-1")
	}
	want = append(want, members[0]+"/eu-south-1")
	sort.Strings(want)
	var got []string
	for len(got) < len(want) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			inv, err := trigger.Decode([]byte(aws.ToString(m.Body)))
			if err != nil || len(inv.Records) != 1 || inv.Records[0].Trigger.Kind != trigger.SweepTask {
				t.Fatalf("message %s decodes to %+v, %v", aws.ToString(m.Body), inv, err)
			}
			tr := inv.Records[0].Trigger
			got = append(got, tr.Account+"/"+tr.Region)
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) || st.Tasks != len(want) {
		t.Errorf("tasks %v (started %d), want %v", got, st.Tasks, want)
	}
	if len(st.Skipped) != 3 {
		t.Errorf("skipped %+v, want the 3 accounts that did not opt in to eu-south-1", st.Skipped)
	}
}
