package localaws_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
)

func ebsKeyARN(t *testing.T, account, rgn string) string {
	t.Helper()
	md, err := kmsFor(t, account, rgn).DescribeKey(testCtx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
	if err != nil {
		t.Fatalf("describe aws/ebs in %s/%s: %v", account, rgn, err)
	}
	return aws.ToString(md.KeyMetadata.Arn)
}

// snapshotKey returns Encrypted and KmsKeyId of the image's first snapshot, read the way the
// remediator reads them: DescribeImages, then DescribeSnapshots as the owner.
func snapshotKey(t *testing.T, c *ec2.Client, imageID string) (bool, string) {
	t.Helper()
	im := describeImage(t, c, imageID)
	snapID := aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId)
	out, err := c.DescribeSnapshots(testCtx(t), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
	if err != nil || len(out.Snapshots) != 1 {
		t.Fatalf("describe snapshot %s: %v %v", snapID, out, err)
	}
	if aws.ToBool(out.Snapshots[0].Encrypted) != aws.ToBool(im.BlockDeviceMappings[0].Ebs.Encrypted) {
		t.Errorf("image and snapshot disagree on Encrypted")
	}
	return aws.ToBool(out.Snapshots[0].Encrypted), aws.ToString(out.Snapshots[0].KmsKeyId)
}

// CopyImage encryption follows the EC2 User Guide, "Use encryption with EBS-backed AMIs",
// image-copying scenarios: without parameters an owned encrypted snapshot keeps its key and a
// shared one gets the copier's default key; Encrypted=true encrypts an unencrypted snapshot with
// the default key; Encrypted+KmsKeyId re-encrypts with the given key; KmsKeyId without
// Encrypted is an error. The copy is "pending" until it completes (CopyImage is asynchronous).
func TestCopyImageEncryption(t *testing.T) {
	ownerKey := newKey(t, owner, region)
	ownerKey2 := newKey(t, owner, region)
	targetKey := newKey(t, target, region)
	otherRegionKey := newKey(t, owner, other)
	encrypted, _ := registerEncryptedImage(t, owner, region, ownerKey)
	plain := env.Filler.CreateImage(owner, region, "plain-"+t.Name(), []localaws.SnapshotSpec{{SizeGiB: 8}})
	env.Filler.ShareImage(encrypted, target)

	tests := map[string]struct {
		copier, destRegion string
		source             string
		encrypted          bool
		kmsKeyID           string
		wantEncrypted      bool
		wantKey            func() string
		wantErr            string
	}{
		"owner same region keeps the key": {
			copier: owner, destRegion: region, source: encrypted,
			wantEncrypted: true, wantKey: func() string { return ownerKey },
		},
		"owner with KmsKeyId re-encrypts": {
			copier: owner, destRegion: region, source: encrypted, encrypted: true, kmsKeyID: ownerKey2,
			wantEncrypted: true, wantKey: func() string { return ownerKey2 },
		},
		"owner to another region gets that region's default key": {
			copier: owner, destRegion: other, source: encrypted,
			wantEncrypted: true, wantKey: func() string { return ebsKeyARN(t, owner, other) },
		},
		"owner to another region with a key there": {
			copier: owner, destRegion: other, source: encrypted, encrypted: true, kmsKeyID: otherRegionKey,
			wantEncrypted: true, wantKey: func() string { return otherRegionKey },
		},
		"shared image copied by target gets the target's default key": {
			copier: target, destRegion: region, source: encrypted,
			wantEncrypted: true, wantKey: func() string { return ebsKeyARN(t, target, region) },
		},
		"shared image copied by target with its own key": {
			copier: target, destRegion: region, source: encrypted, encrypted: true, kmsKeyID: targetKey,
			wantEncrypted: true, wantKey: func() string { return targetKey },
		},
		"unencrypted stays unencrypted": {
			copier: owner, destRegion: region, source: plain,
		},
		"unencrypted with Encrypted gets the default key": {
			copier: owner, destRegion: region, source: plain, encrypted: true,
			wantEncrypted: true, wantKey: func() string { return ebsKeyARN(t, owner, region) },
		},
		"KmsKeyId without Encrypted is refused": {
			copier: owner, destRegion: region, source: encrypted, kmsKeyID: ownerKey2,
			wantErr: "InvalidParameterDependency",
		},
		"unshared image is not found": {
			copier: target, destRegion: region, source: plain,
			wantErr: "InvalidAMIID.NotFound",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := ec2For(t, tc.copier, tc.destRegion)
			in := &ec2.CopyImageInput{Name: aws.String("copy"), SourceImageId: aws.String(tc.source), SourceRegion: aws.String(region)}
			if tc.encrypted {
				in.Encrypted = aws.Bool(true)
			}
			if tc.kmsKeyID != "" {
				in.KmsKeyId = aws.String(tc.kmsKeyID)
			}
			out, err := c.CopyImage(testCtx(t), in)
			if tc.wantErr != "" {
				if apiCode(err) != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			copyID := aws.ToString(out.ImageId)
			im := describeImage(t, c, copyID)
			if im.State != ec2types.ImageStatePending || aws.ToString(im.OwnerId) != tc.copier || aws.ToString(im.SourceImageId) != tc.source {
				t.Errorf("copy = state %s owner %s source %s", im.State, aws.ToString(im.OwnerId), aws.ToString(im.SourceImageId))
			}
			gotEnc, gotKey := snapshotKey(t, c, copyID)
			wantKey := ""
			if tc.wantKey != nil {
				wantKey = tc.wantKey()
			}
			if gotEnc != tc.wantEncrypted || gotKey != wantKey {
				t.Errorf("copy snapshot encrypted %v key %q, want %v %q", gotEnc, gotKey, tc.wantEncrypted, wantKey)
			}
		})
	}
}

// A copy by another account needs the source snapshot's key (EC2 User Guide, "Copy an AMI":
// for an encrypted shared AMI the copier needs permission to use the source key); on AWS the
// CopyImage call succeeds and the new AMI ends "failed". With the key shared, it ends
// "available".
func TestCopyCompletesOnlyWithKeyAccess(t *testing.T) {
	ctx := testCtx(t)
	key := newKey(t, owner, region)
	source, _ := registerEncryptedImage(t, owner, region, key)
	env.Filler.ShareImage(source, target)
	tc := ec2For(t, target, region)
	copyOnce := func() string {
		out, err := tc.CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("copy"), SourceImageId: aws.String(source), SourceRegion: aws.String(region)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ImageId)
	}

	denied := copyOnce()
	if done := env.Filler.CompleteCopies(ctx); !slices.Contains(done, denied) {
		t.Fatalf("CompleteCopies = %v, want it to include %s", done, denied)
	}
	im := describeImage(t, tc, denied)
	if im.State != ec2types.ImageStateFailed || im.StateReason == nil || aws.ToString(im.StateReason.Message) == "" {
		t.Errorf("copy without key access: state %s reason %+v", im.State, im.StateReason)
	}

	if _, err := kmsFor(t, owner, region).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(sharePolicy(owner, owner, target))}); err != nil {
		t.Fatal(err)
	}
	allowed := copyOnce()
	env.Filler.CompleteCopies(ctx)
	if im := describeImage(t, tc, allowed); im.State != ec2types.ImageStateAvailable {
		t.Errorf("copy with key access: state %s reason %+v", im.State, im.StateReason)
	}
	// A finished copy is an ordinary image of the copier: it launches there.
	if in := runAndDescribe(t, tc, allowed); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("launch from the copy: %s %+v", in.State.Name, in.StateReason)
	}
}

// With AutoCompleteCopies the copy is pending in nobody's view after CopyImage returns: the next
// DescribeImages finishes it first.
func TestAutoCompleteCopies(t *testing.T) {
	env.Filler.AutoCompleteCopies(true)
	defer env.Filler.AutoCompleteCopies(false)
	source, _ := registerEncryptedImage(t, owner, region, newKey(t, owner, region))
	c := ec2For(t, owner, region)
	out, err := c.CopyImage(testCtx(t), &ec2.CopyImageInput{Name: aws.String("copy"), SourceImageId: aws.String(source), SourceRegion: aws.String(region)})
	if err != nil {
		t.Fatal(err)
	}
	if im := describeImage(t, c, aws.ToString(out.ImageId)); im.State != ec2types.ImageStateAvailable {
		t.Errorf("state %s, want available", im.State)
	}
}
