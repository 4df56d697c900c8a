package localaws

import (
	"net/http"
	"regexp"
)

// Auto Scaling groups' service-linked role. moto keeps groups, their launch templates and
// mixed-instances policies (overrides with their own LaunchTemplateSpecification included), but
// ignores CreateAutoScalingGroup's ServiceLinkedRoleARN and reports the default role for every
// group. The filler remembers the role a group was created (or updated) with and puts it into
// DescribeAutoScalingGroups' answer (EC2 Auto Scaling API Reference, AutoScalingGroup
// ServiceLinkedRoleARN: "The Amazon Resource Name (ARN) of the service-linked role that the
// Auto Scaling group uses to call other Amazon Web Services on your behalf"). The role is not
// checked to exist (AWS checks it).
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html

func (fi *Filler) serveAutoScaling(w http.ResponseWriter, r *http.Request, c *call) bool {
	name := c.params.Get("AutoScalingGroupName")
	k := c.account + "/" + c.region + "/" + name
	switch c.action {
	case "CreateAutoScalingGroup", "UpdateAutoScalingGroup":
		if role := c.params.Get("ServiceLinkedRoleARN"); role != "" {
			fi.mu.Lock()
			fi.groupRoles[k] = role
			fi.mu.Unlock()
		}
		return false
	case "DeleteAutoScalingGroup":
		fi.mu.Lock()
		delete(fi.groupRoles, k)
		fi.mu.Unlock()
		return false
	case "DescribeAutoScalingGroups":
		status, raw, err := fi.queryRaw(r.Context(), "autoscaling", c.account, c.region, c.params)
		if err != nil {
			http.Error(w, "filler: "+err.Error(), http.StatusBadGateway)
			return true
		}
		if status == http.StatusOK {
			raw = fi.withGroupRoles(c.account, c.region, raw)
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write(raw)
		return true
	}
	return false
}

var (
	groupMemberRE = regexp.MustCompile(`(?s)<member><AutoScalingGroupName>([^<]*)</AutoScalingGroupName>.*?</ServiceLinkedRoleARN>`)
	groupRoleRE   = regexp.MustCompile(`<ServiceLinkedRoleARN>[^<]*</ServiceLinkedRoleARN>`)
)

// withGroupRoles puts each group's remembered role into moto's answer.
func (fi *Filler) withGroupRoles(account, region string, raw []byte) []byte {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return groupMemberRE.ReplaceAllFunc(raw, func(m []byte) []byte {
		name, _ := xmlUnescape(string(groupMemberRE.FindSubmatch(m)[1]))
		role := fi.groupRoles[account+"/"+region+"/"+name]
		if role == "" {
			return m
		}
		return groupRoleRE.ReplaceAllLiteral(m, []byte("<ServiceLinkedRoleARN>"+xmlText(role)+"</ServiceLinkedRoleARN>"))
	})
}
