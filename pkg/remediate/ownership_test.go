package remediate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// A key that has not opted in is refused under the default write scope, with the alert giving the
// exact tag-resource command; once tagged, the next delivery fixes it. Real SDK calls on the local
// AWS (ListResourceTags, DescribeStackResources by the key's ID).
func TestKeyNotOptedInIsRefusedUntilTagged(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := untaggedFixture(t, scenario.Target)
	key := f.key
	before := keyPolicy(t, key)
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})

	res := invokeEvent(t, rm, "share-image.json", f.replace())
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusRefused || keyPolicy(t, key) != before {
		t.Fatalf("untagged key: actions %+v, policy changed %v", res.Actions, keyPolicy(t, key) != before)
	}
	if res.Stats["KMS:PutKeyPolicy"] != 0 || res.Stats["KMS:ListResourceTags"] != 1 || res.Stats["CloudFormation:DescribeStackResources"] != 0 {
		t.Errorf("calls %v: want one tag read, no stack read and no write", res.Stats)
	}
	alerts, err := sink.Drain(ctx)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts %d: %v", len(alerts), err)
	}
	want := "aws kms tag-resource --key-id " + key + " --tags TagKey=ami-kms-remediator,TagValue=managed --region " + scenario.Region
	if !strings.Contains(alerts[0].Message, want) {
		t.Errorf("the alert does not say how to opt the key in (%q):\n%s", want, alerts[0].Message)
	}

	if _, err := world.KMS(scenario.Owner, scenario.Region).TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(key),
		Tags: []kmstypes.Tag{{TagKey: aws.String(config.OptInTagKey), TagValue: aws.String(config.OptInTagValue)}}}); err != nil {
		t.Fatal(err)
	}
	res = invokeEvent(t, rm, "share-image.json", f.replace())
	if statuses(res.Actions) != "key-policy:applied" || !allowsAccount(t, key, keyPolicy(t, key), scenario.Target) {
		t.Fatalf("tagged key: actions %+v", res.Actions)
	}
	if res.Stats["CloudFormation:DescribeStackResources"] != 1 {
		t.Errorf("calls %v: want the stack asked once before the write", res.Stats)
	}
}

// A key a CloudFormation stack owns (found by DescribeStackResources: moto, like some resource
// types on AWS, does not tag it with the stack) is never edited; the finding and the alert name
// the stack and the statements to add to its template.
func TestStackManagedKeyIsReportedNotEdited(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	stack := fmt.Sprintf("golden-image-keys-%d", fixtureSeq.Add(1))
	key, err := world.StackKey(ctx, scenario.Owner, scenario.Region, stack, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	img := fixtureOn(t, key, scenario.Target).image
	before := keyPolicy(t, key)
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	res := invokeEvent(t, rm, "share-image.json", keyFixture{key: key, image: img}.replace())
	if keyPolicy(t, key) != before || res.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Fatal("a stack's key was edited")
	}
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusRefused {
		t.Fatalf("actions %+v", res.Actions)
	}
	var found *report.Finding
	for i, fd := range res.Records[0].Findings {
		if fd.Code == report.KeyManagedByIaC {
			found = &res.Records[0].Findings[i]
		}
	}
	if found == nil || found.ManagedBy == nil || found.ManagedBy.StackName != stack || found.ManagedBy.LogicalResourceID != "ImageKey" ||
		!strings.Contains(found.ManagedBy.StackID, ":stack/"+stack+"/") {
		t.Fatalf("findings %+v: want key-managed-by-iac naming stack %s", res.Records[0].Findings, stack)
	}
	alerts, err := sink.Drain(ctx)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts %d: %v", len(alerts), err)
	}
	for _, want := range []string{stack, "ImageKey", "arn:aws:iam::" + scenario.Target + ":root", "KeyPolicy"} {
		if !strings.Contains(alerts[0].Message, want) {
			t.Errorf("the alert does not say %q:\n%s", want, alerts[0].Message)
		}
	}
}
