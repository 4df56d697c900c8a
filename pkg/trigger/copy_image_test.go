package trigger

import "testing"

func TestDiagnoseCopyImage(t *testing.T) {
	const acct = "111122223333"
	noKey := Trigger{Kind: CopyImage, Account: acct, Region: "us-east-1", ImageID: "ami-new", SourceImageID: "ami-src", SourceRegion: "us-west-2"}
	withKey := noKey
	withKey.KMSKeyID = "alias/k"
	runDiagnoseCases(t, CopyImage, map[string]diagnoseCase{
		"no key, copy pending: the AMI available event finishes": {
			trig: noKey, fake: fakeDiagnosis{state: "pending"}, calls: []string{"ImageState 111122223333 us-east-1 ami-new"}, ignored: "is pending",
		},
		"no key, copy available: its snapshots say": {
			trig: noKey, fake: fakeDiagnosis{state: "available"},
			calls:  []string{"ImageState 111122223333 us-east-1 ami-new", "CheckImage ami-new"},
			checks: []ImageCheck{{Viewer: acct, Region: "us-east-1", ImageID: "ami-new", Targets: []string{acct}, WithShares: true}},
		},
		"named key: checked for the copier and the source's accounts": {
			trig: withKey, fake: fakeDiagnosis{shared: []string{"444455556666"}},
			calls: []string{"SharedWith 111122223333 us-west-2 ami-src", "CheckRequestedKey alias/k 111122223333 us-east-1 [111122223333 444455556666]"},
		},
		"unreadable source: the key is still checked for the copier": {
			trig: withKey, fake: fakeDiagnosis{sharedErr: errTransient, transient: false},
			calls: []string{"SharedWith 111122223333 us-west-2 ami-src", "CheckRequestedKey alias/k 111122223333 us-east-1 [111122223333]"},
		},
		"source unreadable for now: retried": {
			trig: withKey, fake: fakeDiagnosis{sharedErr: errTransient, transient: true},
			calls: []string{"SharedWith 111122223333 us-west-2 ami-src"}, wantErr: "throttled",
		},
	})
}
