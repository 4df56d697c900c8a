package trigger

import (
	"fmt"
	"testing"
)

func TestDiagnoseLaunchFailed(t *testing.T) {
	const acct = "444455556666"
	lt := &LaunchTemplate{ID: "lt-1", Version: "$Latest"}
	yes := true
	devices := []BlockDevice{{DeviceName: "/dev/xvda", Encrypted: &yes, KMSKeyID: "arn:aws:kms:us-east-1:444455556666:key/k"}}
	runDiagnoseCases(t, LaunchFailed, map[string]diagnoseCase{
		"the image for the launching account": {
			trig:     Trigger{Kind: LaunchFailed, Account: acct, Region: "us-east-1", ImageID: "ami-1"},
			calls:    []string{"CheckLaunch ami-1"},
			launches: []LaunchCheck{{Account: acct, Region: "us-east-1", ImageID: "ami-1"}},
		},
		"a launch template, with the request's mappings": {
			trig:     Trigger{Kind: LaunchFailed, Account: acct, Region: "us-east-1", LaunchTemplate: lt, BlockDevices: devices},
			calls:    []string{"CheckLaunch lt-1"},
			launches: []LaunchCheck{{Account: acct, Region: "us-east-1", Template: lt, BlockDevices: devices}},
		},
		"a launch template that names no image": {
			trig:  Trigger{Kind: LaunchFailed, Account: acct, Region: "us-east-1", LaunchTemplate: lt},
			fake:  fakeDiagnosis{launchErr: map[string]error{"lt-1": fmt.Errorf("launch template lt-1 ($Latest): %w", ErrNoImage)}},
			calls: []string{"CheckLaunch lt-1"}, launches: []LaunchCheck{{Account: acct, Region: "us-east-1", Template: lt}},
			ignored: "names no image",
		},
		"neither image nor template": {trig: Trigger{Kind: LaunchFailed, Account: acct}, ignored: "names no image and no launch template"},
	})
}

// RunInstances through a launch template: the template and the request's block device
// mappings are read from requestParameters (CloudTrail records them as the request gave them).
func TestDecodeLaunchTemplate(t *testing.T) {
	tr := decodeOne(t, []byte(ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation",
		"awsRegion":"us-east-1","recipientAccountId":"444455556666",
		"requestParameters":{"instancesSet":{"items":[{"minCount":1,"maxCount":1}]},
		"launchTemplate":{"launchTemplateId":"lt-0abc","version":"3"},
		"blockDeviceMapping":{"items":[{"deviceName":"/dev/xvda","ebs":{"encrypted":true,"kmsKeyId":"arn:aws:kms:us-east-1:444455556666:key/k"}},{"deviceName":"/dev/sdb","noDevice":""}]}},
		"responseElements":null}`)))
	if tr.Kind != LaunchFailed || tr.ImageID != "" || tr.LaunchTemplate == nil || *tr.LaunchTemplate != (LaunchTemplate{ID: "lt-0abc", Version: "3"}) {
		t.Fatalf("trigger %+v", tr)
	}
	if len(tr.BlockDevices) != 1 || tr.BlockDevices[0].DeviceName != "/dev/xvda" || tr.BlockDevices[0].Encrypted == nil || !*tr.BlockDevices[0].Encrypted ||
		tr.BlockDevices[0].KMSKeyID != "arn:aws:kms:us-east-1:444455556666:key/k" {
		t.Fatalf("block devices %+v", tr.BlockDevices)
	}
	if got := tr.LaunchTemplate.String(); got != "lt-0abc (version 3)" {
		t.Errorf("String = %q", got)
	}
	for name, bad := range map[string]string{
		"template without ID or name": `"launchTemplate":{"version":"1"}`,
		"encrypted not a boolean":     `"blockDeviceMapping":{"items":[{"deviceName":"/dev/xvda","ebs":{"encrypted":"yes"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			raw := ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation","requestParameters":{` + bad + `}}`)
			if _, err := Decode([]byte(raw)); err == nil {
				t.Fatal("decoded")
			}
		})
	}
}
