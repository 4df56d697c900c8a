package trigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Decode decodes the Lambda payload: an EventBridge event, an SQS event whose bodies are
// EventBridge events, a bare CloudTrail record, a CloudTrail log file {"Records": [...]} or a
// JSON array of CloudTrail records. Unusable input (not JSON, no detail, wrong types) returns an
// error naming what is wrong. A malformed record inside an SQS batch (or a log file) does not
// fail the batch: it becomes a Record with Err.
//
// Every record is one unit of work: one SQS message, one CloudTrail record of a list, or the
// whole event otherwise.
func Decode(raw []byte) (Invocation, error) {
	if !json.Valid(raw) {
		return Invocation{}, errors.New("decode event: not valid JSON")
	}
	switch t := jsonType(raw); t {
	case "array":
		recs, err := decodeRecordList(raw, "")
		if err != nil {
			return Invocation{}, fmt.Errorf("decode event: %w", err)
		}
		return Invocation{Records: recs}, nil
	case "object":
	default:
		return Invocation{}, fmt.Errorf("decode event: expected object or array, got %s", t)
	}

	top, err := parseObject(raw, "")
	if err != nil {
		return Invocation{}, fmt.Errorf("decode event: %w", err)
	}
	if top.has("Records") && !isEnvelope(top) && !isCloudTrailRecord(top) {
		return decodeRecords(top)
	}
	tr, err := decodeSingle(top)
	if err != nil {
		return Invocation{}, fmt.Errorf("decode event: %w", err)
	}
	return Invocation{Records: []Record{{Trigger: tr}}}, nil
}

// isEnvelope reports whether o looks like an EventBridge event.
func isEnvelope(o object) bool {
	return o.has("detail") || o.has("detail-type")
}

// isCloudTrailRecord reports whether o looks like a bare CloudTrail record.
func isCloudTrailRecord(o object) bool {
	return o.has("eventName") || o.has("eventSource")
}

// decodeSingle decodes one event: an EventBridge envelope or a bare CloudTrail record.
func decodeSingle(o object) (Trigger, error) {
	switch {
	case isEnvelope(o):
		return decodeEnvelope(o)
	case isCloudTrailRecord(o):
		return decodeCloudTrail(o, envelope{})
	default:
		return Trigger{}, errors.New("unrecognized input: expected an EventBridge event (detail-type, detail), " +
			"an SQS event, or a CloudTrail record (eventName, eventSource)")
	}
}

// decodeRecords handles {"Records": [...]}: an SQS event or a CloudTrail log file. SQS
// messages carry "body" and eventSource "aws:sqs"; CloudTrail records carry eventName.
func decodeRecords(top object) (Invocation, error) {
	raw := top.raw("Records")
	if t := jsonType(raw); t != "array" {
		return Invocation{}, fmt.Errorf("decode event: Records: expected array, got %s", t)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return Invocation{}, fmt.Errorf("decode event: Records: %w", err)
	}
	if !looksLikeSQS(elems) {
		recs, err := decodeRecordList(raw, "Records")
		if err != nil {
			return Invocation{}, fmt.Errorf("decode event: %w", err)
		}
		return Invocation{Records: recs}, nil
	}
	inv := Invocation{FromSQS: true, Records: make([]Record, 0, len(elems))}
	for i, e := range elems {
		inv.Records = append(inv.Records, decodeSQSMessage(e, i))
	}
	return inv, nil
}

// looksLikeSQS reports whether the first object element is an SQS message. Lambda never mixes
// sources in one event, so the first message decides; the others are checked one by one.
func looksLikeSQS(elems []json.RawMessage) bool {
	for _, e := range elems {
		o, err := parseObject(e, "")
		if err != nil {
			continue
		}
		src, _ := o.str("eventSource")
		return src == "aws:sqs" || o.has("body") || o.has("messageId")
	}
	return false
}

// decodeSQSMessage decodes one SQS message whose body is an EventBridge event (or a bare
// CloudTrail record). Every problem stays inside the Record: a retry can never fix it.
func decodeSQSMessage(raw json.RawMessage, i int) Record {
	path := "Records[" + strconv.Itoa(i) + "]"
	if t := jsonType(raw); t != "object" {
		return Record{Err: fmt.Errorf("decode SQS message: %s: expected object, got %s", path, t)}
	}
	msg, err := parseObject(raw, "")
	if err != nil {
		return Record{Err: fmt.Errorf("decode SQS message %s: %w", path, err)}
	}
	id, idErr := msg.str("messageId")
	rec := Record{MessageID: id, ReceiveCount: receiveCount(msg)}
	fail := func(err error) Record {
		label := id
		if label == "" {
			label = path
		}
		rec.Err = fmt.Errorf("decode SQS message %s: %w", label, err)
		return rec
	}
	if idErr != nil {
		return fail(idErr)
	}
	if !msg.has("body") {
		return fail(errors.New("body: missing"))
	}
	body, err := msg.str("body")
	if err != nil {
		return fail(err)
	}
	if !json.Valid([]byte(body)) {
		return fail(errors.New("body: not valid JSON"))
	}
	if t := jsonType(json.RawMessage(body)); t != "object" {
		return fail(fmt.Errorf("body: expected object, got %s", t))
	}
	ev, err := parseObject(json.RawMessage(body), "")
	if err != nil {
		return fail(fmt.Errorf("body: %w", err))
	}
	tr, err := decodeSingle(ev)
	if err != nil {
		return fail(fmt.Errorf("body: %w", err))
	}
	rec.Trigger = tr
	return rec
}

// receiveCount reads attributes.ApproximateReceiveCount of an SQS message: a decimal string
// (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html shows the event;
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
// defines the attribute: the number of times a message has been received without being
// deleted). Anything else is unknown (0): the count only decides whether a failure is told now
// or on a later delivery, never whether the record is processed.
func receiveCount(msg object) int {
	attrs, ok, err := msg.obj("attributes")
	if err != nil || !ok {
		return 0
	}
	v, err := attrs.text("ApproximateReceiveCount")
	if err != nil || v == "" || len(v) > 9 {
		return 0
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0
		}
		n = n*10 + int(v[i]-'0')
	}
	return n
}

// decodeRecordList decodes a JSON array of CloudTrail records (a list, or the Records of a log
// file). A record that is not usable gets its own Err; the others still count.
func decodeRecordList(raw json.RawMessage, name string) ([]Record, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(elems))
	for i, e := range elems {
		path := name + "[" + strconv.Itoa(i) + "]"
		if t := jsonType(e); t != "object" {
			recs = append(recs, Record{Err: fmt.Errorf("decode CloudTrail record %s: expected object, got %s", path, t)})
			continue
		}
		o, err := parseObject(e, "")
		if err != nil {
			recs = append(recs, Record{Err: fmt.Errorf("decode CloudTrail record %s: %w", path, err)})
			continue
		}
		var tr Trigger
		if isEnvelope(o) {
			tr, err = decodeEnvelope(o)
		} else {
			tr, err = decodeCloudTrail(o, envelope{})
		}
		if err != nil {
			recs = append(recs, Record{Err: fmt.Errorf("decode CloudTrail record %s: %w", path, err)})
			continue
		}
		recs = append(recs, Record{Trigger: tr})
	}
	return recs, nil
}
