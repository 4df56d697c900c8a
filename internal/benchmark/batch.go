package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
)

// BatchFixture is section 3's situation: Keys customer managed keys in the owner account, one
// encrypted image per key, each image shared with two of Accounts, and an SQS batch of share
// events over them (record i: image i mod keys, account i mod accounts).
type BatchFixture struct {
	Keys, Images, Accounts []string
	Bodies                 [][]byte          // the EventBridge events, one per record
	before                 map[string]string // key ARN -> policy as created
}

// batchAccounts returns n made-up 12-digit account IDs.
func batchAccounts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("7000%08d", i+1)
	}
	return out
}

// NewBatchFixture creates keys keys and images and shares image k with accounts k, k+keys, ...
// (accounts must be a multiple of keys), then writes the records share events.
func NewBatchFixture(ctx context.Context, world *scenario.World, eventsDir string, keys, accounts, records int) (*BatchFixture, error) {
	if keys <= 0 || accounts%keys != 0 || records <= 0 {
		return nil, fmt.Errorf("batch fixture: %d accounts must be a multiple of %d keys", accounts, keys)
	}
	f := &BatchFixture{Accounts: batchAccounts(accounts), before: map[string]string{}}
	for k := 0; k < keys; k++ {
		pol := scenario.DefaultKeyPolicy(scenario.Owner)
		key, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, pol)
		if err != nil {
			return nil, err
		}
		img, err := world.EncryptedImage(ctx, scenario.Owner, scenario.Region, fmt.Sprintf("bench-batch-%d", k), key)
		if err != nil {
			return nil, err
		}
		var share []string
		for a := k; a < accounts; a += keys {
			share = append(share, f.Accounts[a])
		}
		if err := world.Share(ctx, scenario.Owner, scenario.Region, img, share...); err != nil {
			return nil, err
		}
		f.Keys, f.Images = append(f.Keys, key), append(f.Images, img)
		f.before[key] = pol
	}
	for i := 0; i < records; i++ {
		body, err := scenario.Event(strings.TrimRight(eventsDir, "/")+"/share-image.json", map[string]string{
			scenario.PlaceholderImage: f.Images[i%keys], `"userId": "` + scenario.Target + `"`: `"userId": "` + f.Accounts[i%accounts] + `"`})
		if err != nil {
			return nil, err
		}
		f.Bodies = append(f.Bodies, body)
	}
	return f, nil
}

// Batch is the SQS event Lambda delivers for bodies (message IDs msg-<first+i>).
func Batch(first int, bodies ...[]byte) ([]byte, error) {
	type rec struct {
		MessageID      string `json:"messageId"`
		ReceiptHandle  string `json:"receiptHandle"`
		Body           string `json:"body"`
		EventSource    string `json:"eventSource"`
		EventSourceARN string `json:"eventSourceARN"`
		AWSRegion      string `json:"awsRegion"`
	}
	recs := make([]rec, 0, len(bodies))
	for i, b := range bodies {
		recs = append(recs, rec{MessageID: fmt.Sprintf("msg-%d", first+i), ReceiptHandle: "rh", Body: string(b), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:" + scenario.Region + ":" + scenario.Owner + ":ami-kms-remediator-events", AWSRegion: scenario.Region})
	}
	raw, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		return nil, fmt.Errorf("encode SQS batch: %w", err)
	}
	return raw, nil
}

// Restore puts every key policy back as it was created, so the next run has the same work to do.
func (f *BatchFixture) Restore(ctx context.Context, world *scenario.World) error {
	cl := world.KMS(scenario.Owner, scenario.Region)
	for k, pol := range f.before {
		if _, err := cl.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(k), PolicyName: aws.String("default"), Policy: aws.String(pol)}); err != nil {
			return fmt.Errorf("restore key policy %s: %w", k, err)
		}
	}
	return nil
}
