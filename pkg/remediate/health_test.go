package remediate

// The same health guarantees on the wire: the real SDK against the local AWS, with faults put in
// front of one service by localaws.FaultProxy.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// serviceFaults serves the local AWS, except that the requests faulty picks go to a FaultProxy
// that fails every one of them with kind (while failing is set).
type serviceFaults struct {
	plain, faults http.Handler
	faulty        func(r *http.Request, body []byte) bool
	failing       atomic.Bool
	failed        atomic.Int64
}

func newServiceFaults(t *testing.T, kind string, faulty func(r *http.Request, body []byte) bool) (*serviceFaults, string) {
	t.Helper()
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := &serviceFaults{faulty: faulty,
		plain:  &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = u.Host }},
		faults: localaws.NewFaultProxy(env.URL, localaws.FaultConfig{Rate: 1, Kinds: []string{kind}, Seed: 1})}
	s.failing.Store(true)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *serviceFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if s.failing.Load() && s.faulty(r, body) {
		s.failed.Add(1)
		s.faults.ServeHTTP(w, r)
		return
	}
	s.plain.ServeHTTP(w, r)
}

func isCloudTrail(r *http.Request, _ []byte) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), "CloudTrail_")
}

// CloudTrail down (every LookupEvents throttled, or answered 500) does not block the key side:
// the key policy is fixed and verified on the first delivery, the record names the missing
// launcher and is handed back; redeliveries do not write the key again; on the last delivery the
// missing lookup is alerted.
func TestCloudTrailDownStillFixesTheKeyOnTheWire(t *testing.T) {
	needsLocalAWS(t)
	for _, kind := range []string{localaws.FaultThrottle, localaws.Fault500} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, "", scenario.Target)
			id, _, err := world.Launch(ctx, scenario.Target, scenario.Region, f.image)
			if err != nil {
				t.Fatal(err)
			}
			faults, endpoint := newServiceFaults(t, kind, isCloudTrail)
			rm, sink := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true}, endpoint, 2)
			rm.cfg.MaxReceiveCount = 3
			event, err := scenario.Event("../../events/instance-terminated.json", map[string]string{scenario.PlaceholderInstance: id})
			if err != nil {
				t.Fatal(err)
			}
			puts := 0
			for receives := 1; receives <= 3; receives++ {
				resp := invokeSQS(t, ctx, rm, sqsDelivery(t, receives, event))
				rec := resp.Records[0]
				puts += resp.Stats["KMS:PutKeyPolicy"]
				if rec.Error != "" || strings.Join(rec.Incomplete, ",") != report.PartLauncher || len(failed(resp)) != 1 {
					t.Fatalf("delivery %d: %+v handed back %v", receives, rec, failed(resp))
				}
				if receives == 1 && statuses(resp.Actions) != "key-policy:applied" {
					t.Fatalf("the key side was not fixed on the first delivery: %+v", resp.Actions)
				}
				if got := hasCode(rec, report.LookupUnavailable); got != (receives == 3) {
					t.Errorf("delivery %d: lookup-unavailable %v, want it on the last delivery only", receives, got)
				}
			}
			if faults.failed.Load() == 0 {
				t.Fatal("no CloudTrail request was failed: the test proves nothing")
			}
			if puts != 1 {
				t.Errorf("%d PutKeyPolicy calls over three deliveries, want 1", puts)
			}
			if !strings.Contains(keyPolicy(t, f.key), scenario.Target) {
				t.Error("the key policy does not name the account")
			}
			msgs, err := sink.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			told := ""
			for _, m := range msgs {
				told += m.Message
			}
			if !strings.Contains(told, "lookup-unavailable") {
				t.Errorf("no alert tells the lookup that stayed missing (%d alerts)", len(msgs))
			}
		})
	}
}

// A member role that cannot be assumed is assume-role-denied through the real SDK: the error of
// the call that needed the credentials carries the account (awsapi.AssumeRoleError).
func TestAssumeRoleDeniedOnTheWire(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	u, _ := url.Parse(env.URL)
	plain := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = u.Host }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(string(body), "Action=AssumeRole&") {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::111122223333:user/central ` +
				`is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/` + scenario.MemberRoleName +
				`</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`))
			return
		}
		plain.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, srv.URL, 2)
	res := invokeEvent(t, rm, "launch-failed.json", f.replace())
	rec := res.Records[0]
	if rec.Error == "" || !hasCode(rec, report.AssumeRoleDenied) {
		t.Fatalf("record %+v", rec)
	}
	for _, fd := range rec.Findings {
		if fd.Code == report.AssumeRoleDenied && (fd.Account != scenario.Target || !strings.HasSuffix(fd.PrincipalARN, ":role/"+scenario.MemberRoleName)) {
			t.Errorf("finding %+v: want the member role of %s", fd, scenario.Target)
		}
	}
}

// The metrics of an invocation on the wire count its AWS calls as the SDK made them.
func TestMetricsOnTheWire(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	var out bytes.Buffer
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}}, world.Endpoint, 2, WithMetrics(&out, "fn"))
	res := invokeEvent(t, rm, "share-image.json", f.replace())
	total := 0
	for _, n := range res.Stats {
		total += n
	}
	if total == 0 {
		t.Fatal("no call counted")
	}
	if got := metricValue(t, out.Bytes(), metrics.MetricAWSCalls, nil); got != float64(total) {
		t.Errorf("AWSCalls = %v, want %d (%v)", got, total, res.Stats)
	}
	if got := metricValue(t, out.Bytes(), metrics.MetricActions, map[string]string{metrics.DimActionType: "key-policy", metrics.DimStatus: "planned"}); got != 1 {
		t.Errorf("Actions key-policy planned = %v", got)
	}
}

// With the estate store, failures are findings like any other: the first delivery that ends in
// one alerts, the same failure again (a new environment, the same store) does not.
func TestFailureFindingsAlertOnChangeWithTheStore(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	st := estateStore(t)
	_, endpoint := newServiceFaults(t, localaws.FaultThrottle, func(r *http.Request, body []byte) bool {
		return strings.Contains(string(body), "Action=DescribeImages&")
	})
	_, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
	event, err := scenario.Event("../../events/share-image.json", f.replace())
	if err != nil {
		t.Fatal(err)
	}
	deliverLast := func(step string, wantAlerts int) {
		t.Helper()
		rm, _ := newRemediatorOn(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}}, endpoint, 1)
		rm.cfg.AlertTopicARN, rm.store = sink.TopicARN, st
		resp := invokeSQS(t, context.Background(), rm, sqsDelivery(t, config.DefaultMaxReceiveCount, event))
		if rec := resp.Records[0]; !hasCode(rec, report.AWSUnavailable) || len(resp.BatchItemFailures) != 1 {
			t.Fatalf("%s: %+v handed back %v", step, rec, resp.BatchItemFailures)
		}
		alerts, err := sink.Drain(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != wantAlerts {
			t.Fatalf("%s: %d alerts, want %d", step, len(alerts), wantAlerts)
		}
		if wantAlerts > 0 && !strings.Contains(alerts[0].Message, "aws-unavailable") {
			t.Errorf("%s: the alert does not tell the failure:\n%s", step, alerts[0].Message)
		}
	}
	deliverLast("first failure", 1)
	deliverLast("the same failure again", 0)
}
