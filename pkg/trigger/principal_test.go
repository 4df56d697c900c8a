package trigger

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// corpusIdentity returns the userIdentity of record i of a corpus CloudTrail file (bare record,
// list, {"Records": [...]} or EventBridge envelope).
func corpusIdentity(t *testing.T, file string, i int) []byte {
	t.Helper()
	raw := readFile(t, filepath.Join(corpusDir(t), "cloudtrail", file))
	var recs []map[string]json.RawMessage
	switch jsonType(raw) {
	case "array":
		if err := json.Unmarshal(raw, &recs); err != nil {
			t.Fatal(err)
		}
	default:
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			t.Fatal(err)
		}
		switch {
		case top["Records"] != nil:
			if err := json.Unmarshal(top["Records"], &recs); err != nil {
				t.Fatal(err)
			}
		case top["detail"] != nil:
			var d map[string]json.RawMessage
			if err := json.Unmarshal(top["detail"], &d); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, d)
		default:
			recs = append(recs, top)
		}
	}
	if i >= len(recs) {
		t.Fatalf("%s has %d records, want index %d", file, len(recs), i)
	}
	return recs[i]["userIdentity"]
}

// TestResolvePrincipalCorpus covers every userIdentity type in the corpus CloudTrail files.
func TestResolvePrincipalCorpus(t *testing.T) {
	tests := map[string]struct {
		file        string
		record      int
		want        *Principal
		unresolved  string // substring of an ErrUnresolvable error
		wantNilNote bool
	}{
		"IAMUser": {
			file: "awsdocs-kms-creategrant.json",
			want: &Principal{ARN: "arn:aws:iam::111122223333:user/Alice", Account: "111122223333", Type: PrincipalUser, Name: "Alice"},
		},
		"IAMUser with path": {
			file: "elastic-terminateinstances-terraform.json",
			want: &Principal{ARN: "arn:aws:iam::111111111111:user/services/example", Account: "111111111111", Type: PrincipalUser, Name: "example"},
		},
		"IAMUser via console (invokedBy signin)": {
			file: "custodian-runinstances-iamuser-success.json",
			want: &Principal{ARN: "arn:aws:iam::644160558196:user/c7nbot", Account: "644160558196", Type: PrincipalUser, Name: "c7nbot", InvokedBy: "signin.amazonaws.com"},
		},
		"IAMUser with 9-digit account": {
			file: "elastic-modifyimageattribute-remove-public.json", unresolved: "not 12 digits",
		},
		"IAMUser with 13-digit account": {
			file: "elastic-runinstances-cli-success.json", unresolved: "not 12 digits",
		},
		"IAMUser whose arn is a mangled STS ARN": {
			file: "custodian-createvolume-encrypted-from-snapshot.json", unresolved: "not an IAM ARN",
		},
		"AssumedRole": {
			file: "stratus-runinstances-unauthorized-with-assumerole.json",
			want: &Principal{
				ARN:        "arn:aws:iam::900138736586:role/stratus-red-team-ec2lui-role-idtzskbvtd",
				SessionARN: "arn:aws:sts::900138736586:assumed-role/stratus-red-team-ec2lui-role-idtzskbvtd/aws-go-sdk-1722511821294449000",
				Account:    "900138736586", Type: PrincipalRole, Name: "stratus-red-team-ec2lui-role-idtzskbvtd",
			},
		},
		"AssumedRole inside an EventBridge envelope": {
			file: "custodian-eb-envelope-deletetransitgatewayvpcattachment.json",
			want: &Principal{
				ARN: "arn:aws:iam::012345678912:role/c7nbot", SessionARN: "arn:aws:sts::012345678912:assumed-role/c7nbot/pmuniswamy",
				Account: "012345678912", Type: PrincipalRole, Name: "c7nbot",
			},
		},
		"AssumedRole with role path (SSO)": {
			file: "panther-runinstances-ec2-vulnerable-xz-image-launched-single-vulnerable-ami-launched.json",
			want: &Principal{
				ARN:        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-west-2/ARole",
				SessionARN: "arn:aws:sts::123456789012:assumed-role/ARole/user.name",
				Account:    "123456789012", Type: PrincipalRole, Name: "ARole",
			},
		},
		"AssumedRole with invokedBy null": {
			file: "panther-createimage-ec2-monitoring-copyimage-useridentity-null.json",
			want: &Principal{
				ARN: "arn:aws:iam::123456789101:role/DevAdministrator", SessionARN: "arn:aws:sts::123456789101:assumed-role/DevAdministrator/test_user",
				Account: "123456789101", Type: PrincipalRole, Name: "DevAdministrator",
			},
		},
		"AssumedRole with invokedBy AWS Internal": {
			file: "panther-runinstances-modify-cloud-compute-infrastructure-weird-aws-internal-message.json",
			want: &Principal{
				ARN: "arn:aws:iam::123412341234:role/funky-role-doing-dryrun", SessionARN: "arn:aws:sts::123412341234:assumed-role/funky-role-doing-dryrun/astronomer-managed-1665678811",
				Account: "123412341234", Type: PrincipalRole, Name: "funky-role-doing-dryrun", InvokedBy: "AWS Internal",
			},
		},
		"AssumedRole by the Auto Scaling SLR (invokedBy autoscaling)": {
			file: "panther-runinstances-ec2-launch-unusual-ec2-instances-successful-unusual-ec2.json",
			want: &Principal{
				ARN:        "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
				SessionARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
				Account:    "111122223333", Type: PrincipalServiceLinkedRole, Name: "AWSServiceRoleForAutoScaling", InvokedBy: AutoScalingService,
			},
		},
		"AssumedRole by another service-linked role (EKS)": {
			file: "panther-runinstances-ec2-monitoring-runinstance-dry-run.json",
			want: &Principal{
				ARN:        "arn:aws:iam::123123123123:role/aws-service-role/eks-nodegroup.amazonaws.com/AWSServiceRoleForAmazonEKSNodegroup",
				SessionARN: "arn:aws:sts::123123123123:assumed-role/AWSServiceRoleForAmazonEKSNodegroup/EKS",
				Account:    "123123123123", Type: PrincipalServiceLinkedRole, Name: "AWSServiceRoleForAmazonEKSNodegroup", InvokedBy: "eks-nodegroup.amazonaws.com",
			},
		},
		"AssumedRole with 11-digit issuer account": {
			file: "custodian-runinstances-assumedrole-success.json", unresolved: "not 12 digits",
		},
		"AssumedRole of EC2 infrastructure (colon in role name)": {
			file: "awsdocs-kms-ec2two-runinstances-creategrant-decrypt-records.json", record: 3, unresolved: "bad character",
		},
		"AssumedRole without sessionContext": {
			file: "panther-decrypt-imds-credential-exfiltration-aws-service-hostname-as-source-ip.json", unresolved: "without sessionContext",
		},
		"AssumedRole with only userName": {
			file: "panther-putkeypolicy-resource-made-public-wildcard-principal-no-conditions-should-alert.json", unresolved: "without sessionContext",
		},
		"Root invoked by autoscaling": {
			file: "custodian-runinstances-autoscaling-success.json",
			want: &Principal{
				ARN:     "arn:aws:iam::619193117841:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
				Account: "619193117841", Type: PrincipalServiceLinkedRole, Name: "AWSServiceRoleForAutoScaling", InvokedBy: AutoScalingService,
			},
		},
		"AWSAccount invoked by EC2": {
			file: "stratus-sharedsnapshotcopyinitiated-docs-example.json",
			want: &Principal{Account: "999999999999", Type: PrincipalOther, InvokedBy: "ec2.amazonaws.com"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := ResolvePrincipal(corpusIdentity(t, tc.file, tc.record))
			if tc.unresolved != "" {
				if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), tc.unresolved) {
					t.Fatalf("err = %v, want ErrUnresolvable containing %q", err, tc.unresolved)
				}
				if p != nil {
					t.Fatalf("principal = %+v, want nil", *p)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolvePrincipal: %v", err)
			}
			if p == nil || *p != *tc.want {
				t.Fatalf("got %+v\nwant %+v", p, tc.want)
			}
		})
	}
}

// TestResolvePrincipalShapes covers identities the corpus lacks and hostile input.
func TestResolvePrincipalShapes(t *testing.T) {
	tests := map[string]struct {
		in         string
		want       *Principal
		unresolved bool
		errText    string // a plain (non-ErrUnresolvable) error containing this
	}{
		"absent":       {in: ``},
		"null":         {in: `null`},
		"empty object": {in: `{}`},
		"Root": {
			in:   `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}`,
			want: &Principal{ARN: "arn:aws:iam::111122223333:root", Account: "111122223333", Type: PrincipalRoot},
		},
		"Root in aws-cn": {
			in:   `{"type":"Root","arn":"arn:aws-cn:iam::111122223333:root","accountId":"111122223333"}`,
			want: &Principal{ARN: "arn:aws-cn:iam::111122223333:root", Account: "111122223333", Type: PrincipalRoot},
		},
		"Root with unicode digits": {
			in: `{"type":"Root","accountId":"１１１１２２２２３３３３"}`, unresolved: true,
		},
		"AWSService": {
			in:   `{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}`,
			want: &Principal{Type: PrincipalOther, InvokedBy: "ec2.amazonaws.com"},
		},
		"AWSService invoked by autoscaling": {
			in: `{"type":"AWSService","invokedBy":"autoscaling.amazonaws.com","accountId":"444455556666"}`,
			want: &Principal{
				ARN:     "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
				Account: "444455556666", Type: PrincipalServiceLinkedRole, Name: AutoScalingSLRName, InvokedBy: AutoScalingService,
			},
		},
		"autoscaling with a 13-digit account": {
			in: `{"type":"Root","invokedBy":"autoscaling.amazonaws.com","accountId":"4444555566667"}`, unresolved: true,
		},
		"FederatedUser": {
			in: `{"type":"FederatedUser","principalId":"444455556666:bob","arn":"arn:aws:sts::444455556666:federated-user/bob","accountId":"444455556666",
				"sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::444455556666:user/bob","accountId":"444455556666","userName":"bob"}}}`,
			want: &Principal{ARN: "arn:aws:sts::444455556666:federated-user/bob", Account: "444455556666", Type: PrincipalOther},
		},
		"unknown type with a bad account": {
			in:   `{"type":"IdentityCenterUser","accountId":"12"}`,
			want: &Principal{Type: PrincipalOther},
		},
		"AssumedRole issued by a user": {
			in:         `{"type":"AssumedRole","arn":"arn:aws:sts::444455556666:assumed-role/x/y","sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::444455556666:user/x"}}}`,
			unresolved: true,
		},
		"AssumedRole whose issuer account differs from accountId": {
			in:         `{"type":"AssumedRole","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::444455556666:role/r"}}}`,
			unresolved: true,
		},
		"AssumedRole with a wildcard role name": {
			in:         `{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::444455556666:role/*"}}}`,
			unresolved: true,
		},
		"IAMUser with a role ARN": {
			in: `{"type":"IAMUser","arn":"arn:aws:iam::444455556666:role/r"}`, unresolved: true,
		},
		"IAMUser with an unknown partition": {
			in: `{"type":"IAMUser","arn":"arn:evil:iam::444455556666:user/u"}`, unresolved: true,
		},
		"numeric accountId is kept as text": {
			in:   `{"type":"Root","accountId":444455556666}`,
			want: &Principal{ARN: "arn:aws:iam::444455556666:root", Account: "444455556666", Type: PrincipalRoot},
		},
		"not an object":          {in: `"arn:aws:iam::444455556666:root"`, errText: "userIdentity: expected object, got string"},
		"type is a number":       {in: `{"type":7}`, errText: "userIdentity.type: expected string, got number"},
		"sessionContext string":  {in: `{"type":"AssumedRole","sessionContext":"x"}`, errText: "userIdentity.sessionContext: expected object, got string"},
		"issuer arn is an array": {in: `{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":[]}}}`, errText: "userIdentity.sessionContext.sessionIssuer.arn: expected string, got array"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := ResolvePrincipal([]byte(tc.in))
			switch {
			case tc.errText != "":
				if err == nil || errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want a type error containing %q", err, tc.errText)
				}
				return
			case tc.unresolved:
				if !errors.Is(err, ErrUnresolvable) || p != nil {
					t.Fatalf("got %+v, %v; want nil, ErrUnresolvable", p, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolvePrincipal: %v", err)
			}
			if (p == nil) != (tc.want == nil) || p != nil && *p != *tc.want {
				t.Fatalf("got %+v\nwant %+v", p, tc.want)
			}
		})
	}
}

func TestIsAccountID(t *testing.T) {
	tests := map[string]bool{
		"444455556666":  true,
		"000000000000":  true,
		"44445555666":   false,
		"4444555566667": false,
		"44445555666a":  false,
		"*":             false,
		"":              false,
		"４４４４55556666":  false,
		" 44445555666":  false,
	}
	for in, want := range tests {
		if got := awsid.IsAccountID(in); got != want {
			t.Errorf("awsid.IsAccountID(%q) = %v, want %v", in, got, want)
		}
	}
}
