// Package emf reads CloudWatch embedded metric format lines the way CloudWatch Logs does, for
// tests: what the function writes must be what CloudWatch extracts, and the alarms must find it.
package emf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// units are the units the specification allows (CloudWatch's StandardUnit values).
var units = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true, "Megabytes": true,
	"Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true, "Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true,
	"Gigabytes/Second": true, "Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// Metric is one value CloudWatch would extract from a line.
type Metric struct {
	Namespace  string
	Dimensions map[string]string
	Name, Unit string
	Value      float64
	Timestamp  int64
}

// Parse reads one log line following the specification
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
// and returns the metrics it defines, one per metric and dimension set; anything the
// specification forbids is an error.
func Parse(line []byte) ([]Metric, error) {
	if bytes.ContainsAny(line, "\n\r") {
		return nil, fmt.Errorf("a log line must be one line: %q", line)
	}
	var root map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v: %s", err, line)
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON object: %s", line)
	}
	strict := func(raw json.RawMessage, v any, what string) error {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields() // "objects defined by this specification MUST NOT contain any additional members"
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			return fmt.Errorf("%s: %v: %s", what, err, raw)
		}
		return nil
	}
	var meta struct {
		Timestamp         *json.Number      `json:"Timestamp"`
		CloudWatchMetrics []json.RawMessage `json:"CloudWatchMetrics"`
	}
	rawMeta, ok := root["_aws"]
	if !ok {
		return nil, fmt.Errorf("no _aws member: %s", line)
	}
	if err := strict(rawMeta, &meta, "_aws"); err != nil {
		return nil, err
	}
	if meta.Timestamp == nil {
		return nil, fmt.Errorf("_aws.Timestamp is required: %s", line)
	}
	ts, err := meta.Timestamp.Int64()
	if err != nil || ts < 0 {
		return nil, fmt.Errorf("_aws.Timestamp %v is not milliseconds since the epoch", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return nil, fmt.Errorf("_aws.CloudWatchMetrics is empty: %s", line)
	}
	var out []Metric
	for _, rawDir := range meta.CloudWatchMetrics {
		var dir struct {
			Namespace  *string    `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name              *string `json:"Name"`
				Unit              *string `json:"Unit"`
				StorageResolution *int    `json:"StorageResolution"`
			} `json:"Metrics"`
		}
		if err := strict(rawDir, &dir, "MetricDirective"); err != nil {
			return nil, err
		}
		switch {
		case dir.Namespace == nil || *dir.Namespace == "":
			return nil, fmt.Errorf("Namespace is required: %s", rawDir)
		case dir.Dimensions == nil:
			return nil, fmt.Errorf("Dimensions is required: %s", rawDir)
		case len(dir.Metrics) == 0 || len(dir.Metrics) > 100:
			return nil, fmt.Errorf("%d MetricDefinitions, want 1 to 100", len(dir.Metrics))
		}
		for _, set := range dir.Dimensions {
			if len(set) > 30 {
				return nil, fmt.Errorf("a DimensionSet has %d dimensions, at most 30", len(set))
			}
			dims := map[string]string{}
			for _, name := range set {
				var v string
				raw, ok := root[name]
				if !ok || json.Unmarshal(raw, &v) != nil {
					return nil, fmt.Errorf("dimension %q is not a string member of the root: %s", name, line)
				}
				dims[name] = v
			}
			for _, m := range dir.Metrics {
				if m.Name == nil || *m.Name == "" {
					return nil, errors.New("MetricDefinition.Name is required: " + string(rawDir))
				}
				if m.Unit != nil && !units[*m.Unit] {
					return nil, fmt.Errorf("unit %q is not a CloudWatch unit", *m.Unit)
				}
				if m.StorageResolution != nil && *m.StorageResolution != 1 && *m.StorageResolution != 60 {
					return nil, fmt.Errorf("StorageResolution %d, want 1 or 60", *m.StorageResolution)
				}
				var v float64
				raw, ok := root[*m.Name]
				if !ok || json.Unmarshal(raw, &v) != nil {
					return nil, fmt.Errorf("metric %q is not a number member of the root: %s", *m.Name, line)
				}
				unit := ""
				if m.Unit != nil {
					unit = *m.Unit
				}
				out = append(out, Metric{Namespace: *dir.Namespace, Dimensions: dims, Name: *m.Name, Unit: unit, Value: v, Timestamp: ts})
			}
		}
	}
	return out, nil
}

// Lines splits output into its lines and parses those that are EMF (have an "_aws" member);
// other lines (logs) are skipped. Any EMF line the specification refuses is an error.
func Lines(output []byte) ([]Metric, int, error) {
	var out []Metric
	n := 0
	for _, line := range bytes.Split(output, []byte("\n")) {
		var probe map[string]json.RawMessage
		if json.Unmarshal(line, &probe) != nil || probe["_aws"] == nil {
			continue
		}
		ms, err := Parse(line)
		if err != nil {
			return nil, n, err
		}
		n++
		out = append(out, ms...)
	}
	return out, n, nil
}
