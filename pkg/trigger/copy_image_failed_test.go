package trigger

import "testing"

func TestDiagnoseCopyImageFailed(t *testing.T) {
	const acct = "444455556666"
	runDiagnoseCases(t, CopyImageFailed, map[string]diagnoseCase{
		"the source image, in its region, for the copying account": {
			trig:  Trigger{Kind: CopyImageFailed, Account: acct, Region: "us-east-1", SourceImageID: "ami-src", SourceRegion: "us-west-2"},
			calls: []string{"CheckImage ami-src"}, checks: []ImageCheck{launchCheck(acct, "us-west-2", "ami-src")}, image: "ami-src",
		},
		"no source region: the copy's": {
			trig:  Trigger{Kind: CopyImageFailed, Account: acct, Region: "us-east-1", SourceImageID: "ami-src"},
			calls: []string{"CheckImage ami-src"}, checks: []ImageCheck{launchCheck(acct, "us-east-1", "ami-src")}, image: "ami-src",
		},
		"no source image": {trig: Trigger{Kind: CopyImageFailed, Account: acct}, wantErr: "names no source image"},
	})
}
