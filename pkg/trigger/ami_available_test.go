package trigger

import "testing"

func TestDiagnoseAMIAvailable(t *testing.T) {
	runDiagnoseCases(t, AMIAvailable, map[string]diagnoseCase{
		"the accounts it is shared with": {
			trig:   Trigger{Kind: AMIAvailable, Account: "111122223333", Region: "us-east-1", ImageID: "ami-1"},
			calls:  []string{"CheckImage ami-1"},
			checks: []ImageCheck{{Viewer: "111122223333", Region: "us-east-1", ImageID: "ami-1", WithShares: true}},
		},
	})
}
