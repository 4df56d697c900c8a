package trigger

import (
	"errors"
	"fmt"
	"strings"
)

// EventBridge detail-types and sources the remediator handles.
const (
	DetailTypeCloudTrailAPICall      = "AWS API Call via CloudTrail"
	DetailTypeCloudTrailServiceEvent = "AWS Service Event via CloudTrail"
	DetailTypeInstanceStateChange    = "EC2 Instance State-change Notification"
	DetailTypeAMIStateChange         = "EC2 AMI State Change"
	DetailTypeASGLaunchUnsuccessful  = "EC2 Instance Launch Unsuccessful"

	SourceEC2         = "aws.ec2"
	SourceAutoScaling = "aws.autoscaling"
)

// envelope is the generic EventBridge event; detail stays raw until a parser for its
// (source, detail-type) reads it.
type envelope struct {
	ID         string
	DetailType string
	Source     string
	Account    string
	Region     string
	Detail     object
}

// detailParser turns the detail of one kind of event into a Trigger. The envelope fields are
// already filled in.
type detailParser func(env envelope, tr Trigger) (Trigger, error)

type parserKey struct{ source, detailType string }

// anySource registers a parser for a detail-type whatever the source (CloudTrail events come
// with the source of the service that was called: aws.ec2, aws.kms, aws.iam, ...).
const anySource = "*"

// parsers is the registry. An event without a parser is ignored, never an error.
var parsers = map[parserKey]detailParser{
	{anySource, DetailTypeCloudTrailAPICall}:             parseCloudTrailDetail,
	{anySource, DetailTypeCloudTrailServiceEvent}:        parseCloudTrailDetail,
	{SourceEC2, DetailTypeInstanceStateChange}:           parseInstanceStateChange,
	{SourceEC2, DetailTypeAMIStateChange}:                parseAMIStateChange,
	{SourceAutoScaling, DetailTypeASGLaunchUnsuccessful}: parseASGLaunchUnsuccessful,
}

func lookupParser(source, detailType string) detailParser {
	if p, ok := parsers[parserKey{source, detailType}]; ok {
		return p
	}
	return parsers[parserKey{anySource, detailType}]
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
	p := lookupParser(env.Source, env.DetailType)
	if p == nil {
		// The detail of an event nobody parses is not read: EventBridge Scheduler, for one,
		// sends the string "{}" as the detail of its Scheduled Event.
		return ignore(tr, fmt.Sprintf("unhandled event: source %q, detail-type %q", env.Source, env.DetailType)), nil
	}
	if env.Detail, err = parseObject(o.raw("detail"), "detail"); err != nil {
		return Trigger{}, err
	}
	return p(env, tr)
}

// ignore marks tr as ignored with a reason.
func ignore(tr Trigger, reason string) Trigger {
	tr.Kind = Ignored
	tr.IgnoredReason = reason
	return tr
}

func parseCloudTrailDetail(env envelope, _ Trigger) (Trigger, error) {
	return decodeCloudTrail(env.Detail, env)
}

// parseInstanceStateChange: only terminated matters; the remediator then reads the state
// reason with DescribeInstances (the event does not carry it).
func parseInstanceStateChange(env envelope, tr Trigger) (Trigger, error) {
	state, err := env.Detail.str("state")
	if err != nil {
		return Trigger{}, err
	}
	id, err := env.Detail.str("instance-id")
	if err != nil {
		return Trigger{}, err
	}
	// An AWS documentation sample has " i-1234567890abcdef0": tolerate surrounding spaces.
	tr.InstanceID = strings.TrimSpace(id)
	if state != "terminated" {
		return ignore(tr, fmt.Sprintf("instance state %q: only terminated is handled", state)), nil
	}
	if tr.InstanceID == "" {
		return Trigger{}, errors.New("detail.instance-id: missing")
	}
	tr.Kind = InstanceTerminated
	return tr, nil
}

// parseAMIStateChange: available ends an asynchronous copy; failed and the rest are ignored
// (a failed copy leaves nothing to diagnose but is kept in ErrorMessage for the log).
func parseAMIStateChange(env envelope, tr Trigger) (Trigger, error) {
	state, err := env.Detail.str("State")
	if err != nil {
		return Trigger{}, err
	}
	id, err := env.Detail.str("ImageId")
	if err != nil {
		return Trigger{}, err
	}
	msg, err := env.Detail.str("ErrorMessage")
	if err != nil {
		return Trigger{}, err
	}
	tr.ImageID = strings.TrimSpace(id)
	tr.ErrorMessage = msg
	if state != "available" {
		return ignore(tr, fmt.Sprintf("AMI state %q: only available is handled", state)), nil
	}
	if tr.ImageID == "" {
		return Trigger{}, errors.New("detail.ImageId: missing")
	}
	tr.Kind = AMIAvailable
	return tr, nil
}

// asgKMSMarkers are the StatusMessage fragments (lower case) that point at KMS. Auto Scaling
// reports KMS-caused launch failures as "Client.InternalError: Client error on launch" or with
// the KMS error text itself.
var asgKMSMarkers = []string{"kms", "client.internalerror", "invalidkmskey"}

// parseASGLaunchUnsuccessful: a KMS-caused Auto Scaling launch failure. The launching principal
// is the group's service-linked role; the default one is assumed (a custom-suffix SLR is noted).
func parseASGLaunchUnsuccessful(env envelope, tr Trigger) (Trigger, error) {
	d := env.Detail
	var err error
	if tr.ASGName, err = d.str("AutoScalingGroupName"); err != nil {
		return Trigger{}, err
	}
	id, err := d.str("EC2InstanceId")
	if err != nil {
		return Trigger{}, err
	}
	tr.InstanceID = strings.TrimSpace(id)
	if tr.ErrorMessage, err = d.str("StatusMessage"); err != nil {
		return Trigger{}, err
	}
	if tr.ErrorCode, err = d.str("StatusCode"); err != nil {
		return Trigger{}, err
	}
	lower := strings.ToLower(tr.ErrorMessage)
	kms := false
	for _, m := range asgKMSMarkers {
		if strings.Contains(lower, m) {
			kms = true
			break
		}
	}
	if !kms {
		return ignore(tr, "Auto Scaling launch failure whose status message does not point at KMS"), nil
	}
	tr.Kind = ASGLaunchFailed
	if slr := AutoScalingSLRARN(regionPartition(env.Region), env.Account); slr != "" {
		tr.Principal = &Principal{
			ARN:       slr,
			Account:   env.Account,
			Type:      PrincipalServiceLinkedRole,
			Name:      AutoScalingSLRName,
			InvokedBy: AutoScalingService,
		}
		tr.Notes = append(tr.Notes, "principal assumed to be the default Auto Scaling service-linked role; "+
			"a group configured with a custom-suffix role needs that role instead")
	} else {
		tr.Notes = append(tr.Notes, fmt.Sprintf("principal not resolved: event account %q is not 12 digits", env.Account))
	}
	return tr, nil
}

// regionPartition returns the partition of a region name.
func regionPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
