package localaws

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// moto never records CloudTrail events. The filler answers CloudTrail's LookupEvents from the API
// calls it records itself (RunInstances, CopyImage, ModifyImageAttribute: see events.go), in the
// shape AWS documents (CloudTrail API Reference, LookupEvents): newest first, filtered by one
// lookup attribute (EventName or ResourceName), in the caller's account and region, with the
// record as a JSON string in CloudTrailEvent. Other CloudTrail calls go to moto.
//
// A call the filler never saw (a RunInstances AWS refused, which tests deliver as hand-made
// events) is put in CloudTrail with Filler.RecordTrail, as AWS records it a few minutes after
// the call.
const lookupEventsTarget = "CloudTrail_20131101.LookupEvents"

// RecordTrail adds the CloudTrail record of an "AWS API Call via CloudTrail" EventBridge event to
// what LookupEvents answers, in the event's account and Region. It is not one of Events: nothing
// delivers it.
func (f *Filler) RecordTrail(event []byte) error {
	var env struct {
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(event, &env); err != nil {
		return err
	}
	if env.DetailType != "AWS API Call via CloudTrail" {
		return fmt.Errorf("not a CloudTrail event: %q", env.DetailType)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trail = append(f.trail, append(json.RawMessage{}, event...))
	return nil
}

func isLookupEvents(c *call) bool {
	return strings.HasSuffix(c.target, lookupEventsTarget)
}

type lookupEventsInput struct {
	LookupAttributes []struct {
		AttributeKey   string
		AttributeValue string
	}
	MaxResults int
}

type ctEvent struct {
	EventID         string       `json:"EventId"`
	EventName       string       `json:"EventName"`
	ReadOnly        string       `json:"ReadOnly"`
	AccessKeyID     string       `json:"AccessKeyId,omitempty"`
	EventTime       float64      `json:"EventTime"`
	EventSource     string       `json:"EventSource"`
	Username        string       `json:"Username,omitempty"`
	Resources       []ctResource `json:"Resources"`
	CloudTrailEvent string       `json:"CloudTrailEvent"`
}

type ctResource struct {
	ResourceType string `json:"ResourceType"`
	ResourceName string `json:"ResourceName"`
}

func (fi *Filler) lookupEvents(w http.ResponseWriter, r *http.Request, c *call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidParameterException", "cannot read the request")
		return
	}
	var in lookupEventsInput
	if len(body) > 0 && json.Unmarshal(body, &in) != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidParameterException", "the request is not JSON")
		return
	}
	if len(in.LookupAttributes) > 1 {
		writeJSONError(w, http.StatusBadRequest, "InvalidLookupAttributesException", "only one lookup attribute is allowed")
		return
	}
	limit := in.MaxResults
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	fi.mu.Lock()
	recorded := append(append([]json.RawMessage{}, fi.trail...), fi.events...)
	fi.mu.Unlock()
	out := []ctEvent{}
	for i := len(recorded) - 1; i >= 0 && len(out) < limit; i-- {
		e, ok := toLookupEvent(recorded[i], c.account, c.region)
		if !ok || !matchesLookup(e, in) {
			continue
		}
		out = append(out, e)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"Events": out})
}

// toLookupEvent turns a recorded "AWS API Call via CloudTrail" event of account/region into a
// LookupEvents entry.
func toLookupEvent(raw json.RawMessage, account, region string) (ctEvent, bool) {
	var env struct {
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &env) != nil || env.DetailType != "AWS API Call via CloudTrail" {
		return ctEvent{}, false
	}
	var d struct {
		EventID           string                                      `json:"eventID"`
		EventName         string                                      `json:"eventName"`
		EventSource       string                                      `json:"eventSource"`
		EventTime         string                                      `json:"eventTime"`
		AWSRegion         string                                      `json:"awsRegion"`
		RecipientAccount  string                                      `json:"recipientAccountId"`
		UserIdentity      struct{ AccessKeyID, UserName, ARN string } `json:"userIdentity"`
		RequestParameters struct {
			ImageID string `json:"imageId"`
		} `json:"requestParameters"`
		ResponseElements *struct {
			ImageID      string `json:"imageId"`
			InstancesSet struct {
				Items []struct {
					InstanceID string `json:"instanceId"`
					ImageID    string `json:"imageId"`
				} `json:"items"`
			} `json:"instancesSet"`
		} `json:"responseElements"`
	}
	if json.Unmarshal(env.Detail, &d) != nil || d.RecipientAccount != account || d.AWSRegion != region {
		return ctEvent{}, false
	}
	e := ctEvent{EventID: d.EventID, EventName: d.EventName, ReadOnly: "false", AccessKeyID: d.UserIdentity.AccessKeyID,
		EventSource: d.EventSource, Username: d.UserIdentity.UserName, Resources: []ctResource{}, CloudTrailEvent: string(env.Detail)}
	if t, err := time.Parse(time.RFC3339, d.EventTime); err == nil {
		e.EventTime = float64(t.Unix())
	}
	if d.RequestParameters.ImageID != "" {
		e.Resources = append(e.Resources, ctResource{"AWS::EC2::Ami", d.RequestParameters.ImageID})
	}
	if re := d.ResponseElements; re != nil {
		if re.ImageID != "" {
			e.Resources = append(e.Resources, ctResource{"AWS::EC2::Ami", re.ImageID})
		}
		for _, it := range re.InstancesSet.Items {
			e.Resources = append(e.Resources, ctResource{"AWS::EC2::Instance", it.InstanceID})
			if it.ImageID != "" {
				e.Resources = append(e.Resources, ctResource{"AWS::EC2::Ami", it.ImageID})
			}
		}
	}
	return e, true
}

func matchesLookup(e ctEvent, in lookupEventsInput) bool {
	if len(in.LookupAttributes) == 0 {
		return true
	}
	a := in.LookupAttributes[0]
	switch a.AttributeKey {
	case "EventName":
		return e.EventName == a.AttributeValue
	case "EventId":
		return e.EventID == a.AttributeValue
	case "ResourceName":
		for _, r := range e.Resources {
			if r.ResourceName == a.AttributeValue {
				return true
			}
		}
	}
	return false
}
