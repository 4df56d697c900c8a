package trigger

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// InstanceTerminated: an instance terminated. Most KMS launch failures look like this: the
// launch succeeds and the instance dies with a KMS state reason, which only DescribeInstances
// tells (the event does not carry it).
const InstanceTerminated Kind = "instance-terminated"

// DetailTypeInstanceStateChange is the EventBridge detail-type of EC2 instance state changes.
const DetailTypeInstanceStateChange = "EC2 Instance State-change Notification"

func init() {
	register(&Descriptor{
		Kind: InstanceTerminated,
		Doc: "`DescribeInstances`: acts only on state reason `Client.InternalError` / `Client.InvalidKMSKey.InvalidState`; " +
			"checks every key the launch used (the instance's launch template, the default EBS key); finds who launched it with CloudTrail " +
			"`LookupEvents` (a user, a role, or the EC2 Fleet / Spot service-linked role) and checks that principal too",
		Sample:         "events/instance-terminated.json",
		Rule:           "InstanceTerminatedRule",
		EventBridge:    []EventBridgeMatch{{Source: SourceEC2, DetailType: DetailTypeInstanceStateChange, Field: "state", Value: "terminated"}},
		Decode:         decodeInstanceTerminated,
		LaunchFailed:   true,
		NamesPrincipal: true,
		Diagnose:       diagnoseInstanceTerminated,
		// The instance (its image and state reason), who launched it, then the image seen from the
		// member account (one AssumeRole), its snapshots as the owner, its key; the account's
		// default EBS key (the destination); the alert. The launcher's CloudTrail record is not
		// in the seeded world, so no identity policy is read.
		MinCalls: map[string]int{"EC2:DescribeInstances": 1, "CloudTrail:LookupEvents": 1, "STS:AssumeRole": 1, "EC2:DescribeImages": 1,
			"EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1, "EC2:GetEbsDefaultKmsKeyId": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

func decodeInstanceTerminated(ev Event, tr Trigger) (Trigger, error) {
	id, err := ev.obj.str("instance-id")
	if err != nil {
		return Trigger{}, err
	}
	// An AWS documentation sample has " i-1234567890abcdef0": tolerate surrounding spaces.
	if tr.InstanceID = strings.TrimSpace(id); tr.InstanceID == "" {
		return Trigger{}, errors.New("detail.instance-id: missing")
	}
	return tr, nil
}

// kmsStateReasons are the state reasons of a launch that failed on KMS: Client.InternalError
// ("a client error caused the instance to terminate during launch",
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html), and
// Client.InvalidKMSKey.InvalidState, which launches with a disabled key report.
var kmsStateReasons = map[string]bool{"Client.InternalError": true, "Client.InvalidKMSKey.InvalidState": true}

func diagnoseInstanceTerminated(ctx context.Context, d Diagnosis, t Trigger) error {
	inst, err := d.Instance(ctx, t.Account, t.Region, t.InstanceID)
	if err != nil {
		return err
	}
	if !kmsStateReasons[inst.StateReasonCode] {
		d.Ignore(fmt.Sprintf("instance %s terminated with state reason %q, not a KMS launch failure", t.InstanceID, inst.StateReasonCode))
		return nil
	}
	d.SetImage(inst.ImageID)
	if t.Principal == nil {
		p, err := d.Launcher(ctx, t.Account, t.Region, t.InstanceID)
		if err != nil {
			return err
		}
		if p != nil {
			d.SetPrincipal(p)
		}
	}
	// The instance's launch template (EC2 tags instances launched from one) gives the volumes'
	// mappings; the request's own are not known here.
	return d.CheckLaunch(ctx, LaunchCheck{Account: t.Account, Region: t.Region, ImageID: inst.ImageID, Template: inst.LaunchTemplate})
}
