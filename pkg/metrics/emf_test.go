package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/emf"
)

// metric is one value CloudWatch would extract from a line.
type metric = emf.Metric

// parseEMF reads one log line the way CloudWatch Logs does (internal/emf); anything the
// specification forbids fails the test.
func parseEMF(t *testing.T, line []byte) []metric {
	t.Helper()
	ms, err := emf.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

var at = time.Date(2026, 12, 1, 10, 30, 0, 123_000_000, time.UTC)

func TestDocumentIsEMF(t *testing.T) {
	d := Document{
		Namespace: "AmiKmsRemediator", Timestamp: at,
		Dimensions: []Dimension{{"FunctionName", "ami-kms-remediator-fn"}, {"Trigger", "share-image"}},
		Values:     []Value{{"Records", Count, 3}, {"Latency", Milliseconds, 12.5}},
		Properties: map[string]any{"requestId": "r-1", "nested": map[string]int{"a": 1}},
	}
	line, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := parseEMF(t, line)
	dims := map[string]string{"FunctionName": "ami-kms-remediator-fn", "Trigger": "share-image"}
	want := []metric{
		{Namespace: "AmiKmsRemediator", Dimensions: dims, Name: "Records", Unit: "Count", Value: 3, Timestamp: at.UnixMilli()},
		{Namespace: "AmiKmsRemediator", Dimensions: dims, Name: "Latency", Unit: "Milliseconds", Value: 12.5, Timestamp: at.UnixMilli()},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics = %+v\nwant %+v", got, want)
	}
	if at.UnixMilli() != 1796121000123 {
		t.Fatalf("the fixture's time is %d ms", at.UnixMilli())
	}
	// The exact line: members in a stable order, so log lines diff well.
	const exact = `{"_aws":{"Timestamp":1796121000123,"CloudWatchMetrics":[{"Namespace":"AmiKmsRemediator","Dimensions":[["FunctionName","Trigger"]],"Metrics":[{"Name":"Records","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"FunctionName":"ami-kms-remediator-fn","Trigger":"share-image","Records":3,"Latency":12.5,"nested":{"a":1},"requestId":"r-1"}`
	if string(line) != exact {
		t.Errorf("line =\n%s\nwant\n%s", line, exact)
	}
}

func TestDocumentRefusesWhatEMFForbids(t *testing.T) {
	ok := func() Document {
		return Document{Namespace: "Ns", Timestamp: at, Dimensions: []Dimension{{"FunctionName", "f"}}, Values: []Value{{"Records", Count, 1}}}
	}
	many := func(n int, prefix string) []Value {
		var v []Value
		for i := 0; i < n; i++ {
			v = append(v, Value{fmt.Sprintf("%s%d", prefix, i), Count, 1})
		}
		return v
	}
	tests := map[string]func(*Document){
		"no namespace":             func(d *Document) { d.Namespace = "" },
		"AWS namespace":            func(d *Document) { d.Namespace = "AWS/Lambda" },
		"namespace with a newline": func(d *Document) { d.Namespace = "a\nb" },
		"no metrics":               func(d *Document) { d.Values = nil },
		"101 metrics":              func(d *Document) { d.Values = many(101, "m") },
		"31 dimensions": func(d *Document) {
			d.Dimensions = nil
			for i := 0; i < 31; i++ {
				d.Dimensions = append(d.Dimensions, Dimension{fmt.Sprint("d", i), "v"})
			}
		},
		"dimension named as metric":          func(d *Document) { d.Dimensions = append(d.Dimensions, Dimension{"Records", "x"}) },
		"two metrics one name":               func(d *Document) { d.Values = append(d.Values, Value{"Records", Count, 2}) },
		"property named as metric":           func(d *Document) { d.Properties = map[string]any{"Records": 1} },
		"the _aws member":                    func(d *Document) { d.Properties = map[string]any{"_aws": 1} },
		"empty dimension value":              func(d *Document) { d.Dimensions[0].Value = "" },
		"NaN":                                func(d *Document) { d.Values[0].Value = math.NaN() },
		"infinity":                           func(d *Document) { d.Values[0].Value = math.Inf(1) },
		"control in a name":                  func(d *Document) { d.Values[0].Name = "a\x00" },
		"property that cannot be marshalled": func(d *Document) { d.Properties = map[string]any{"c": make(chan int)} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			d := ok()
			mutate(&d)
			if line, err := d.Marshal(); err == nil {
				t.Errorf("accepted: %s", line)
			}
		})
	}
	if _, err := ok().Marshal(); err != nil {
		t.Fatalf("the valid document is refused: %v", err)
	}
	d := ok()
	d.Dimensions = nil // metrics with no dimension: a dimension set with no names
	line, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got := parseEMF(t, line); len(got) != 1 || len(got[0].Dimensions) != 0 {
		t.Errorf("no dimensions: %+v", got)
	}
}

func TestValidNamespace(t *testing.T) {
	for _, good := range []string{"AmiKmsRemediator", "Team/ami-kms", "a.b_c-d#e:f g", strings.Repeat("x", 255), "AWSish"} {
		if err := ValidNamespace(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"", "AWS/Custom", strings.Repeat("x", 256), "tab\there", "é", "a,b"} {
		if ValidNamespace(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDimensionValue(t *testing.T) {
	tests := map[string]string{
		"share-image": "share-image", "": "unknown", "  ": "unknown", "a\nb": "a?b", "画像": "??",
		strings.Repeat("y", 2000): strings.Repeat("y", MaxValueBytes),
	}
	for in, want := range tests {
		if got := DimensionValue(in); got != want {
			t.Errorf("DimensionValue(%.20q) = %.20q, want %.20q", in, got, want)
		}
	}
}

// The remediator's lines carry its counts under the names the template's alarms read.
func TestCountsLines(t *testing.T) {
	c := Counts{
		Records: 5, HandedBack: 1, Unusable: 1, Errors: 2, AlertsPublished: 1, AlertsFailed: 0,
		ByTrigger: map[string]int{"share-image": 3, "launch-failed": 2},
		Findings:  map[string]int{"key-policy-missing-use": 2, "untrusted-account": 1, "zero": 0},
		Actions:   map[ActionKey]int{{"key-policy", "applied"}: 1, {"iam-policy", "planned"}: 2},
		AWSCalls:  map[string]int{"EC2:DescribeImages": 3, "KMS:GetKeyPolicy": 4},
	}
	lines, err := c.Lines("Ops/AmiKms", "fn-1", "req-9", at)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ name, dims string }
	got := map[key]float64{}
	for _, line := range lines {
		var root map[string]any
		if err := json.Unmarshal(line, &root); err != nil || root["requestId"] != "req-9" {
			t.Errorf("line lacks the request ID: %s", line)
		}
		for _, m := range parseEMF(t, line) {
			if m.Namespace != "Ops/AmiKms" || m.Unit != "Count" || m.Timestamp != at.UnixMilli() || m.Dimensions[DimFunction] != "fn-1" {
				t.Errorf("metric %+v: wrong namespace, unit, time or function", m)
			}
			dims, _ := json.Marshal(m.Dimensions)
			k := key{m.Name, string(dims)}
			if _, dup := got[k]; dup {
				t.Errorf("metric %v emitted twice", k)
			}
			got[k] = m.Value
		}
	}
	fn := `"FunctionName":"fn-1"`
	want := map[key]float64{
		{MetricRecords, "{" + fn + "}"}:                                              5,
		{MetricRecordsHandedBack, "{" + fn + "}"}:                                    1,
		{MetricUnusableRecords, "{" + fn + "}"}:                                      1,
		{MetricRecordErrors, "{" + fn + "}"}:                                         2,
		{MetricAWSCalls, "{" + fn + "}"}:                                             7,
		{MetricAlertsPublished, "{" + fn + "}"}:                                      1,
		{MetricAlertsFailed, "{" + fn + "}"}:                                         0,
		{MetricRecordsByTrigger, "{" + fn + `,"Trigger":"launch-failed"}`}:           2,
		{MetricRecordsByTrigger, "{" + fn + `,"Trigger":"share-image"}`}:             3,
		{MetricFindings, `{"Code":"key-policy-missing-use",` + fn + "}"}:             2,
		{MetricFindings, `{"Code":"untrusted-account",` + fn + "}"}:                  1,
		{MetricActions, `{"ActionType":"iam-policy",` + fn + `,"Status":"planned"}`}: 2,
		{MetricActions, `{"ActionType":"key-policy",` + fn + `,"Status":"applied"}`}: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics:\n got %v\nwant %v", got, want)
	}
	var first map[string]any
	_ = json.Unmarshal(lines[0], &first)
	if calls, _ := first["awsCallsByOperation"].(map[string]any); calls["KMS:GetKeyPolicy"] != 4.0 {
		t.Errorf("the totals line lacks the calls by operation: %s", lines[0])
	}

	// An idle invocation still emits its totals (zeros), so alarms and graphs see data.
	lines, err = Counts{}.Lines(DefaultNamespace, "fn-1", "", at)
	if err != nil || len(lines) != 1 || len(parseEMF(t, lines[0])) != 7 {
		t.Fatalf("empty counts: %d lines, %v", len(lines), err)
	}
	if _, err := c.Lines("AWS/Lambda", "fn-1", "", at); err == nil {
		t.Error("a reserved namespace is accepted")
	}
	if _, err := c.Lines(DefaultNamespace, "", "", at); err == nil {
		t.Error("no function name is accepted")
	}
}

func FuzzDimensionValue(f *testing.F) {
	for _, s := range []string{"share-image", "", "\x00", "画像", strings.Repeat("z", 1100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := DimensionValue(s)
		d := Document{Namespace: "Ns", Timestamp: at, Dimensions: []Dimension{{"D", v}}, Values: []Value{{"M", Count, 1}}}
		line, err := d.Marshal()
		if err != nil {
			t.Fatalf("DimensionValue(%q) = %q is refused: %v", s, v, err)
		}
		parseEMF(t, line)
	})
}
