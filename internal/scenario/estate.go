package scenario

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

// EstateTable creates the estate store's table as template.yaml declares it (two string keys,
// on demand, time to live on store.TTLAttribute) with cfg's credentials, and returns its name.
func EstateTable(ctx context.Context, cfg aws.Config, name string) (string, error) {
	db := dynamodb.NewFromConfig(cfg)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String(store.PartitionKey), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(store.SortKey), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []dbtypes.KeySchemaElement{
			{AttributeName: aws.String(store.PartitionKey), KeyType: dbtypes.KeyTypeHash},
			{AttributeName: aws.String(store.SortKey), KeyType: dbtypes.KeyTypeRange},
		},
	})
	if err != nil {
		return "", fmt.Errorf("create table %s: %w", name, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String(store.TTLAttribute), Enabled: aws.Bool(true)}})
	if err != nil {
		return "", fmt.Errorf("enable time to live on %s: %w", name, err)
	}
	return name, nil
}

// DynamoDB returns a DynamoDB client acting as account.
func (w *World) DynamoDB(account string) *dynamodb.Client {
	return dynamodb.NewFromConfig(w.cfg(account, Region))
}

// CentralBusARN is the central account's default event bus in the scenario's region: where
// member stacks forward their events.
const CentralBusARN = "arn:aws:events:" + Region + ":" + Owner + ":event-bus/default"

// MemberStack deploys what member-account.yaml gives a sweep in account: its member role (not in
// Owner, which needs none), and in each region a forwarding rule to the central bus (not in
// Owner's own region, where the central stack's rules are).
func (w *World) MemberStack(ctx context.Context, account string, regions ...string) error {
	if account != Owner {
		if err := w.MemberRole(ctx, account); err != nil {
			return err
		}
	}
	for _, region := range regions {
		if account == Owner && region == Region {
			continue
		}
		eb := eventbridge.NewFromConfig(w.cfg(account, region))
		name := "ami-kms-remediator-member-KeyPolicyDriftRule"
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name),
			EventPattern: aws.String(`{"source":["aws.kms"],"detail-type":["AWS API Call via CloudTrail"]}`)}); err != nil {
			return fmt.Errorf("put the forwarding rule in %s/%s: %w", account, region, err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name),
			Targets: []ebtypes.Target{{Id: aws.String("CentralBus"), Arn: aws.String(CentralBusARN)}}}); err != nil {
			return fmt.Errorf("target the central bus from %s/%s: %w", account, region, err)
		}
	}
	return nil
}

// CreateKeyLettingIn creates a key in account and region with the console's default policy and,
// when grant names accounts, AWS's two statements letting them use it with EC2.
func (w *World) CreateKeyLettingIn(ctx context.Context, account, region string, grant ...string) (string, error) {
	pol := DefaultKeyPolicy(account)
	if len(grant) > 0 {
		edit, err := keypolicy.EnsureAccounts([]byte(pol), grant)
		if err != nil {
			return "", err
		}
		pol = string(edit.Document)
	}
	return w.CreateKey(ctx, account, region, pol)
}
