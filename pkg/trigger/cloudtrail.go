package trigger

import (
	"errors"
	"fmt"
	"strings"
)

// CloudTrail eventSource of EC2.
const eventSourceEC2 = "ec2.amazonaws.com"

// record is a CloudTrail record with the members every kind's decoder needs already read.
type record struct {
	obj         object
	eventName   string
	eventSource string
	errorCode   string
	errorMsg    string
}

// selfCaused are calls the remediator makes itself: reacting to them would loop. (It makes
// PutKeyPolicy too, but so do people and IaC: key-policy-changed tells its own sessions apart.)
var selfCaused = map[string]bool{
	"kms.amazonaws.com/CreateGrant": true,
	"sts.amazonaws.com/AssumeRole":  true,
	"sns.amazonaws.com/Publish":     true,
}

// decodeCloudTrail classifies a CloudTrail record, bare or as the detail of env.
func decodeCloudTrail(o object, env envelope) (Trigger, error) {
	r := record{obj: o}
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"eventName", &r.eventName}, {"eventSource", &r.eventSource},
		{"errorCode", &r.errorCode}, {"errorMessage", &r.errorMsg},
	} {
		if *f.dst, err = o.str(f.key); err != nil {
			return Trigger{}, err
		}
	}
	if r.eventName == "" {
		return Trigger{}, errors.New(join(o.path, "eventName") + ": missing")
	}
	tr := Trigger{
		EventID:      env.ID,
		DetailType:   env.DetailType,
		Source:       env.Source,
		Account:      env.Account,
		Region:       env.Region,
		EventName:    r.eventName,
		ErrorCode:    r.errorCode,
		ErrorMessage: r.errorMsg,
	}
	if tr.CloudTrailEventID, err = o.str("eventID"); err != nil {
		return Trigger{}, err
	}
	if tr.EventID == "" {
		tr.EventID = tr.CloudTrailEventID
	}
	region, err := o.str("awsRegion")
	if err != nil {
		return Trigger{}, err
	}
	if region != "" {
		tr.Region = region
	}
	// The account the event came from: recipientAccountId, else the caller's account, else the
	// envelope's. The caller's account is read leniently here; resolving the principal reports
	// a malformed userIdentity for the kinds that need one.
	recipient, err := o.text("recipientAccountId")
	if err != nil {
		return Trigger{}, err
	}
	if recipient != "" && env.Account != "" && env.Account != recipient {
		tr.Notes = append(tr.Notes, fmt.Sprintf("envelope account %q differs from recipientAccountId %q", env.Account, recipient))
	}
	if recipient == "" {
		if ui, err := parseObject(o.raw("userIdentity"), ""); err == nil {
			recipient, _ = ui.text("accountId")
		}
	}
	if recipient != "" {
		tr.Account = recipient
	}

	d, reason := kinds.apiCallKind(r)
	if d == nil {
		return ignore(tr, reason), nil
	}
	tr.Kind = d.Kind
	return d.Decode(Event{obj: o, call: r}, tr)
}

// isDryRun reports whether errorCode is a DryRun answer (with or without the "Client." prefix).
func isDryRun(code string) bool {
	return strings.TrimPrefix(code, "Client.") == "DryRunOperation"
}

// withPrincipal resolves the record's userIdentity into tr.Principal. Wrong JSON types are
// errors; an identity that cannot safely be turned into an ARN becomes a note.
func withPrincipal(ev Event, tr Trigger) (Trigger, error) {
	r := ev.call
	p, err := ResolvePrincipal(r.obj.raw("userIdentity"))
	switch {
	case errors.Is(err, ErrUnresolvable):
		tr.Notes = append(tr.Notes, "principal not resolved: "+err.Error())
	case err != nil:
		if r.obj.path != "" {
			return Trigger{}, fmt.Errorf("%s.%w", r.obj.path, err)
		}
		return Trigger{}, err
	case p == nil:
		tr.Notes = append(tr.Notes, "principal not resolved: no userIdentity")
	case p.Type == PrincipalOther:
		tr.Principal = p
		tr.Notes = append(tr.Notes, "principal is not an IAM user or role: the IAM side is not checked")
	default:
		tr.Principal = p
	}
	return tr, nil
}

func appendUnique(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
