package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// OpenFindings lists the open findings across every scope, or only those about account (the
// account a finding names, or the owner of its image) when account is not "". It scans the
// table (an operator's occasional read: the table holds a few items per image) and returns the
// findings by scope, image, code and account.
func (s *Store) OpenFindings(ctx context.Context, account string) ([]Finding, error) {
	filter := "#kind = :finding AND #state = :open AND (attribute_not_exists(#ttl) OR #ttl > :nowsec)"
	names := map[string]string{"#kind": "kind", "#state": "state", "#ttl": TTLAttribute}
	values := map[string]types.AttributeValue{":finding": str("finding"), ":open": str("open"), ":nowsec": num(s.now().Unix())}
	if account != "" {
		filter += " AND (#account = :account OR #scope = :account)"
		names["#account"], names["#scope"] = "account", "scope_account"
		values[":account"] = str(account)
	}
	in := &dynamodb.ScanInput{TableName: &s.table, FilterExpression: &filter, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
	now := s.now()
	var out []Finding
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scan %s for open findings: %w", s.table, err)
		}
		for _, raw := range page.Items {
			if it := item(raw); !it.expired(now) {
				out = append(out, decodeFinding(it).Finding)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Scope != b.Scope:
			return a.Scope.String() < b.Scope.String()
		case a.ImageID != b.ImageID:
			return a.ImageID < b.ImageID
		case a.Code != b.Code:
			return a.Code < b.Code
		case a.Account != b.Account:
			return a.Account < b.Account
		}
		return a.ID() < b.ID()
	})
	return out, nil
}
