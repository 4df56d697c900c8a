package localaws

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serveEC2 answers the EC2 actions the filler models when they concern its objects and reports
// whether it did; everything else goes to moto.
func (fi *Filler) serveEC2(w http.ResponseWriter, r *http.Request, c *call) bool {
	switch c.action {
	case "RegisterImage":
		return fi.registerImage(w, r, c)
	case "DescribeImages":
		fi.mu.Lock()
		auto := fi.autoCopies
		fi.mu.Unlock()
		if auto {
			fi.completeCopies(r.Context())
		}
		return fi.describeImages(w, r, c)
	case "DescribeSnapshots":
		return fi.describeSnapshots(w, r, c)
	case "DescribeImageAttribute":
		return fi.describeImageAttribute(w, c)
	case "ModifyImageAttribute":
		return fi.modifyImageAttribute(w, c)
	case "DeregisterImage":
		return fi.deregisterImage(w, c)
	case "ModifySnapshotAttribute":
		return fi.modifySnapshotAttribute(w, r, c)
	case "CopyImage":
		return fi.copyImage(w, r, c)
	case "RunInstances":
		return fi.runInstances(w, r, c)
	case "DescribeInstances":
		return fi.describeInstances(w, r, c)
	case "TerminateInstances":
		return fi.terminateInstances(w, c)
	case "GetEbsDefaultKmsKeyId", "ModifyEbsDefaultKmsKeyId", "ResetEbsDefaultKmsKeyId":
		return fi.serveEBSDefault(w, r, c)
	case "DescribeLaunchTemplateVersions":
		return fi.describeLaunchTemplateVersions(w, r, c)
	}
	return false
}

func dryRun(w http.ResponseWriter, c *call) bool {
	if c.params.Get("DryRun") == "true" {
		writeEC2Error(w, http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
		return true
	}
	return false
}

// registerImage models RegisterImage with EBS snapshots: moto would ignore the block device
// mappings. Snapshots the filler does not hold yet are imported from moto (so a snapshot made
// with moto's CopySnapshot --kms-key-id keeps its key).
func (fi *Filler) registerImage(w http.ResponseWriter, r *http.Request, c *call) bool {
	groups := indexedGroups(c.params, "BlockDeviceMapping")
	hasSnapshot := false
	for _, g := range groups {
		if g["Ebs.SnapshotId"] != "" {
			hasSnapshot = true
		}
	}
	if !hasSnapshot {
		return false
	}
	if dryRun(w, c) {
		return true
	}
	name := c.params.Get("Name")
	if name == "" {
		writeEC2Error(w, http.StatusBadRequest, "MissingParameter", "The request must contain the parameter name")
		return true
	}
	for _, g := range groups {
		id := g["Ebs.SnapshotId"]
		if id == "" || fi.hasSnapshot(id) {
			continue
		}
		if err := fi.importSnapshot(r.Context(), c.account, c.region, id); err != nil {
			writeEC2Error(w, http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '"+id+"' does not exist.")
			return true
		}
	}

	fi.mu.Lock()
	defer fi.mu.Unlock()
	im := &image{
		id: newID("ami-"), account: c.account, region: c.region, name: name,
		description: c.params.Get("Description"), state: "available", created: time.Now().UTC(),
		architecture: c.params.Get("Architecture"), rootDevice: c.params.Get("RootDeviceName"),
	}
	if im.architecture == "" {
		im.architecture = "x86_64"
	}
	for i, g := range groups {
		id := g["Ebs.SnapshotId"]
		if id == "" {
			continue // ephemeral (instance store) mappings are not modeled
		}
		s := fi.snapshots[id]
		if s == nil || s.region != c.region || !s.visibleTo(c.account) {
			writeEC2Error(w, http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '"+id+"' does not exist.")
			return true
		}
		d := device{name: g["DeviceName"], snapshotID: id, sizeGiB: s.sizeGiB, volumeType: g["Ebs.VolumeType"],
			deleteOnTermination: g["Ebs.DeleteOnTermination"] != "false", encrypted: s.encrypted}
		if d.name == "" {
			d.name = defaultDeviceName(i)
		}
		if n := parseInt32(g["Ebs.VolumeSize"]); n > d.sizeGiB {
			d.sizeGiB = n
		}
		if d.volumeType == "" {
			d.volumeType = "gp2"
		}
		im.devices = append(im.devices, d)
	}
	if im.rootDevice == "" && len(im.devices) > 0 {
		im.rootDevice = im.devices[0].name
	}
	fi.addImage(im)
	writeEC2(w, "RegisterImage", "<imageId>"+im.id+"</imageId>")
	return true
}

func (fi *Filler) hasSnapshot(id string) bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.snapshots[id] != nil
}

// importSnapshot copies a snapshot moto holds (as seen by account) into the filler's model.
func (fi *Filler) importSnapshot(ctx context.Context, account, region, id string) error {
	status, raw, err := fi.ec2Raw(ctx, account, region, url.Values{
		"Action": {"DescribeSnapshots"}, "Version": {"2016-11-15"}, "SnapshotId.1": {id},
	})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return &motoError{Status: status, Code: "InvalidSnapshot.NotFound"}
	}
	var out struct {
		Items []struct {
			SnapshotID  string `xml:"snapshotId"`
			OwnerID     string `xml:"ownerId"`
			VolumeSize  int32  `xml:"volumeSize"`
			Encrypted   bool   `xml:"encrypted"`
			KmsKeyID    string `xml:"kmsKeyId"`
			Description string `xml:"description"`
		} `xml:"snapshotSet>item"`
	}
	if err := xml.Unmarshal(raw, &out); err != nil || len(out.Items) == 0 {
		return &motoError{Status: status, Code: "InvalidSnapshot.NotFound"}
	}
	it := out.Items[0]
	s := &snapshot{id: it.SnapshotID, account: it.OwnerID, region: region, encrypted: it.Encrypted,
		kmsKeyID: it.KmsKeyID, sizeGiB: it.VolumeSize, state: "completed", description: it.Description,
		created: time.Now().UTC()}
	if s.account == "" {
		s.account = account
	}
	if s.encrypted && s.kmsKeyID == "" {
		// moto's CreateSnapshot of an encrypted volume loses the key; AWS would report it.
		s.kmsKeyID = fi.defaultEBSKey(ctx, s.account, region)
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.snapshots[s.id] == nil {
		fi.snapshots[s.id] = s
	}
	return nil
}

// describeImages answers for modeled images, merged with moto's answer for the rest.
func (fi *Filler) describeImages(w http.ResponseWriter, r *http.Request, c *call) bool {
	ids := indexed(c.params, "ImageId")
	owners := indexed(c.params, "Owner")
	execBy := indexed(c.params, "ExecutableBy")
	filters := parseFilters(c.params)

	fi.mu.Lock()
	var mine []imageXML
	var others []string
	if len(ids) > 0 {
		for _, id := range ids {
			im := fi.images[id]
			if im == nil {
				others = append(others, id)
				continue
			}
			if im.region != c.region || !im.visibleTo(c.account) {
				fi.mu.Unlock()
				writeEC2Error(w, http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '["+id+"]' does not exist")
				return true
			}
			if im.matches(c.account, owners, execBy, filters) {
				mine = append(mine, im.toXML())
			}
		}
	} else {
		for _, id := range fi.order {
			im := fi.images[id]
			if im != nil && im.region == c.region && im.visibleTo(c.account) && im.matches(c.account, owners, execBy, filters) {
				mine = append(mine, im.toXML())
			}
		}
	}
	fi.mu.Unlock()

	if len(ids) == 0 && fi.pageImages(w, r, c, mine) {
		return true
	}
	return fi.answerDescribe(w, r, c, "DescribeImages", "imagesSet", "ImageId", ids, others, marshalItems(mine), len(mine))
}

// pageTokenPrefix marks the filler's own NextToken values; others are moto's.
const pageTokenPrefix = "filler-"

// pageImages pages a listing of modeled images when the caller gives MaxResults (5 to 1000, as
// EC2 allows): every page but the last is the filler's alone, with a nextToken; the last is
// merged with moto's answer (asked without paging). It reports whether it answered: not when the
// request does not page, or pages through moto's own objects.
func (fi *Filler) pageImages(w http.ResponseWriter, r *http.Request, c *call, mine []imageXML) bool {
	maxText, token := c.params.Get("MaxResults"), c.params.Get("NextToken")
	if maxText == "" || token != "" && !strings.HasPrefix(token, pageTokenPrefix) {
		return false
	}
	limit, err := strconv.Atoi(maxText)
	if err != nil || limit < 5 || limit > 1000 {
		writeEC2Error(w, http.StatusBadRequest, "InvalidParameterValue", "MaxResults must be between 5 and 1000")
		return true
	}
	start := 0
	if token != "" {
		if start, err = strconv.Atoi(strings.TrimPrefix(token, pageTokenPrefix)); err != nil || start < 0 || start > len(mine) {
			writeEC2Error(w, http.StatusBadRequest, "InvalidNextToken", "The specified next token is not valid")
			return true
		}
	}
	if dryRun(w, c) {
		return true
	}
	if end := start + limit; end < len(mine) {
		writeEC2(w, "DescribeImages", "<imagesSet>"+marshalItems(mine[start:end])+"</imagesSet><nextToken>"+pageTokenPrefix+strconv.Itoa(end)+"</nextToken>")
		return true
	}
	params := url.Values{}
	for k, v := range c.params {
		if k != "MaxResults" && k != "NextToken" {
			params[k] = v
		}
	}
	fi.forwardMerged(w, r, c, params, "imagesSet", marshalItems(mine[start:]))
	return true
}

// matches applies DescribeImages' Owner.N, ExecutableBy.N and Filter.N to a modeled image.
// Unknown filter names match nothing (rather than everything), so a test notices them.
func (im *image) matches(caller string, owners, execBy []string, filters []filter) bool {
	if len(owners) > 0 {
		ok := false
		for _, o := range owners {
			if o == im.account || (o == "self" && im.account == caller) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if len(execBy) > 0 {
		// ExecutableBy scopes to explicit launch permissions: "all" = public, an account or
		// "self" = shared with that account.
		ok := false
		for _, e := range execBy {
			switch {
			case e == "all" && im.public:
				ok = true
			case e == "self" && slices.Contains(im.users, caller):
				ok = true
			case slices.Contains(im.users, e):
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	for _, f := range filters {
		var got []string
		switch f.name {
		case "image-id":
			got = []string{im.id}
		case "owner-id":
			got = []string{im.account}
		case "name":
			got = []string{im.name}
		case "description":
			got = []string{im.description}
		case "state":
			got = []string{im.state}
		case "is-public":
			got = []string{boolText(im.public)}
		case "architecture":
			got = []string{im.architecture}
		case "image-type":
			got = []string{"machine"}
		case "root-device-type":
			got = []string{"ebs"}
		case "source-image-id":
			if im.copyJob != nil {
				got = []string{im.copyJob.sourceImageID}
			}
		case "block-device-mapping.snapshot-id":
			for _, d := range im.devices {
				got = append(got, d.snapshotID)
			}
		case "block-device-mapping.encrypted":
			for _, d := range im.devices {
				got = append(got, boolText(d.encrypted))
			}
		case "block-device-mapping.device-name":
			for _, d := range im.devices {
				got = append(got, d.name)
			}
		}
		if !f.matchAny(got...) {
			return false
		}
	}
	return true
}

// forwardMerged sends params to moto as the caller and splices items into the named set of
// moto's answer. moto's errors are passed on as they are.
func (fi *Filler) forwardMerged(w http.ResponseWriter, r *http.Request, c *call, params url.Values, set, items string) {
	status, raw, err := fi.ec2Raw(r.Context(), c.account, c.region, params)
	if err != nil {
		writeEC2Error(w, http.StatusInternalServerError, "InternalError", "filler: "+err.Error())
		return
	}
	if status == http.StatusOK {
		raw = spliceSet(raw, set, items)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// answerDescribe finishes a Describe* the filler models: when every ID asked for is modeled it
// answers alone (items, the XML of its n matching objects); when none of ours matched and every
// ID is moto's it declines (false: forward unchanged); otherwise it asks moto for the rest and
// splices its items into moto's set.
func (fi *Filler) answerDescribe(w http.ResponseWriter, r *http.Request, c *call, action, set, idParam string, ids, others []string, items string, n int) bool {
	if len(ids) > 0 && len(others) == 0 {
		if dryRun(w, c) {
			return true
		}
		writeEC2(w, action, "<"+set+">"+items+"</"+set+">")
		return true
	}
	if n == 0 && len(ids) == len(others) {
		return false // nothing of ours: moto answers alone
	}
	params := c.params
	if len(ids) > 0 {
		params = withoutIndexed(c.params, idParam, others)
	}
	fi.forwardMerged(w, r, c, params, set, items)
	return true
}

// describeSnapshots answers for modeled snapshots, merged with moto's answer for the rest.
// Visibility is AWS's: the owner, and accounts with createVolumePermission. Sharing an AMI does
// not make its snapshots visible to the target account.
func (fi *Filler) describeSnapshots(w http.ResponseWriter, r *http.Request, c *call) bool {
	ids := indexed(c.params, "SnapshotId")
	owners := indexed(c.params, "Owner")
	restorable := indexed(c.params, "RestorableBy")
	filters := parseFilters(c.params)

	fi.mu.Lock()
	var mine []snapshotXML
	var others []string
	match := func(s *snapshot) bool {
		if len(owners) > 0 && !slices.Contains(owners, s.account) && !(slices.Contains(owners, "self") && s.account == c.account) {
			return false
		}
		if len(restorable) > 0 {
			ok := false
			for _, a := range restorable {
				if a == "self" {
					a = c.account
				}
				if s.account == a || slices.Contains(s.volumeUsers, a) || (a == "all" && s.volumePublic) {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		for _, f := range filters {
			var got string
			switch f.name {
			case "snapshot-id":
				got = s.id
			case "owner-id":
				got = s.account
			case "status":
				got = s.state
			case "encrypted":
				got = boolText(s.encrypted)
			case "volume-size":
				got = itoa32(s.sizeGiB)
			case "description":
				got = s.description
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
			s := fi.snapshots[id]
			if s == nil {
				others = append(others, id)
				continue
			}
			if s.region != c.region || !s.visibleTo(c.account) {
				fi.mu.Unlock()
				writeEC2Error(w, http.StatusBadRequest, "InvalidSnapshot.NotFound", "The snapshot '"+id+"' does not exist.")
				return true
			}
			if match(s) {
				mine = append(mine, s.toXML())
			}
		}
	} else {
		for _, s := range fi.sortedSnapshots() {
			if s.region == c.region && s.visibleTo(c.account) && match(s) {
				mine = append(mine, s.toXML())
			}
		}
	}
	fi.mu.Unlock()

	return fi.answerDescribe(w, r, c, "DescribeSnapshots", "snapshotSet", "SnapshotId", ids, others, marshalItems(mine), len(mine))
}

// sortedSnapshots lists snapshots by creation time then ID; the caller holds fi.mu.
func (fi *Filler) sortedSnapshots() []*snapshot {
	out := make([]*snapshot, 0, len(fi.snapshots))
	for _, s := range fi.snapshots {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *snapshot) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

func itoa32(n int32) string {
	return strconv.Itoa(int(n))
}
