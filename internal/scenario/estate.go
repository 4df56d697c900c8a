package scenario

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
