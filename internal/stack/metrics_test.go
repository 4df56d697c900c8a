package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/emf"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
)

// watched is a metric of the function's own namespace that the template reads: its name and
// the names of its dimensions, sorted.
type watched struct {
	metric string
	dims   string
}

// ownMetrics are the metrics of MetricNamespace the template's alarms and dashboard read, and
// who reads each.
func ownMetrics(t *testing.T, tpl template) (alarms map[watched]string, dashboard map[watched]bool) {
	t.Helper()
	alarms = map[watched]string{}
	for _, id := range tpl.resourcesOfType("AWS::CloudWatch::Alarm") {
		a := tpl.resource(t, id, "AWS::CloudWatch::Alarm")
		if !reflect.DeepEqual(a["Namespace"], ref("MetricNamespace")) {
			continue
		}
		var dims []string
		for _, d := range a["Dimensions"].([]any) {
			dims = append(dims, dig(d, "Name").(string))
		}
		sort.Strings(dims)
		alarms[watched{a["MetricName"].(string), strings.Join(dims, ",")}] = id
	}

	dashboard = map[watched]bool{}
	body := dig(tpl.resource(t, "Dashboard", "AWS::CloudWatch::Dashboard"), "DashboardBody", "Fn::Sub", 0).(string)
	var d struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("dashboard body: %v", err)
	}
	search := regexp.MustCompile(`^SEARCH\('\{\$\{Namespace\},([A-Za-z,]+)\} MetricName="(\w+)"`)
	for _, w := range d.Widgets {
		var prev []string
		for _, row := range w.Properties.Metrics {
			if e, ok := row[0].(map[string]any); ok {
				if m := search.FindStringSubmatch(fmt.Sprint(e["expression"])); m != nil {
					dims := strings.Split(m[1], ",")
					sort.Strings(dims)
					dashboard[watched{m[2], strings.Join(dims, ",")}] = true
				}
				continue
			}
			// [namespace, metric, dim, value, ...]: "." repeats the row above.
			var cur []string
			for i, v := range row {
				s, ok := v.(string)
				if !ok {
					break
				}
				if s == "." && i < len(prev) {
					s = prev[i]
				}
				cur = append(cur, s)
			}
			prev = cur
			if len(cur) < 2 || cur[0] != "${Namespace}" {
				continue
			}
			var dims []string
			for i := 2; i < len(cur); i += 2 {
				dims = append(dims, cur[i])
			}
			sort.Strings(dims)
			dashboard[watched{cur[1], strings.Join(dims, ",")}] = true
		}
	}
	return alarms, dashboard
}

// TestAlarmsReadWhatTheFunctionEmits ties the template to the function: an invocation that goes
// wrong in every way an alarm watches (a record handed back, an unusable record, an alert it
// could not publish) writes, in the template's default namespace, every metric each alarm reads
// with exactly the alarm's dimensions and a value above the alarm's threshold of 0, and every
// metric the dashboard reads with the dashboard's dimensions.
func TestAlarmsReadWhatTheFunctionEmits(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	alarms, dashboard := ownMetrics(t, tpl)
	if len(alarms) != 3 || len(dashboard) < 10 {
		t.Fatalf("the template reads %d alarm and %d dashboard metrics of its own: the test reads it wrong", len(alarms), len(dashboard))
	}
	t.Logf("the template reads %d metrics of its own for alarms, %d for the dashboard", len(alarms), len(dashboard))
	params, _ := tpl["Parameters"].(map[string]any)

	cloud := fake.New(scenario.Owner, scenario.Region)
	cfg := config.Config{Mode: config.ModeAlert, TrustedAccountIDs: []string{scenario.Target}, MemberRoleName: scenario.MemberRoleName,
		IAMPolicyName: config.DefaultIAMPolicyName, LogLevel: "info", MaxReceiveCount: config.DefaultMaxReceiveCount,
		MetricNamespace: dig(params, "MetricNamespace", "Default").(string), AlertTopicARN: "arn:aws:sns:us-east-1:111122223333:alerts"}
	var out bytes.Buffer
	rm := remediate.New(cfg, cloud, zerolog.New(io.Discard), remediate.WithMetrics(&out, "stack-RemediatorFunction-1"))
	key := cloud.AddKey(scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	img := cloud.AddImage(scenario.Owner, scenario.Region, key)
	cloud.Share(img, scenario.Target)
	share, err := scenario.Event("../../events/share-image.json", map[string]string{scenario.PlaceholderImage: img})
	if err != nil {
		t.Fatal(err)
	}
	cloud.Fail("SNS:Publish", fake.Error("Throttling", "Rate exceeded"))
	batch, _ := json.Marshal(map[string]any{"Records": []map[string]any{
		{"messageId": "m-1", "eventSource": "aws:sqs", "body": string(share), "attributes": map[string]string{"ApproximateReceiveCount": "1"}},
		{"messageId": "m-2", "eventSource": "aws:sqs", "body": `{"not":"an event"}`, "attributes": map[string]string{"ApproximateReceiveCount": "1"}},
	}})
	if _, err := rm.Invoke(context.Background(), batch); err != nil {
		t.Fatal(err)
	}

	ms, lines, err := emf.Lines(out.Bytes())
	if err != nil || lines == 0 {
		t.Fatalf("%d EMF lines: %v\n%s", lines, err, out.String())
	}
	emitted := map[watched]float64{}
	for _, m := range ms {
		if m.Namespace != cfg.MetricNamespace {
			t.Errorf("metric %s in namespace %q, want the template's %q", m.Name, m.Namespace, cfg.MetricNamespace)
		}
		var dims []string
		for d := range m.Dimensions {
			dims = append(dims, d)
		}
		sort.Strings(dims)
		emitted[watched{m.Name, strings.Join(dims, ",")}] += m.Value
	}
	for w, id := range alarms {
		v, ok := emitted[w]
		switch {
		case !ok:
			t.Errorf("%s reads %s with dimensions %s: the function does not emit it so", id, w.metric, w.dims)
		case v <= 0:
			t.Errorf("%s reads %s, which stayed %v in an invocation that should fire it", id, w.metric, v)
		}
	}
	for w := range dashboard {
		if _, ok := emitted[w]; !ok {
			t.Errorf("the dashboard reads %s with dimensions %s: the function does not emit it so", w.metric, w.dims)
		}
	}
	for _, w := range []watched{{metrics.MetricRecordsHandedBack, metrics.DimFunction}, {metrics.MetricUnusableRecords, metrics.DimFunction},
		{metrics.MetricAlertsFailed, metrics.DimFunction}} {
		if _, ok := alarms[w]; !ok {
			t.Errorf("no alarm reads %s", w.metric)
		}
	}
}
