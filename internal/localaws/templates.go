package localaws

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Launch templates. moto keeps them (CreateLaunchTemplate, CreateLaunchTemplateVersion,
// DescribeLaunchTemplateVersions with $Default/$Latest) but ignores ResolveAlias, and its
// RunInstances never reaches the filler's modeled images when the image comes from a template.
// The filler:
//   - answers DescribeLaunchTemplateVersions with ResolveAlias=true with the AMI ID an image ID
//     "resolve:ssm:PARAMETER" stands for (EC2 API Reference, ResponseLaunchTemplateData.ImageId:
//     "If a Systems Manager parameter was specified in the request, and ResolveAlias was
//     configured as true, then this is the AMI ID that the parameter is mapped to in the
//     Parameter Store"), read from moto's SSM in the caller's account (PARAMETER may carry
//     ":VERSION" or ":LABEL", as GetParameter takes them). A parameter that does not exist
//     leaves the value as it is;
//   - resolves the launch template of a RunInstances without ImageId (LaunchTemplate.
//     LaunchTemplateId or LaunchTemplateName, Version default $Default) to its image and block
//     device mappings, the request's own parameters overriding the template's, as EC2 does
//     (EC2 User Guide, "Launch an instance from a launch template": "parameters you specify
//     override the parameters in the launch template"). Block device mappings are merged by
//     device name.
//
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/create-launch-template.html#use-an-ssm-parameter-instead-of-an-ami-id

// templateData is what a launch template version says about the volumes of a launch.
type templateData struct {
	id, name, version string
	imageID           string
	mappings          []blockMapping
}

// blockMapping is one block device mapping of a request or a template.
type blockMapping struct {
	device    string
	encrypted string // "true", "false" or "" (not given)
	kmsKeyID  string
}

type ltVersionsXML struct {
	Versions []struct {
		ID      string `xml:"launchTemplateId"`
		Name    string `xml:"launchTemplateName"`
		Version string `xml:"versionNumber"`
		Data    struct {
			ImageID  string `xml:"imageId"`
			Mappings []struct {
				Device    string `xml:"deviceName"`
				Encrypted string `xml:"ebs>encrypted"`
				KmsKeyID  string `xml:"ebs>kmsKeyId"`
			} `xml:"blockDeviceMappingSet>item"`
		} `xml:"launchTemplateData"`
	} `xml:"launchTemplateVersionSet>item"`
}

var ssmImageRE = regexp.MustCompile(`<imageId>resolve:ssm:([^<]+)</imageId>`)

// describeLaunchTemplateVersions resolves SSM image IDs when ResolveAlias is true; otherwise
// moto answers alone.
func (fi *Filler) describeLaunchTemplateVersions(w http.ResponseWriter, r *http.Request, c *call) bool {
	if c.params.Get("ResolveAlias") != "true" {
		return false
	}
	params := url.Values{}
	for k, v := range c.params {
		if k != "ResolveAlias" {
			params[k] = v
		}
	}
	status, raw, err := fi.ec2Raw(r.Context(), c.account, c.region, params)
	if err != nil {
		writeEC2Error(w, http.StatusInternalServerError, "InternalError", "filler: "+err.Error())
		return true
	}
	if status == http.StatusOK {
		raw = ssmImageRE.ReplaceAllFunc(raw, func(m []byte) []byte {
			name := string(ssmImageRE.FindSubmatch(m)[1])
			if v, err := fi.ssmParameter(r.Context(), c.account, c.region, name); err == nil {
				return []byte("<imageId>" + xmlText(v) + "</imageId>")
			}
			return m
		})
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
	return true
}

// ssmParameter is the value of an SSM parameter (name, or name:version / name:label) in moto.
func (fi *Filler) ssmParameter(ctx context.Context, account, region, name string) (string, error) {
	name, _ = xmlUnescape(name)
	var out struct {
		Parameter struct{ Value string } `json:"Parameter"`
	}
	if err := fi.jsonCall(ctx, "ssm", "AmazonSSM", account, region, "GetParameter", map[string]string{"Name": name}, &out); err != nil {
		return "", err
	}
	return out.Parameter.Value, nil
}

// PutParameter stores an SSM String parameter of data type aws:ec2:image (an AMI ID that launch
// templates may name as "resolve:ssm:NAME") in moto, as account in region.
func (f *Filler) PutParameter(ctx context.Context, account, region, name, value string) error {
	return f.jsonCall(ctx, "ssm", "AmazonSSM", account, region, "PutParameter",
		map[string]any{"Name": name, "Value": value, "Type": "String", "DataType": "aws:ec2:image", "Overwrite": true}, nil)
}

func xmlUnescape(s string) (string, error) {
	var v string
	err := xml.Unmarshal([]byte("<v>"+s+"</v>"), &v)
	return v, err
}

// launchTemplate reads the version of a launch template a RunInstances names (its
// LaunchTemplate.* parameters), with SSM image IDs resolved. ok is false when the request names
// no template.
func (fi *Filler) launchTemplate(ctx context.Context, c *call) (td templateData, ok bool, err error) {
	id, name := c.params.Get("LaunchTemplate.LaunchTemplateId"), c.params.Get("LaunchTemplate.LaunchTemplateName")
	if id == "" && name == "" {
		return templateData{}, false, nil
	}
	version := c.params.Get("LaunchTemplate.Version")
	if version == "" {
		version = "$Default"
	}
	params := url.Values{"Action": {"DescribeLaunchTemplateVersions"}, "Version": {"2016-11-15"}, "LaunchTemplateVersion.1": {version}}
	if id != "" {
		params.Set("LaunchTemplateId", id)
	} else {
		params.Set("LaunchTemplateName", name)
	}
	status, raw, err := fi.ec2Raw(ctx, c.account, c.region, params)
	if err != nil {
		return templateData{}, true, err
	}
	if status != http.StatusOK {
		return templateData{}, true, &motoError{Status: status, Code: xmlErrorCode(raw), Message: "launch template " + id + name + " version " + version}
	}
	var out ltVersionsXML
	if err := xml.Unmarshal(raw, &out); err != nil || len(out.Versions) == 0 {
		return templateData{}, true, fmt.Errorf("launch template %s%s version %s: no version in moto's answer", id, name, version)
	}
	v := out.Versions[0]
	td = templateData{id: v.ID, name: v.Name, version: v.Version, imageID: v.Data.ImageID}
	if ssm, ok := strings.CutPrefix(td.imageID, "resolve:ssm:"); ok {
		if value, err := fi.ssmParameter(ctx, c.account, c.region, ssm); err == nil {
			td.imageID = value
		}
	}
	for _, m := range v.Data.Mappings {
		td.mappings = append(td.mappings, blockMapping{device: m.Device, encrypted: m.Encrypted, kmsKeyID: m.KmsKeyID})
	}
	return td, true, nil
}

var xmlCodeRE = regexp.MustCompile(`<Code>([^<]*)</Code>`)

func xmlErrorCode(raw []byte) string {
	if m := xmlCodeRE.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}

// requestMappings are a RunInstances' own block device mappings.
func requestMappings(params url.Values) []blockMapping {
	var out []blockMapping
	for _, g := range indexedGroups(params, "BlockDeviceMapping") {
		out = append(out, blockMapping{device: g["DeviceName"], encrypted: g["Ebs.Encrypted"], kmsKeyID: g["Ebs.KmsKeyId"]})
	}
	return out
}

// mergeMappings lays the request's mappings over the template's, device by device and field by
// field.
func mergeMappings(template, request []blockMapping) []blockMapping {
	out := append([]blockMapping(nil), template...)
	for _, m := range request {
		i := -1
		for j := range out {
			if out[j].device == m.device {
				i = j
				break
			}
		}
		if i < 0 {
			out = append(out, m)
			continue
		}
		if m.encrypted != "" {
			out[i].encrypted = m.encrypted
		}
		if m.kmsKeyID != "" {
			out[i].kmsKeyID = m.kmsKeyID
		}
	}
	return out
}

// mappingFor is the mapping of device, if any.
func mappingFor(ms []blockMapping, device string) (blockMapping, bool) {
	for _, m := range ms {
		if m.device == device {
			return m, true
		}
	}
	return blockMapping{}, false
}
