package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// OwedAlert is an alert that could not be published, kept until a redelivery of one of its
// records publishes it.
type OwedAlert struct {
	// ID identifies the alert (its content), so that records sharing it publish it once.
	ID string
	// Records are the IDs of the records that owe it (event IDs: they stay the same across
	// redeliveries of a message).
	Records []string
	// Payload is the message as the publisher needs it.
	Payload []byte
}

// Owe keeps a: one item per record, so a redelivery of any of them finds it.
func (s *Store) Owe(ctx context.Context, a OwedAlert) error {
	if a.ID == "" || len(a.Records) == 0 {
		return fmt.Errorf("owe alert: an ID and at least one record are needed")
	}
	now := s.now()
	records := &types.AttributeValueMemberSS{Value: append([]string(nil), a.Records...)}
	for _, r := range a.Records {
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item{
			PartitionKey: str("owed#" + r), SortKey: str("alert#" + a.ID), "kind": str("owed"),
			"alert_id": str(a.ID), "records": records, "payload": &types.AttributeValueMemberB{Value: a.Payload},
			"created": num(millis(now)), TTLAttribute: num(now.Add(OwedRetention).Unix()),
		}})
		if err != nil {
			return fmt.Errorf("keep owed alert %s for record %s: %w", a.ID, r, err)
		}
	}
	return nil
}

// Owed returns the alerts any of records owes, each once, oldest first.
func (s *Store) Owed(ctx context.Context, records []string) ([]OwedAlert, error) {
	byID := map[string]OwedAlert{}
	created := map[string]int64{}
	for _, r := range records {
		if r == "" {
			continue
		}
		err := s.query(ctx, s.prefixQuery("owed#"+r, "alert#", true), func(it item) error {
			id := it.str("alert_id")
			if _, ok := byID[id]; ok {
				return nil
			}
			a := OwedAlert{ID: id}
			if ss, ok := it["records"].(*types.AttributeValueMemberSS); ok {
				a.Records = append([]string(nil), ss.Value...)
				sort.Strings(a.Records)
			}
			if b, ok := it["payload"].(*types.AttributeValueMemberB); ok {
				a.Payload = b.Value
			}
			byID[id], created[id] = a, it.num("created")
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the alerts record %s owes: %w", r, err)
		}
	}
	out := make([]OwedAlert, 0, len(byID))
	for _, a := range byID {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if created[out[i].ID] != created[out[j].ID] {
			return created[out[i].ID] < created[out[j].ID]
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Paid forgets an owed alert once it is published, for every record that owed it.
func (s *Store) Paid(ctx context.Context, a OwedAlert) error {
	for _, r := range a.Records {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: keyOf("owed#"+r, "alert#"+a.ID)}); err != nil {
			return fmt.Errorf("forget owed alert %s of record %s: %w", a.ID, r, err)
		}
	}
	return nil
}
