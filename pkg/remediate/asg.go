package remediate

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// group reads an Auto Scaling group in its account (DescribeAutoScalingGroups, and its launch
// configuration's image when it has one): the service-linked role that launches for it
// (ServiceLinkedRoleARN: AWSServiceRoleForAutoScaling, or a custom-suffix role), and every
// launch template it may launch from, its own and each override's of a mixed instances policy
// (an override may name another template: EC2 Auto Scaling User Guide, "Use multiple launch
// templates"). The role is remembered on the record: it is the only role other than an
// account's root that the remediator ever adds to a key policy, and only as read here.
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AutoScalingGroup.html
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-mixed-instances-groups-launch-template-overrides.html
func (r *run) group(ctx context.Context, it *item, account, region, name string) (trigger.GroupInfo, error) {
	g, err := r.inv.group(ctx, account, region, name)
	if err != nil {
		return trigger.GroupInfo{}, err
	}
	out := trigger.GroupInfo{Templates: g.templates, LaunchConfigurationImage: g.lcImage}
	p, ok := awsid.ParsePrincipal(g.role)
	if role, isLaunch := awsid.LaunchRoleOf(p); ok && isLaunch && role.Service == awsid.AutoScalingService && p.Account == account {
		out.ServiceLinkedRole = &trigger.Principal{ARN: g.role, Account: account, Type: trigger.PrincipalServiceLinkedRole,
			Name: p.Name, InvokedBy: awsid.AutoScalingService}
		it.groupRole = g.role
	} else if g.role != "" {
		it.addNote(fmt.Sprintf("group %s names %q as its service-linked role, which is not an Auto Scaling service-linked role of account %s: ignored", name, clip(g.role, 256), account))
	}
	return out, nil
}

// groupRead is what DescribeAutoScalingGroups says of a group.
type groupRead struct {
	role      string
	templates []trigger.LaunchTemplate
	lcImage   string
}

func (inv *inventory) group(ctx context.Context, account, region, name string) (groupRead, error) {
	return load(inv, inv.launch.groups, account+"/"+region+"/"+name, func() (groupRead, error) {
		asc, err := inv.clients.AutoScaling(ctx, account, region)
		if err != nil {
			return groupRead{}, err
		}
		out, err := asc.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
		if err != nil {
			return groupRead{}, fmt.Errorf("describe auto scaling group %s in %s/%s: %w", name, account, region, err)
		}
		if len(out.AutoScalingGroups) == 0 {
			return groupRead{}, fmt.Errorf("auto scaling group %s not found in %s/%s", name, account, region)
		}
		g := out.AutoScalingGroups[0]
		gr := groupRead{role: aws.ToString(g.ServiceLinkedRoleARN)}
		add := func(s *asgtypes.LaunchTemplateSpecification) {
			if s == nil || (aws.ToString(s.LaunchTemplateId) == "" && aws.ToString(s.LaunchTemplateName) == "") {
				return
			}
			t := trigger.LaunchTemplate{ID: aws.ToString(s.LaunchTemplateId), Name: aws.ToString(s.LaunchTemplateName), Version: aws.ToString(s.Version)}
			if t.ID != "" {
				t.Name = "" // the ID says it
			}
			for _, x := range gr.templates {
				if x == t {
					return
				}
			}
			gr.templates = append(gr.templates, t)
		}
		add(g.LaunchTemplate)
		if m := g.MixedInstancesPolicy; m != nil && m.LaunchTemplate != nil {
			add(m.LaunchTemplate.LaunchTemplateSpecification)
			for _, o := range m.LaunchTemplate.Overrides {
				add(o.LaunchTemplateSpecification)
			}
		}
		if lc := aws.ToString(g.LaunchConfigurationName); lc != "" && len(gr.templates) == 0 {
			lcs, err := asc.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{lc}})
			if err != nil {
				return groupRead{}, fmt.Errorf("describe launch configuration %s: %w", lc, err)
			}
			if len(lcs.LaunchConfigurations) > 0 {
				gr.lcImage = aws.ToString(lcs.LaunchConfigurations[0].ImageId)
			}
		}
		return gr, nil
	})
}
