package awsid

import "testing"

func TestLaunchRoleOf(t *testing.T) {
	tests := map[string]struct {
		arn     string
		service string // "" = not a launching role
	}{
		"auto scaling":             {"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", "autoscaling.amazonaws.com"},
		"auto scaling, suffix":     {"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_web", "autoscaling.amazonaws.com"},
		"auto scaling, govcloud":   {"arn:aws-us-gov:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", "autoscaling.amazonaws.com"},
		"empty suffix":             {"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_", ""},
		"ec2 fleet":                {"arn:aws:iam::111122223333:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet", "ec2fleet.amazonaws.com"},
		"ec2 fleet, suffix":        {"arn:aws:iam::111122223333:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet_x", ""},
		"spot":                     {"arn:aws:iam::111122223333:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot", "spot.amazonaws.com"},
		"spot fleet":               {"arn:aws:iam::111122223333:role/aws-service-role/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet", "spotfleet.amazonaws.com"},
		"name under another path":  {"arn:aws:iam::111122223333:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForAutoScaling", ""},
		"ordinary role, same name": {"arn:aws:iam::111122223333:role/AWSServiceRoleForAutoScaling", ""},
		"another service":          {"arn:aws:iam::111122223333:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing", ""},
		"bad account":              {"arn:aws:iam::11112222333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", ""},
		"a session":                {"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, _ := ParsePrincipal(tc.arn)
			r, ok := LaunchRoleOf(p)
			if ok != (tc.service != "") || r.Service != tc.service {
				t.Fatalf("LaunchRoleOf = %+v, %v; want service %q", r, ok, tc.service)
			}
			if ok && LaunchRoleARN(p.Partition, p.Account, r) != tc.arn && r.Name == p.Name {
				t.Fatalf("LaunchRoleARN = %s", LaunchRoleARN(p.Partition, p.Account, r))
			}
		})
	}
}

func TestIdentityCenterRole(t *testing.T) {
	tests := map[string]struct {
		arn  string
		want bool
		set  string
	}{
		"with region": {"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-2/AWSReservedSSO_DatabaseAdministrator_1234567890abcdef", true, "DatabaseAdministrator"},
		"no region":   {"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_Team_abcdef0123456789", true, "Admin_Team"},
		"session":     {"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_abcdef0123456789/alice@example.com", true, "Admin"},
		"other path":  {"arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_abcdef0123456789", false, "Admin"},
		"other name":  {"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/Admin", false, ""},
		"a user":      {"arn:aws:iam::111122223333:user/aws-reserved/sso.amazonaws.com/AWSReservedSSO_x_y", false, "x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, _ := ParsePrincipal(tc.arn)
			if got := IsIdentityCenterRole(p); got != tc.want {
				t.Fatalf("IsIdentityCenterRole = %v", got)
			}
			if got := PermissionSetName(p.Name); got != tc.set {
				t.Fatalf("PermissionSetName(%q) = %q, want %q", p.Name, got, tc.set)
			}
		})
	}
}
