package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// LaunchFailed: RunInstances failed (other than a dry run). Most KMS launch failures do not show
// here at all: RunInstances succeeds and the instance terminates (see InstanceTerminated).
const LaunchFailed Kind = "launch-failed"

func init() {
	register(&Descriptor{
		Kind: LaunchFailed,
		Doc: "checks every key the launch uses (the image's snapshots, the request's or launch template's `KmsKeyId`, the account's default EBS key) " +
			"for the account and the principal's IAM; without `imageId`, reads the launch template",
		Sample:         "events/launch-failed.json",
		Rule:           "LaunchFailedRule",
		APICalls:       []APICall{{EventSource: eventSourceEC2, EventName: "RunInstances", Failed: true}},
		Decode:         decodeLaunchFailed,
		LaunchFailed:   true,
		NamesPrincipal: true,
		Diagnose:       diagnoseLaunch,
		// The image seen from the launching member account (one AssumeRole), its snapshots as the
		// owner, its key; the launching role with no policies yet and the lookup of
		// IAM_POLICY_NAME; the launching account's default EBS key (the shared snapshot is
		// re-encrypted under it: the destination); the alert.
		MinCalls: map[string]int{"STS:AssumeRole": 1, "EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1,
			"EC2:GetEbsDefaultKmsKeyId": 1, "IAM:GetRole": 1, "IAM:ListRolePolicies": 1, "IAM:ListAttachedRolePolicies": 1, "KMS:ListGrants": 1, "CloudTrail:LookupEvents": 1, "KMS:ListResourceTags": 1, "CloudFormation:DescribeStackResources": 1, "SNS:Publish": 1},
	})
}

func decodeLaunchFailed(ev Event, tr Trigger) (Trigger, error) {
	if isDryRun(ev.call.errorCode) {
		return ignore(tr, "RunInstances dry run ("+ev.call.errorCode+")"), nil
	}
	rp, _, err := ev.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	var images []string
	if rp.members != nil {
		set, err := rp.itemSet("instancesSet")
		if err != nil {
			return Trigger{}, err
		}
		if images, err = appendImageIDs(images, set); err != nil {
			return Trigger{}, err
		}
		id, err := rp.str("imageId")
		if err != nil {
			return Trigger{}, err
		}
		images = appendUnique(images, id)
		if tr.LaunchTemplate, err = readLaunchTemplate(rp); err != nil {
			return Trigger{}, err
		}
		if tr.BlockDevices, err = readBlockDevices(rp); err != nil {
			return Trigger{}, err
		}
	}
	re, _, err := ev.obj.obj("responseElements")
	if err != nil {
		return Trigger{}, err
	}
	if re.members != nil {
		set, err := re.itemSet("instancesSet")
		if err != nil {
			return Trigger{}, err
		}
		if images, err = appendImageIDs(images, set); err != nil {
			return Trigger{}, err
		}
		for _, it := range set {
			if tr.InstanceID != "" {
				break
			}
			if tr.InstanceID, err = it.str("instanceId"); err != nil {
				return Trigger{}, err
			}
		}
	}
	if len(images) > 0 {
		tr.ImageID = images[0]
	}
	if len(images) > 1 {
		tr.Notes = append(tr.Notes, "RunInstances names several images: "+strings.Join(images, ", ")+"; diagnosing the first")
	}
	return withPrincipal(ev, tr)
}

// appendImageIDs adds the imageId of every instancesSet item to images, each once.
func appendImageIDs(images []string, set []object) ([]string, error) {
	for _, it := range set {
		id, err := it.str("imageId")
		if err != nil {
			return nil, err
		}
		images = appendUnique(images, id)
	}
	return images, nil
}

// readLaunchTemplate reads RunInstances' requestParameters.launchTemplate (nil when absent).
func readLaunchTemplate(rp object) (*LaunchTemplate, error) {
	lt, ok, err := rp.obj("launchTemplate")
	if err != nil || !ok {
		return nil, err
	}
	var t LaunchTemplate
	for _, f := range []struct {
		key string
		dst *string
	}{{"launchTemplateId", &t.ID}, {"launchTemplateName", &t.Name}, {"version", &t.Version}} {
		if *f.dst, err = lt.text(f.key); err != nil {
			return nil, err
		}
	}
	if t.ID == "" && t.Name == "" {
		return nil, errors.New(join(lt.path, "launchTemplateId") + ": missing (and no launchTemplateName)")
	}
	return &t, nil
}

// readBlockDevices reads RunInstances' requestParameters.blockDeviceMapping items: the EBS
// mappings with a device name.
func readBlockDevices(rp object) ([]BlockDevice, error) {
	items, err := rp.itemSet("blockDeviceMapping")
	if err != nil {
		return nil, err
	}
	var out []BlockDevice
	for _, it := range items {
		name, err := it.str("deviceName")
		if err != nil {
			return nil, err
		}
		ebs, ok, err := it.obj("ebs")
		if err != nil {
			return nil, err
		}
		if !ok || name == "" {
			continue
		}
		bd := BlockDevice{DeviceName: name}
		if bd.KMSKeyID, err = ebs.str("kmsKeyId"); err != nil {
			return nil, err
		}
		if raw := ebs.raw("encrypted"); !isNull(raw) {
			var v bool
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("%s: expected boolean, got %s", join(ebs.path, "encrypted"), jsonType(raw))
			}
			bd.Encrypted = &v
		}
		out = append(out, bd)
	}
	return out, nil
}

// diagnoseLaunch checks every key a launch uses for the launching account: the image the request
// names, else its launch template's.
func diagnoseLaunch(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.ImageID == "" && t.LaunchTemplate == nil {
		d.Ignore("the launch names no image and no launch template (a fleet request?): nothing to check")
		return nil
	}
	err := d.CheckLaunch(ctx, LaunchCheck{Account: t.Account, Region: t.Region, ImageID: t.ImageID, Template: t.LaunchTemplate, BlockDevices: t.BlockDevices})
	if errors.Is(err, ErrNoImage) {
		d.Ignore(err.Error() + ": nothing to check")
		return nil
	}
	return err
}
