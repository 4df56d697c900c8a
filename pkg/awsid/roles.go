package awsid

import "strings"

// Roles that AWS creates and manages, which the remediator must recognise by their ARN: the
// service-linked roles that launch instances for a service, and IAM Identity Center's roles.

// LaunchRole is a service-linked role that launches instances on an account's behalf.
type LaunchRole struct {
	Service string // the service that assumes it, e.g. "autoscaling.amazonaws.com"
	Name    string // the role's default name, e.g. "AWSServiceRoleForAutoScaling"
	What    string // for people: "Auto Scaling", "EC2 Fleet", ...
	// CustomSuffix: the service accepts roles named Name + "_" + a suffix of your choice.
	CustomSuffix bool
}

// launchRoles are the service-linked roles that launch EC2 instances:
//   - Auto Scaling (and so EKS managed node groups, whose nodes an Auto Scaling group launches):
//     AWSServiceRoleForAutoScaling, or a custom-suffix role a group names as its
//     ServiceLinkedRoleARN;
//     https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html
//   - EC2 Fleet: AWSServiceRoleForEC2Fleet;
//     https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html
//   - Spot Instances and Spot Fleet: AWSServiceRoleForEC2Spot and AWSServiceRoleForEC2SpotFleet.
//     https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-fleet-prerequisites.html
//
// Each needs the key policy or a grant to use a customer managed key: their permissions cannot
// be changed and include no customer managed key.
var launchRoles = []LaunchRole{
	{Service: "autoscaling.amazonaws.com", Name: "AWSServiceRoleForAutoScaling", What: "Auto Scaling", CustomSuffix: true},
	{Service: "ec2fleet.amazonaws.com", Name: "AWSServiceRoleForEC2Fleet", What: "EC2 Fleet"},
	{Service: "spot.amazonaws.com", Name: "AWSServiceRoleForEC2Spot", What: "Spot Instances"},
	{Service: "spotfleet.amazonaws.com", Name: "AWSServiceRoleForEC2SpotFleet", What: "Spot Fleet"},
}

// AutoScalingService is the service principal of Auto Scaling.
const AutoScalingService = "autoscaling.amazonaws.com"

// LaunchRoleOf says which launching service's service-linked role p is: its path is
// /aws-service-role/SERVICE/ and its name the service's role name (or, where the service allows
// it, that name, "_" and a suffix). Anything else, including a well-formed role of another
// service, is false.
func LaunchRoleOf(p Principal) (LaunchRole, bool) {
	if p.Kind != PrincipalServiceLinkedRole || p.Check() != nil {
		return LaunchRole{}, false
	}
	for _, r := range launchRoles {
		if p.Path != ServiceLinkedRolePath+r.Service+"/" {
			continue
		}
		if p.Name == r.Name {
			return r, true
		}
		if suffix, ok := strings.CutPrefix(p.Name, r.Name+"_"); ok && r.CustomSuffix && suffix != "" {
			return r, true
		}
	}
	return LaunchRole{}, false
}

// LaunchRoleARN is the role ARN of a launching service's service-linked role in account.
func LaunchRoleARN(partition, account string, r LaunchRole) string {
	return "arn:" + partition + ":iam::" + account + ":role" + ServiceLinkedRolePath + r.Service + "/" + r.Name
}

// AutoScalingRole is Auto Scaling's entry in the launching roles.
func AutoScalingRole() LaunchRole { return launchRoles[0] }

// IdentityCenterRolePath starts the path of every role IAM Identity Center creates for a
// permission set (arn:aws:iam::ACCOUNT:role/aws-reserved/sso.amazonaws.com/[REGION/]
// AWSReservedSSO_SETNAME_SUFFIX). Identity Center manages these roles: a change made in IAM is
// undone when the permission set is provisioned again, and the role is replaced (with a new
// suffix) when the set is assigned anew, so their policies belong in the permission set.
// https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html
// https://docs.aws.amazon.com/singlesignon/latest/userguide/identity-center-and-iam-roles.html
const IdentityCenterRolePath = "/aws-reserved/sso.amazonaws.com/"

// IdentityCenterRolePrefix starts the name of every such role.
const IdentityCenterRolePrefix = "AWSReservedSSO_"

// IsIdentityCenterRole reports whether p is a role IAM Identity Center created for a permission
// set (a role, or a session of one: a session's ARN has no path, so its name decides).
func IsIdentityCenterRole(p Principal) bool {
	switch p.Kind {
	case PrincipalRole:
		return strings.HasPrefix(p.Path, IdentityCenterRolePath) && strings.HasPrefix(p.Name, IdentityCenterRolePrefix)
	case PrincipalAssumedRole:
		return strings.HasPrefix(p.Name, IdentityCenterRolePrefix)
	}
	return false
}

// PermissionSetName is the permission set an Identity Center role was made for: the name
// between "AWSReservedSSO_" and the last "_" (the suffix). "" when the name does not say.
func PermissionSetName(roleName string) string {
	rest, ok := strings.CutPrefix(roleName, IdentityCenterRolePrefix)
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 {
		return ""
	}
	return rest[:i]
}
