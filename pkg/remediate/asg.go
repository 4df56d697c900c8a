package remediate

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// asgImage finds the image an Auto Scaling group launches: its launch template version, mixed
// instances policy or launch configuration; "" when none names one.
func (r *run) asgImage(ctx context.Context, account, region, name string) (string, error) {
	asc, err := r.clients.AutoScaling(ctx, account, region)
	if err != nil {
		return "", err
	}
	out, err := asc.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return "", fmt.Errorf("describe auto scaling group %s in %s/%s: %w", name, account, region, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return "", fmt.Errorf("auto scaling group %s not found in %s/%s", name, account, region)
	}
	g := out.AutoScalingGroups[0]
	lt := g.LaunchTemplate
	if lt == nil && g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.LaunchTemplate != nil {
		lt = g.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
	}
	if lt != nil {
		return r.launchTemplateImage(ctx, account, region, lt)
	}
	if lc := aws.ToString(g.LaunchConfigurationName); lc != "" {
		lcs, err := asc.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{lc}})
		if err != nil {
			return "", fmt.Errorf("describe launch configuration %s: %w", lc, err)
		}
		if len(lcs.LaunchConfigurations) > 0 {
			return aws.ToString(lcs.LaunchConfigurations[0].ImageId), nil
		}
	}
	return "", nil
}

func (r *run) launchTemplateImage(ctx context.Context, account, region string, lt *asgtypes.LaunchTemplateSpecification) (string, error) {
	cl, err := r.clients.EC2(ctx, account, region)
	if err != nil {
		return "", err
	}
	version := aws.ToString(lt.Version)
	if version == "" {
		version = "$Default"
	}
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{version}}
	if id := aws.ToString(lt.LaunchTemplateId); id != "" {
		in.LaunchTemplateId = aws.String(id)
	} else {
		in.LaunchTemplateName = lt.LaunchTemplateName
	}
	out, err := cl.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return "", fmt.Errorf("describe launch template versions: %w", err)
	}
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil {
			return aws.ToString(v.LaunchTemplateData.ImageId), nil
		}
	}
	return "", nil
}
