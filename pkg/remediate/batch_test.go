package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// sqsBatch wraps EventBridge events as the SQS records Lambda delivers.
func sqsBatch(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	type rec struct {
		MessageID      string `json:"messageId"`
		ReceiptHandle  string `json:"receiptHandle"`
		Body           string `json:"body"`
		EventSource    string `json:"eventSource"`
		EventSourceARN string `json:"eventSourceARN"`
		AWSRegion      string `json:"awsRegion"`
	}
	var recs []rec
	for i, b := range bodies {
		recs = append(recs, rec{MessageID: fmt.Sprintf("msg-%d", i), ReceiptHandle: "rh", Body: string(b), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:111122223333:ami-kms-remediator-events", AWSRegion: "us-east-1"})
	}
	raw, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func shareEvent(t *testing.T, image, account string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/share-image.json", map[string]string{scenario.PlaceholderImage: image, `"userId": "444455556666"`: `"userId": "` + account + `"`})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A batch of records for one key makes one write that merges every account they need.
func TestBatchForOneKeyWritesOnce(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	const second = "222233334444"
	f := newFixture(t, "", scenario.Target)
	img2, err := world.EncryptedImage(ctx, scenario.Owner, scenario.Region, "same-key", f.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Share(ctx, scenario.Owner, scenario.Region, img2, second); err != nil {
		t.Fatal(err)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target, second}, alerts: true})
	out, err := rm.Invoke(ctx, sqsBatch(t, shareEvent(t, f.image, scenario.Target), shareEvent(t, img2, second), shareEvent(t, f.image, scenario.Target), []byte(`{"not": "an event"`)))
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := out.(SQSResponse)
	if !ok {
		t.Fatalf("SQS invocation answered %T", out)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("malformed records are acknowledged, not retried: %+v", resp.BatchItemFailures)
	}
	if len(resp.Records) != 4 || resp.Records[3].Error == "" {
		t.Fatalf("records: %+v", resp.Records)
	}
	if resp.Stats["KMS:PutKeyPolicy"] != 1 || resp.Stats["KMS:GetKeyPolicy"] != 3 {
		t.Errorf("want one write, and three reads for the key (diagnosis, just before the write, the read-back; the harness turns the second read-back off): %v", resp.Stats)
	}
	if len(resp.Actions) != 1 || joined(resp.Actions[0].Accounts) != second+","+scenario.Target || resp.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions: %+v", resp.Actions)
	}
	pol := keyPolicy(t, f.key)
	if !allowsAccount(t, f.key, pol, scenario.Target) || !allowsAccount(t, f.key, pol, second) {
		t.Error("not both accounts allowed")
	}
	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Errorf("one alert per invocation, got %d", len(alerts))
	}
}
