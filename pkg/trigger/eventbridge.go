package trigger

import (
	"errors"
	"fmt"
)

// The EventBridge detail-types that carry CloudTrail records, and EC2's source. Each kind
// declares the other detail-types and sources it matches in its own file.
const (
	DetailTypeCloudTrailAPICall      = "AWS API Call via CloudTrail"
	DetailTypeCloudTrailServiceEvent = "AWS Service Event via CloudTrail"

	SourceEC2 = "aws.ec2"
)

// envelope is the generic EventBridge event; detail stays raw until the kind its
// (source, detail-type) belongs to reads it.
type envelope struct {
	ID         string
	DetailType string
	Source     string
	Account    string
	Region     string
	Detail     object
}

// isCloudTrailDetailType reports whether events of this detail-type carry a CloudTrail record
// as their detail. Their source is the service that was called (aws.ec2, aws.kms, ...): the
// record's eventSource and eventName pick the kind.
func isCloudTrailDetailType(dt string) bool {
	return dt == DetailTypeCloudTrailAPICall || dt == DetailTypeCloudTrailServiceEvent
}

// decodeEnvelope decodes an EventBridge event.
func decodeEnvelope(o object) (Trigger, error) {
	var env envelope
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"id", &env.ID}, {"detail-type", &env.DetailType}, {"source", &env.Source},
		{"account", &env.Account}, {"region", &env.Region},
	} {
		if *f.dst, err = o.str(f.key); err != nil {
			return Trigger{}, err
		}
	}
	if !o.has("detail") {
		return Trigger{}, errors.New("detail: missing")
	}
	tr := Trigger{
		EventID:    env.ID,
		DetailType: env.DetailType,
		Source:     env.Source,
		Account:    env.Account,
		Region:     env.Region,
	}
	route := kinds.ebRoutes[ebKey{env.Source, env.DetailType}]
	if route == nil && !isCloudTrailDetailType(env.DetailType) {
		// The detail of an event nobody parses is not read: EventBridge Scheduler, for one,
		// sends the string "{}" as the detail of its Scheduled Event.
		return ignore(tr, fmt.Sprintf("unhandled event: source %q, detail-type %q", env.Source, env.DetailType)), nil
	}
	if env.Detail, err = parseObject(o.raw("detail"), "detail"); err != nil {
		return Trigger{}, err
	}
	if route == nil {
		return decodeCloudTrail(env.Detail, env)
	}
	d, reason, err := route.pick(env, env.Detail)
	if err != nil {
		return Trigger{}, err
	}
	if d == nil {
		return ignore(tr, reason), nil
	}
	tr.Kind = d.Kind
	return d.Decode(Event{obj: env.Detail}, tr)
}

// ignore marks tr as ignored with a reason.
func ignore(tr Trigger, reason string) Trigger {
	tr.Kind = Ignored
	tr.IgnoredReason = reason
	return tr
}
