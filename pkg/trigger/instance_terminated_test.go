package trigger

import "testing"

func TestDiagnoseInstanceTerminated(t *testing.T) {
	const acct = "444455556666"
	trig := Trigger{Kind: InstanceTerminated, Account: acct, Region: "us-east-1", InstanceID: "i-1"}
	named := trig
	named.Principal = &Principal{ARN: "arn:aws:iam::444455556666:role/r", Account: acct, Type: PrincipalRole}
	launcher := &Principal{ARN: "arn:aws:iam::444455556666:role/app", Account: acct, Type: PrincipalRole, Name: "app"}
	kms := Instance{ImageID: "ami-1", StateReasonCode: "Client.InternalError"}
	runDiagnoseCases(t, InstanceTerminated, map[string]diagnoseCase{
		"KMS state reason: who launched it is looked up": {
			trig: trig, fake: fakeDiagnosis{instance: kms, launcher: launcher},
			calls:    []string{"Instance 444455556666 us-east-1 i-1", "Launcher 444455556666 us-east-1 i-1", "CheckLaunch ami-1"},
			launches: []LaunchCheck{{Account: acct, Region: "us-east-1", ImageID: "ami-1"}}, image: "ami-1", principal: launcher,
		},
		"launcher not known yet: the key side still runs": {
			trig: trig, fake: fakeDiagnosis{instance: Instance{ImageID: "ami-1", StateReasonCode: "Client.InvalidKMSKey.InvalidState"}},
			calls:    []string{"Instance 444455556666 us-east-1 i-1", "Launcher 444455556666 us-east-1 i-1", "CheckLaunch ami-1"},
			launches: []LaunchCheck{{Account: acct, Region: "us-east-1", ImageID: "ami-1"}}, image: "ami-1",
		},
		"principal already known": {
			trig: named, fake: fakeDiagnosis{instance: kms},
			calls:    []string{"Instance 444455556666 us-east-1 i-1", "CheckLaunch ami-1"},
			launches: []LaunchCheck{{Account: acct, Region: "us-east-1", ImageID: "ami-1"}}, image: "ami-1",
		},
		"launched from a template: its mappings are checked too": {
			trig: named, fake: fakeDiagnosis{instance: Instance{ImageID: "ami-1", StateReasonCode: "Client.InternalError", LaunchTemplate: &LaunchTemplate{ID: "lt-1", Version: "4"}}},
			calls:    []string{"Instance 444455556666 us-east-1 i-1", "CheckLaunch lt-1"},
			launches: []LaunchCheck{{Account: acct, Region: "us-east-1", ImageID: "ami-1", Template: &LaunchTemplate{ID: "lt-1", Version: "4"}}}, image: "ami-1",
		},
		"terminated by a user": {
			trig: trig, fake: fakeDiagnosis{instance: Instance{ImageID: "ami-1", StateReasonCode: "Client.UserInitiatedShutdown"}},
			calls: []string{"Instance 444455556666 us-east-1 i-1"}, ignored: "not a KMS launch failure",
		},
	})
}
