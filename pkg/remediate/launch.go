package remediate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// A launch's keys, as EC2 uses them (trigger.LaunchCheck says which). The source keys (the
// image's snapshots) are checked, and fixed, as any image's; the destination keys, which EC2
// encrypts the new volumes with, are the caller's choice (anyone who may write a launch template
// may name any key), so, as for CopyImage's kmsKeyId, they are reported with the exact fix and
// their policies are never changed.

// launchReads are the invocation's reads about launches.
type launchReads struct {
	templates  map[string]*cached[templateVersion]           // account/region/template/version
	groups     map[string]*cached[groupRead]                 // account/region/group
	defaultKey map[string]*cached[string]                    // account/region
	byDefault  map[string]*cached[bool]                      // account/region
	grants     map[string]*cached[[]kmstypes.GrantListEntry] // key ARN
}

func newLaunchReads() launchReads {
	return launchReads{templates: map[string]*cached[templateVersion]{}, groups: map[string]*cached[groupRead]{},
		defaultKey: map[string]*cached[string]{}, byDefault: map[string]*cached[bool]{}, grants: map[string]*cached[[]kmstypes.GrantListEntry]{}}
}

// templateVersion is what a launch template version says of a launch's volumes.
type templateVersion struct {
	ID, Name, Version string // the version's number, as EC2 numbers it
	ImageID           string // the AMI ID (an SSM parameter resolved: today's value)
	SSMParameter      string // "resolve:ssm:NAME" when the template names its image so
	Mappings          []trigger.BlockDevice
}

// label is "lt-ID:VERSION", the finding's launch_template.
func (t templateVersion) label() string {
	name := t.ID
	if name == "" {
		name = t.Name
	}
	return name + ":" + t.Version
}

// template reads a launch template version in the launching account. An image ID
// "resolve:ssm:NAME" is read again with ResolveAlias, which answers the AMI ID the parameter maps
// to now (EC2 API Reference, DescribeLaunchTemplateVersions ResolveAlias; the member role may
// read the parameter for it). A template that does not exist names no image.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html
func (inv *inventory) template(ctx context.Context, account, region string, lt trigger.LaunchTemplate) (templateVersion, error) {
	version := lt.Version
	if version == "" {
		version = "$Default"
	}
	return load(inv, inv.launch.templates, account+"/"+region+"/"+lt.ID+"/"+lt.Name+"/"+version, func() (templateVersion, error) {
		cl, err := inv.clients.EC2(ctx, account, region)
		if err != nil {
			return templateVersion{}, err
		}
		describe := func(resolve bool) (ec2types.LaunchTemplateVersion, error) {
			in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{version}}
			if lt.ID != "" {
				in.LaunchTemplateId = aws.String(lt.ID)
			} else {
				in.LaunchTemplateName = aws.String(lt.Name)
			}
			if resolve {
				in.ResolveAlias = aws.Bool(true)
			}
			out, err := cl.DescribeLaunchTemplateVersions(ctx, in)
			switch {
			case err != nil && !awsapi.Transient(err):
				return ec2types.LaunchTemplateVersion{}, fmt.Errorf("launch template %s in %s/%s: %v: %w", lt, account, region, err, trigger.ErrNoImage)
			case err != nil:
				return ec2types.LaunchTemplateVersion{}, fmt.Errorf("describe launch template %s in %s/%s: %w", lt, account, region, err)
			case len(out.LaunchTemplateVersions) == 0 || out.LaunchTemplateVersions[0].LaunchTemplateData == nil:
				return ec2types.LaunchTemplateVersion{}, fmt.Errorf("launch template %s in %s/%s has no such version: %w", lt, account, region, trigger.ErrNoImage)
			}
			return out.LaunchTemplateVersions[0], nil
		}
		v, err := describe(false)
		if err != nil {
			return templateVersion{}, err
		}
		tv := templateVersion{ID: aws.ToString(v.LaunchTemplateId), Name: aws.ToString(v.LaunchTemplateName), ImageID: aws.ToString(v.LaunchTemplateData.ImageId)}
		if tv.ID == "" {
			tv.ID = lt.ID
		}
		if v.VersionNumber != nil {
			tv.Version = strconv.FormatInt(aws.ToInt64(v.VersionNumber), 10)
		} else {
			tv.Version = version
		}
		for _, m := range v.LaunchTemplateData.BlockDeviceMappings {
			if m.Ebs == nil || aws.ToString(m.DeviceName) == "" {
				continue
			}
			tv.Mappings = append(tv.Mappings, trigger.BlockDevice{DeviceName: aws.ToString(m.DeviceName), Encrypted: m.Ebs.Encrypted, KMSKeyID: aws.ToString(m.Ebs.KmsKeyId)})
		}
		if strings.HasPrefix(tv.ImageID, "resolve:ssm:") {
			tv.SSMParameter = tv.ImageID
			resolved, err := describe(true)
			if err != nil {
				return templateVersion{}, err
			}
			tv.ImageID = aws.ToString(resolved.LaunchTemplateData.ImageId)
			if strings.HasPrefix(tv.ImageID, "resolve:ssm:") {
				tv.ImageID = "" // not resolved: no image can be known
			}
		}
		return tv, nil
	})
}

// checkLaunch checks every key of one launch for its account (trigger.LaunchCheck).
func (r *run) checkLaunch(ctx context.Context, it *item, l trigger.LaunchCheck) error {
	imageID := l.ImageID
	var tv templateVersion
	if l.Template != nil {
		var err error
		if tv, err = r.inv.template(ctx, l.Account, l.Region, *l.Template); err != nil {
			return err
		}
		if imageID == "" {
			imageID = tv.ImageID
			if tv.SSMParameter != "" && imageID != "" {
				it.addNote(fmt.Sprintf("launch template %s names its image as %s: %s is the parameter's value today, which may differ from the one at launch",
					tv.label(), clip(tv.SSMParameter, 256), imageID))
			}
		}
		if imageID == "" {
			what := "no image"
			if tv.SSMParameter != "" {
				what = "the SSM parameter " + clip(tv.SSMParameter, 256) + ", which could not be resolved"
			}
			return fmt.Errorf("launch template %s names %s: %w", tv.label(), what, trigger.ErrNoImage)
		}
	}
	if imageID == "" {
		return trigger.ErrNoImage
	}
	if it.rec.ImageID == "" {
		it.rec.ImageID = imageID
	}
	prev := it.tag
	defer func() { it.tag = prev }()
	if l.Template != nil {
		it.tag.template = tv.label()
	}
	if err := r.diagnoseImage(ctx, it, trigger.ImageCheck{Viewer: l.Account, Region: l.Region, ImageID: imageID, Targets: []string{l.Account}}); err != nil {
		return err
	}
	img, err := r.inv.image(ctx, l.Account, l.Region, imageID)
	if err != nil {
		return err
	}
	it.tag.role = report.KeyRoleDestination
	return r.checkDestinations(ctx, it, l.Account, l.Region, img, mergeDevices(tv.Mappings, l.BlockDevices))
}

// mergeDevices lays a request's block device mappings over a template's, device by device and
// field by field, as EC2 does.
func mergeDevices(template, request []trigger.BlockDevice) []trigger.BlockDevice {
	out := append([]trigger.BlockDevice(nil), template...)
	for _, m := range request {
		i := deviceIndex(out, m.DeviceName)
		if i < 0 {
			out = append(out, m)
			continue
		}
		if m.Encrypted != nil {
			out[i].Encrypted = m.Encrypted
		}
		if m.KMSKeyID != "" {
			out[i].KMSKeyID = m.KMSKeyID
		}
	}
	return out
}

func deviceIndex(ms []trigger.BlockDevice, device string) int {
	for i, m := range ms {
		if m.DeviceName == device {
			return i
		}
	}
	return -1
}

// destination is a key EC2 encrypts a launch's volume with, and why.
type destination struct{ ref, why string }

// checkDestinations finds the destination keys of a launch of img by account (see
// trigger.LaunchCheck for EC2's rules) and reports what each is missing.
func (r *run) checkDestinations(ctx context.Context, it *item, account, region string, img *image, mappings []trigger.BlockDevice) error {
	var dests []destination
	add := func(ref, why string) {
		for _, d := range dests {
			if d.ref == ref {
				return
			}
		}
		dests = append(dests, destination{ref, why})
	}
	var defaultKey string
	defaultRead := false
	useDefault := func(why string) error {
		if !defaultRead {
			defaultRead = true
			k, err := r.inv.defaultKey(ctx, account, region)
			switch {
			case err != nil && awsapi.Transient(err):
				return err
			case err != nil:
				it.addNote(fmt.Sprintf("the default EBS key of account %s in %s could not be read (the member role needs ec2:GetEbsDefaultKmsKeyId): %s", account, region, clip(err.Error(), 200)))
			}
			defaultKey = k
		}
		if defaultKey != "" {
			add(defaultKey, "the default EBS key of account "+account+" in "+region+", which "+why)
		}
		return nil
	}
	byDefault, byDefaultRead := false, false
	encryptsByDefault := func() (bool, error) {
		if !byDefaultRead {
			byDefaultRead = true
			on, err := r.inv.encryptionByDefault(ctx, account, region)
			switch {
			case err != nil && awsapi.Transient(err):
				return false, err
			case err != nil:
				it.addNote(fmt.Sprintf("whether account %s encrypts EBS volumes by default in %s could not be read (the member role needs ec2:GetEbsEncryptionByDefault): %s", account, region, clip(err.Error(), 200)))
			}
			byDefault = on
		}
		return byDefault, nil
	}
	for _, s := range img.Snapshots {
		i := deviceIndex(mappings, s.Device)
		var m trigger.BlockDevice
		if i >= 0 {
			m = mappings[i]
		}
		var err error
		switch {
		case m.KMSKeyID != "":
			add(m.KMSKeyID, fmt.Sprintf("the launch names for %s (KmsKeyId)", s.Device))
		case s.Encrypted && img.Owner != account:
			err = useDefault(fmt.Sprintf("EC2 re-encrypts %s with: the image belongs to account %s", s.Device, img.Owner))
		case s.Encrypted:
		case m.Encrypted != nil && *m.Encrypted:
			err = useDefault(fmt.Sprintf("EC2 encrypts %s with (Encrypted without KmsKeyId)", s.Device))
		default:
			var on bool
			if on, err = encryptsByDefault(); err == nil && on {
				err = useDefault(fmt.Sprintf("EC2 encrypts %s with (encryption by default)", s.Device))
			}
		}
		if err != nil {
			return err
		}
	}
	for _, m := range mappings {
		if imageHasDevice(img, m.DeviceName) {
			continue
		}
		switch {
		case m.KMSKeyID != "":
			add(m.KMSKeyID, fmt.Sprintf("the launch names for its new volume %s (KmsKeyId)", m.DeviceName))
		case m.Encrypted != nil && *m.Encrypted:
			if err := useDefault(fmt.Sprintf("EC2 encrypts the new volume %s with", m.DeviceName)); err != nil {
				return err
			}
		}
	}
	for _, d := range dests {
		if err := r.checkDestinationKey(ctx, it, d, account, region); err != nil {
			return err
		}
	}
	return nil
}

func imageHasDevice(img *image, device string) bool {
	for _, s := range img.Snapshots {
		if s.Device == device {
			return true
		}
	}
	return false
}

// isAWSManagedEBS reports whether ref names the alias aws/ebs of account (or of the account
// using it, for a bare alias): the AWS managed key, which its own account may always use from
// EC2 ("does not need additional authorization", EC2 Auto Scaling User Guide).
func isAWSManagedEBS(ref, account string) bool {
	if ref == "alias/aws/ebs" {
		return true
	}
	if a, ok := awsid.ParseARN(ref); ok {
		return a.Resource == "alias/aws/ebs" && a.Account == account
	}
	return false
}

// checkDestinationKey reports what a destination key is missing for the launching account: never
// fixed. A key of the launching account itself is read through its member role like any member
// key: its state is reported (its key policy and that account's IAM decide the rest); no KMS call
// is made for the AWS managed aws/ebs.
func (r *run) checkDestinationKey(ctx context.Context, it *item, d destination, account, region string) error {
	if isAWSManagedEBS(d.ref, account) {
		return nil
	}
	k, err := r.inv.key(ctx, d.ref, account, region)
	if err != nil {
		return err
	}
	r.reportKey(ctx, it, k, []string{account}, fmt.Sprintf("key %s is the destination key of the launch: %s; a launch can name any key, so it is never changed automatically", k.ARN, d.why))
	return nil
}

// defaultKey is the account's default EBS key in region (GetEbsDefaultKmsKeyId), read through the
// member role once per invocation. EC2 uses it whatever GetEbsEncryptionByDefault says, for
// every volume it encrypts without a KmsKeyId.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html
func (inv *inventory) defaultKey(ctx context.Context, account, region string) (string, error) {
	return load(inv, inv.launch.defaultKey, account+"/"+region, func() (string, error) {
		cl, err := inv.clients.EC2(ctx, account, region)
		if err != nil {
			return "", err
		}
		out, err := cl.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
		if err != nil {
			return "", fmt.Errorf("get default EBS key of %s in %s: %w", account, region, err)
		}
		return aws.ToString(out.KmsKeyId), nil
	})
}

// encryptionByDefault is GetEbsEncryptionByDefault of account in region, once per invocation.
func (inv *inventory) encryptionByDefault(ctx context.Context, account, region string) (bool, error) {
	return load(inv, inv.launch.byDefault, account+"/"+region, func() (bool, error) {
		cl, err := inv.clients.EC2(ctx, account, region)
		if err != nil {
			return false, err
		}
		out, err := cl.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
		if err != nil {
			return false, fmt.Errorf("get EBS encryption by default of %s in %s: %w", account, region, err)
		}
		return aws.ToBool(out.EbsEncryptionByDefault), nil
	})
}
