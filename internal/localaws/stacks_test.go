package localaws_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// DescribeStackResources by PhysicalResourceId finds the stack a key belongs to, in the caller's
// account and region only; a key no stack has is CloudFormation's ValidationError.
func TestDescribeStackResourcesByPhysicalID(t *testing.T) {
	ctx := testCtx(t)
	cfn := cloudformation.NewFromConfig(cfgFor(t, owner, region))
	const template = `{"Resources": {
	  "ImageKey": {"Type": "AWS::KMS::Key", "Properties": {"Description": "stack key",
	    "KeyPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}}},
	  "Topic": {"Type": "AWS::SNS::Topic"}}}`
	name := "keys-" + region
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(template)}); err != nil {
		t.Fatalf("create stack: %v", err)
	}
	res, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(name), LogicalResourceId: aws.String("ImageKey")})
	if err != nil || len(res.StackResources) != 1 {
		t.Fatalf("the stack's key: %v %+v", err, res)
	}
	keyID := aws.ToString(res.StackResources[0].PhysicalResourceId)
	// moto keeps a stack key's KeyPolicy as the template's object, and its DescribeKey then fails:
	// put it back as the document CloudFormation would have put (doc.go).
	if _, err := kmsFor(t, owner, region).PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"),
		Policy: aws.String(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}`)}); err != nil {
		t.Fatalf("put the stack key's policy back as a document: %v", err)
	}
	if _, err := kmsFor(t, owner, region).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatalf("the stack's key %s is no KMS key: %v", keyID, err)
	}

	out, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{PhysicalResourceId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("by physical ID: %v", err)
	}
	var found bool
	for _, r := range out.StackResources {
		if aws.ToString(r.StackName) != name {
			t.Errorf("resource %+v of another stack", r)
		}
		found = found || (aws.ToString(r.PhysicalResourceId) == keyID && aws.ToString(r.LogicalResourceId) == "ImageKey" &&
			aws.ToString(r.ResourceType) == "AWS::KMS::Key")
	}
	if !found || len(out.StackResources) != 2 {
		t.Errorf("by physical ID: %+v, want the stack's two resources, the key among them", out.StackResources)
	}

	loose := newKey(t, owner, region)
	_, err = cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{PhysicalResourceId: aws.String(loose)})
	if !awsapi.IsInvalid(err) {
		t.Errorf("a key no stack has: %v, want ValidationError", err)
	}
	other := cloudformation.NewFromConfig(cfgFor(t, target, region))
	if _, err := other.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{PhysicalResourceId: aws.String(keyID)}); !awsapi.IsInvalid(err) {
		t.Errorf("another account asking: %v, want ValidationError (stacks are per account)", err)
	}
}
