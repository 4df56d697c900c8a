package localaws

import (
	"context"
	"encoding/xml"
	"slices"
	"strconv"
	"time"
)

// snapshot is a modeled EBS snapshot.
type snapshot struct {
	id, account, region string
	encrypted           bool
	kmsKeyID            string // key ARN when it could be resolved, else as given
	sizeGiB             int32
	state               string // pending | completed | error
	description         string
	created             time.Time
	volumeUsers         []string // createVolumePermission userIds
	volumePublic        bool
}

func (s *snapshot) visibleTo(account string) bool {
	return s.account == account || s.volumePublic || slices.Contains(s.volumeUsers, account)
}

// device is one EBS block device mapping of a modeled image.
type device struct {
	name                string
	snapshotID          string
	sizeGiB             int32
	volumeType          string
	deleteOnTermination bool
	encrypted           bool
}

// image is a modeled AMI.
type image struct {
	id, account, region string
	name, description   string
	state               string // pending | available | failed
	reasonCode          string
	reasonMessage       string
	architecture        string
	rootDevice          string
	created             time.Time
	devices             []device
	users               []string // launchPermission userIds
	public              bool     // launchPermission group all
	orgs, ous           []string // launchPermission organization / OU ARNs
	copyJob             *copyJob
}

// copyJob is what CompleteCopies needs to finish (or fail) a CopyImage.
type copyJob struct {
	sourceImageID, sourceRegion string
	copier, principal           string
	keys                        []string // keys the copier must be able to use: source keys, then the explicit KmsKeyId
}

// visibleTo reports whether account may see and launch the image. Organization and OU launch
// permissions are recorded and reported but not resolved to member accounts.
func (im *image) visibleTo(account string) bool {
	return im.account == account || im.public || slices.Contains(im.users, account)
}

// SnapshotSpec describes one block device of an image seeded with CreateImage.
type SnapshotSpec struct {
	DeviceName string // default /dev/xvda for the first device, then /dev/sdb, /dev/sdc, ...
	SnapshotID string // use this existing modeled snapshot; else a new one is made from the fields below
	Encrypted  bool
	KmsKeyID   string // key ID, key ARN, alias or alias ARN; resolved to the key ARN via moto when it exists
	SizeGiB    int32  // default 8
}

// CreateSnapshot seeds a completed snapshot owned by account in region. An encrypted snapshot
// without kmsKeyID uses the account's aws/ebs key (created in moto if need be), as AWS does.
// kmsKeyID is stored as its key ARN when moto knows the key, else as given (to model a
// snapshot whose key is gone).
func (f *Filler) CreateSnapshot(account, region, kmsKeyID string, encrypted bool, sizeGiB int32) string {
	ctx, cancel := context.WithTimeout(context.Background(), motoCallTimeout)
	defer cancel()
	s := f.newSnapshot(ctx, account, region, kmsKeyID, encrypted, sizeGiB)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots[s.id] = s
	return s.id
}

func (fi *Filler) newSnapshot(ctx context.Context, account, region, kmsKeyID string, encrypted bool, sizeGiB int32) *snapshot {
	if sizeGiB <= 0 {
		sizeGiB = 8
	}
	s := &snapshot{
		id: newID("snap-"), account: account, region: region, sizeGiB: sizeGiB,
		state: "completed", created: time.Now().UTC(), encrypted: encrypted || kmsKeyID != "",
	}
	if s.encrypted {
		s.kmsKeyID = fi.resolveKey(ctx, account, region, kmsKeyID)
	}
	return s
}

// resolveKey turns a key reference into the key ARN ("" means the default EBS key).
func (fi *Filler) resolveKey(ctx context.Context, account, region, keyRef string) string {
	if keyRef == "" {
		return fi.defaultEBSKey(ctx, account, region)
	}
	if md, err := fi.describeKey(ctx, account, region, keyRef); err == nil && md.Arn != "" {
		return md.Arn
	}
	return keyRef
}

// CreateImage seeds an available image owned by account in region, backed by the given
// snapshots (existing ones by ID, or new ones). It returns the image ID.
func (f *Filler) CreateImage(account, region, name string, snaps []SnapshotSpec) string {
	ctx, cancel := context.WithTimeout(context.Background(), motoCallTimeout)
	defer cancel()
	var created []*snapshot
	devices := make([]device, 0, len(snaps))
	for i, spec := range snaps {
		d := device{name: spec.DeviceName, snapshotID: spec.SnapshotID, volumeType: "gp3", deleteOnTermination: true}
		if d.name == "" {
			d.name = defaultDeviceName(i)
		}
		if d.snapshotID == "" {
			s := f.newSnapshot(ctx, account, region, spec.KmsKeyID, spec.Encrypted, spec.SizeGiB)
			created = append(created, s)
			d.snapshotID = s.id
		}
		devices = append(devices, d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range created {
		f.snapshots[s.id] = s
	}
	for i := range devices {
		if s := f.snapshots[devices[i].snapshotID]; s != nil {
			devices[i].sizeGiB, devices[i].encrypted = s.sizeGiB, s.encrypted
		}
	}
	im := &image{
		id: newID("ami-"), account: account, region: region, name: name, state: "available",
		architecture: "x86_64", created: time.Now().UTC(), devices: devices,
	}
	if len(devices) > 0 {
		im.rootDevice = devices[0].name
	}
	f.addImage(im)
	return im.id
}

func defaultDeviceName(i int) string {
	if i == 0 {
		return "/dev/xvda"
	}
	return "/dev/sd" + string(rune('a'+i%26))
}

// addImage stores im; the caller holds fi.mu.
func (fi *Filler) addImage(im *image) {
	fi.images[im.id] = im
	fi.order = append(fi.order, im.id)
}

// ShareImage adds account to the image's launch permissions (the Go form of
// ModifyImageAttribute launchPermission add userId). It reports whether the image exists.
func (f *Filler) ShareImage(imageID, account string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	im := f.images[imageID]
	if im == nil {
		return false
	}
	if !slices.Contains(im.users, account) {
		im.users = append(im.users, account)
	}
	return true
}

// DeviceInfo is one block device of a modeled image, with its snapshot's encryption.
type DeviceInfo struct {
	DeviceName string
	SnapshotID string
	Encrypted  bool
	KmsKeyID   string
	SizeGiB    int32
}

// ImageInfo is a modeled image as the filler holds it.
type ImageInfo struct {
	ImageID, Account, Region, Name string
	State                          string
	StateReasonCode                string
	StateReasonMessage             string
	Devices                        []DeviceInfo
	LaunchUsers                    []string
	Public                         bool
	OrganizationArns               []string
	OrganizationalUnitArns         []string
	SourceImageID, SourceRegion    string // set for copies
}

// Image returns a modeled image by ID.
func (f *Filler) Image(imageID string) (ImageInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	im := f.images[imageID]
	if im == nil {
		return ImageInfo{}, false
	}
	return f.imageInfo(im), true
}

// Images returns every modeled image, in creation order.
func (f *Filler) Images() []ImageInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]ImageInfo, 0, len(f.order))
	for _, id := range f.order {
		if im := f.images[id]; im != nil {
			out = append(out, f.imageInfo(im))
		}
	}
	return out
}

func (fi *Filler) imageInfo(im *image) ImageInfo {
	info := ImageInfo{
		ImageID: im.id, Account: im.account, Region: im.region, Name: im.name, State: im.state,
		StateReasonCode: im.reasonCode, StateReasonMessage: im.reasonMessage,
		LaunchUsers: slices.Clone(im.users), Public: im.public,
		OrganizationArns: slices.Clone(im.orgs), OrganizationalUnitArns: slices.Clone(im.ous),
	}
	if im.copyJob != nil {
		info.SourceImageID, info.SourceRegion = im.copyJob.sourceImageID, im.copyJob.sourceRegion
	}
	for _, d := range im.devices {
		di := DeviceInfo{DeviceName: d.name, SnapshotID: d.snapshotID, Encrypted: d.encrypted, SizeGiB: d.sizeGiB}
		if s := fi.snapshots[d.snapshotID]; s != nil {
			di.KmsKeyID = s.kmsKeyID
		}
		info.Devices = append(info.Devices, di)
	}
	return info
}

// SnapshotInfo is a modeled snapshot.
type SnapshotInfo struct {
	SnapshotID, Account, Region string
	Encrypted                   bool
	KmsKeyID                    string
	SizeGiB                     int32
	State                       string
}

// Snapshot returns a modeled snapshot by ID.
func (f *Filler) Snapshot(snapshotID string) (SnapshotInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snapshots[snapshotID]
	if s == nil {
		return SnapshotInfo{}, false
	}
	return SnapshotInfo{SnapshotID: s.id, Account: s.account, Region: s.region, Encrypted: s.encrypted,
		KmsKeyID: s.kmsKeyID, SizeGiB: s.sizeGiB, State: s.state}, true
}

// XML shapes of EC2's answers (only what the filler models).

type ebsXML struct {
	SnapshotID          string `xml:"snapshotId"`
	VolumeSize          int32  `xml:"volumeSize"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeType          string `xml:"volumeType"`
	Encrypted           bool   `xml:"encrypted"`
}

type bdmXML struct {
	XMLName    xml.Name `xml:"item"`
	DeviceName string   `xml:"deviceName"`
	Ebs        ebsXML   `xml:"ebs"`
}

type reasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type imageXML struct {
	XMLName            xml.Name   `xml:"item"`
	ImageID            string     `xml:"imageId"`
	ImageLocation      string     `xml:"imageLocation"`
	ImageState         string     `xml:"imageState"`
	ImageOwnerID       string     `xml:"imageOwnerId"`
	CreationDate       string     `xml:"creationDate"`
	IsPublic           bool       `xml:"isPublic"`
	Architecture       string     `xml:"architecture"`
	ImageType          string     `xml:"imageType"`
	Name               string     `xml:"name"`
	Description        string     `xml:"description,omitempty"`
	RootDeviceType     string     `xml:"rootDeviceType"`
	RootDeviceName     string     `xml:"rootDeviceName"`
	BlockDeviceMapping []bdmXML   `xml:"blockDeviceMapping>item"`
	VirtualizationType string     `xml:"virtualizationType"`
	Hypervisor         string     `xml:"hypervisor"`
	EnaSupport         bool       `xml:"enaSupport"`
	StateReason        *reasonXML `xml:"stateReason,omitempty"`
	SourceImageID      string     `xml:"sourceImageId,omitempty"`
	SourceImageRegion  string     `xml:"sourceImageRegion,omitempty"`
}

func (im *image) toXML() imageXML {
	x := imageXML{
		ImageID: im.id, ImageLocation: im.account + "/" + im.name, ImageState: im.state,
		ImageOwnerID: im.account, CreationDate: awsTime(im.created), IsPublic: im.public,
		Architecture: im.architecture, ImageType: "machine", Name: im.name, Description: im.description,
		RootDeviceType: "ebs", RootDeviceName: im.rootDevice, VirtualizationType: "hvm",
		Hypervisor: "xen", EnaSupport: true,
	}
	for _, d := range im.devices {
		x.BlockDeviceMapping = append(x.BlockDeviceMapping, bdmXML{DeviceName: d.name, Ebs: ebsXML{
			SnapshotID: d.snapshotID, VolumeSize: d.sizeGiB, DeleteOnTermination: d.deleteOnTermination,
			VolumeType: d.volumeType, Encrypted: d.encrypted,
		}})
	}
	if im.reasonCode != "" {
		x.StateReason = &reasonXML{Code: im.reasonCode, Message: im.reasonMessage}
	}
	if im.copyJob != nil {
		x.SourceImageID, x.SourceImageRegion = im.copyJob.sourceImageID, im.copyJob.sourceRegion
	}
	return x
}

type snapshotXML struct {
	XMLName     xml.Name `xml:"item"`
	SnapshotID  string   `xml:"snapshotId"`
	VolumeID    string   `xml:"volumeId"`
	Status      string   `xml:"status"`
	StartTime   string   `xml:"startTime"`
	Progress    string   `xml:"progress"`
	OwnerID     string   `xml:"ownerId"`
	VolumeSize  int32    `xml:"volumeSize"`
	Description string   `xml:"description"`
	Encrypted   bool     `xml:"encrypted"`
	KmsKeyID    string   `xml:"kmsKeyId,omitempty"`
	StorageTier string   `xml:"storageTier"`
}

func (s *snapshot) toXML() snapshotXML {
	progress := "100%"
	if s.state == "pending" {
		progress = "0%"
	}
	return snapshotXML{
		SnapshotID: s.id, VolumeID: "vol-ffffffff", Status: s.state, StartTime: awsTime(s.created),
		Progress: progress, OwnerID: s.account, VolumeSize: s.sizeGiB, Description: s.description,
		Encrypted: s.encrypted, KmsKeyID: s.kmsKeyID, StorageTier: "standard",
	}
}

func parseInt32(s string) int32 {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}
