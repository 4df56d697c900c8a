package trigger

import "testing"

func TestDiagnoseAMIFailed(t *testing.T) {
	const acct = "444455556666"
	trig := Trigger{Kind: AMIFailed, Account: acct, Region: "us-east-1", ImageID: "ami-copy", ErrorMessage: "the key is not accessible"}
	failed := "Image 444455556666 us-east-1 ami-copy"
	runDiagnoseCases(t, AMIFailed, map[string]diagnoseCase{
		"a failed copy: its source is checked for the copying account": {
			trig: trig, fake: fakeDiagnosis{images: map[string]ImageInfo{"ami-copy": {Owner: acct, State: "failed", SourceImageID: "ami-src", SourceRegion: "us-west-2"}}},
			calls:  []string{failed, "CheckImage ami-src"},
			checks: []ImageCheck{{Viewer: acct, Region: "us-west-2", ImageID: "ami-src", Targets: []string{acct}}},
			image:  "ami-src", notes: []string{"copy ami-copy of ami-src (us-west-2) failed: the key is not accessible"},
		},
		"no source region: the event's": {
			trig: trig, fake: fakeDiagnosis{images: map[string]ImageInfo{"ami-copy": {Owner: acct, State: "failed", SourceImageID: "ami-src"}}},
			calls:  []string{failed, "CheckImage ami-src"},
			checks: []ImageCheck{{Viewer: acct, Region: "us-east-1", ImageID: "ami-src", Targets: []string{acct}}},
			image:  "ami-src", notes: []string{"no SourceImageRegion", "copy ami-copy"},
		},
		"not a copy: nothing is guessed": {
			trig: trig, fake: fakeDiagnosis{images: map[string]ImageInfo{"ami-copy": {Owner: acct, State: "failed"}}},
			calls: []string{failed}, ignored: "names no source image",
		},
		"the image cannot be read": {trig: trig, fake: fakeDiagnosis{images: map[string]ImageInfo{}, imageErr: errTransient}, calls: []string{failed}, wantErr: "throttled"},
	})
}
