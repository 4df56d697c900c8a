package trigger

import "testing"

func TestDiagnoseASGLaunchFailed(t *testing.T) {
	const acct = "444455556666"
	trig := Trigger{Kind: ASGLaunchFailed, Account: acct, Region: "us-east-1", ASGName: "app-asg"}
	group := "GroupImage 444455556666 us-east-1 app-asg"
	runDiagnoseCases(t, ASGLaunchFailed, map[string]diagnoseCase{
		"the group's image": {
			trig: trig, fake: fakeDiagnosis{groupImage: "ami-1"},
			calls: []string{group, "CheckImage ami-1"}, checks: []ImageCheck{launchCheck(acct, "us-east-1", "ami-1")}, image: "ami-1",
		},
		"an SSM parameter instead of an image": {
			trig: trig, fake: fakeDiagnosis{groupImage: "resolve:ssm:/golden/ami"}, calls: []string{group}, ignored: "names no literal image",
		},
		"no image at all": {trig: trig, calls: []string{group}, ignored: "names no literal image"},
		"no group":        {trig: Trigger{Kind: ASGLaunchFailed, Account: acct}, wantErr: "names no group"},
	})
}
