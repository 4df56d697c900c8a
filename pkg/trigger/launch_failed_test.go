package trigger

import "testing"

func TestDiagnoseLaunchFailed(t *testing.T) {
	const acct = "444455556666"
	runDiagnoseCases(t, LaunchFailed, map[string]diagnoseCase{
		"the image for the launching account": {
			trig:  Trigger{Kind: LaunchFailed, Account: acct, Region: "us-east-1", ImageID: "ami-1"},
			calls: []string{"CheckImage ami-1"}, checks: []ImageCheck{launchCheck(acct, "us-east-1", "ami-1")},
		},
		"launch template without image": {trig: Trigger{Kind: LaunchFailed, Account: acct}, ignored: "names no image"},
	})
}
