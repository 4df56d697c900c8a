package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ImageRef names an image: its owner, its region, its ID.
type ImageRef struct {
	Owner, Region, ImageID string
}

func (r ImageRef) sk() string { return "image#" + r.Region + "#" + r.ImageID }

// batchWriteMax is BatchWriteItem's limit of items per call.
const batchWriteMax = 25

// RecordUsage remembers that the snapshots of images use keyARN, so that a change of the key's
// policy re-checks them. One Query reads what is known; only images unknown, or not confirmed for
// a week, are written (BatchWriteItem, 25 at a time).
func (s *Store) RecordUsage(ctx context.Context, keyARN string, images []ImageRef) error {
	if keyARN == "" || len(images) == 0 {
		return nil
	}
	now := s.now()
	fresh := map[string]bool{}
	err := s.query(ctx, s.prefixQuery("key#"+keyARN, "image#", false), func(it item) error {
		if now.Sub(fromMillis(it.num("last_seen"))) < usageRefresh {
			fresh[it.str(SortKey)] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the images using %s: %w", keyARN, err)
	}
	var writes []types.WriteRequest
	for _, img := range images {
		if fresh[img.sk()] || img.ImageID == "" {
			continue
		}
		fresh[img.sk()] = true
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item{
			PartitionKey: str("key#" + keyARN), SortKey: str(img.sk()), "kind": str("usage"),
			"owner": str(img.Owner), "region": str(img.Region), "image_id": str(img.ImageID),
			"last_seen": num(millis(now)), TTLAttribute: num(now.Add(UsageRetention).Unix()),
		}}})
	}
	for len(writes) > 0 {
		n := min(batchWriteMax, len(writes))
		if err := s.batchWrite(ctx, writes[:n]); err != nil {
			return fmt.Errorf("remember the images using %s: %w", keyARN, err)
		}
		writes = writes[n:]
	}
	return nil
}

// batchWrite writes reqs, retrying what DynamoDB leaves unprocessed (throttling), a few times.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}})
		if err != nil {
			return err
		}
		reqs = out.UnprocessedItems[s.table]
		if len(reqs) == 0 {
			return nil
		}
		if attempt == maxWriteAttempts {
			return fmt.Errorf("%d items left unprocessed after %d attempts", len(reqs), attempt)
		}
		if err := s.sleep(ctx, pause); err != nil {
			return err
		}
		pause *= 2
	}
}

// ImagesUsing lists the images known to use keyARN, sorted.
func (s *Store) ImagesUsing(ctx context.Context, keyARN string) ([]ImageRef, error) {
	var out []ImageRef
	err := s.query(ctx, s.prefixQuery("key#"+keyARN, "image#", false), func(it item) error {
		out = append(out, ImageRef{Owner: it.str("owner"), Region: it.str("region"), ImageID: it.str("image_id")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the images using %s: %w", keyARN, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sk() < out[j].sk() })
	return out, nil
}
