package localaws

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// copyImage models CopyImage for modeled source images (moto ignores Encrypted/KmsKeyId and only
// finds the caller's own images). The copy belongs to the caller in the request's region and
// stays "pending" until CompleteCopies. Encryption follows the EC2 User Guide, "Use encryption
// with EBS-backed AMIs", image-copying scenarios:
//   - KmsKeyId without Encrypted=true is an error;
//   - Encrypted=true with KmsKeyId: every snapshot is encrypted with that key;
//   - an encrypted snapshot the caller owns keeps its key (same Region; across Regions a key
//     cannot follow, so the destination's default EBS key is used, as for CopySnapshot);
//   - an encrypted snapshot the caller does not own (shared AMI) gets the caller's default EBS key;
//   - an unencrypted snapshot stays unencrypted unless Encrypted=true or EBS encryption by default
//     is on in the destination, then it gets the default EBS key.
//
// The default EBS key is the caller's aws/ebs key in the destination Region.
func (fi *Filler) copyImage(w http.ResponseWriter, r *http.Request, c *call) bool {
	srcID, srcRegion := c.params.Get("SourceImageId"), c.params.Get("SourceRegion")
	fi.mu.Lock()
	src := fi.images[srcID]
	if src == nil {
		fi.mu.Unlock()
		return false
	}
	if src.region != srcRegion || !src.visibleTo(c.account) {
		fi.mu.Unlock()
		writeEC2Error(w, http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '["+srcID+"]' does not exist")
		return true
	}
	if src.state != "available" {
		fi.mu.Unlock()
		writeEC2Error(w, http.StatusBadRequest, "InvalidAMIID.Unavailable", "Image "+srcID+" is not available (state "+src.state+")")
		return true
	}
	type srcDev struct {
		d         device
		encrypted bool
		key       string
	}
	devs := make([]srcDev, 0, len(src.devices))
	for _, d := range src.devices {
		sd := srcDev{d: d}
		if s := fi.snapshots[d.snapshotID]; s != nil {
			sd.encrypted, sd.key = s.encrypted, s.kmsKeyID
		}
		devs = append(devs, sd)
	}
	srcAccount, srcName, srcRoot, srcArch := src.account, src.name, src.rootDevice, src.architecture
	fi.mu.Unlock()

	name := c.params.Get("Name")
	encryptedParam := c.params.Get("Encrypted") == "true"
	kmsKeyParam := c.params.Get("KmsKeyId")
	switch {
	case name == "":
		writeEC2Error(w, http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Name")
		return true
	case kmsKeyParam != "" && !encryptedParam:
		writeEC2Error(w, http.StatusBadRequest, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
		return true
	}
	if dryRun(w, c) {
		return true
	}

	ctx := r.Context()
	dest := c.region
	var explicitKey, defaultKey string
	if kmsKeyParam != "" {
		explicitKey = fi.resolveKey(ctx, c.account, dest, kmsKeyParam)
	}
	defaultKeyOnce := func() string {
		if defaultKey == "" {
			defaultKey = fi.defaultEBSKey(ctx, c.account, dest)
		}
		return defaultKey
	}
	byDefault := false
	if !encryptedParam && slices.ContainsFunc(devs, func(d srcDev) bool { return !d.encrypted }) {
		byDefault = fi.ebsEncryptionByDefault(ctx, c.account, dest)
	}
	job := &copyJob{sourceImageID: srcID, sourceRegion: srcRegion, copier: c.account, principal: c.principal}
	now := time.Now().UTC()
	var snaps []*snapshot
	im := &image{
		id: newID("ami-"), account: c.account, region: dest, name: name, state: "pending",
		description: c.params.Get("Description"), architecture: srcArch, rootDevice: srcRoot,
		created: now, copyJob: job,
	}
	if im.description == "" {
		im.description = "[Copied " + srcID + " from " + srcRegion + "] " + srcName
	}
	for _, sd := range devs {
		s := &snapshot{id: newID("snap-"), account: c.account, region: dest, sizeGiB: sd.d.sizeGiB,
			state: "pending", created: now, description: "Copied for DestinationAmi " + im.id + " from SourceAmi " + srcID}
		if sd.encrypted && !slices.Contains(job.keys, sd.key) {
			job.keys = append(job.keys, sd.key)
		}
		switch {
		case explicitKey != "":
			s.encrypted, s.kmsKeyID = true, explicitKey
		case sd.encrypted && srcAccount == c.account && srcRegion == dest:
			s.encrypted, s.kmsKeyID = true, sd.key
		case sd.encrypted || encryptedParam || byDefault:
			s.encrypted, s.kmsKeyID = true, defaultKeyOnce()
		}
		snaps = append(snaps, s)
		d := sd.d
		d.snapshotID, d.encrypted = s.id, s.encrypted
		im.devices = append(im.devices, d)
	}
	if explicitKey != "" {
		job.keys = append(job.keys, explicitKey)
	}
	reqParams := map[string]any{"sourceRegion": srcRegion, "sourceImageId": srcID, "name": name}
	if d := c.params.Get("Description"); d != "" {
		reqParams["description"] = d
	}
	if v := c.params.Get("Encrypted"); v != "" {
		reqParams["encrypted"] = v == "true"
	}
	if kmsKeyParam != "" {
		reqParams["kmsKeyId"] = kmsKeyParam
	}
	if v := c.params.Get("ClientToken"); v != "" {
		reqParams["clientToken"] = v
	}
	fi.mu.Lock()
	syncChecks := fi.syncCopies
	fi.mu.Unlock()
	if syncChecks {
		for _, key := range job.keys {
			if ok, _ := fi.canUseKey(ctx, key, c.account, c.principal, arnRegion(key)); !ok {
				const msg = "The specified KMS key is not accessible"
				fi.recordCall(c, "CopyImage", reqParams, nil, "InvalidParameterValue", msg)
				writeEC2Error(w, http.StatusBadRequest, "InvalidParameterValue", msg)
				return true
			}
		}
	}

	fi.mu.Lock()
	for _, s := range snaps {
		fi.snapshots[s.id] = s
	}
	fi.addImage(im)
	fi.mu.Unlock()
	fi.recordCall(c, "CopyImage", reqParams, map[string]any{"imageId": im.id}, "", "")
	writeEC2(w, "CopyImage", "<imageId>"+im.id+"</imageId>")
	return true
}

// CompleteCopies finishes every pending CopyImage: the copy becomes "available" when the copying
// account can use each source snapshot's key and the KmsKeyId it asked for, else "failed" with a
// state reason naming the key (on AWS the failure also surfaces only after the call succeeded).
// It returns the IDs of the images it finished.
func (f *Filler) CompleteCopies(ctx context.Context) []string { return f.completeCopies(ctx) }

func (fi *Filler) completeCopies(ctx context.Context) []string {
	fi.mu.Lock()
	var pending []*image
	jobs := map[string]copyJob{}
	for _, id := range fi.order {
		if im := fi.images[id]; im != nil && im.state == "pending" && im.copyJob != nil {
			pending = append(pending, im)
			jobs[id] = *im.copyJob
		}
	}
	fi.mu.Unlock()

	var done []string
	for _, im := range pending {
		job := jobs[im.id]
		failure := ""
		for _, key := range job.keys {
			if ok, why := fi.canUseKey(ctx, key, job.copier, job.principal, arnRegion(key)); !ok {
				failure = why
				break
			}
		}
		fi.mu.Lock()
		finished := im.state == "pending"
		if finished {
			snapState := "completed"
			im.state = "available"
			if failure != "" {
				im.state, snapState = "failed", "error"
				im.reasonCode = "Client.InternalError"
				im.reasonMessage = "Copy of " + job.sourceImageID + " failed: " + failure
			}
			for _, d := range im.devices {
				if s := fi.snapshots[d.snapshotID]; s != nil {
					s.state = snapState
				}
			}
			done = append(done, im.id)
		}
		account, region, state, msg := im.account, im.region, im.state, im.reasonMessage
		fi.mu.Unlock()
		if finished {
			fi.recordImageState(account, region, im.id, state, msg)
		}
	}
	return done
}

// AutoCompleteCopies makes every DescribeImages first finish pending copies (as CompleteCopies
// does), so a copy is "pending" in the CopyImage answer and finished at the next look. Off by
// default: tests usually want to see the pending state.
func (f *Filler) AutoCompleteCopies(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.autoCopies = on
}

// FailCopiesSynchronously makes CopyImage check, at call time, that the caller can use every
// source snapshot key and the requested KmsKeyId, refusing with InvalidParameterValue "The
// specified KMS key is not accessible" (as reported for inaccessible keys in the copy/import
// family) instead of letting the copy fail later. Off by default.
func (f *Filler) FailCopiesSynchronously(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncCopies = on
}
