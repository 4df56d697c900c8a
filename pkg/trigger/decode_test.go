package trigger

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// ebCloudTrail wraps a CloudTrail record as EventBridge delivers it.
func ebCloudTrail(detail string) string {
	return `{"version":"0","id":"11111111-2222-4333-8444-555555555555","detail-type":"AWS API Call via CloudTrail",
	"source":"aws.ec2","account":"111122223333","time":"2026-11-28T14:03:11Z","region":"us-east-1","resources":[],
	"detail":` + detail + `}`
}

// sqsEvent wraps bodies as an SQS event; each body is given as JSON text and embedded as a string.
func sqsEvent(t *testing.T, ids []string, bodies []string) []byte {
	t.Helper()
	type msg struct {
		MessageID   string `json:"messageId"`
		Body        string `json:"body"`
		EventSource string `json:"eventSource"`
	}
	var ev struct {
		Records []msg `json:"Records"`
	}
	for i, b := range bodies {
		ev.Records = append(ev.Records, msg{MessageID: ids[i], Body: b, EventSource: "aws:sqs"})
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

const shareDetail = `{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","awsRegion":"us-east-1",
	"eventID":"ct-1","recipientAccountId":"111122223333",
	"requestParameters":{"imageId":"ami-0a1b2c3d4e5f60718","attributeType":"launchPermission",
	"launchPermission":{"add":{"items":[{"userId":"444455556666"}]}}}}`

func TestDecodeSQSBatchWithMalformedRecord(t *testing.T) {
	raw := sqsEvent(t, []string{"m-1", "m-2", "m-3", "m-4"}, []string{
		ebCloudTrail(shareDetail),
		`{"version":"0","id":"x","detail-type":"EC2 AMI State Change","source":"aws.ec2"`, // truncated
		`{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":"terminated"}`,
		`{"id":"y","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"444455556666",
		  "region":"us-east-1","detail":{"instance-id":"i-0abcd1234ef567890","state":"terminated"}}`,
	})
	inv, err := Decode(raw)
	if err != nil {
		t.Fatalf("a malformed message must not fail the batch: %v", err)
	}
	if !inv.FromSQS || len(inv.Records) != 4 {
		t.Fatalf("FromSQS=%v records=%d, want true, 4", inv.FromSQS, len(inv.Records))
	}
	wantErr := []string{"", "decode SQS message m-2: body: not valid JSON", "decode SQS message m-3: body: detail: expected object, got string", ""}
	wantKind := []Kind{ShareImage, "", "", InstanceTerminated}
	for i, rec := range inv.Records {
		if rec.MessageID != []string{"m-1", "m-2", "m-3", "m-4"}[i] {
			t.Errorf("record %d: MessageID = %q", i, rec.MessageID)
		}
		if wantErr[i] == "" {
			if rec.Err != nil {
				t.Errorf("record %d: unexpected error %v", i, rec.Err)
			} else if rec.Trigger.Kind != wantKind[i] {
				t.Errorf("record %d: Kind = %q, want %q", i, rec.Trigger.Kind, wantKind[i])
			}
			continue
		}
		if rec.Err == nil || rec.Err.Error() != wantErr[i] {
			t.Errorf("record %d: err = %v, want %q", i, rec.Err, wantErr[i])
		}
	}
	share := inv.Records[0].Trigger
	if share.EventID != "11111111-2222-4333-8444-555555555555" || share.Account != "111122223333" || share.ImageID != "ami-0a1b2c3d4e5f60718" {
		t.Errorf("share trigger fields: %+v", share)
	}
}

func TestDecodeSQSMessageProblems(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantErr string
	}{
		"body is a number":     {`{"Records":[{"messageId":"m","body":5,"eventSource":"aws:sqs"}]}`, "decode SQS message m: body: expected string, got number"},
		"body missing":         {`{"Records":[{"messageId":"m","eventSource":"aws:sqs"}]}`, "decode SQS message m: body: missing"},
		"body is a JSON array": {`{"Records":[{"messageId":"m","body":"[1]","eventSource":"aws:sqs"}]}`, "decode SQS message m: body: expected object, got array"},
		"body is unknown JSON": {`{"Records":[{"messageId":"m","body":"{\"a\":1}","eventSource":"aws:sqs"}]}`, "decode SQS message m: body: unrecognized input"},
		"message not object":   {`{"Records":[{"messageId":"m","body":"{}","eventSource":"aws:sqs"},"x"]}`, "decode SQS message: Records[1]: expected object, got string"},
		"messageId not string": {`{"Records":[{"messageId":7,"body":"{}","eventSource":"aws:sqs"}]}`, "decode SQS message Records[0]: messageId: expected string, got number"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !inv.FromSQS {
				t.Fatal("FromSQS = false")
			}
			last := inv.Records[len(inv.Records)-1]
			if last.Err == nil || !strings.HasPrefix(last.Err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want prefix %q", last.Err, tc.wantErr)
			}
		})
	}
}

func TestDecodeUnusableInput(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantErr string
	}{
		"empty":                        {``, "decode event: not valid JSON"},
		"not JSON":                     {`hello`, "decode event: not valid JSON"},
		"truncated":                    {`{"detail":`, "decode event: not valid JSON"},
		"string":                       {`"x"`, "decode event: expected object or array, got string"},
		"null":                         {`null`, "decode event: expected object or array, got null"},
		"unknown object":               {`{"foo":1}`, "decode event: unrecognized input"},
		"envelope no detail":           {`{"version":"0","id":"a","detail-type":"EC2 AMI State Change","source":"aws.ec2"}`, "decode event: detail: missing"},
		"detail is a string":           {`{"detail-type":"EC2 AMI State Change","source":"aws.ec2","detail":"x"}`, "decode event: detail: expected object, got string"},
		"detail is null":               {`{"detail-type":"EC2 AMI State Change","source":"aws.ec2","detail":null}`, "decode event: detail: expected object, got null"},
		"account is a number":          {`{"detail-type":"x","source":"y","account":111122223333,"detail":{}}`, "decode event: account: expected string, got number"},
		"detail-type is a list":        {`{"detail-type":["x"],"detail":{}}`, "decode event: detail-type: expected string, got array"},
		"AMI state is a bool":          {`{"detail-type":"EC2 AMI State Change","source":"aws.ec2","detail":{"State":true}}`, "decode event: detail.State: expected string, got boolean"},
		"AMI available no id":          {`{"detail-type":"EC2 AMI State Change","source":"aws.ec2","detail":{"State":"available"}}`, "decode event: detail.ImageId: missing"},
		"terminated no id":             {`{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"terminated","instance-id":"  "}}`, "decode event: detail.instance-id: missing"},
		"instance-id a number":         {`{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"terminated","instance-id":5}}`, "decode event: detail.instance-id: expected string, got number"},
		"CloudTrail no eventName":      {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com"}`), "decode event: detail.eventName: missing"},
		"bare record eventName number": {`{"eventName":1,"eventSource":"ec2.amazonaws.com"}`, "decode event: eventName: expected string, got number"},
		"requestParameters a string": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"CopyImage","requestParameters":"x"}`),
			"decode event: detail.requestParameters: expected object, got string"},
		"launchPermission items a string": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute",
			"requestParameters":{"imageId":"ami-1","launchPermission":{"add":{"items":"444455556666"}}}}`),
			"decode event: detail.requestParameters.launchPermission.add.items: expected array or object, got string"},
		"share without imageId": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute",
			"requestParameters":{"launchPermission":{"add":{"items":[{"userId":"444455556666"}]}}}}`),
			"decode event: detail.requestParameters.imageId: missing"},
		"userIdentity type wrong on launch-failed": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation",
			"userIdentity":{"type":["IAMUser"]}}`), "decode event: detail.userIdentity.type: expected string, got array"},
		"Records not a list": {`{"Records":{"a":1}}`, "decode event: Records: expected array, got object"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv, err := Decode([]byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want prefix %q", err, tc.wantErr)
			}
			if len(inv.Records) != 0 {
				t.Fatalf("records returned with an error: %+v", inv.Records)
			}
		})
	}
}

func TestDecodeCloudTrailLists(t *testing.T) {
	rec := `{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","eventID":"e1","awsRegion":"us-east-1",
		"recipientAccountId":"111122223333","requestParameters":{"imageId":"ami-1","launchPermission":{"add":{"items":[{"group":"all"}]}}}}`
	tests := map[string]struct {
		in       string
		wantKind []Kind
		wantErr  []string
	}{
		"log file":               {`{"Records":[` + rec + `,{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}]}`, []Kind{ShareImage, Ignored}, []string{"", ""}},
		"array":                  {`[` + rec + `]`, []Kind{ShareImage}, []string{""}},
		"array with bad element": {`[` + rec + `, 7, {"eventName":{}}]`, []Kind{ShareImage, "", ""}, []string{"", "decode CloudTrail record [1]: expected object, got number", "decode CloudTrail record [2]: eventName: expected string, got object"}},
		"empty log file":         {`{"Records":[]}`, nil, nil},
		"empty array":            {`[]`, nil, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inv, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if inv.FromSQS {
				t.Error("FromSQS = true")
			}
			if len(inv.Records) != len(tc.wantKind) {
				t.Fatalf("got %d records, want %d", len(inv.Records), len(tc.wantKind))
			}
			for i, r := range inv.Records {
				if tc.wantErr[i] != "" {
					if r.Err == nil || r.Err.Error() != tc.wantErr[i] {
						t.Errorf("record %d: err = %v, want %q", i, r.Err, tc.wantErr[i])
					}
					continue
				}
				if r.Err != nil || r.Trigger.Kind != tc.wantKind[i] {
					t.Errorf("record %d: %v %q, want %q", i, r.Err, r.Trigger.Kind, tc.wantKind[i])
				}
			}
		})
	}
	// A bare record's EventID is its CloudTrail eventID.
	if tr := decodeOne(t, []byte(rec)); tr.EventID != "e1" || !tr.SharePublic {
		t.Errorf("bare record: %+v", tr)
	}
}

// TestShareTargets: launchPermission items are kept raw (validation is not the decoder's job),
// whatever their shape.
func TestShareTargets(t *testing.T) {
	tests := map[string]struct {
		items     string
		users     []string
		public    bool
		orgs, ous []string
	}{
		"list of user ids":    {items: `[{"userId":"444455556666"},{"userId":"555566667777"}]`, users: []string{"444455556666", "555566667777"}},
		"single object":       {items: `{"userId":"444455556666"}`, users: []string{"444455556666"}},
		"numeric userId":      {items: `[{"userId":444455556666}]`, users: []string{"444455556666"}},
		"float userId kept":   {items: `[{"userId":4.4445555666e11}]`, users: []string{"4.4445555666e11"}},
		"crafted userIds raw": {items: `[{"userId":"*"},{"userId":"arn:aws:iam::444455556666:root"},{"userId":"4444555566667"},{"userId":"４４４４５５５５６６６６"}]`, users: []string{"*", "arn:aws:iam::444455556666:root", "4444555566667", "４４４４５５５５６６６６"}},
		"group all":           {items: `[{"group":"all"}]`, public: true},
		"org and ou": {
			items: `[{"organizationArn":"arn:aws:organizations::111122223333:organization/o-abcdefghij"},{"organizationalUnitArn":"arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34"}]`,
			orgs:  []string{"arn:aws:organizations::111122223333:organization/o-abcdefghij"},
			ous:   []string{"arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34"},
		},
		"mixed in one item": {items: `[{"userId":"444455556666","group":"all"}]`, users: []string{"444455556666"}, public: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr := decodeOne(t, []byte(ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute",
				"requestParameters":{"imageId":"ami-1","attributeType":"launchPermission","launchPermission":{"add":{"items":`+tc.items+`}}}}`)))
			if tr.Kind != ShareImage {
				t.Fatalf("Kind = %q (%s)", tr.Kind, tr.IgnoredReason)
			}
			if !reflect.DeepEqual(tr.ShareUserIDs, tc.users) || tr.SharePublic != tc.public ||
				!reflect.DeepEqual(tr.ShareOrgARNs, tc.orgs) || !reflect.DeepEqual(tr.ShareOUARNs, tc.ous) {
				t.Fatalf("got users=%q public=%v orgs=%q ous=%q", tr.ShareUserIDs, tr.SharePublic, tr.ShareOrgARNs, tr.ShareOUARNs)
			}
			if tr.Principal != nil {
				t.Errorf("share-image has a principal: %+v", tr.Principal)
			}
		})
	}
}

func TestCloudTrailFieldMapping(t *testing.T) {
	const deployer = `"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::444455556666:assumed-role/app-deployer/s","accountId":"444455556666",
		"sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::444455556666:role/app-deployer","accountId":"444455556666"}}}`
	tests := map[string]struct {
		detail string
		check  func(t *testing.T, tr Trigger)
	}{
		"CopyImage": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"CopyImage","awsRegion":"us-east-1",` + deployer + `,
				"requestParameters":{"sourceRegion":"us-west-2","sourceImageId":"ami-src","encrypted":true,"kmsKeyId":"alias/x"},
				"responseElements":{"imageId":"ami-new"}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != CopyImage || tr.ImageID != "ami-new" || tr.SourceImageID != "ami-src" || tr.SourceRegion != "us-west-2" ||
					tr.KMSKeyID != "alias/x" || tr.Region != "us-east-1" || tr.Account != "444455556666" || principalARN(tr) != "arn:aws:iam::444455556666:role/app-deployer" {
					t.Errorf("%+v", tr)
				}
			},
		},
		"CopyImage failed, account from userIdentity": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"CopyImage","errorCode":"Client.InvalidParameterValue","errorMessage":"m",` + deployer + `,
				"requestParameters":{"sourceRegion":"us-east-1","sourceImageId":"ami-src"},"responseElements":null}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != CopyImageFailed || tr.ImageID != "" || tr.SourceImageID != "ami-src" || tr.ErrorCode != "Client.InvalidParameterValue" ||
					tr.ErrorMessage != "m" || tr.Account != "444455556666" || tr.Principal == nil {
					t.Errorf("%+v", tr)
				}
			},
		},
		"CopyImage dry run": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"CopyImage","errorCode":"Client.DryRunOperation"}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != Ignored {
					t.Errorf("%+v", tr)
				}
			},
		},
		"RunInstances via launch template": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation",` + deployer + `,
				"requestParameters":{"instancesSet":{"items":[{"minCount":1,"maxCount":1}]},"launchTemplate":{"launchTemplateId":"lt-0abc"}},"responseElements":null}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != LaunchFailed || tr.ImageID != "" || tr.LaunchTemplate == nil || tr.LaunchTemplate.ID != "lt-0abc" {
					t.Errorf("%+v", tr)
				}
			},
		},
		"RunInstances with top-level imageId and a single-object instancesSet": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Server.InternalError",` + deployer + `,
				"requestParameters":{"instancesSet":{"items":{"imageId":"ami-a"}},"imageId":"ami-b"}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != LaunchFailed || tr.ImageID != "ami-a" || len(tr.Notes) != 1 || !strings.Contains(tr.Notes[0], "ami-a, ami-b") {
					t.Errorf("%+v", tr)
				}
			},
		},
		"RunInstances failed with image only in responseElements": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.InvalidParameterValue",` + deployer + `,
				"responseElements":{"instancesSet":{"items":[{"instanceId":"i-0123","imageId":"ami-r"}]}}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != LaunchFailed || tr.ImageID != "ami-r" || tr.InstanceID != "i-0123" {
					t.Errorf("%+v", tr)
				}
			},
		},
		"RunInstances DryRunOperation without prefix": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"DryRunOperation"}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != Ignored || !strings.Contains(tr.IgnoredReason, "dry run") {
					t.Errorf("%+v", tr)
				}
			},
		},
		"launch-failed with unresolvable principal is noted": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation",
				"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::4444555566667:user/u"},"requestParameters":{"imageId":"ami-1"}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != LaunchFailed || tr.Principal != nil || len(tr.Notes) != 1 || !strings.Contains(tr.Notes[0], "principal not resolved") {
					t.Errorf("%+v", tr)
				}
			},
		},
		"launch-failed without userIdentity": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation","userIdentity":null}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != LaunchFailed || tr.Principal != nil || len(tr.Notes) != 1 {
					t.Errorf("%+v", tr)
				}
			},
		},
		"launchPermission remove and add": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","requestParameters":{"imageId":"ami-1",
				"launchPermission":{"remove":{"items":[{"userId":"111111111111"}]},"add":{"items":[{"userId":"444455556666"}]}}}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != ShareImage || !reflect.DeepEqual(tr.ShareUserIDs, []string{"444455556666"}) {
					t.Errorf("%+v", tr)
				}
			},
		},
		"ModifyImageAttribute of the description": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","requestParameters":{"imageId":"ami-1","attributeType":"description","description":{"value":"x"}}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != Ignored || !strings.Contains(tr.IgnoredReason, "description") {
					t.Errorf("%+v", tr)
				}
			},
		},
		"envelope account disagrees with recipientAccountId": {
			detail: `{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","recipientAccountId":"444455556666",
				"requestParameters":{"imageId":"ami-1","launchPermission":{"add":{"items":[{"userId":"555566667777"}]}}}}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != ShareImage || tr.Account != "444455556666" || len(tr.Notes) != 1 || !strings.Contains(tr.Notes[0], `envelope account "111122223333" differs`) {
					t.Errorf("%+v", tr)
				}
			},
		},
		"KMS CreateGrant is self-caused": {
			detail: `{"eventSource":"kms.amazonaws.com","eventName":"CreateGrant"}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != Ignored || !strings.Contains(tr.IgnoredReason, "remediator itself") {
					t.Errorf("%+v", tr)
				}
			},
		},
		"IAM writes are no trigger": {
			detail: `{"eventSource":"iam.amazonaws.com","eventName":"CreatePolicyVersion"}`,
			check: func(t *testing.T, tr Trigger) {
				if tr.Kind != Ignored || !strings.Contains(tr.IgnoredReason, "is not a trigger") {
					t.Errorf("%+v", tr)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.check(t, decodeOne(t, []byte(ebCloudTrail(tc.detail))))
		})
	}
}

func TestASGLaunchUnsuccessful(t *testing.T) {
	tests := map[string]struct {
		msg, account, region string
		kind                 Kind
		principal            string
	}{
		"Client.InternalError": {"Instance became unhealthy while waiting for instance to be in InService state. Termination Reason: Client.InternalError: Client error on launch",
			"444455556666", "us-east-1", ASGLaunchFailed, "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"},
		"InvalidKMSKey":        {"Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state", "444455556666", "us-east-1", ASGLaunchFailed, "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"},
		"kms in lower case":    {"access denied by kms", "444455556666", "cn-north-1", ASGLaunchFailed, "arn:aws-cn:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"},
		"bad account":          {"KMS", "4444", "us-east-1", ASGLaunchFailed, ""},
		"capacity, not KMS":    {"We currently do not have sufficient t3.micro capacity", "444455556666", "us-east-1", Ignored, ""},
		"empty status message": {"", "444455556666", "us-east-1", Ignored, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			msg, _ := json.Marshal(tc.msg)
			tr := decodeOne(t, []byte(`{"id":"a","detail-type":"EC2 Instance Launch Unsuccessful","source":"aws.autoscaling","account":"`+tc.account+`",
				"region":"`+tc.region+`","detail":{"AutoScalingGroupName":"app-asg","EC2InstanceId":" i-0fedcba9876543210","StatusCode":"Failed","StatusMessage":`+string(msg)+`}}`))
			if tr.Kind != tc.kind || principalARN(tr) != tc.principal || tr.ASGName != "app-asg" || tr.InstanceID != "i-0fedcba9876543210" || tr.ErrorMessage != tc.msg {
				t.Fatalf("%+v", tr)
			}
		})
	}
}

// The receive count is read from the SQS message's attributes, as Lambda delivers it (a decimal
// string); anything else is unknown (0), never an error, and a malformed message keeps its count.
func TestDecodeSQSReceiveCount(t *testing.T) {
	body, _ := json.Marshal(ebCloudTrail(shareDetail))
	for name, tc := range map[string]struct {
		attrs string
		want  int
	}{
		"first delivery":     {`{"ApproximateReceiveCount":"1","SentTimestamp":"1764338591000"}`, 1},
		"fifth delivery":     {`{"ApproximateReceiveCount":"5"}`, 5},
		"a number":           {`{"ApproximateReceiveCount":3}`, 3},
		"missing":            {`{"SentTimestamp":"1764338591000"}`, 0},
		"no attributes":      {``, 0},
		"not digits":         {`{"ApproximateReceiveCount":"2x"}`, 0},
		"full-width digits":  {`{"ApproximateReceiveCount":"５"}`, 0},
		"negative":           {`{"ApproximateReceiveCount":"-1"}`, 0},
		"too long":           {`{"ApproximateReceiveCount":"99999999999"}`, 0},
		"attributes a list":  {`[1]`, 0},
		"count is an object": {`{"ApproximateReceiveCount":{}}`, 0},
	} {
		t.Run(name, func(t *testing.T) {
			attrs := ""
			if tc.attrs != "" {
				attrs = `,"attributes":` + tc.attrs
			}
			for _, b := range []string{string(body), `"not json"`} {
				raw := `{"Records":[{"messageId":"m-1","eventSource":"aws:sqs","body":` + b + attrs + `}]}`
				inv, err := Decode([]byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				if got := inv.Records[0].ReceiveCount; got != tc.want {
					t.Errorf("body %.20s: ReceiveCount = %d, want %d", b, got, tc.want)
				}
			}
		})
	}
	inv, err := Decode(readFile(t, "../../events/sqs-batch.json"))
	if err != nil || inv.Records[0].ReceiveCount != 1 {
		t.Errorf("events/sqs-batch.json: %v, %+v", err, inv.Records)
	}
}
