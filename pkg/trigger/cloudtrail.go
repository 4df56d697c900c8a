package trigger

import (
	"errors"
	"fmt"
	"strings"
)

// CloudTrail eventSource of EC2.
const eventSourceEC2 = "ec2.amazonaws.com"

// record is a CloudTrail record with the members every parser needs already read.
type record struct {
	obj         object
	eventName   string
	eventSource string
	errorCode   string
	errorMsg    string
}

// recordParser classifies one EC2 CloudTrail record; tr already carries the common fields.
type recordParser func(r record, tr Trigger) (Trigger, error)

// ec2Parsers is the registry of EC2 API calls that can be triggers, keyed by eventName.
var ec2Parsers = map[string]recordParser{
	"CopyImage":            parseCopyImage,
	"ModifyImageAttribute": parseModifyImageAttribute,
	"RunInstances":         parseRunInstances,
}

// selfCaused are calls the remediator makes itself: reacting to them would loop.
var selfCaused = map[string]bool{
	"kms.amazonaws.com/PutKeyPolicy":        true,
	"kms.amazonaws.com/CreateGrant":         true,
	"iam.amazonaws.com/CreatePolicy":        true,
	"iam.amazonaws.com/CreatePolicyVersion": true,
	"iam.amazonaws.com/DeletePolicyVersion": true,
	"iam.amazonaws.com/AttachRolePolicy":    true,
	"iam.amazonaws.com/AttachUserPolicy":    true,
	"sts.amazonaws.com/AssumeRole":          true,
	"sns.amazonaws.com/Publish":             true,
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
	if tr.EventID == "" {
		if tr.EventID, err = o.str("eventID"); err != nil {
			return Trigger{}, err
		}
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

	call := r.eventSource + "/" + r.eventName
	if r.eventSource != eventSourceEC2 {
		if selfCaused[call] {
			return ignore(tr, fmt.Sprintf("%s: a call the remediator itself makes, never a trigger", call)), nil
		}
		return ignore(tr, fmt.Sprintf("CloudTrail %s is not a trigger", call)), nil
	}
	p, ok := ec2Parsers[r.eventName]
	if !ok {
		return ignore(tr, fmt.Sprintf("CloudTrail %s is not a trigger", call)), nil
	}
	return p(r, tr)
}

// isDryRun reports whether errorCode is a DryRun answer (with or without the "Client." prefix).
func isDryRun(code string) bool {
	return strings.TrimPrefix(code, "Client.") == "DryRunOperation"
}

// withPrincipal resolves userIdentity into tr.Principal. Wrong JSON types are errors; an
// identity that cannot safely be turned into an ARN becomes a note.
func withPrincipal(r record, tr Trigger) (Trigger, error) {
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

// parseCopyImage: CopyImage runs in the destination region (awsRegion); the new image appears
// in responseElements.imageId and becomes available later (see ami-available).
func parseCopyImage(r record, tr Trigger) (Trigger, error) {
	if isDryRun(r.errorCode) {
		return ignore(tr, "CopyImage dry run"), nil
	}
	rp, _, err := r.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	if rp.members != nil {
		if tr.SourceImageID, err = rp.str("sourceImageId"); err != nil {
			return Trigger{}, err
		}
		if tr.SourceRegion, err = rp.str("sourceRegion"); err != nil {
			return Trigger{}, err
		}
		if tr.KMSKeyID, err = rp.str("kmsKeyId"); err != nil {
			return Trigger{}, err
		}
	}
	re, _, err := r.obj.obj("responseElements")
	if err != nil {
		return Trigger{}, err
	}
	if re.members != nil {
		if tr.ImageID, err = re.str("imageId"); err != nil {
			return Trigger{}, err
		}
	}
	if r.errorCode != "" {
		tr.Kind = CopyImageFailed
	} else {
		tr.Kind = CopyImage
		if tr.ImageID == "" {
			tr.Notes = append(tr.Notes, "CopyImage without responseElements.imageId: the new image is unknown")
		}
	}
	if tr.SourceImageID == "" {
		tr.Notes = append(tr.Notes, "CopyImage without requestParameters.sourceImageId")
	}
	return withPrincipal(r, tr)
}

// parseModifyImageAttribute: a launchPermission add shares the image. Targets are kept raw;
// validating them is the remediator's job.
func parseModifyImageAttribute(r record, tr Trigger) (Trigger, error) {
	if r.errorCode != "" {
		return ignore(tr, fmt.Sprintf("ModifyImageAttribute failed (%s): nothing was shared", r.errorCode)), nil
	}
	rp, ok, err := r.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	if !ok {
		return ignore(tr, "ModifyImageAttribute without requestParameters"), nil
	}
	if tr.ImageID, err = rp.str("imageId"); err != nil {
		return Trigger{}, err
	}
	attr, err := rp.str("attributeType")
	if err != nil {
		return Trigger{}, err
	}
	if attr != "" && !strings.EqualFold(attr, "launchPermission") {
		return ignore(tr, fmt.Sprintf("ModifyImageAttribute of %s, not launchPermission", attr)), nil
	}
	lp, ok, err := rp.obj("launchPermission")
	if err != nil {
		return Trigger{}, err
	}
	if !ok {
		return ignore(tr, "ModifyImageAttribute without launchPermission"), nil
	}
	add, err := lp.itemSet("add")
	if err != nil {
		return Trigger{}, err
	}
	for _, it := range add {
		if err := addShareTarget(&tr, it); err != nil {
			return Trigger{}, err
		}
	}
	if len(tr.ShareUserIDs) == 0 && !tr.SharePublic && len(tr.ShareOrgARNs) == 0 && len(tr.ShareOUARNs) == 0 {
		if lp.has("remove") {
			return ignore(tr, "launchPermission.remove: access was taken away, nothing to prevent"), nil
		}
		return ignore(tr, "launchPermission.add names no account, organization, OU or group all"), nil
	}
	if tr.ImageID == "" {
		return Trigger{}, errors.New(join(rp.path, "imageId") + ": missing")
	}
	tr.Kind = ShareImage
	return tr, nil
}

// addShareTarget records one launchPermission item. userId may be a JSON number in forged
// input: its literal text is kept so that validation sees exactly what was sent.
func addShareTarget(tr *Trigger, it object) error {
	uid, err := it.text("userId")
	if err != nil {
		return err
	}
	group, err := it.str("group")
	if err != nil {
		return err
	}
	org, err := it.str("organizationArn")
	if err != nil {
		return err
	}
	ou, err := it.str("organizationalUnitArn")
	if err != nil {
		return err
	}
	if it.has("userId") && !isNull(it.raw("userId")) {
		tr.ShareUserIDs = append(tr.ShareUserIDs, uid)
	}
	switch {
	case group == "all":
		tr.SharePublic = true
	case group != "":
		tr.Notes = append(tr.Notes, fmt.Sprintf("launchPermission group %q is not a known group: ignored", group))
	}
	if org != "" {
		tr.ShareOrgARNs = append(tr.ShareOrgARNs, org)
	}
	if ou != "" {
		tr.ShareOUARNs = append(tr.ShareOUARNs, ou)
	}
	return nil
}

// parseRunInstances: only a failed call (other than a dry run) is a trigger. Most KMS launch
// failures do not show here at all: RunInstances succeeds and the instance terminates.
func parseRunInstances(r record, tr Trigger) (Trigger, error) {
	if r.errorCode == "" {
		return ignore(tr, "RunInstances succeeded (KMS launch failures surface as instance-terminated)"), nil
	}
	if isDryRun(r.errorCode) {
		return ignore(tr, "RunInstances dry run ("+r.errorCode+")"), nil
	}
	tr.Kind = LaunchFailed
	rp, _, err := r.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	var images []string
	if rp.members != nil {
		set, err := rp.itemSet("instancesSet")
		if err != nil {
			return Trigger{}, err
		}
		for _, it := range set {
			id, err := it.str("imageId")
			if err != nil {
				return Trigger{}, err
			}
			images = appendUnique(images, id)
		}
		id, err := rp.str("imageId")
		if err != nil {
			return Trigger{}, err
		}
		images = appendUnique(images, id)
		if lt, ok, err := rp.obj("launchTemplate"); err != nil {
			return Trigger{}, err
		} else if ok && len(images) == 0 {
			ltID, _ := lt.str("launchTemplateId")
			ltName, _ := lt.str("launchTemplateName")
			tr.Notes = append(tr.Notes, fmt.Sprintf("launched from launch template %s%s: image not in the event", ltID, ltName))
		}
	}
	re, _, err := r.obj.obj("responseElements")
	if err != nil {
		return Trigger{}, err
	}
	if re.members != nil {
		set, err := re.itemSet("instancesSet")
		if err != nil {
			return Trigger{}, err
		}
		for _, it := range set {
			id, err := it.str("imageId")
			if err != nil {
				return Trigger{}, err
			}
			images = appendUnique(images, id)
			if tr.InstanceID == "" {
				if tr.InstanceID, err = it.str("instanceId"); err != nil {
					return Trigger{}, err
				}
			}
		}
	}
	if len(images) > 0 {
		tr.ImageID = images[0]
	}
	if len(images) > 1 {
		tr.Notes = append(tr.Notes, "RunInstances names several images: "+strings.Join(images, ", ")+"; diagnosing the first")
	}
	return withPrincipal(r, tr)
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
