package localaws

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Launch failure as EC2 reports it when it cannot use an encrypted snapshot's key: RunInstances
// succeeds, the instance goes to terminated with this state reason (EC2 User Guide,
// "Troubleshoot instance launch issues": "Instance terminates immediately").
const (
	LaunchFailureCode    = "Client.InternalError"
	LaunchFailureMessage = "Client.InternalError: Client error on launch"
)

// instance is a modeled EC2 instance launched from a modeled image.
type instance struct {
	id, reservationID   string
	account, region     string
	imageID             string
	instanceType        string
	state               string // running | terminated
	reasonCode          string
	reasonMessage       string
	keyProblem          string // why the launch failed (not visible through the API)
	launched            time.Time
	rootDevice          string
	amiLaunchIndex      int
	stateTransitionNote string
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// runInstances launches instances from a modeled image, named by ImageId or by the launch
// template the request names (see launchTemplate; the request's parameters override it). The
// launching account (and its principal, when known) must be able to use every key EC2 uses for
// the volumes (see canUseKey), as the EC2 User Guide's instance-launching scenarios ("Use
// encryption with EBS-backed AMIs") say EC2 picks them, volume by volume:
//   - the key of the snapshot the volume is restored from, when it is encrypted;
//   - the KmsKeyId of the volume's block device mapping (request, else template), which needs
//     Encrypted=true;
//   - else, for an encrypted snapshot the account does not own (a shared AMI), the account's
//     default EBS key (ebsdefault.go), whatever encryption by default says;
//   - else, for an unencrypted snapshot with Encrypted=true or EBS encryption by default on,
//     the default EBS key.
//
// An encrypted snapshot the account owns keeps its key. When a key cannot be used the launch
// "succeeds" and the instance is terminated with Client.InternalError, as on AWS.
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AMIEncryption.html#AMI-encryption-launch
func (fi *Filler) runInstances(w http.ResponseWriter, r *http.Request, c *call) bool {
	ctx := r.Context()
	imageID := c.params.Get("ImageId")
	var tmpl templateData
	fromTemplate := false
	if imageID == "" {
		td, ok, err := fi.launchTemplate(ctx, c)
		switch {
		case !ok:
			return false
		case err != nil:
			var me *motoError
			if errors.As(err, &me) && me.Code != "" {
				writeEC2Error(w, http.StatusBadRequest, me.Code, me.Message)
			} else {
				writeEC2Error(w, http.StatusBadRequest, "InvalidLaunchTemplateId.NotFound", err.Error())
			}
			return true
		}
		tmpl, fromTemplate, imageID = td, true, td.imageID
	}
	fi.mu.Lock()
	im := fi.images[imageID]
	if im == nil {
		fi.mu.Unlock()
		return false
	}
	if im.region != c.region || !im.visibleTo(c.account) {
		fi.mu.Unlock()
		writeEC2Error(w, http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '["+imageID+"]' does not exist")
		return true
	}
	if im.state != "available" {
		fi.mu.Unlock()
		writeEC2Error(w, http.StatusBadRequest, "InvalidAMIID.Unavailable", "Image "+imageID+" is not available (state "+im.state+")")
		return true
	}
	type volume struct {
		device    string
		encrypted bool
		key       string
	}
	var vols []volume
	for _, d := range im.devices {
		v := volume{device: d.name}
		if s := fi.snapshots[d.snapshotID]; s != nil {
			v.encrypted, v.key = s.encrypted, s.kmsKeyID
		}
		vols = append(vols, v)
	}
	owner, rootDevice := im.account, im.rootDevice
	fi.mu.Unlock()

	reqMappings := requestMappings(c.params)
	mappings := mergeMappings(tmpl.mappings, reqMappings)
	for _, m := range mappings {
		if m.kmsKeyID != "" && m.encrypted != "true" {
			writeEC2Error(w, http.StatusBadRequest, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
			return true
		}
	}
	if dryRun(w, c) {
		return true
	}
	var keys []string
	use := func(k string) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	byDefault, byDefaultRead := false, false
	for _, v := range vols {
		if v.encrypted {
			use(v.key)
		}
		m, _ := mappingFor(mappings, v.device)
		switch {
		case m.kmsKeyID != "":
			use(fi.resolveKey(ctx, c.account, c.region, m.kmsKeyID))
		case v.encrypted && owner != c.account:
			use(fi.defaultEBSKey(ctx, c.account, c.region))
		case v.encrypted:
		default:
			if !byDefaultRead && m.encrypted != "true" {
				byDefault, byDefaultRead = fi.ebsEncryptionByDefault(ctx, c.account, c.region), true
			}
			if m.encrypted == "true" || byDefault {
				use(fi.defaultEBSKey(ctx, c.account, c.region))
			}
		}
	}
	// Mappings for devices the image does not have are new empty volumes: encrypted with their
	// KmsKeyId, or the default key.
	for _, m := range mappings {
		if slices.ContainsFunc(vols, func(v volume) bool { return v.device == m.device }) {
			continue
		}
		switch {
		case m.kmsKeyID != "":
			use(fi.resolveKey(ctx, c.account, c.region, m.kmsKeyID))
		case m.encrypted == "true":
			use(fi.defaultEBSKey(ctx, c.account, c.region))
		}
	}
	problem := ""
	for _, k := range keys {
		if ok, why := fi.canUseKey(ctx, k, c.account, c.principal, c.region); !ok {
			problem = why
			break
		}
	}

	count := 1
	if n, err := strconv.Atoi(c.params.Get("MaxCount")); err == nil && n > 1 {
		count = min(n, 20)
	}
	itype := c.params.Get("InstanceType")
	if itype == "" {
		itype = "m1.small"
	}
	now := time.Now().UTC()
	resID := newID("r-")
	var launched []instanceXML
	var created []*instance
	fi.mu.Lock()
	for i := range count {
		in := &instance{id: newID("i-"), reservationID: resID, account: c.account, region: c.region,
			imageID: imageID, instanceType: itype, state: "running", launched: now, rootDevice: rootDevice,
			amiLaunchIndex: i}
		if problem != "" {
			in.state, in.reasonCode, in.reasonMessage, in.keyProblem = "terminated", LaunchFailureCode, LaunchFailureMessage, problem
			in.stateTransitionNote = "Server.InternalError"
		}
		fi.instances[in.id] = in
		fi.instOrder = append(fi.instOrder, in.id)
		created = append(created, in)
		x := in.toXML()
		x.InstanceState = stateXML{Code: 0, Name: "pending"} // RunInstances always answers pending
		x.StateReason = nil
		launched = append(launched, x)
	}
	fi.mu.Unlock()
	var items []map[string]any
	for _, in := range created {
		items = append(items, map[string]any{"instanceId": in.id, "imageId": imageID, "instanceType": itype,
			"currentState": map[string]any{"code": 0, "name": "pending"}, "amiLaunchIndex": in.amiLaunchIndex})
	}
	fi.recordCall(c, "RunInstances", runInstancesParams(c, imageID, fromTemplate, count, itype, reqMappings),
		map[string]any{"reservationId": resID, "ownerId": c.account, "instancesSet": map[string]any{"items": items}}, "", "")
	for _, in := range created {
		fi.recordInstanceState(in.account, in.region, in.id, in.state)
	}
	writeEC2(w, "RunInstances", "<reservationId>"+resID+"</reservationId><ownerId>"+c.account+
		"</ownerId><groupSet/><instancesSet>"+marshalItems(launched)+"</instancesSet>")
	return true
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type instanceXML struct {
	XMLName               xml.Name   `xml:"item"`
	InstanceID            string     `xml:"instanceId"`
	ImageID               string     `xml:"imageId"`
	InstanceState         stateXML   `xml:"instanceState"`
	PrivateDNSName        string     `xml:"privateDnsName"`
	DNSName               string     `xml:"dnsName"`
	Reason                string     `xml:"reason"`
	AmiLaunchIndex        int        `xml:"amiLaunchIndex"`
	InstanceType          string     `xml:"instanceType"`
	LaunchTime            string     `xml:"launchTime"`
	AvailabilityZone      string     `xml:"placement>availabilityZone"`
	Tenancy               string     `xml:"placement>tenancy"`
	Monitoring            string     `xml:"monitoring>state"`
	Architecture          string     `xml:"architecture"`
	RootDeviceType        string     `xml:"rootDeviceType"`
	RootDeviceName        string     `xml:"rootDeviceName"`
	VirtualizationType    string     `xml:"virtualizationType"`
	Hypervisor            string     `xml:"hypervisor"`
	StateReason           *reasonXML `xml:"stateReason,omitempty"`
	StateTransitionReason string     `xml:"stateTransitionReason,omitempty"`
}

func (in *instance) toXML() instanceXML {
	x := instanceXML{
		InstanceID: in.id, ImageID: in.imageID, InstanceState: stateXML{Code: stateCodes[in.state], Name: in.state},
		AmiLaunchIndex: in.amiLaunchIndex, InstanceType: in.instanceType, LaunchTime: awsTime(in.launched),
		AvailabilityZone: in.region + "a", Tenancy: "default", Monitoring: "disabled", Architecture: "x86_64",
		RootDeviceType: "ebs", RootDeviceName: in.rootDevice, VirtualizationType: "hvm", Hypervisor: "xen",
	}
	if in.reasonCode != "" {
		x.StateReason = &reasonXML{Code: in.reasonCode, Message: in.reasonMessage}
		x.StateTransitionReason = in.stateTransitionNote
	}
	return x
}

type reservationXML struct {
	XMLName       xml.Name      `xml:"item"`
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	GroupSet      string        `xml:"groupSet"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

// describeInstances answers for modeled instances, merged with moto's answer for the rest.
func (fi *Filler) describeInstances(w http.ResponseWriter, r *http.Request, c *call) bool {
	ids := indexed(c.params, "InstanceId")
	filters := parseFilters(c.params)
	fi.mu.Lock()
	var mine []*instance
	var others []string
	visible := func(in *instance) bool { return in.account == c.account && in.region == c.region }
	match := func(in *instance) bool {
		for _, f := range filters {
			var got string
			switch f.name {
			case "instance-id":
				got = in.id
			case "image-id":
				got = in.imageID
			case "instance-state-name":
				got = in.state
			case "reservation-id":
				got = in.reservationID
			case "state-reason-code":
				got = in.reasonCode
			default:
				return false
			}
			if !f.matchAny(got) {
				return false
			}
		}
		return true
	}
	if len(ids) > 0 {
		for _, id := range ids {
			in := fi.instances[id]
			switch {
			case in == nil:
				others = append(others, id)
			case !visible(in):
				fi.mu.Unlock()
				writeEC2Error(w, http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist")
				return true
			case match(in):
				mine = append(mine, in)
			}
		}
	} else {
		for _, id := range fi.instOrder {
			if in := fi.instances[id]; in != nil && visible(in) && match(in) {
				mine = append(mine, in)
			}
		}
	}
	var res []reservationXML
	for _, in := range mine {
		if n := len(res); n > 0 && res[n-1].ReservationID == in.reservationID {
			res[n-1].Instances = append(res[n-1].Instances, in.toXML())
			continue
		}
		res = append(res, reservationXML{ReservationID: in.reservationID, OwnerID: in.account, Instances: []instanceXML{in.toXML()}})
	}
	fi.mu.Unlock()

	return fi.answerDescribe(w, r, c, "DescribeInstances", "reservationSet", "InstanceId", ids, others, marshalItems(res), len(res))
}

type stateChangeXML struct {
	XMLName       xml.Name `xml:"item"`
	InstanceID    string   `xml:"instanceId"`
	CurrentState  stateXML `xml:"currentState"`
	PreviousState stateXML `xml:"previousState"`
}

// terminateInstances terminates modeled instances (only when every ID given is modeled).
func (fi *Filler) terminateInstances(w http.ResponseWriter, c *call) bool {
	ids := indexed(c.params, "InstanceId")
	var terminated []*instance
	defer func() {
		for _, in := range terminated {
			fi.recordInstanceState(in.account, in.region, in.id, "terminated") // after the unlock below
		}
	}()
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		if in := fi.instances[id]; in == nil || in.account != c.account || in.region != c.region {
			return false
		}
	}
	if dryRun(w, c) {
		return true
	}
	var items []stateChangeXML
	for _, id := range ids {
		in := fi.instances[id]
		prev := in.state
		if prev != "terminated" {
			terminated = append(terminated, in)
		}
		in.state = "terminated"
		if in.reasonCode == "" {
			in.reasonCode, in.reasonMessage = "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"
		}
		items = append(items, stateChangeXML{InstanceID: id, CurrentState: stateXML{Code: 48, Name: "terminated"},
			PreviousState: stateXML{Code: stateCodes[prev], Name: prev}})
	}
	writeEC2(w, "TerminateInstances", "<instancesSet>"+marshalItems(items)+"</instancesSet>")
	return true
}

// InstanceInfo is a modeled instance; KeyProblem says why a launch failed (AWS does not say).
type InstanceInfo struct {
	InstanceID, Account, Region, ImageID string
	State                                string
	StateReasonCode, StateReasonMessage  string
	KeyProblem                           string
}

// Instance returns a modeled instance by ID.
func (f *Filler) Instance(instanceID string) (InstanceInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.instances[instanceID]
	if in == nil {
		return InstanceInfo{}, false
	}
	return InstanceInfo{InstanceID: in.id, Account: in.account, Region: in.region, ImageID: in.imageID,
		State: in.state, StateReasonCode: in.reasonCode, StateReasonMessage: in.reasonMessage, KeyProblem: in.keyProblem}, true
}

// runInstancesParams is RunInstances' requestParameters as CloudTrail records them: the image
// only when the request named it, the launch template and the block device mappings as given.
func runInstancesParams(c *call, imageID string, fromTemplate bool, count int, itype string, mappings []blockMapping) map[string]any {
	item := map[string]any{"minCount": 1, "maxCount": count}
	if !fromTemplate {
		item["imageId"] = imageID
	}
	rp := map[string]any{"instancesSet": map[string]any{"items": []map[string]any{item}}, "instanceType": itype}
	if fromTemplate {
		lt := map[string]any{}
		if id := c.params.Get("LaunchTemplate.LaunchTemplateId"); id != "" {
			lt["launchTemplateId"] = id
		}
		if name := c.params.Get("LaunchTemplate.LaunchTemplateName"); name != "" {
			lt["launchTemplateName"] = name
		}
		if v := c.params.Get("LaunchTemplate.Version"); v != "" {
			lt["version"] = v
		}
		rp["launchTemplate"] = lt
	}
	if len(mappings) > 0 {
		var items []map[string]any
		for _, m := range mappings {
			ebs := map[string]any{}
			if m.encrypted != "" {
				ebs["encrypted"] = m.encrypted == "true"
			}
			if m.kmsKeyID != "" {
				ebs["kmsKeyId"] = m.kmsKeyID
			}
			items = append(items, map[string]any{"deviceName": m.device, "ebs": ebs})
		}
		rp["blockDeviceMapping"] = map[string]any{"items": items}
	}
	return rp
}
