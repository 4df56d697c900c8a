// Package metrics builds CloudWatch embedded metric format (EMF) log lines: JSON objects that a
// function writes to standard output and that CloudWatch Logs turns into metrics, with no API
// call and no agent in Lambda.
//
// The format (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// the root object has an "_aws" member with "Timestamp" (milliseconds since the epoch) and
// "CloudWatchMetrics", an array of directives, each a "Namespace", "Dimensions" (an array of
// dimension sets, each an array of dimension names) and "Metrics" (an array of {"Name", "Unit"});
// every dimension name is a top-level member whose value is a string, and every metric name a
// top-level member whose value is a number. Lambda sends standard output to CloudWatch Logs,
// which extracts the metrics
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
//
// Pure: no clock (the caller passes the time), no I/O.
package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Unit is a CloudWatch unit.
type Unit string

// The units the remediator uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// Limits of the format and of CloudWatch.
const (
	// MaxDimensions is how many dimensions one dimension set may have.
	MaxDimensions = 30
	// MaxMetrics is how many metrics one directive may have.
	MaxMetrics = 100
	// MaxNameBytes bounds a metric or dimension name; MaxValueBytes a dimension value; both
	// are CloudWatch's (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html).
	MaxNameBytes  = 255
	MaxValueBytes = 1024
	// MaxNamespaceBytes bounds a namespace.
	MaxNamespaceBytes = 255
)

// Dimension is one dimension of every metric of a Document.
type Dimension struct {
	Name, Value string
}

// Value is one metric value.
type Value struct {
	Name  string
	Unit  Unit
	Value float64
}

// Document is one EMF log event: every value is recorded under the one dimension set made of all
// of Dimensions (none makes metrics with no dimension).
type Document struct {
	Namespace  string
	Timestamp  time.Time
	Dimensions []Dimension
	Values     []Value
	// Properties are more top-level members, not metrics (for example the request ID), for
	// CloudWatch Logs Insights. Each must marshal to JSON.
	Properties map[string]any
}

// ValidNamespace reports whether s may be a namespace: 1 to 255 ASCII letters, digits, and
// . - _ / # : or space, not starting with "AWS/" (reserved for AWS). See
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Namespace
func ValidNamespace(s string) error {
	if s == "" || len(s) > MaxNamespaceBytes {
		return fmt.Errorf("namespace must have 1 to %d characters, got %d", MaxNamespaceBytes, len(s))
	}
	if strings.HasPrefix(s, "AWS/") {
		return fmt.Errorf("namespace %q starts with AWS/, which is reserved for AWS", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/#: ", r)) {
			return fmt.Errorf("namespace %q has %q: only letters, digits, spaces and . - _ / # : are allowed", s, r)
		}
	}
	return nil
}

// validName: a metric or dimension name is 1 to 255 printable ASCII characters, not starting with
// a colon, and not the format's own "_aws".
func validName(s string) error {
	if s == "" || len(s) > MaxNameBytes || s == "_aws" || s[0] == ':' {
		return fmt.Errorf("name %q: want 1 to %d characters, not starting with ':', not _aws", s, MaxNameBytes)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("name %q: only printable ASCII is allowed", s)
		}
	}
	return nil
}

// DimensionValue makes s a valid dimension value: printable ASCII (anything else becomes '?'),
// at most MaxValueBytes, and not blank ("unknown" when it is).
func DimensionValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= MaxValueBytes {
			break
		}
		if r >= 0x20 && r <= 0x7e {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return "unknown"
	}
	return b.String()
}

// Marshal returns d as one EMF log line (without the newline).
func (d Document) Marshal() ([]byte, error) {
	if err := ValidNamespace(d.Namespace); err != nil {
		return nil, err
	}
	if len(d.Dimensions) > MaxDimensions {
		return nil, fmt.Errorf("%d dimensions, at most %d", len(d.Dimensions), MaxDimensions)
	}
	if len(d.Values) == 0 || len(d.Values) > MaxMetrics {
		return nil, fmt.Errorf("%d metrics, want 1 to %d", len(d.Values), MaxMetrics)
	}
	taken := map[string]string{}
	take := func(name, what string) error {
		if err := validName(name); err != nil {
			return fmt.Errorf("%s %w", what, err)
		}
		if other, dup := taken[name]; dup {
			return fmt.Errorf("%s %q is also a %s: every member is one value", what, name, other)
		}
		taken[name] = what
		return nil
	}
	type metric struct {
		Name string `json:"Name"`
		Unit Unit   `json:"Unit,omitempty"`
	}
	directive := struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []metric   `json:"Metrics"`
	}{Namespace: d.Namespace, Dimensions: [][]string{{}}}
	for _, dim := range d.Dimensions {
		if err := take(dim.Name, "dimension"); err != nil {
			return nil, err
		}
		if dim.Value == "" || len(dim.Value) > MaxValueBytes {
			return nil, fmt.Errorf("dimension %s: value must have 1 to %d characters", dim.Name, MaxValueBytes)
		}
		directive.Dimensions[0] = append(directive.Dimensions[0], dim.Name)
	}
	for _, v := range d.Values {
		if err := take(v.Name, "metric"); err != nil {
			return nil, err
		}
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return nil, fmt.Errorf("metric %s: %v is not a number CloudWatch takes", v.Name, v.Value)
		}
		directive.Metrics = append(directive.Metrics, metric{Name: v.Name, Unit: v.Unit})
	}
	for name := range d.Properties {
		if err := take(name, "property"); err != nil {
			return nil, err
		}
	}

	// Members in a stable order: _aws, dimensions, metrics, properties (sorted).
	var buf bytes.Buffer
	buf.WriteString(`{"_aws":`)
	meta, err := json.Marshal(struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []any `json:"CloudWatchMetrics"`
	}{d.Timestamp.UnixMilli(), []any{directive}})
	if err != nil {
		return nil, fmt.Errorf("marshal metadata: %w", err)
	}
	buf.Write(meta)
	member := func(name string, v any) error {
		k, _ := json.Marshal(name) // a string always marshals
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", name, err)
		}
		buf.WriteByte(',')
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(raw)
		return nil
	}
	for _, dim := range d.Dimensions {
		if err := member(dim.Name, dim.Value); err != nil {
			return nil, err
		}
	}
	for _, v := range d.Values {
		if err := member(v.Name, v.Value); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(d.Properties) {
		if err := member(name, d.Properties[name]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
