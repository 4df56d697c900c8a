package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// OwedAlert is an alert that could not be published, kept until an invocation publishes it: the
// next one, whatever it is about (a redelivery of its records finds the fix applied and has
// nothing new to tell). Owed alerts are few and short-lived: they share one partition, which
// every invocation reads with one Query.
type OwedAlert struct {
	// ID identifies the alert (its content), so that it is kept once.
	ID string
	// Records are the IDs of the records it was about, for the logs.
	Records []string
	// Payload is the message as the publisher needs it.
	Payload []byte
}

const owedPartition = "owed"

// Owe keeps a.
func (s *Store) Owe(ctx context.Context, a OwedAlert) error {
	if a.ID == "" {
		return fmt.Errorf("owe alert: no ID")
	}
	now := s.now()
	it := item{PartitionKey: str(owedPartition), SortKey: str("alert#" + a.ID), "kind": str("owed"), "alert_id": str(a.ID),
		"payload": &types.AttributeValueMemberB{Value: a.Payload}, "created": num(millis(now)), TTLAttribute: num(now.Add(OwedRetention).Unix())}
	if len(a.Records) > 0 {
		it["records"] = &types.AttributeValueMemberSS{Value: distinct(a.Records)}
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it}); err != nil {
		return fmt.Errorf("keep owed alert %s: %w", a.ID, err)
	}
	return nil
}

// Owed lists the owed alerts, oldest first.
func (s *Store) Owed(ctx context.Context) ([]OwedAlert, error) {
	var out []OwedAlert
	created := map[string]int64{}
	err := s.query(ctx, s.prefixQuery(owedPartition, "alert#", true), func(it item) error {
		a := OwedAlert{ID: it.str("alert_id")}
		if ss, ok := it["records"].(*types.AttributeValueMemberSS); ok {
			a.Records = append([]string(nil), ss.Value...)
			sort.Strings(a.Records)
		}
		if b, ok := it["payload"].(*types.AttributeValueMemberB); ok {
			a.Payload = b.Value
		}
		created[a.ID] = it.num("created")
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the owed alerts: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return created[out[i].ID] < created[out[j].ID] })
	return out, nil
}

// Claim takes an owed alert off the list for its caller to publish: of concurrent claims one
// succeeds (a conditional delete). The caller owes it again when publishing fails.
func (s *Store) Claim(ctx context.Context, a OwedAlert) (bool, error) {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                &s.table,
		Key:                      keyOf(owedPartition, "alert#"+a.ID),
		ConditionExpression:      strPtr("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	})
	switch {
	case err == nil:
		return true, nil
	case isConditionFailed(err):
		return false, nil
	}
	return false, fmt.Errorf("claim owed alert %s: %w", a.ID, err)
}

func distinct(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
