package remediate

// A panic while processing one record becomes a failed record (with its event ID, handed back
// for retry), never a crashed batch; a malformed AWS answer is no panic at all.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// panickingClient is the SDK's HTTP client with a fault no AWS answer can cause: it panics, in
// the calling goroutine, on the first request that matches. It stands in for any bug on a
// record's path.
type panickingClient struct {
	target, contains string // X-Amz-Target and a body substring to panic on
	next             *http.Client
}

func (p *panickingClient) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("X-Amz-Target") == p.target && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		if strings.Contains(string(b), p.contains) {
			panic("injected panic in " + p.target)
		}
	}
	return p.next.Do(req)
}

func TestPanicInOneRecordFailsOnlyThatRecord(t *testing.T) {
	needsLocalAWS(t)
	for name, target := range map[string]string{
		"while diagnosing (DescribeKey)": "TrentService.DescribeKey",
		"while writing (PutKeyPolicy)":   "TrentService.PutKeyPolicy",
	} {
		t.Run(name, func(t *testing.T) {
			bad, good := newFixture(t, "", scenario.Target), newFixture(t, "", scenario.Target)
			before := keyPolicy(t, bad.key)
			cfg := config.Config{Mode: config.ModeFix, TrustedAccountIDs: []string{scenario.Target}, MemberRoleName: scenario.MemberRoleName,
				IAMPolicyName: config.DefaultIAMPolicyName}
			base := scenario.Config(env.URL, "", 2)
			base.HTTPClient = &panickingClient{target: target, contains: keyID(bad.key), next: &http.Client{}}
			rm := New(cfg, awsapi.NewClients(base, cfg.MemberRoleName, ""), newRemediatorLog(t))

			batch := sqsRecords(t, []string{"m-bad", "m-good"}, [][]byte{
				shareEventWith(t, bad.image, map[string]any{"id": "event-bad", "items": []map[string]any{{"userId": scenario.Target}}}),
				shareEventWith(t, good.image, map[string]any{"id": "event-good", "items": []map[string]any{{"userId": scenario.Target}}}),
			})
			resp := invokeSQS(t, context.Background(), rm, batch)

			if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-bad" {
				t.Errorf("want only the panicking record handed back: %+v", resp.BatchItemFailures)
			}
			if len(resp.Records) != 2 {
				t.Fatalf("records: %+v", resp.Records)
			}
			badRec, goodRec := resp.Records[0], resp.Records[1]
			failed := badRec.Error
			for _, a := range resp.Actions {
				if a.Target == bad.key {
					failed += a.Reason
				}
			}
			if badRec.EventID != "event-bad" || !strings.Contains(failed, "internal error") {
				t.Errorf("the panicking record is not reported as failed with its event ID: %+v %+v", badRec, resp.Actions)
			}
			if goodRec.Error != "" || !allowsAccount(t, good.key, keyPolicy(t, good.key), scenario.Target) {
				t.Errorf("the other record was not processed: %+v", goodRec)
			}
			if keyPolicy(t, bad.key) != before {
				t.Error("the panicking record's key changed")
			}
		})
	}
}

// A DescribeKey answer without key metadata (not something KMS does) is an unreadable key, not a
// nil dereference: a key-unreadable finding (the key may well exist), acknowledged.
func TestMalformedKMSAnswerIsAFindingNotAPanic(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "TrentService.DescribeKey" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = w.Write([]byte(`{}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, srv.URL, 2)
	resp := invokeSQS(t, context.Background(), rm, sqsRecords(t, []string{"m-1"}, [][]byte{shareEvent(t, f.image, scenario.Target)}))
	if len(resp.BatchItemFailures) != 0 || len(resp.Records) != 1 || resp.Records[0].Error != "" || !hasCode(resp.Records[0], report.KeyUnreadable) {
		t.Fatalf("want a key-unreadable finding, acknowledged: %+v %+v", resp.BatchItemFailures, resp.Records)
	}
}
