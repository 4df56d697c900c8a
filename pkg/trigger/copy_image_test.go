package trigger

import "testing"

func TestDiagnoseCopyImage(t *testing.T) {
	const acct = "111122223333"
	noKey := Trigger{Kind: CopyImage, Account: acct, Region: "us-east-1", ImageID: "ami-new", SourceImageID: "ami-src", SourceRegion: "us-west-2"}
	withKey := noKey
	withKey.KMSKeyID = "alias/k"
	own := map[string]ImageInfo{"ami-src": {Owner: acct, State: "available"}}
	pending := map[string]ImageInfo{"ami-src": {Owner: acct, State: "available"}, "ami-new": {Owner: acct, State: "pending"}}
	foreign := map[string]ImageInfo{"ami-src": {Owner: "999988887777", State: "available"}, "ami-new": {Owner: acct, State: "pending"}}
	source := "Image 111122223333 us-west-2 ami-src"
	copied := "Image 111122223333 us-east-1 ami-new"
	sourceCheck := ImageCheck{Viewer: acct, Region: "us-west-2", ImageID: "ami-src", Targets: []string{acct}}
	runDiagnoseCases(t, CopyImage, map[string]diagnoseCase{
		"no key, copy pending: the AMI available event finishes": {
			trig: noKey, fake: fakeDiagnosis{images: pending}, calls: []string{source, copied}, ignored: "is pending",
		},
		"no key, copy available: its snapshots say": {
			trig: noKey, fake: fakeDiagnosis{images: own},
			calls:  []string{source, copied, "CheckImage ami-new"},
			checks: []ImageCheck{{Viewer: acct, Region: "us-east-1", ImageID: "ami-new", Targets: []string{acct}, WithShares: true}},
		},
		"another account's source: its keys are checked for the copier at once": {
			trig: noKey, fake: fakeDiagnosis{images: foreign},
			calls: []string{source, "CheckImage ami-src", copied}, checks: []ImageCheck{sourceCheck}, notes: []string{"is pending"},
		},
		"another account's source and a named key": {
			trig: withKey, fake: fakeDiagnosis{images: foreign, shared: []string{"444455556666"}},
			calls: []string{source, "CheckImage ami-src", "SharedWith 111122223333 us-west-2 ami-src",
				"CheckRequestedKey alias/k 111122223333 us-east-1 [111122223333 444455556666]"},
			checks: []ImageCheck{sourceCheck},
		},
		"named key: checked for the copier and the source's accounts": {
			trig: withKey, fake: fakeDiagnosis{images: own, shared: []string{"444455556666"}},
			calls: []string{source, "SharedWith 111122223333 us-west-2 ami-src", "CheckRequestedKey alias/k 111122223333 us-east-1 [111122223333 444455556666]"},
		},
		"unreadable source: the key is still checked for the copier": {
			trig: withKey, fake: fakeDiagnosis{imageErr: errTransient, sharedErr: errTransient, transient: false},
			calls: []string{source, "SharedWith 111122223333 us-west-2 ami-src", "CheckRequestedKey alias/k 111122223333 us-east-1 [111122223333]"},
			notes: []string{"could not be read in us-west-2"},
		},
		"source unreadable for now: retried": {
			trig: withKey, fake: fakeDiagnosis{imageErr: errTransient, transient: true},
			calls: []string{source}, wantErr: "throttled",
		},
		"no new image and no key": {
			trig: Trigger{Kind: CopyImage, Account: acct, Region: "us-east-1", SourceImageID: "ami-src", SourceRegion: "us-west-2"}, fake: fakeDiagnosis{images: own},
			calls: []string{source}, ignored: "without the new image's ID",
		},
	})
}
