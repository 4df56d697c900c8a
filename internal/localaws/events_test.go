package localaws_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

type recorded struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
	raw        json.RawMessage
}

type trail struct {
	EventName         string          `json:"eventName"`
	ErrorCode         string          `json:"errorCode"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
	UserIdentity      struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		SessionContext struct {
			SessionIssuer struct {
				ARN string `json:"arn"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
}

func events(t *testing.T) []recorded {
	t.Helper()
	var out []recorded
	for _, raw := range env.Filler.Events() {
		var r recorded
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, raw)
		}
		r.raw = raw
		out = append(out, r)
	}
	return out
}

// CloudTrail never reaches moto; the filler records what AWS would put on the bus for the EC2
// calls it models (EventBridge envelope, CloudTrail record as detail — CloudTrail User Guide,
// "CloudTrail record contents"; EC2 User Guide, EventBridge events for EC2). The project's
// decoder turns each into the trigger the remediator acts on.
func TestRecordedEvents(t *testing.T) {
	ctx := testCtx(t)
	env.Filler.ClearEvents()
	key := newKey(t, owner, region)
	imageID, _ := registerEncryptedImage(t, owner, region, key)

	const deployer = "arn:aws:iam::" + target + ":role/app-deployer"
	const deployerKey = "ASIA444455556666DEPL"
	if !env.Filler.MapAccessKeyPrincipal(deployerKey, deployer) {
		t.Fatal("MapAccessKeyPrincipal refused a role ARN")
	}
	deployerCfg, err := env.Config(ctx, target, region, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(deployerKey, "s", "")))
	if err != nil {
		t.Fatal(err)
	}
	dc := ec2.NewFromConfig(deployerCfg)

	if _, err := ec2For(t, owner, region).ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(target)}}}}); err != nil {
		t.Fatal(err)
	}
	launched := runAndDescribe(t, dc, imageID)
	cp, err := dc.CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("copy"), SourceImageId: aws.String(imageID), SourceRegion: aws.String(region)})
	if err != nil {
		t.Fatal(err)
	}
	env.Filler.CompleteCopies(ctx)

	env.Filler.FailCopiesSynchronously(true)
	_, err = dc.CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("copy2"), SourceImageId: aws.String(imageID), SourceRegion: aws.String(region)})
	env.Filler.FailCopiesSynchronously(false)
	if apiCode(err) != "InvalidParameterValue" {
		t.Fatalf("synchronous copy failure: err %v, want InvalidParameterValue", err)
	}

	got := events(t)
	want := []struct {
		detailType, eventName, account string
		kind                           trigger.Kind
	}{
		{"AWS API Call via CloudTrail", "ModifyImageAttribute", owner, trigger.ShareImage},
		{"AWS API Call via CloudTrail", "RunInstances", target, trigger.Ignored},
		{"EC2 Instance State-change Notification", "", target, trigger.InstanceTerminated},
		{"AWS API Call via CloudTrail", "CopyImage", target, trigger.CopyImage},
		{"EC2 AMI State Change", "", target, trigger.AMIFailed}, // the copy failed: its source is checked
		{"AWS API Call via CloudTrail", "CopyImage", target, trigger.CopyImageFailed},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%s", e.raw)
		}
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		var tr trail
		_ = json.Unmarshal(e.Detail, &tr)
		if e.DetailType != w.detailType || e.Source != "aws.ec2" || e.Account != w.account || e.Region != region || tr.EventName != w.eventName {
			t.Errorf("event %d = %s/%s in %s, want %s/%s in %s", i, e.DetailType, tr.EventName, e.Account, w.detailType, w.eventName, w.account)
		}
		inv, err := trigger.Decode(e.raw)
		if err != nil || len(inv.Records) != 1 || inv.Records[0].Err != nil {
			t.Errorf("event %d does not decode: %v %+v", i, err, inv)
			continue
		}
		if k := inv.Records[0].Trigger.Kind; k != w.kind {
			t.Errorf("event %d (%s %s) decodes as %s (%s), want %s", i, e.DetailType, tr.EventName, k, inv.Records[0].Trigger.IgnoredReason, w.kind)
		}
	}

	var share trail
	_ = json.Unmarshal(got[0].Detail, &share)
	var shareParams struct {
		ImageID          string `json:"imageId"`
		AttributeType    string `json:"attributeType"`
		LaunchPermission struct {
			Add struct {
				Items []struct {
					UserID string `json:"userId"`
				} `json:"items"`
			} `json:"add"`
		} `json:"launchPermission"`
	}
	_ = json.Unmarshal(share.RequestParameters, &shareParams)
	if shareParams.ImageID != imageID || shareParams.AttributeType != "launchPermission" || len(shareParams.LaunchPermission.Add.Items) != 1 || shareParams.LaunchPermission.Add.Items[0].UserID != target {
		t.Errorf("share requestParameters = %s", share.RequestParameters)
	}
	if share.UserIdentity.Type != "Root" || share.UserIdentity.AccountID != owner {
		t.Errorf("owner identity = %+v", share.UserIdentity)
	}

	var run trail
	_ = json.Unmarshal(got[1].Detail, &run)
	if run.UserIdentity.Type != "AssumedRole" || run.UserIdentity.SessionContext.SessionIssuer.ARN != deployer {
		t.Errorf("deployer identity = %+v", run.UserIdentity)
	}
	var state struct {
		InstanceID string `json:"instance-id"`
		State      string `json:"state"`
	}
	_ = json.Unmarshal(got[2].Detail, &state)
	if state.InstanceID != aws.ToString(launched.InstanceId) || state.State != "terminated" {
		t.Errorf("state change = %s", got[2].Detail)
	}
	var copied trail
	_ = json.Unmarshal(got[3].Detail, &copied)
	var resp struct {
		ImageID string `json:"imageId"`
	}
	_ = json.Unmarshal(copied.ResponseElements, &resp)
	if resp.ImageID != aws.ToString(cp.ImageId) {
		t.Errorf("CopyImage responseElements = %s, want imageId %s", copied.ResponseElements, aws.ToString(cp.ImageId))
	}
	var failed trail
	_ = json.Unmarshal(got[5].Detail, &failed)
	if failed.ErrorCode != "Client.InvalidParameterValue" || string(failed.ResponseElements) != "null" {
		t.Errorf("refused CopyImage: errorCode %q responseElements %s", failed.ErrorCode, failed.ResponseElements)
	}
}
