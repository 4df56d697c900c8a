package awsid

import (
	"strings"
	"testing"
)

func TestParsePrincipal(t *testing.T) {
	const acct = "111122223333"
	arn := func(partition, service, resource string) ARN {
		return ARN{Partition: partition, Service: service, Account: acct, Resource: resource}
	}
	tests := map[string]struct {
		in   string
		want Principal
		ok   bool
	}{
		"root":          {"arn:aws:iam::111122223333:root", Principal{ARN: arn("aws", "iam", "root"), Kind: PrincipalRoot}, true},
		"root in China": {"arn:aws-cn:iam::111122223333:root", Principal{ARN: arn("aws-cn", "iam", "root"), Kind: PrincipalRoot}, true},
		"user":          {"arn:aws:iam::111122223333:user/alice", Principal{ARN: arn("aws", "iam", "user/alice"), Kind: PrincipalUser, Path: "/", Name: "alice"}, true},
		"user with path": {"arn:aws:iam::111122223333:user/division/team/alice",
			Principal{ARN: arn("aws", "iam", "user/division/team/alice"), Kind: PrincipalUser, Path: "/division/team/", Name: "alice"}, true},
		"role": {"arn:aws:iam::111122223333:role/app-deployer", Principal{ARN: arn("aws", "iam", "role/app-deployer"), Kind: PrincipalRole, Path: "/", Name: "app-deployer"}, true},
		"role with path": {"arn:aws-us-gov:iam::111122223333:role/ops/app",
			Principal{ARN: arn("aws-us-gov", "iam", "role/ops/app"), Kind: PrincipalRole, Path: "/ops/", Name: "app"}, true},
		"service-linked role": {"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
			Principal{ARN: arn("aws", "iam", "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"), Kind: PrincipalServiceLinkedRole,
				Path: "/aws-service-role/autoscaling.amazonaws.com/", Name: "AWSServiceRoleForAutoScaling"}, true},
		// A role named aws-service-role at the root is not under the service-linked path.
		"role named aws-service-role": {"arn:aws:iam::111122223333:role/aws-service-role",
			Principal{ARN: arn("aws", "iam", "role/aws-service-role"), Kind: PrincipalRole, Path: "/", Name: "aws-service-role"}, true},
		"assumed-role session": {"arn:aws:sts::111122223333:assumed-role/app-deployer/i-0abc",
			Principal{ARN: arn("aws", "sts", "assumed-role/app-deployer/i-0abc"), Kind: PrincipalAssumedRole, Name: "app-deployer", Session: "i-0abc"}, true},
		"federated user": {"arn:aws:sts::111122223333:federated-user/bob",
			Principal{ARN: arn("aws", "sts", "federated-user/bob"), Kind: PrincipalFederated, Name: "bob"}, true},
		"user without name":       {"arn:aws:iam::111122223333:user/", Principal{ARN: arn("aws", "iam", "user/"), Kind: PrincipalOther}, true},
		"role path without name":  {"arn:aws:iam::111122223333:role/ops/", Principal{ARN: arn("aws", "iam", "role/ops/"), Kind: PrincipalOther}, true},
		"bare role":               {"arn:aws:iam::111122223333:role", Principal{ARN: arn("aws", "iam", "role"), Kind: PrincipalOther}, true},
		"session without session": {"arn:aws:sts::111122223333:assumed-role/app/", Principal{ARN: arn("aws", "sts", "assumed-role/app/"), Kind: PrincipalOther}, true},
		"session without role":    {"arn:aws:sts::111122223333:assumed-role//s", Principal{ARN: arn("aws", "sts", "assumed-role//s"), Kind: PrincipalOther}, true},
		"group":                   {"arn:aws:iam::111122223333:group/admins", Principal{ARN: arn("aws", "iam", "group/admins"), Kind: PrincipalOther}, true},
		"sts root is not root":    {"arn:aws:sts::111122223333:root", Principal{ARN: arn("aws", "sts", "root"), Kind: PrincipalOther}, true},
		"user in sts":             {"arn:aws:sts::111122223333:user/alice", Principal{ARN: arn("aws", "sts", "user/alice"), Kind: PrincipalOther}, true},
		"kms key":                 {"arn:aws:kms:us-east-1:111122223333:key/k", Principal{ARN: ARN{"aws", "kms", "us-east-1", acct, "key/k"}, Kind: PrincipalOther}, true},
		"account ID":              {"111122223333", Principal{}, false},
		"service principal":       {"ec2.amazonaws.com", Principal{}, false},
		"empty":                   {"", Principal{}, false},
		"wildcard":                {"*", Principal{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParsePrincipal(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Errorf("ParsePrincipal(%q) =\n %+v, %v\nwant\n %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPrincipalCheck(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := map[string]struct {
		in      string
		wantErr string // "" = fit to act on
	}{
		"root":                 {"arn:aws:iam::111122223333:root", ""},
		"user":                 {"arn:aws:iam::111122223333:user/a+b=c,d.e@f_g-h", ""},
		"role with path":       {"arn:aws:iam::111122223333:role/a/b/r", ""},
		"service-linked role":  {"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", ""},
		"session":              {"arn:aws:sts::111122223333:assumed-role/r/s@x", ""},
		"federated":            {"arn:aws:sts::111122223333:federated-user/bob", ""},
		"iso partition":        {"arn:aws-iso-b:iam::111122223333:role/r", ""},
		"128 characters":       {"arn:aws:iam::111122223333:user/" + long[:128], ""},
		"other":                {"arn:aws:iam::111122223333:group/g", "not an IAM or STS principal"},
		"unknown partition":    {"arn:evil:iam::111122223333:user/u", `unknown partition "evil"`},
		"region":               {"arn:aws:iam:us-east-1:111122223333:user/u", `region "us-east-1"`},
		"13-digit account":     {"arn:aws:iam::1111222233334:user/u", "not 12 digits"},
		"unicode digits":       {"arn:aws:iam::１１１１２２２２３３３３:root", "not 12 digits"},
		"empty path segment":   {"arn:aws:iam::111122223333:role/a//r", "bad path or name"},
		"empty root path part": {"arn:aws:iam::111122223333:role//r", "bad path or name"},
		"129 characters":       {"arn:aws:iam::111122223333:user/" + long, "bad path or name"},
		"wildcard name":        {"arn:aws:iam::111122223333:role/*", "bad character"},
		"space in path":        {"arn:aws:iam::111122223333:role/a b/r", "bad character"},
		"bad session":          {"arn:aws:sts::111122223333:assumed-role/r/s*", "bad character"},
		"unicode name":         {"arn:aws:iam::111122223333:user/ålice", "bad character"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, ok := ParsePrincipal(tc.in)
			if !ok {
				t.Fatalf("ParsePrincipal(%q): not an ARN", tc.in)
			}
			err := p.Check()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Check(%q) = %v, want nil", tc.in, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Check(%q) = %v, want an error containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
	if err := (Principal{}).Check(); err == nil {
		t.Error("the zero Principal passes Check")
	}
}

func TestIsPartition(t *testing.T) {
	for p, want := range map[string]bool{"aws": true, "aws-cn": true, "aws-us-gov": true, "aws-iso": true, "aws-eusc": true, "": false, "AWS": false, "evil": false} {
		if got := IsPartition(p); got != want {
			t.Errorf("IsPartition(%q) = %v, want %v", p, got, want)
		}
	}
}
