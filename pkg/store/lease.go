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
	// LastWrite is when a holder last released the lease after writing what it guards (zero:
	// never): a holder that read the guarded thing before then must read it again.
	LastWrite time.Time
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
		// The item outlives the lease (until the day after) to keep the last write's time; a
		// released lease has until 0.
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       keyOf("lease#"+name, "lease"),
			UpdateExpression:          strPtr("SET #kind = :kind, #holder = :me, #until = :until, #ttl = :ttl"),
			ConditionExpression:       strPtr("attribute_not_exists(#pk) OR #until < :now"),
			ExpressionAttributeNames:  map[string]string{"#pk": PartitionKey, "#kind": "kind", "#holder": "holder", "#until": "until", "#ttl": TTLAttribute},
			ExpressionAttributeValues: map[string]types.AttributeValue{":kind": str("lease"), ":me": str(holder), ":until": num(millis(until)), ":ttl": num(until.Add(24 * time.Hour).Unix()), ":now": num(millis(now))},
			ReturnValues:              types.ReturnValueAllOld,
		})
		if err == nil {
			return &Lease{s: s, name: name, holder: holder, LastWrite: fromMillis(item(out.Attributes).num("last_write"))}, nil
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
// has taken since is left alone). wrote: the holder wrote what the lease guards, at the time
// Release is called; the next holder learns it from LastWrite.
func (l *Lease) Release(ctx context.Context, wrote bool) error {
	set := "SET #until = :zero"
	names := map[string]string{"#holder": "holder", "#until": "until"}
	values := map[string]types.AttributeValue{":me": str(l.holder), ":zero": num(0)}
	if wrote {
		set += ", #last = :now"
		names["#last"] = "last_write"
		values[":now"] = num(millis(l.s.now()))
	}
	_, err := l.s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &l.s.table,
		Key:                       keyOf("lease#"+l.name, "lease"),
		UpdateExpression:          strPtr(set),
		ConditionExpression:       strPtr("#holder = :me"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release lease %s: %w", l.name, err)
	}
	return nil
}
