package remediate

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// The sweep's reads: an account's images are listed page by page (one DescribeImages per page
// of up to imagePage), their snapshots read in batches of snapshotBatch (one DescribeSnapshots
// each), and both go into the invocation's inventory, so that checking each image reads only its
// launch permissions and, once per key, the key.
const (
	imagePage     = 1000 // DescribeImages' largest page
	snapshotBatch = 500  // snapshot IDs per DescribeSnapshots
)

// ownedImages calls each for every image account owns in region with an encrypted EBS
// snapshot, after reading the snapshots of each page. Deprecated images are included (they can
// still be launched); the listing asks EC2 for images with an encrypted block device only.
func (r *run) ownedImages(ctx context.Context, account, region string, each func(imageID string)) error {
	cl, err := r.clients.EC2(ctx, account, region)
	if err != nil {
		return err
	}
	p := ec2.NewDescribeImagesPaginator(cl, &ec2.DescribeImagesInput{
		Owners: []string{account}, IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(imagePage),
		Filters: []ec2types.Filter{{Name: aws.String("block-device-mapping.encrypted"), Values: []string{"true"}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list the images of %s in %s: %w", account, region, err)
		}
		var listed []listedImage
		for _, im := range page.Images {
			img, ids, encrypted := imageOf(im, region)
			if img.Owner != account || !awsid.IsAccountID(img.Owner) || !anyTrue(encrypted) {
				continue
			}
			listed = append(listed, listedImage{img: img, ids: ids, encrypted: encrypted})
		}
		if err := r.inv.primeSnapshots(ctx, account, region, listed); err != nil {
			return err
		}
		for _, l := range listed {
			each(l.img.ID)
		}
	}
	return nil
}

// listedImage is one image of a listing, with its snapshot IDs.
type listedImage struct {
	img       *image
	ids       []string
	encrypted map[string]bool
}

func anyTrue(m map[string]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}

// imageOf is what DescribeImages says of an image: the image (its snapshots with their IDs and
// devices only, until DescribeSnapshots is read), the IDs of its EBS snapshots in device order,
// and which of them are encrypted.
func imageOf(im ec2types.Image, region string) (*image, []string, map[string]bool) {
	img := &image{ID: aws.ToString(im.ImageId), Region: region, Owner: aws.ToString(im.OwnerId), Name: aws.ToString(im.Name),
		State: string(im.State), Public: aws.ToBool(im.Public),
		SourceImageID: aws.ToString(im.SourceImageId), SourceRegion: aws.ToString(im.SourceImageRegion)}
	var ids []string
	encrypted := map[string]bool{}
	for _, bdm := range im.BlockDeviceMappings {
		if bdm.Ebs == nil || bdm.Ebs.SnapshotId == nil {
			continue
		}
		id := aws.ToString(bdm.Ebs.SnapshotId)
		ids = append(ids, id)
		encrypted[id] = aws.ToBool(bdm.Ebs.Encrypted)
		// The device, until the snapshots are read (withDevices keeps it).
		img.Snapshots = append(img.Snapshots, snapshot{ID: id, Device: aws.ToString(bdm.DeviceName), Encrypted: encrypted[id]})
	}
	return img, ids, encrypted
}

// withDevices is snaps (as read from DescribeSnapshots) with the device names of the image's
// block device mappings (as imageOf read them).
func withDevices(mapped, snaps []snapshot) []snapshot {
	device := map[string]string{}
	for _, m := range mapped {
		device[m.ID] = m.Device
	}
	out := make([]snapshot, len(snaps))
	for i, sn := range snaps {
		sn.Device = device[sn.ID]
		out[i] = sn
	}
	return out
}

// primeSnapshots reads the snapshots of listed images as their owner, in batches, and keeps the
// images and their snapshots in the inventory. A batch EC2 refuses as not found (a snapshot
// deleted since) is left out: each of its images is then read on its own when checked, so the
// one at fault fails alone.
func (inv *inventory) primeSnapshots(ctx context.Context, owner, region string, listed []listedImage) error {
	cl, err := inv.clients.EC2(ctx, owner, region)
	if err != nil {
		return err
	}
	for start := 0; start < len(listed); {
		// A batch of whole images, of at most snapshotBatch snapshots (an image with more is alone).
		end, n := start, 0
		for end < len(listed) && (end == start || n+len(listed[end].ids) <= snapshotBatch) {
			n += len(listed[end].ids)
			end++
		}
		batch := listed[start:end]
		start = end
		var ids []string
		for _, l := range batch {
			ids = append(ids, l.ids...)
		}
		out, err := cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids, OwnerIds: []string{owner}})
		if err != nil {
			if awsapi.Classify(err) == awsapi.ClassNotFound {
				continue
			}
			return fmt.Errorf("describe the snapshots of %d images in %s/%s: %w", len(batch), owner, region, err)
		}
		byID := map[string]ec2types.Snapshot{}
		for _, s := range out.Snapshots {
			byID[aws.ToString(s.SnapshotId)] = s
		}
		for _, l := range batch {
			snaps := make([]snapshot, 0, len(l.ids))
			for _, id := range l.ids {
				sn := snapshot{ID: id, Encrypted: l.encrypted[id]}
				if s, ok := byID[id]; ok {
					sn.Encrypted, sn.KMSKeyID = aws.ToBool(s.Encrypted), aws.ToString(s.KmsKeyId)
				}
				snaps = append(snaps, sn)
			}
			img := *l.img
			img.Snapshots = withDevices(l.img.Snapshots, snaps)
			snaps = img.Snapshots
			prime(inv, inv.snapshots, owner+"/"+region+"/"+img.ID, snaps)
			prime(inv, inv.images, owner+"/"+region+"/"+img.ID, &img)
		}
	}
	return nil
}

// prime stores v under k as if load had read it, unless something is there already.
func prime[T any](inv *inventory, m map[string]*cached[T], k string, v T) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, ok := m[k]; ok {
		return
	}
	c := &cached[T]{val: v}
	c.once.Do(func() {})
	m[k] = c
}
