package localaws

import (
	"encoding/xml"
	"net/http"
	"slices"
)

// ownedImage returns the modeled image the caller may change, or writes EC2's error: not visible
// -> InvalidAMIID.NotFound, visible but not owned -> AuthFailure. The caller holds fi.mu.
func (fi *Filler) ownedImage(w http.ResponseWriter, c *call, im *image) bool {
	if im.region != c.region || !im.visibleTo(c.account) {
		writeEC2Error(w, http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '["+im.id+"]' does not exist")
		return false
	}
	if im.account != c.account {
		writeEC2Error(w, http.StatusUnauthorized, "AuthFailure", "Not authorized for image:"+im.id)
		return false
	}
	return true
}

type launchPermXML struct {
	XMLName               xml.Name `xml:"item"`
	UserID                string   `xml:"userId,omitempty"`
	Group                 string   `xml:"group,omitempty"`
	OrganizationArn       string   `xml:"organizationArn,omitempty"`
	OrganizationalUnitArn string   `xml:"organizationalUnitArn,omitempty"`
}

func (fi *Filler) describeImageAttribute(w http.ResponseWriter, c *call) bool {
	id := c.params.Get("ImageId")
	fi.mu.Lock()
	defer fi.mu.Unlock()
	im := fi.images[id]
	if im == nil {
		return false
	}
	if !fi.ownedImage(w, c, im) || dryRun(w, c) {
		return true
	}
	inner := "<imageId>" + im.id + "</imageId>"
	switch c.params.Get("Attribute") {
	case "launchPermission":
		var items []launchPermXML
		for _, u := range im.users {
			items = append(items, launchPermXML{UserID: u})
		}
		if im.public {
			items = append(items, launchPermXML{Group: "all"})
		}
		for _, o := range im.orgs {
			items = append(items, launchPermXML{OrganizationArn: o})
		}
		for _, o := range im.ous {
			items = append(items, launchPermXML{OrganizationalUnitArn: o})
		}
		inner += "<launchPermission>" + marshalItems(items) + "</launchPermission>"
	case "description":
		inner += "<description><value>" + xmlText(im.description) + "</value></description>"
	case "blockDeviceMapping":
		inner += "<blockDeviceMapping>" + marshalItems(im.toXML().BlockDeviceMapping) + "</blockDeviceMapping>"
	default:
		writeEC2Error(w, http.StatusBadRequest, "InvalidParameterValue", "Value ("+c.params.Get("Attribute")+") for parameter attribute is invalid. The local filler models launchPermission, description and blockDeviceMapping")
		return true
	}
	writeEC2(w, "DescribeImageAttribute", inner)
	return true
}

// permChange is one launch (or create-volume) permission item to add or remove.
type permChange struct {
	add                           bool
	userID, group, org, orgUnitID string
}

// launchPermChanges reads both request forms: LaunchPermission.Add.N.* / .Remove.N.* and the
// older Attribute=launchPermission&OperationType=add|remove&UserId.N&UserGroup.N.
func launchPermChanges(c *call, structured, attribute string) []permChange {
	var out []permChange
	for _, op := range []struct {
		name string
		add  bool
	}{{"Add", true}, {"Remove", false}} {
		for _, g := range indexedGroups(c.params, structured+"."+op.name) {
			out = append(out, permChange{add: op.add, userID: g["UserId"], group: g["Group"],
				org: g["OrganizationArn"], orgUnitID: g["OrganizationalUnitArn"]})
		}
	}
	if c.params.Get("Attribute") == attribute {
		add := c.params.Get("OperationType") != "remove"
		for _, u := range indexed(c.params, "UserId") {
			out = append(out, permChange{add: add, userID: u})
		}
		for _, g := range indexed(c.params, "UserGroup") {
			out = append(out, permChange{add: add, group: g})
		}
		for _, o := range indexed(c.params, "OrganizationArn") {
			out = append(out, permChange{add: add, org: o})
		}
		for _, o := range indexed(c.params, "OrganizationalUnitArn") {
			out = append(out, permChange{add: add, orgUnitID: o})
		}
	}
	return out
}

// validPermChange applies AWS's checks on launch permission items.
func validPermChange(p permChange) (string, bool) {
	switch {
	case p.userID != "" && !isAccountID(p.userID):
		return "Invalid id: \"" + p.userID + "\" (expecting \"12-digit AWS account ID\")", false
	case p.group != "" && p.group != "all":
		return "Invalid group: \"" + p.group + "\"", false
	case p.userID == "" && p.group == "" && p.org == "" && p.orgUnitID == "":
		return "No launch permission item given", false
	}
	return "", true
}

func editList(list []string, v string, add bool) []string {
	if v == "" {
		return list
	}
	if add {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
		return list
	}
	return slices.DeleteFunc(list, func(s string) bool { return s == v })
}

func (fi *Filler) modifyImageAttribute(w http.ResponseWriter, c *call) bool {
	id := c.params.Get("ImageId")
	var record func()
	defer func() {
		if record != nil {
			record() // after the unlock below
		}
	}()
	fi.mu.Lock()
	defer fi.mu.Unlock()
	im := fi.images[id]
	if im == nil {
		return false
	}
	if !fi.ownedImage(w, c, im) || dryRun(w, c) {
		return true
	}
	changes := launchPermChanges(c, "LaunchPermission", "launchPermission")
	for _, p := range changes {
		if msg, ok := validPermChange(p); !ok {
			writeEC2Error(w, http.StatusBadRequest, "InvalidAMIAttributeItemValue", msg)
			return true
		}
	}
	for _, p := range changes {
		im.users = editList(im.users, p.userID, p.add)
		im.orgs = editList(im.orgs, p.org, p.add)
		im.ous = editList(im.ous, p.orgUnitID, p.add)
		if p.group == "all" {
			im.public = p.add
		}
	}
	if v, ok := c.params["Description.Value"]; ok && len(v) > 0 {
		im.description = v[0]
	} else if c.params.Get("Attribute") == "description" {
		im.description = c.params.Get("Value")
	}
	if len(changes) > 0 {
		record = func() {
			fi.recordCall(c, "ModifyImageAttribute", map[string]any{
				"imageId": id, "launchPermission": launchPermissionParams(changes), "attributeType": "launchPermission",
			}, map[string]any{"_return": true}, "", "")
		}
	}
	writeEC2(w, "ModifyImageAttribute", "<return>true</return>")
	return true
}

func (fi *Filler) deregisterImage(w http.ResponseWriter, c *call) bool {
	id := c.params.Get("ImageId")
	fi.mu.Lock()
	defer fi.mu.Unlock()
	im := fi.images[id]
	if im == nil {
		return false
	}
	if !fi.ownedImage(w, c, im) || dryRun(w, c) {
		return true
	}
	delete(fi.images, id)
	fi.order = slices.DeleteFunc(fi.order, func(s string) bool { return s == id })
	writeEC2(w, "DeregisterImage", "<return>true</return>")
	return true
}

// modifySnapshotAttribute models createVolumePermission on modeled snapshots, with AWS's
// refusals: snapshots encrypted with an AWS managed key cannot be shared, encrypted snapshots
// cannot be made public.
func (fi *Filler) modifySnapshotAttribute(w http.ResponseWriter, r *http.Request, c *call) bool {
	id := c.params.Get("SnapshotId")
	fi.mu.Lock()
	s := fi.snapshots[id]
	if s == nil {
		fi.mu.Unlock()
		return false
	}
	if s.region != c.region || !s.visibleTo(c.account) {
		fi.mu.Unlock()
		writeEC2Error(w, http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '"+id+"' does not exist.")
		return true
	}
	if s.account != c.account {
		fi.mu.Unlock()
		writeEC2Error(w, http.StatusUnauthorized, "AuthFailure", "Not authorized for snapshot:"+id)
		return true
	}
	encrypted, keyARN := s.encrypted, s.kmsKeyID
	fi.mu.Unlock()
	if dryRun(w, c) {
		return true
	}
	changes := launchPermChanges(c, "CreateVolumePermission", "createVolumePermission")
	for _, p := range changes {
		if msg, ok := validPermChange(p); !ok {
			writeEC2Error(w, http.StatusBadRequest, "InvalidParameterValue", msg)
			return true
		}
		if p.add && encrypted && p.group == "all" {
			writeEC2Error(w, http.StatusBadRequest, "OperationNotPermitted", "Encrypted snapshots cannot be made public")
			return true
		}
	}
	adds := slices.ContainsFunc(changes, func(p permChange) bool { return p.add })
	if encrypted && adds && fi.isAWSManagedKey(r.Context(), keyARN) {
		writeEC2Error(w, http.StatusBadRequest, "InvalidParameter", "Snapshots encrypted with the AWS Managed CMK can't be shared. Try again with a customer managed CMK")
		return true
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	for _, p := range changes {
		s.volumeUsers = editList(s.volumeUsers, p.userID, p.add)
		if p.group == "all" {
			s.volumePublic = p.add
		}
	}
	writeEC2(w, "ModifySnapshotAttribute", "<return>true</return>")
	return true
}
