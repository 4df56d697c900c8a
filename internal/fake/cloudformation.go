package fake

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// StackResource is one resource of a CloudFormation stack.
type StackResource struct {
	StackName, LogicalID, PhysicalID, Type string
	Status                                 cfntypes.ResourceStatus // "" is CREATE_COMPLETE
}

// AddStackResource puts a resource into a stack of account in region (the stack is made on
// first use).
func (a *AWS) AddStackResource(account, region string, r StackResource) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Status == "" {
		r.Status = cfntypes.ResourceStatusCreateComplete
	}
	k := account + "/" + region
	a.stacks[k] = append(a.stacks[k], r)
}

// StackID is the stack ARN the fake gives a stack name.
func StackID(account, region, name string) string {
	return "arn:aws:cloudformation:" + region + ":" + account + ":stack/" + name + "/00000000-1111-2222-3333-444455556666"
}

// CloudFormation is the fake CloudFormation of one account and region.
type CloudFormation struct {
	awsapi.CloudFormation
	aws             *AWS
	Account, Region string
}

// DescribeStackResources answers by PhysicalResourceId (the only lookup the remediator makes):
// every resource of the stack the resource belongs to, or CloudFormation's ValidationError
// "Stack for ... does not exist" when no stack has it.
func (c *CloudFormation) DescribeStackResources(ctx context.Context, in *cloudformation.DescribeStackResourcesInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourcesOutput, error) {
	const op = "CloudFormation:DescribeStackResources"
	return answer(c.aws, op, c.Account, c.Region, in, func() (*cloudformation.DescribeStackResourcesOutput, error) {
		id := aws.ToString(in.PhysicalResourceId)
		if id == "" || in.StackName != nil {
			return nil, apiError(op, "ValidationError", "the fake looks up by PhysicalResourceId only")
		}
		all := c.aws.stacks[c.Account+"/"+c.Region]
		stack := ""
		for _, r := range all {
			if r.PhysicalID == id {
				stack = r.StackName
				break
			}
		}
		if stack == "" {
			return nil, apiError(op, "ValidationError", "Stack for %s does not exist", id)
		}
		out := &cloudformation.DescribeStackResourcesOutput{}
		for _, r := range all {
			if r.StackName == stack {
				out.StackResources = append(out.StackResources, cfntypes.StackResource{StackName: aws.String(r.StackName),
					StackId: aws.String(StackID(c.Account, c.Region, r.StackName)), LogicalResourceId: aws.String(r.LogicalID),
					PhysicalResourceId: aws.String(r.PhysicalID), ResourceType: aws.String(r.Type), ResourceStatus: r.Status,
					Timestamp: aws.Time(epoch)})
			}
		}
		return out, nil
	})
}
