package metrics

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// DefaultNamespace is the namespace when METRIC_NAMESPACE is not set (the template's
// MetricNamespace parameter sets it).
const DefaultNamespace = "AmiKmsRemediator"

// The remediator's metrics: the contract between the function and the alarms and dashboard in
// template.yaml. Every metric has the dimension FunctionName (the function's name); the
// breakdowns have one more dimension. All are counts per invocation. Never rename one: alarms
// and dashboards read them by name.
const (
	DimFunction   = "FunctionName"
	DimTrigger    = "Trigger"    // a trigger kind, e.g. share-image
	DimCode       = "Code"       // a finding code, e.g. key-policy-missing-use
	DimActionType = "ActionType" // key-policy | iam-policy
	DimStatus     = "Status"     // applied | planned | unchanged | refused | failed

	// With FunctionName only, once per invocation (zeros included): what the alarms read.
	MetricRecords           = "Records"            // records in the invocation
	MetricRecordsHandedBack = "RecordsHandedBack"  // records returned in batchItemFailures (SQS retries them)
	MetricUnusableRecords   = "UnusableRecords"    // records acknowledged as unusable input (never retried)
	MetricRecordErrors      = "RecordErrors"       // records that ended in an error
	MetricAWSCalls          = "AWSCalls"           // AWS API calls made
	MetricAlertsPublished   = "AlertsPublished"    // SNS alerts published
	MetricAlertsFailed      = "AlertsNotPublished" // alerts owed but not published

	// Breakdowns, one line per dimension value that occurred.
	MetricRecordsByTrigger = "RecordsByTrigger" // FunctionName, Trigger
	MetricFindings         = "Findings"         // FunctionName, Code
	MetricActions          = "Actions"          // FunctionName, ActionType, Status
)

// ActionKey is an action's type and status.
type ActionKey struct{ Type, Status string }

// Counts is what one invocation did, in numbers.
type Counts struct {
	Records, HandedBack, Unusable, Errors int
	AlertsPublished, AlertsFailed         int
	ByTrigger                             map[string]int    // records by trigger kind
	Findings                              map[string]int    // findings by code
	Actions                               map[ActionKey]int // actions by type and status
	// AWSCalls counts calls by "Service:Operation" (report.Result's stats). The total is a
	// metric; the breakdown is a property of the totals line (for Logs Insights, at no metric cost).
	AWSCalls map[string]int
}

// Lines returns the EMF lines of c for the function: the totals first (FunctionName only, what
// the alarms read), then one line per trigger, finding code, and action type and status that
// occurred. requestID, when set, is a property of every line, to find the invocation's logs.
func (c Counts) Lines(namespace, function, requestID string, at time.Time) ([][]byte, error) {
	if function == "" {
		return nil, errors.New("metrics: no function name")
	}
	fn := Dimension{DimFunction, DimensionValue(function)}
	props := func(extra map[string]any) map[string]any {
		p := map[string]any{}
		if requestID != "" {
			p["requestId"] = requestID
		}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	calls := 0
	for _, n := range c.AWSCalls {
		calls += n
	}
	var extra map[string]any
	if len(c.AWSCalls) > 0 {
		extra = map[string]any{"awsCallsByOperation": c.AWSCalls}
	}
	docs := []Document{{
		Namespace: namespace, Timestamp: at, Dimensions: []Dimension{fn}, Properties: props(extra),
		Values: []Value{
			{MetricRecords, Count, float64(c.Records)},
			{MetricRecordsHandedBack, Count, float64(c.HandedBack)},
			{MetricUnusableRecords, Count, float64(c.Unusable)},
			{MetricRecordErrors, Count, float64(c.Errors)},
			{MetricAWSCalls, Count, float64(calls)},
			{MetricAlertsPublished, Count, float64(c.AlertsPublished)},
			{MetricAlertsFailed, Count, float64(c.AlertsFailed)},
		},
	}}
	breakdown := func(metric string, n int, dims ...Dimension) {
		if n == 0 {
			return
		}
		docs = append(docs, Document{Namespace: namespace, Timestamp: at, Dimensions: append([]Dimension{fn}, dims...),
			Properties: props(nil), Values: []Value{{metric, Count, float64(n)}}})
	}
	for _, k := range sortedKeys(c.ByTrigger) {
		breakdown(MetricRecordsByTrigger, c.ByTrigger[k], Dimension{DimTrigger, DimensionValue(k)})
	}
	for _, k := range sortedKeys(c.Findings) {
		breakdown(MetricFindings, c.Findings[k], Dimension{DimCode, DimensionValue(k)})
	}
	keys := make([]ActionKey, 0, len(c.Actions))
	for k := range c.Actions {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Type != keys[j].Type {
			return keys[i].Type < keys[j].Type
		}
		return keys[i].Status < keys[j].Status
	})
	for _, k := range keys {
		breakdown(MetricActions, c.Actions[k], Dimension{DimActionType, DimensionValue(k.Type)}, Dimension{DimStatus, DimensionValue(k.Status)})
	}
	lines := make([][]byte, 0, len(docs))
	for _, d := range docs {
		line, err := d.Marshal()
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		lines = append(lines, line)
	}
	return lines, nil
}
