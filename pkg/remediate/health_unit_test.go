package remediate

// Nothing fails silently: errored records alert on their last delivery (or at once when no retry
// can help), optional lookups never block the key side, bad fields reach no AWS call, and every
// invocation writes its metrics. Against the fakes: these run with -short.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/emf"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// sqsDelivery wraps bodies as one SQS batch (message IDs m-0, m-1, ...) delivered for the
// receives-th time, with the attributes Lambda sends.
func sqsDelivery(t *testing.T, receives int, bodies ...[]byte) []byte {
	t.Helper()
	type rec struct {
		MessageID      string            `json:"messageId"`
		ReceiptHandle  string            `json:"receiptHandle"`
		Body           string            `json:"body"`
		Attributes     map[string]string `json:"attributes"`
		EventSource    string            `json:"eventSource"`
		EventSourceARN string            `json:"eventSourceARN"`
		AWSRegion      string            `json:"awsRegion"`
	}
	recs := make([]rec, 0, len(bodies))
	for i, b := range bodies {
		recs = append(recs, rec{MessageID: fmt.Sprintf("m-%d", i), ReceiptHandle: fmt.Sprintf("rh-%d", i), Body: string(b),
			Attributes:  map[string]string{"ApproximateReceiveCount": fmt.Sprint(receives), "SentTimestamp": "1764338591000"},
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:111122223333:ami-kms-remediator-events", AWSRegion: "us-east-1"})
	}
	raw, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// receive delivers events as one SQS batch for the receives-th time.
func (u *unit) receive(receives int, events ...[]byte) SQSResponse {
	u.t.Helper()
	return invokeSQS(u.t, context.Background(), u.rm, sqsDelivery(u.t, receives, events...))
}

// lastPublished is the newest alert, with its severity attribute.
func (u *unit) lastPublished() (fake.Published, string) {
	u.t.Helper()
	pubs := u.cloud.Published()
	if len(pubs) == 0 {
		u.t.Fatal("no alert published")
	}
	return pubs[len(pubs)-1], severityOf(u.t, u.cloud, len(pubs)-1)
}

// severityOf reads the severity attribute of the n-th successful publish.
func severityOf(t *testing.T, cloud *fake.AWS, n int) string {
	t.Helper()
	i := 0
	for _, c := range cloud.Calls("SNS:Publish") {
		if !c.Succeeded {
			continue
		}
		if i == n {
			b, _ := json.Marshal(c.Input)
			var in struct {
				MessageAttributes map[string]struct{ StringValue *string }
			}
			_ = json.Unmarshal(b, &in)
			if v := in.MessageAttributes[alert.AttrSeverity].StringValue; v != nil {
				return *v
			}
			return ""
		}
		i++
	}
	t.Fatalf("no publish %d", n)
	return ""
}

func recordCodes(rec report.Record) string { return findingCodes([]report.Record{rec}) }

// A record that ends in an error alerts: at once when no retry can help (the member role cannot
// be assumed), with the failure's code, what was being checked, the error and what to do;
// critical when a launch already failed. It is acknowledged, not handed back.
func TestErroredRecordAlerts(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	u.cloud.AddRole(scenario.Target, "app-deployer")
	img := u.image([]string{u.key("")}, scenario.Target)
	u.cloud.FailIf("STS:AssumeRole", func(c fake.Call) bool { return c.Account == scenario.Target },
		fake.Error("AccessDenied", "User: arn:aws:sts::111122223333:assumed-role/fn/x is not authorized to perform: sts:AssumeRole"))
	resp := u.receive(1, launchEvent(t, img, "app-deployer"))
	rec := resp.Records[0]
	if rec.Error == "" || recordCodes(rec) != string(report.AssumeRoleDenied) || len(failed(resp)) != 0 {
		t.Fatalf("record %+v, handed back %v", rec, failed(resp))
	}
	f := rec.Findings[0]
	if f.Account != scenario.Target || f.PrincipalARN != "arn:aws:iam::"+scenario.Target+":role/"+scenario.MemberRoleName {
		t.Errorf("finding %+v: want the member role of %s", f, scenario.Target)
	}
	if !resp.Alert.Published || resp.Alert.Owed {
		t.Fatalf("alert %+v", resp.Alert)
	}
	p, sev := u.lastPublished()
	if sev != alert.SeverityCritical {
		t.Errorf("severity %q, want critical (the launch failed)", sev)
	}
	top := strings.SplitN(p.Message, "=== ", 2)[0]
	for _, want := range []string{"DO THIS NOW (in account " + scenario.Target, "assume-role-denied", "What failed: checking launch-failed image " + img,
		"not authorized to perform: sts:AssumeRole", "aws iam get-role --role-name " + scenario.MemberRoleName} {
		if !strings.Contains(top, want) {
			t.Errorf("the top of the alert lacks %q:\n%s", want, top)
		}
	}
	if strings.Contains(p.Message, "could not be processed: ") {
		t.Errorf("the failure is told twice (as a finding and as a failed record):\n%s", p.Message)
	}
}

// A transient failure before the last delivery is handed back without an alert; on the last
// delivery (ApproximateReceiveCount = MAX_RECEIVE_COUNT) the same failure alerts, high, with
// aws-unavailable, and is still handed back (to the dead-letter queue, for a redrive). A
// direct invocation (nothing redelivers it) is always its last delivery.
func TestTransientFailureAlertsOnTheLastDelivery(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	u.rm.cfg.MaxReceiveCount = 3
	img := u.image([]string{u.key("")}, scenario.Target)
	event := shareEvent(t, img, scenario.Target)
	u.cloud.Fail("EC2:DescribeImages", fake.Error("RequestLimitExceeded", "Request limit exceeded."))
	for receives := 1; receives <= 3; receives++ {
		resp := u.receive(receives, event)
		rec := resp.Records[0]
		if rec.Error == "" || len(failed(resp)) != 1 {
			t.Fatalf("delivery %d: record %+v handed back %v: want an error, handed back", receives, rec, failed(resp))
		}
		last := receives == 3
		if got := len(u.cloud.Published()); got != map[bool]int{false: 0, true: 1}[last] || resp.Alert.Published != last {
			t.Fatalf("delivery %d: %d alerts published (%+v), want one only on the last", receives, got, resp.Alert)
		}
		if want := map[bool]string{false: "", true: string(report.AWSUnavailable)}[last]; recordCodes(rec) != want {
			t.Errorf("delivery %d: findings %q, want %q", receives, recordCodes(rec), want)
		}
	}
	p, sev := u.lastPublished()
	if sev != alert.SeverityHigh || !strings.Contains(p.Message, "aws-unavailable") || !strings.Contains(p.Message, "RequestLimitExceeded") {
		t.Errorf("severity %q, alert:\n%s", sev, p.Message)
	}

	direct := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	direct.cloud.Fail("EC2:DescribeImages", fake.Error("RequestLimitExceeded", ""))
	out, err := direct.rm.Invoke(context.Background(), shareEvent(t, direct.image([]string{direct.key("")}, scenario.Target), scenario.Target))
	if err != nil {
		t.Fatal(err)
	}
	if res := out.(report.Result); !res.Alert.Published || recordCodes(res.Records[0]) != string(report.AWSUnavailable) {
		t.Errorf("direct invocation: %+v", res)
	}
}

// Errors are findings: each failure an operator can act on has its code.
func TestFailureCodes(t *testing.T) {
	denied := fake.Error("AccessDenied", "not authorized")
	for name, tc := range map[string]struct {
		op   string
		err  error
		code report.Code
	}{
		"member role missing or untrusting": {"STS:AssumeRole", denied, report.AssumeRoleDenied},
		"image gone":                        {"EC2:DescribeImages", fake.Error("InvalidAMIID.NotFound", "The image id does not exist"), report.ImageNotFound},
		"snapshots unreadable":              {"EC2:DescribeSnapshots", fake.Error("UnauthorizedOperation", ""), report.SnapshotUnreadable},
		"describe images denied":            {"EC2:DescribeImages", fake.Error("UnauthorizedOperation", ""), report.AccessDenied},
		"member role throttled to the end":  {"STS:AssumeRole", fake.Error("Throttling", ""), report.AWSUnavailable},
		"organization lookup down":          {"Organizations:DescribeAccount", fake.Error("ServiceUnavailable", ""), report.AWSUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			org := ""
			var trusted []string
			if tc.op == "Organizations:DescribeAccount" {
				org = "o-exampleorg1"
			} else {
				trusted = []string{scenario.Target}
			}
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: trusted, org: org})
			u.cloud.Organization("o-exampleorg1", scenario.Target)
			u.cloud.AddRole(scenario.Target, "app-deployer")
			img := u.image([]string{u.key("")}, scenario.Target)
			u.cloud.FailIf(tc.op, func(c fake.Call) bool { return c.Op != "STS:AssumeRole" || c.Account == scenario.Target }, tc.err)
			rec := u.receive(config.DefaultMaxReceiveCount, launchEvent(t, img, "app-deployer")).Records[0]
			if rec.Error == "" || recordCodes(rec) != string(tc.code) {
				t.Fatalf("findings %q, error %q: want %s", recordCodes(rec), rec.Error, tc.code)
			}
			if m := rec.Findings[0].Message; !strings.Contains(m, "checking launch-failed") || !strings.Contains(m, "did not finish") {
				t.Errorf("message %q does not say what was being checked", m)
			}
		})
	}
}

// CloudTrail down (throttled, as LookupEvents is beyond two requests per second per account and
// Region) does not block the key side: it is diagnosed and fixed at once, the record says the
// launcher is missing and is handed back; redeliveries retry only what is missing (the key
// policy is not written again); on the last delivery the missing lookup alerts. Once CloudTrail
// answers, the redelivery finds the launcher, checks its identity policies and grants it.
func TestCloudTrailDownStillFixesTheKeySide(t *testing.T) {
	const instance = "i-0abcd1234ef567890"
	setup := func(t *testing.T) (*unit, string, []byte) {
		u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
		k := u.key("")
		img := u.image([]string{k}, scenario.Target)
		u.cloud.AddInstance(fake.Instance{ID: instance, Account: scenario.Target, Region: scenario.Region, ImageID: img,
			StateReasonCode: "Client.InternalError", StateReasonMessage: "Client.InternalError: Client error on launch"})
		role := u.cloud.AddRole(scenario.Target, "app-deployer")
		u.cloud.AddTrailEvent(scenario.Target, scenario.Region, instance, fake.TrailEvent{Name: "RunInstances",
			Event: `{"eventName":"RunInstances","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::` + scenario.Target + `:assumed-role/app-deployer/s",
			"accountId":"` + scenario.Target + `","sessionContext":{"sessionIssuer":{"type":"Role","arn":"` + role + `","accountId":"` + scenario.Target + `","userName":"app-deployer"}}}}`})
		event, err := scenario.Event("../../events/instance-terminated.json", nil)
		if err != nil {
			t.Fatal(err)
		}
		u.cloud.Fail("CloudTrail:LookupEvents", fake.Error("ThrottlingException", "Rate exceeded"))
		return u, k, event
	}

	t.Run("stays down", func(t *testing.T) {
		u, k, event := setup(t)
		for receives := 1; receives <= config.DefaultMaxReceiveCount; receives++ {
			resp := u.receive(receives, event)
			rec := resp.Records[0]
			if rec.Error != "" || strings.Join(rec.Incomplete, ",") != report.PartLauncher || len(failed(resp)) != 1 {
				t.Fatalf("delivery %d: record %+v, handed back %v: want no error, the launcher missing, handed back", receives, rec, failed(resp))
			}
			if receives == 1 && statuses(resp.Actions) != "key-policy:applied" {
				t.Fatalf("the key side was not fixed at once: %+v", resp.Actions)
			}
			last := receives == config.DefaultMaxReceiveCount
			if got := strings.Contains(recordCodes(rec), string(report.LookupUnavailable)); got != last {
				t.Errorf("delivery %d: findings %q: lookup-unavailable only on the last delivery", receives, recordCodes(rec))
			}
		}
		if n := len(u.puts(k)); n != 1 {
			t.Errorf("%d key policy writes, want 1: a redelivery retries only what is missing", n)
		}
		if !grantsAccount(t, k, u.cloud.KeyPolicy(k), scenario.Target) {
			t.Error("the key policy does not grant the account")
		}
		pubs := u.cloud.Published()
		if len(pubs) != 2 {
			t.Fatalf("%d alerts, want 2 (the fix, then the lookup that stayed missing)", len(pubs))
		}
		if !strings.Contains(pubs[0].Subject, "fixed") || strings.Contains(pubs[0].Message, "lookup-unavailable") {
			t.Errorf("first alert %q should tell the fix, not the lookup yet", pubs[0].Subject)
		}
		if !strings.Contains(pubs[1].Message, "lookup-unavailable") || !strings.Contains(pubs[1].Message, "amikms check --image") {
			t.Errorf("last alert lacks the lookup and what to do:\n%s", pubs[1].Message)
		}
	})

	t.Run("comes back", func(t *testing.T) {
		u, k, event := setup(t)
		first := u.receive(1, event)
		if len(failed(first)) != 1 || statuses(first.Actions) != "key-policy:applied" {
			t.Fatalf("first delivery: %+v %v", first.Actions, failed(first))
		}
		u.cloud.Heal("CloudTrail:LookupEvents")
		again := u.receive(2, event)
		rec := again.Records[0]
		if len(failed(again)) != 0 || len(rec.Incomplete) != 0 || rec.PrincipalARN == "" {
			t.Fatalf("redelivery: %+v, handed back %v", rec, failed(again))
		}
		// The identity side is a grant, which the key policy must let the account create: the
		// second write adds only that statement.
		puts := u.puts(k)
		if !strings.Contains(statuses(again.Actions), "kms-grant:applied") || len(puts) != 2 ||
			strings.Contains(aws.ToString(puts[0].Policy), keypolicy.LaunchGrantSid) || !strings.Contains(aws.ToString(puts[1].Policy), keypolicy.LaunchGrantSid) {
			t.Errorf("redelivery: actions %s, %d key writes: want the identity side fixed with a grant, the second write adding %s", statuses(again.Actions), len(puts), keypolicy.LaunchGrantSid)
		}
	})

	t.Run("denied", func(t *testing.T) {
		u, _, event := setup(t)
		u.cloud.Heal("CloudTrail:LookupEvents")
		u.cloud.Fail("CloudTrail:LookupEvents", fake.Error("AccessDeniedException", "not authorized to perform: cloudtrail:LookupEvents"))
		resp := u.receive(1, event)
		rec := resp.Records[0]
		if len(failed(resp)) != 0 || !strings.Contains(recordCodes(rec), string(report.LookupUnavailable)) || statuses(resp.Actions) != "key-policy:applied" {
			t.Errorf("a denied lookup is told at once, never retried, and blocks nothing: %+v %v %+v", rec, failed(resp), resp.Actions)
		}
	})
}

// Event fields are validated before any AWS call: an account that is not 12 ASCII digits or a
// Region not of AWS's form (or of another partition) makes the record unusable input, reported,
// acknowledged and never retried, with no call made for it. A good record of the same batch
// goes on.
func TestUnusableFieldsMakeNoAWSCall(t *testing.T) {
	set := func(path []string, v any) func(ev map[string]any) {
		return func(ev map[string]any) {
			m := ev
			for _, p := range path[:len(path)-1] {
				m = m[p].(map[string]any)
			}
			m[path[len(path)-1]] = v
		}
	}
	for name, change := range map[string]func(map[string]any){
		"recipient account with a space":       set([]string{"detail", "recipientAccountId"}, " 444455556666"),
		"recipient account in full-width":      set([]string{"detail", "recipientAccountId"}, "４４４４５５５５６６６６"),
		"recipient account of 13 digits":       set([]string{"detail", "recipientAccountId"}, "4444555566667"),
		"recipient account as a float":         set([]string{"detail", "recipientAccountId"}, 4.444555566666e11),
		"region with a host after it":          set([]string{"detail", "awsRegion"}, "us-east-1.evil.example"),
		"region with a path":                   set([]string{"detail", "awsRegion"}, "us-east-1/../../x"),
		"region of another partition":          set([]string{"detail", "awsRegion"}, "cn-north-1"),
		"region in capitals":                   set([]string{"detail", "awsRegion"}, "US-EAST-1"),
		"envelope region on an EC2 event":      nil, // below: an instance-terminated event's envelope
		"principal of another partition":       set([]string{"detail", "userIdentity", "sessionContext", "sessionIssuer", "arn"}, "arn:aws-cn:iam::444455556666:role/app-deployer"),
		"recipient account empty, no fallback": nil,
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
			u.cloud.AddRole(scenario.Target, "app-deployer")
			img := u.image([]string{u.key("")}, scenario.Target)
			var ev map[string]any
			switch name {
			case "envelope region on an EC2 event":
				raw, _ := scenario.Event("../../events/instance-terminated.json", nil)
				_ = json.Unmarshal(raw, &ev)
				ev["region"] = "us-east-1 "
			case "recipient account empty, no fallback":
				_ = json.Unmarshal(launchEvent(t, img, "app-deployer"), &ev)
				d := ev["detail"].(map[string]any)
				delete(d, "recipientAccountId")
				d["userIdentity"].(map[string]any)["accountId"] = ""
				ev["account"] = ""
			default:
				_ = json.Unmarshal(launchEvent(t, img, "app-deployer"), &ev)
				change(ev)
			}
			bad, _ := json.Marshal(ev)
			var out bytes.Buffer
			u.rm.metrics = metricSink{w: &out, function: "fn"}
			resp := u.receive(1, bad)
			rec := resp.Records[0]
			if calls := u.cloud.Calls(""); len(calls) != 0 {
				t.Errorf("%d AWS calls for an unusable record, first %s", len(calls), calls[0].Op)
			}
			if rec.Error == "" || recordCodes(rec) != string(report.UnusableInput) || len(failed(resp)) != 0 {
				t.Errorf("record %+v handed back %v: want unusable input, acknowledged", rec, failed(resp))
			}
			if got := metricValue(t, out.Bytes(), metrics.MetricUnusableRecords, nil); got != 1 {
				t.Errorf("UnusableRecords = %v, want 1", got)
			}
		})
	}

	// Beside a good record, the bad one changes nothing for it.
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	k := u.key("")
	img := u.image([]string{k}, scenario.Target)
	var ev map[string]any
	_ = json.Unmarshal(shareEvent(t, img, scenario.Target), &ev)
	ev["detail"].(map[string]any)["awsRegion"] = "us-east-1.evil.example"
	bad, _ := json.Marshal(ev)
	resp := u.receive(1, bad, shareEvent(t, img, scenario.Target))
	if recordCodes(resp.Records[0]) != string(report.UnusableInput) || resp.Records[1].Error != "" || statuses(resp.Actions) != "key-policy:applied" {
		t.Errorf("records %+v actions %+v", resp.Records, resp.Actions)
	}
	for _, c := range u.cloud.Calls("") {
		if c.Region != scenario.Region {
			t.Errorf("%s called in %q", c.Op, c.Region)
		}
	}
}

// metricValue is the value of metric in the EMF lines of out whose dimensions beyond
// FunctionName are dims; it fails the test when a line is not EMF or the metric is absent.
func metricValue(t *testing.T, out []byte, metric string, dims map[string]string) float64 {
	t.Helper()
	ms, n, err := emf.Lines(out)
	if err != nil || n == 0 {
		t.Fatalf("EMF lines: %d, %v\n%s", n, err, out)
	}
	for _, m := range ms {
		if m.Name != metric || len(m.Dimensions) != len(dims)+1 {
			continue
		}
		match := m.Dimensions[metrics.DimFunction] != ""
		for k, v := range dims {
			match = match && m.Dimensions[k] == v
		}
		if match {
			return m.Value
		}
	}
	t.Fatalf("no %s %v in\n%s", metric, dims, out)
	return 0
}

// Every invocation writes its metrics once, as EMF lines CloudWatch accepts, with the counts of
// what happened: records by trigger, findings by code, actions by type and status, AWS calls,
// errors, alerts, records handed back and unusable records.
func TestMetricsCarryTheCounts(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
	var out bytes.Buffer
	u.rm.metrics = metricSink{w: &out, function: "ami-kms-remediator-fn"}
	u.rm.cfg.MetricNamespace = "Ops/AmiKms"
	img := u.image([]string{u.key("")}, scenario.Target)
	gone := u.image([]string{u.key("")}, scenario.Target)
	u.cloud.FailIf("EC2:DescribeImages", func(c fake.Call) bool { return strings.Contains(fmt.Sprint(c.Input), gone) },
		fake.Error("InternalFailure", ""))
	resp := u.receive(1, shareEvent(t, img, scenario.Target), shareEvent(t, gone, scenario.Target), []byte(`{"not":"an event"}`))
	if len(failed(resp)) != 1 || !resp.Alert.Published {
		t.Fatalf("handed back %v, alert %+v", failed(resp), resp.Alert)
	}
	ms, lines, err := emf.Lines(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if lines < 4 || strings.Count(out.String(), "\n") != lines {
		t.Errorf("%d EMF lines of %d: every line written is EMF, one totals line and the breakdowns", lines, strings.Count(out.String(), "\n"))
	}
	for _, m := range ms {
		if m.Namespace != "Ops/AmiKms" || m.Dimensions[metrics.DimFunction] != "ami-kms-remediator-fn" || m.Unit != "Count" {
			t.Errorf("metric %+v: namespace, function or unit", m)
		}
	}
	calls := 0 // the fakes do not go through the SDK's middleware, which counts calls: see TestMetricsOnTheWire
	for _, n := range resp.Stats {
		calls += n
	}
	for _, w := range []struct {
		metric string
		dims   map[string]string
		want   float64
	}{
		{metrics.MetricRecords, nil, 3},
		{metrics.MetricRecordsHandedBack, nil, 1},
		{metrics.MetricUnusableRecords, nil, 1},
		{metrics.MetricRecordErrors, nil, 2},
		{metrics.MetricAlertsPublished, nil, 1},
		{metrics.MetricAlertsFailed, nil, 0},
		{metrics.MetricAWSCalls, nil, float64(calls)},
		{metrics.MetricRecordsByTrigger, map[string]string{metrics.DimTrigger: "share-image"}, 2},
		{metrics.MetricRecordsByTrigger, map[string]string{metrics.DimTrigger: "invalid"}, 1},
		{metrics.MetricFindings, map[string]string{metrics.DimCode: "key-policy-missing-use"}, 1},
		{metrics.MetricFindings, map[string]string{metrics.DimCode: "unusable-input"}, 1},
		{metrics.MetricActions, map[string]string{metrics.DimActionType: "key-policy", metrics.DimStatus: "planned"}, 1},
	} {
		if got := metricValue(t, out.Bytes(), w.metric, w.dims); got != w.want {
			t.Errorf("%s %v = %v, want %v", w.metric, w.dims, got, w.want)
		}
	}
	// No extra API call: the metrics are log lines.
	for _, c := range u.cloud.Calls("") {
		if strings.HasPrefix(c.Op, "CloudWatch") {
			t.Errorf("metrics made an API call: %s", c.Op)
		}
	}
}

// An alert that could not be published is owed: the result says so (and why), the metric
// counts it, and a transient failure hands the records back.
func TestUnpublishedAlertIsOwed(t *testing.T) {
	for name, tc := range map[string]struct {
		err   error
		retry bool
	}{
		"throttled":     {fake.Error("Throttling", "Rate exceeded"), true},
		"not permitted": {fake.Error("AuthorizationError", "not authorized"), false},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
			var out bytes.Buffer
			u.rm.metrics = metricSink{w: &out, function: "fn"}
			u.cloud.Fail("SNS:Publish", tc.err)
			resp := u.receive(1, shareEvent(t, u.image([]string{u.key("")}, scenario.Target), scenario.Target))
			if resp.Alert.Published || !resp.Alert.Owed || resp.Alert.Error == "" {
				t.Errorf("alert %+v: want owed, with the error", resp.Alert)
			}
			if (len(failed(resp)) == 1) != tc.retry {
				t.Errorf("handed back %v, want %v", failed(resp), tc.retry)
			}
			if got := metricValue(t, out.Bytes(), metrics.MetricAlertsFailed, nil); got != 1 {
				t.Errorf("AlertsNotPublished = %v", got)
			}
			b, _ := json.Marshal(resp)
			if !strings.Contains(string(b), `"owed":true`) {
				t.Errorf("the result JSON does not say the alert is owed: %s", b)
			}
		})
	}
}
