package trigger

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkDecode decodes an SQS batch of 100 messages cycling through the events/ samples.
func BenchmarkDecode(b *testing.B) {
	var bodies []string
	for _, f := range jsonFiles(b, eventsDir) {
		if filepath.Base(f) == "sqs-batch.json" {
			continue
		}
		bodies = append(bodies, string(readFile(b, f)))
	}
	type msg struct {
		MessageID   string `json:"messageId"`
		Body        string `json:"body"`
		EventSource string `json:"eventSource"`
	}
	var ev struct {
		Records []msg `json:"Records"`
	}
	for i := 0; i < 100; i++ {
		ev.Records = append(ev.Records, msg{MessageID: "m-" + strconv.Itoa(i), Body: bodies[i%len(bodies)], EventSource: "aws:sqs"})
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		inv, err := Decode(raw)
		if err != nil || len(inv.Records) != 100 {
			b.Fatalf("Decode: %v, %d records", err, len(inv.Records))
		}
	}
}
