// Package store keeps the estate's state in one DynamoDB table: the findings the remediator has
// seen (open or resolved), which images use which key, leases that keep writes to one key policy
// to one Lambda environment at a time, and alerts that are owed because publishing them failed.
//
// DynamoDB on demand fits what the remediator asks of a store: a few small reads and writes per
// record or sweep task, at any concurrency, with no capacity to plan; conditional writes make
// concurrent tasks safe without a lock service, and time to live retires what nobody sees any more.
//
// One table, two string keys. Items by kind (pk / sk):
//
//	finding  scope#ACCOUNT#REGION / f#IMAGE#ID   one finding of an image of that account and region
//	usage    key#KEY-ARN / image#REGION#IMAGE      an image whose snapshots use the key
//	lease    lease#NAME / lease                    who may write, until when
//	owed     owed / alert#ID                       an alert that could not be published yet
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's key schema and time-to-live attribute, as template.yaml declares them.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	// TTLAttribute holds the epoch second after which DynamoDB may delete the item. Deletion is
	// lazy (typically within a few days), so every read also skips items past it:
	// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html and
	// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ttl-expired-items.html
	TTLAttribute = "expires_at"
)

// Retention of items nobody refreshes.
const (
	// OpenRetention: an open finding not seen again for this long (its account left the sweep,
	// say) is retired without a "resolved" alert. Expiry never resolves a finding.
	OpenRetention = 90 * 24 * time.Hour
	// ResolvedRetention keeps a resolved finding for status and for telling a reopened finding.
	ResolvedRetention = 30 * 24 * time.Hour
	// UsageRetention keeps "this image uses this key" after the image was last checked.
	UsageRetention = 90 * 24 * time.Hour
	// usageRefresh: a usage item younger than this is not rewritten.
	usageRefresh = 7 * 24 * time.Hour
	// OwedRetention is SQS's longest message retention: no redelivery comes later.
	OwedRetention = 14 * 24 * time.Hour
)

// DynamoDB is what the store calls, with the SDK's exact signatures.
type DynamoDB interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, params *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchWriteItem(ctx context.Context, params *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Store is the estate store over one table.
type Store struct {
	db    DynamoDB
	table string
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// Option adjusts a Store.
type Option func(*Store)

// WithClock makes the store read the time from now (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns the store over table.
func New(db DynamoDB, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table, now: time.Now, sleep: sleepCtx}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table is the table's name.
func (s *Store) Table() string { return s.table }

// maxWriteAttempts bounds re-reads after a conditional write lost to a concurrent writer.
const maxWriteAttempts = 10

// isConditionFailed reports whether a write was refused by its condition expression: another
// writer got there first (DynamoDB condition expressions:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// randomID is 16 random hex digits.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// item is one stored item as its attributes.
type item map[string]types.AttributeValue

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func boolean(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

func (it item) str(name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (it item) num(name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func (it item) boolean(name string) bool {
	v, ok := it[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// expired reports whether the item's time to live has passed (DynamoDB may not have deleted it yet).
func (it item) expired(now time.Time) bool {
	exp := it.num(TTLAttribute)
	return exp != 0 && exp <= now.Unix()
}

func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(pk), SortKey: str(sk)}
}

// millis is t in epoch milliseconds (finding times; comparisons within one sweep need better than seconds).
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// query runs a paginated Query and calls each for every item that has not expired.
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, each func(item) error) error {
	now := s.now()
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, raw := range out.Items {
			it := item(raw)
			if it.expired(now) {
				continue
			}
			if err := each(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// prefixQuery is a Query for the items of partition pk whose sort key starts with prefix.
func (s *Store) prefixQuery(pk, prefix string, consistent bool) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: strPtr("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": PartitionKey, "#sk": SortKey,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":prefix": str(prefix)},
		ConsistentRead:            &consistent,
	}
}

func strPtr(s string) *string { return &s }
