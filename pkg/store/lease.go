package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrLeaseHeld: another holder kept the lease for as long as the caller was willing to wait. The
// work is retried later (it is transient).
var ErrLeaseHeld = errors.New("held by another writer")

// Lease is a held lease; Release gives it back.
type Lease struct {
	s            *Store
	name, holder string
}

// Acquire takes the lease called name for at most ttl, waiting up to wait for its holder to
// release it (or for the holder's lease to run out, when the holder died). One conditional write
// decides: it succeeds only when nobody holds an unexpired lease, so across processes and Lambda
// environments only one holder at a time gets through.
func (s *Store) Acquire(ctx context.Context, name string, ttl, wait time.Duration) (*Lease, error) {
	holder := randomID()
	deadline := s.now().Add(wait)
	pause := 50 * time.Millisecond
	for {
		now := s.now()
		until := now.Add(ttl)
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.table,
			Item: item{
				PartitionKey: str("lease#" + name), SortKey: str("lease"), "kind": str("lease"),
				"holder": str(holder), "until": num(millis(until)), TTLAttribute: num(until.Add(time.Hour).Unix()),
			},
			ConditionExpression:       strPtr("attribute_not_exists(#pk) OR #until < :now"),
			ExpressionAttributeNames:  map[string]string{"#pk": PartitionKey, "#until": "until"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(millis(now))},
		})
		if err == nil {
			return &Lease{s: s, name: name, holder: holder}, nil
		}
		if !isConditionFailed(err) {
			return nil, fmt.Errorf("take lease %s: %w", name, err)
		}
		if !s.now().Before(deadline) {
			return nil, fmt.Errorf("lease %s: %w", name, ErrLeaseHeld)
		}
		// Jittered, growing pauses: holders of one key are few, and a write takes a second or so.
		d := pause/2 + rand.N(pause)
		if err := s.sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("lease %s: %w", name, err)
		}
		pause = min(2*pause, time.Second)
	}
}

// Release gives the lease back, if it is still this holder's (an expired lease another holder
// has taken since is left alone).
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &l.s.table,
		Key:                       keyOf("lease#"+l.name, "lease"),
		ConditionExpression:       strPtr("#holder = :me"),
		ExpressionAttributeNames:  map[string]string{"#holder": "holder"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": str(l.holder)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release lease %s: %w", l.name, err)
	}
	return nil
}
