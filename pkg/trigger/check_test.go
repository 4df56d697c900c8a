package trigger

import "testing"

func TestDiagnoseCheck(t *testing.T) {
	const acct = "444455556666"
	runDiagnoseCases(t, Check, map[string]diagnoseCase{
		"the image for the account": {
			trig:  Trigger{Kind: Check, Account: acct, Region: "eu-west-1", ImageID: "ami-1"},
			calls: []string{"CheckLaunch ami-1"}, launches: []LaunchCheck{{Account: acct, Region: "eu-west-1", ImageID: "ami-1"}},
		},
	})
}
