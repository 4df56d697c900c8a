package localaws

import (
	"encoding/xml"
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

// runInstances launches instances from a modeled image. Every encrypted snapshot's key (and any
// KmsKeyId in the request's block device mappings) must be usable by the launching account (see
// canUseKey); otherwise the launch "succeeds" and the instance is terminated with
// Client.InternalError, as on AWS.
func (fi *fillerImpl) runInstances(w http.ResponseWriter, r *http.Request, c *call) bool {
	imageID := c.params.Get("ImageId")
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
	var keys []string
	for _, d := range im.devices {
		if s := fi.snapshots[d.snapshotID]; s != nil && s.encrypted && !slices.Contains(keys, s.kmsKeyID) {
			keys = append(keys, s.kmsKeyID)
		}
	}
	rootDevice := im.rootDevice
	fi.mu.Unlock()

	for _, g := range indexedGroups(c.params, "BlockDeviceMapping") {
		if k := g["Ebs.KmsKeyId"]; k != "" {
			if g["Ebs.Encrypted"] != "true" {
				writeEC2Error(w, http.StatusBadRequest, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
				return true
			}
			keys = append(keys, fi.resolveKey(r.Context(), c.account, c.region, k))
		}
	}
	if dryRun(w, c) {
		return true
	}
	problem := ""
	for _, k := range keys {
		if ok, why := fi.canUseKey(r.Context(), k, c.account, c.principal, c.region); !ok {
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
	fi.recordCall(c, "RunInstances", map[string]any{
		"instancesSet": map[string]any{"items": []map[string]any{{"imageId": imageID, "minCount": 1, "maxCount": count}}},
		"instanceType": itype,
	}, map[string]any{"reservationId": resID, "ownerId": c.account, "instancesSet": map[string]any{"items": items}}, "", "")
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
func (fi *fillerImpl) describeInstances(w http.ResponseWriter, r *http.Request, c *call) bool {
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
func (fi *fillerImpl) terminateInstances(w http.ResponseWriter, c *call) bool {
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
	f.impl.mu.Lock()
	defer f.impl.mu.Unlock()
	in := f.impl.instances[instanceID]
	if in == nil {
		return InstanceInfo{}, false
	}
	return InstanceInfo{InstanceID: in.id, Account: in.account, Region: in.region, ImageID: in.imageID,
		State: in.state, StateReasonCode: in.reasonCode, StateReasonMessage: in.reasonMessage, KeyProblem: in.keyProblem}, true
}
