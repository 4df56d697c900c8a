package remediate

import (
	"bytes"
	"io"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
)

// metricSink is where the Lambda handler writes each invocation's metrics.
type metricSink struct {
	w        io.Writer // nil: no metrics
	function string
}

// WithMetrics makes the Lambda handler write each invocation's metrics to w, once per
// invocation, as CloudWatch embedded metric format lines for function (the dimension
// FunctionName: the function's name, which the template's alarms name). In Lambda, w is
// standard output: Lambda sends it to CloudWatch Logs, which extracts the metrics with no API
// call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
func WithMetrics(w io.Writer, function string) Option {
	return func(r *Remediator) { r.metrics = metricSink{w: w, function: function} }
}

// counts are the metrics of one invocation: what it received, found, did and told.
func (r *run) counts(out Outcome, fromSQS bool) metrics.Counts {
	c := metrics.Counts{Records: len(r.items), ByTrigger: map[string]int{}, Findings: map[string]int{},
		Actions: map[metrics.ActionKey]int{}, AWSCalls: out.Result.Stats}
	for _, it := range r.items {
		c.ByTrigger[it.rec.Trigger]++
		for _, f := range it.rec.Findings {
			c.Findings[string(f.Code)]++
		}
		if it.isUnusable {
			c.Unusable++
		}
		if it.rec.Error != "" {
			c.Errors++
		}
	}
	for _, a := range out.Result.Actions {
		c.Actions[metrics.ActionKey{Type: a.Type, Status: a.Status}]++
	}
	if fromSQS {
		c.HandedBack = len(out.Failed)
	}
	if out.Result.Alert.Published {
		c.AlertsPublished = 1
	}
	if out.Result.Alert.Owed {
		c.AlertsFailed = 1
	}
	return c
}

// unusablePayload are the metrics of an invocation whose whole input is unusable.
func unusablePayload() metrics.Counts {
	return metrics.Counts{Records: 1, Unusable: 1, Errors: 1, ByTrigger: map[string]int{"invalid": 1}}
}

// emitMetrics writes c as EMF lines, in one write so that no log line lands between them.
func (rm *Remediator) emitMetrics(c metrics.Counts, requestID string) {
	if rm.metrics.w == nil {
		return
	}
	function := rm.metrics.function
	if function == "" {
		function = "unknown" // not under Lambda: no alarm reads these
	}
	namespace := rm.cfg.MetricNamespace
	if namespace == "" {
		namespace = metrics.DefaultNamespace
	}
	lines, err := c.Lines(namespace, function, requestID, rm.now())
	if err != nil {
		rm.log.Error().Err(err).Msg("metrics not written")
		return
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if _, err := rm.metrics.w.Write(buf.Bytes()); err != nil {
		rm.log.Error().Err(err).Msg("metrics not written")
	}
}
