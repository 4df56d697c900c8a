package fake

import (
	"context"
	"slices"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// What a sweep reads beyond one image: listings of an account's images, the rules that forward
// a region's events, and the remediator's own identity.

// listImages answers a listing: the images of in.Owners ("self" is the caller) the caller may
// see, in ID order, filtered by block-device-mapping.encrypted, paged by MaxResults.
func (e *EC2) listImages(in *ec2.DescribeImagesInput) *ec2.DescribeImagesOutput {
	encrypted := ""
	for _, f := range in.Filters {
		if aws.ToString(f.Name) == "block-device-mapping.encrypted" && len(f.Values) > 0 {
			encrypted = f.Values[0]
		}
	}
	var ids []string
	for id, img := range e.aws.images {
		owned := len(in.Owners) == 0 || slices.Contains(in.Owners, img.Owner) || slices.Contains(in.Owners, "self") && img.Owner == e.Account
		if !owned || !e.visible(img) {
			continue
		}
		if encrypted != "" && strconv.FormatBool(e.anyEncrypted(img)) != encrypted {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	start, _ := strconv.Atoi(aws.ToString(in.NextToken))
	end := len(ids)
	if n := int(aws.ToInt32(in.MaxResults)); n > 0 && start+n < end {
		end = start + n
	}
	out := &ec2.DescribeImagesOutput{Images: []ec2types.Image{}}
	for _, id := range ids[min(start, end):end] {
		out.Images = append(out.Images, e.imageOf(e.aws.images[id]))
	}
	if end < len(ids) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out
}

func (e *EC2) anyEncrypted(img *Image) bool {
	for _, sid := range img.Snapshots {
		if s := e.aws.snapshots[sid]; s != nil && s.Encrypted {
			return true
		}
	}
	return false
}

// Forwards says whether a member stack forwards account's events from region to the central bus.
func (a *AWS) Forwards(account, region string, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forwards[account+"/"+region] = on
}

// EventBridge is the fake EventBridge of one account and region.
type EventBridge struct {
	awsapi.EventBridge
	aws             *AWS
	Account, Region string
}

// EventBridge returns the fake EventBridge of account in region.
func (a *AWS) EventBridge(ctx context.Context, account, region string) (awsapi.EventBridge, error) {
	return scoped(a, account, region, func(acct, reg string) awsapi.EventBridge { return &EventBridge{aws: a, Account: acct, Region: reg} })
}

// ListRuleNamesByTarget names one forwarding rule when Forwards says so, none otherwise.
func (b *EventBridge) ListRuleNamesByTarget(ctx context.Context, in *eventbridge.ListRuleNamesByTargetInput, _ ...func(*eventbridge.Options)) (*eventbridge.ListRuleNamesByTargetOutput, error) {
	return answer(b.aws, "EventBridge:ListRuleNamesByTarget", b.Account, b.Region, in, func() (*eventbridge.ListRuleNamesByTargetOutput, error) {
		out := &eventbridge.ListRuleNamesByTargetOutput{RuleNames: []string{}}
		if b.aws.forwards[b.Account+"/"+b.Region] {
			out.RuleNames = append(out.RuleNames, "ami-kms-remediator-member-KeyPolicyDriftRule")
		}
		return out, nil
	})
}

// CallerARN is the remediator's session in the central account: role ami-kms-remediator-function.
func (a *AWS) CallerARN(ctx context.Context) (string, error) {
	if _, err := a.CentralAccount(ctx); err != nil {
		return "", err
	}
	return "arn:aws:sts::" + a.central + ":assumed-role/ami-kms-remediator-function/ami-kms-remediator-function", nil
}
