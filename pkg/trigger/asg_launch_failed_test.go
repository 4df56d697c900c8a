package trigger

import (
	"fmt"
	"testing"
)

func TestDiagnoseASGLaunchFailed(t *testing.T) {
	const acct = "444455556666"
	trig := Trigger{Kind: ASGLaunchFailed, Account: acct, Region: "us-east-1", ASGName: "app-asg"}
	group := "Group 444455556666 us-east-1 app-asg"
	role := &Principal{ARN: "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web",
		Account: acct, Type: PrincipalServiceLinkedRole, Name: "AWSServiceRoleForAutoScaling_web"}
	own, override := LaunchTemplate{ID: "lt-own", Version: "$Latest"}, LaunchTemplate{ID: "lt-over", Version: "2"}
	noImage := fmt.Errorf("lt-over: %w", ErrNoImage)
	runDiagnoseCases(t, ASGLaunchFailed, map[string]diagnoseCase{
		"every template, by the group's role": {
			trig: trig, fake: fakeDiagnosis{group: GroupInfo{ServiceLinkedRole: role, Templates: []LaunchTemplate{own, override}}},
			calls:     []string{group, "CheckLaunch lt-own", "CheckLaunch lt-over"},
			launches:  []LaunchCheck{{Account: acct, Region: "us-east-1", Template: &own}, {Account: acct, Region: "us-east-1", Template: &override}},
			principal: role,
		},
		"an override that names no image is noted": {
			trig: trig, fake: fakeDiagnosis{group: GroupInfo{ServiceLinkedRole: role, Templates: []LaunchTemplate{own, override}}, launchErr: map[string]error{"lt-over": noImage}},
			calls:     []string{group, "CheckLaunch lt-own", "CheckLaunch lt-over"},
			launches:  []LaunchCheck{{Account: acct, Region: "us-east-1", Template: &own}, {Account: acct, Region: "us-east-1", Template: &override}},
			principal: role, notes: []string{"launch template lt-over (version 2) of group app-asg"},
		},
		"a launch configuration": {
			trig: trig, fake: fakeDiagnosis{group: GroupInfo{ServiceLinkedRole: role, LaunchConfigurationImage: "ami-1"}},
			calls: []string{group, "CheckLaunch ami-1"}, launches: []LaunchCheck{{Account: acct, Region: "us-east-1", ImageID: "ami-1"}}, principal: role,
		},
		"nothing names an image": {
			trig: trig, fake: fakeDiagnosis{group: GroupInfo{Templates: []LaunchTemplate{override}}, launchErr: map[string]error{"lt-over": noImage}},
			calls: []string{group, "CheckLaunch lt-over"}, launches: []LaunchCheck{{Account: acct, Region: "us-east-1", Template: &override}},
			notes: []string{"lt-over"}, ignored: "launches no image that can be known",
		},
		"no group": {trig: Trigger{Kind: ASGLaunchFailed, Account: acct}, wantErr: "names no group"},
	})
}
