package remediate

// The launch branches against the in-memory AWS (-short): which keys a launch uses (source and
// destination), launch templates, key states, launching service-linked roles (Auto Scaling from
// the group, EC2 Fleet from CloudTrail), the kms-grant action and Identity Center roles. The
// same paths run end to end on the local AWS in launch_test.go.

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// unitEvent is a sample of events/ with replacements.
func unitEvent(t *testing.T, file string, replace map[string]string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/"+file, replace)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// byRole sorts a record's findings into "role:code" strings ("" role for findings about no key
// role), sorted.
func byRole(rec report.Record) string {
	var out []string
	for _, f := range rec.Findings {
		out = append(out, f.KeyRole+":"+string(f.Code))
	}
	return joinedSorted(out)
}

func joinedSorted(s []string) string {
	c := slices.Clone(s)
	slices.Sort(c)
	return strings.Join(c, ",")
}

// Which key a launch re-encrypts its volume under (EC2 User Guide, "Use encryption with
// EBS-backed AMIs"), and that such a destination key is reported, never fixed.
func TestLaunchDestinationKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		seed                 func(u *unit) []byte
		want                 string // the record's findings as key role:code
		defaultReads, kmsKey int    // GetEbsDefaultKmsKeyId calls; DescribeKey calls
	}{
		"shared snapshot, default key aws/ebs: no KMS call for it": {
			seed: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				return launchEvent(t, u.image([]string{u.key("")}, scenario.Target), "app-deployer")
			},
			want:         "source:key-policy-missing-grant,source:key-policy-missing-use,:iam-missing-grant,:iam-missing-use",
			defaultReads: 1, kmsKey: 1,
		},
		"shared snapshot, the default key of the central account not opened": {
			seed: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				u.cloud.SetEBSDefaults(scenario.Target, scenario.Region, u.key(""), false) // whatever encryption by default says
				return launchEvent(t, u.image([]string{u.key("")}, scenario.Target), "app-deployer")
			},
			want: "destination:key-policy-missing-grant,destination:key-policy-missing-use,source:key-policy-missing-grant,source:key-policy-missing-use," +
				":iam-missing-grant,:iam-missing-use",
			defaultReads: 1, kmsKey: 2,
		},
		"the request names the destination (Ebs.KmsKeyId): no default key read": {
			seed: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				dest := u.key("")
				img := u.image([]string{u.key("")}, scenario.Target)
				return unitEvent(t, "launch-failed-kms-key.json", map[string]string{scenario.PlaceholderImage: img,
					"arn:aws:kms:us-east-1:444455556666:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0": dest})
			},
			want: "destination:key-policy-missing-grant,destination:key-policy-missing-use,source:key-policy-missing-grant,source:key-policy-missing-use," +
				":iam-missing-grant,:iam-missing-use",
			defaultReads: 0, kmsKey: 2,
		},
		"the launch template names the destination": {
			seed: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				dest := u.key("")
				img := u.image([]string{u.key("")}, scenario.Target)
				u.cloud.AddLaunchTemplateVersion(scenario.Target, scenario.Region, "lt-0123456789abcdef0", fake.Template{ImageID: img,
					Mappings: []ec2types.LaunchTemplateBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
						Ebs: &ec2types.LaunchTemplateEbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: aws.String(dest)}}}})
				return unitEvent(t, "launch-template-failed.json", map[string]string{scenario.PlaceholderTemplate: "lt-0123456789abcdef0"})
			},
			want: "destination:key-policy-missing-grant,destination:key-policy-missing-use,source:key-policy-missing-grant,source:key-policy-missing-use," +
				":iam-missing-grant,:iam-missing-use",
			defaultReads: 0, kmsKey: 2,
		},
		"an image the launching account owns keeps its key": {
			seed: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				u.cloud.SetEBSDefaults(scenario.Target, scenario.Region, u.key(""), true)
				k := u.cloud.AddKey(scenario.Target, scenario.Region, scenario.DefaultKeyPolicy(scenario.Target))
				img := u.cloud.AddImage(scenario.Target, scenario.Region, k)
				return launchEvent(t, img, "app-deployer")
			},
			want:         ":iam-missing-grant,:iam-missing-use",
			defaultReads: 0, kmsKey: 1,
		},
		"an owned unencrypted snapshot under encryption by default: the default key": {
			seed: func(u *unit) []byte {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				u.cloud.SetEBSDefaults(scenario.Target, scenario.Region, u.key(""), true)
				img := u.cloud.AddImage(scenario.Target, scenario.Region, "")
				return launchEvent(t, img, "app-deployer")
			},
			// The IAM side covers source keys only (a destination key gets no usage policy).
			want:         "destination:key-policy-missing-grant,destination:key-policy-missing-use",
			defaultReads: 1, kmsKey: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{trusted: []string{scenario.Target}})
			resp := u.deliver(tc.seed(u))
			rec := resp.Records[0]
			if got := byRole(rec); got != joinedSorted(strings.Split(tc.want, ",")) {
				t.Errorf("findings %s\nwant     %s\n%+v", got, joinedSorted(strings.Split(tc.want, ",")), rec.Findings)
			}
			for _, f := range rec.Findings {
				if f.KeyRole == report.KeyRoleDestination && f.Fixable {
					t.Errorf("a destination key's finding is fixable: %+v", f)
				}
			}
			for _, a := range resp.Actions {
				if a.Type == report.ActionKeyPolicy && len(findingsFor(rec, a.Target, report.KeyRoleDestination)) > 0 {
					t.Errorf("an action on the destination key: %+v", a)
				}
			}
			if n := u.cloud.Count("EC2:GetEbsDefaultKmsKeyId"); n != tc.defaultReads {
				t.Errorf("%d GetEbsDefaultKmsKeyId calls, want %d", n, tc.defaultReads)
			}
			if n := u.cloud.Count("KMS:DescribeKey"); n != tc.kmsKey {
				t.Errorf("%d DescribeKey calls, want %d", n, tc.kmsKey)
			}
		})
	}
}

// findingsFor: the record's findings about keyARN in role.
func findingsFor(rec report.Record, keyARN string, role string) []report.Finding {
	var out []report.Finding
	for _, f := range rec.Findings {
		if f.KeyARN == keyARN && f.KeyRole == role {
			out = append(out, f)
		}
	}
	return out
}

// A template that does not exist: the record is ignored with the reason (no image to check),
// nothing is planned, and it is not retried.
func TestLaunchTemplateNotFound(t *testing.T) {
	u := newUnit(t, unitSetup{trusted: []string{scenario.Target}})
	u.cloud.AddRole(scenario.Target, "app-deployer")
	resp := u.deliver(unitEvent(t, "launch-template-failed.json", map[string]string{scenario.PlaceholderTemplate: "lt-0fffffffffffffff0"}))
	rec := resp.Records[0]
	if !strings.Contains(rec.IgnoredReason, "lt-0fffffffffffffff0") || !strings.Contains(rec.IgnoredReason, "NotFound") || rec.Error != "" || len(resp.Actions) != 0 || len(failed(resp)) != 0 {
		t.Errorf("record %+v actions %+v failed %v", rec, resp.Actions, failed(resp))
	}
}

// Each key state EC2 cannot use has its own finding and remedy (KMS Developer Guide, "Key states
// of AWS KMS keys"); none is fixed.
func TestLaunchKeyStates(t *testing.T) {
	for state, tc := range map[kmstypes.KeyState]struct {
		code   report.Code
		remedy string
	}{
		kmstypes.KeyStateDisabled:               {report.KeyDisabled, "aws kms enable-key"},
		kmstypes.KeyStatePendingDeletion:        {report.KeyPendingDeletion, "cancel-key-deletion"},
		kmstypes.KeyStatePendingReplicaDeletion: {report.KeyPendingDeletion, "multi-Region primary key"},
		kmstypes.KeyStatePendingImport:          {report.KeyUnusableState, "import-key-material"},
		kmstypes.KeyStateUnavailable:            {report.KeyUnusableState, "connect-custom-key-store"},
		kmstypes.KeyStateCreating:               {report.KeyUnusableState, "wait"},
		kmstypes.KeyStateUpdating:               {report.KeyUnusableState, "primary Region is changing"},
	} {
		t.Run(string(state), func(t *testing.T) {
			u := newUnit(t, unitSetup{trusted: []string{scenario.Target}})
			resp := u.deliver(shareOfKeyIn(t, state)(u))
			fs := findingsOf(resp.Records[0], tc.code)
			if len(fs) != 1 || !strings.Contains(fs[0].Message, tc.remedy) || fs[0].Fixable || len(resp.Actions) != 0 {
				t.Fatalf("findings %+v actions %+v", resp.Records[0].Findings, resp.Actions)
			}
			if tc.code != report.KeyDisabled && fs[0].KeyState != string(state) {
				t.Errorf("key_state %q, want %q", fs[0].KeyState, state)
			}
		})
	}
}

// fleetTerminated seeds an instance in account launched by EC2 Fleet's service-linked role (its
// RunInstances record in CloudTrail) from image, terminated for a KMS reason, and returns the
// event, with the role's ARN.
func fleetTerminated(t *testing.T, u *unit, account, image string) ([]byte, string) {
	t.Helper()
	const id = "i-0fee0fee0fee0fee0"
	role := "arn:aws:iam::" + account + ":role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet"
	u.cloud.AddInstance(fake.Instance{ID: id, Account: account, Region: scenario.Region, ImageID: image,
		StateReasonCode: "Client.InternalError", StateReasonMessage: "Client.InternalError: Client error on launch"})
	u.cloud.AddTrailEvent(account, scenario.Region, id, fake.TrailEvent{Name: "RunInstances", Event: `{"eventName":"RunInstances",` +
		`"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::` + account + `:assumed-role/AWSServiceRoleForEC2Fleet/EC2Fleet","accountId":"` + account + `",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","arn":"` + role + `","accountId":"` + account + `","userName":"AWSServiceRoleForEC2Fleet"}},` +
		`"invokedBy":"ec2fleet.amazonaws.com"}}`})
	return unitEvent(t, "instance-terminated.json", map[string]string{scenario.PlaceholderInstance: id,
		`"account": "444455556666"`: `"account": "` + account + `"`, "arn:aws:ec2:us-east-1:444455556666:": "arn:aws:ec2:us-east-1:" + account + ":"}), role
}

// EC2 Fleet's service-linked role, read from the instance's own CloudTrail record, needs a grant
// on a key of another account: the key policy part and the grant are planned; its IAM is never
// touched.
func TestFleetRoleFromCloudTrailNeedsAGrant(t *testing.T) {
	u := newUnit(t, unitSetup{trusted: []string{scenario.Target}})
	k := u.key("")
	raw, _ := fleetTerminated(t, u, scenario.Target, u.image([]string{k}, scenario.Target))
	resp := u.deliver(raw)
	rec := resp.Records[0]
	if got := joined(codes(rec)); got != "key-policy-missing-grant,key-policy-missing-launch-grant,key-policy-missing-use,slr-missing-grant" {
		t.Fatalf("findings %s: %+v", got, rec.Findings)
	}
	if got := statuses(resp.Actions); got != "key-policy:planned,kms-grant:planned" {
		t.Fatalf("actions %s: %+v", got, resp.Actions)
	}
	if !strings.Contains(resp.Actions[0].Document, keypolicy.LaunchGrantSid) || !strings.Contains(resp.Actions[1].Principal, "AWSServiceRoleForEC2Fleet") {
		t.Errorf("actions %+v", resp.Actions)
	}
}

// In the key's own account, EC2 Fleet's role is reported with the statement to add: only an Auto
// Scaling group's role, read from the group, is ever added to a key policy.
func TestFleetRoleInTheKeysAccountIsReported(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	k := u.key("")
	raw, role := fleetTerminated(t, u, scenario.Owner, u.image([]string{k}))
	resp := u.deliver(raw)
	rec := resp.Records[0]
	fs := findingsOf(rec, report.KeyPolicyMissingUse)
	if len(fs) != 1 || fs[0].Fixable || fs[0].PrincipalARN != role || !strings.Contains(fs[0].Message, "add it by hand") {
		t.Fatalf("findings %+v", rec.Findings)
	}
	if len(u.puts(k)) != 0 || len(resp.Actions) != 0 {
		t.Errorf("writes %d, actions %+v", len(u.puts(k)), resp.Actions)
	}
}

// crossAccountGroup seeds an Auto Scaling group in Target launching image from a template, with
// its default service-linked role, and returns its failure event.
func crossAccountGroup(t *testing.T, u *unit, image string) []byte {
	t.Helper()
	u.cloud.AddLaunchTemplate(scenario.Target, scenario.Region, "lt-0aaaaaaaaaaaaaaa0", image)
	u.cloud.AddGroup(fake.Group{Name: "app-asg", Account: scenario.Target, Region: scenario.Region, LaunchTemplateID: "lt-0aaaaaaaaaaaaaaa0",
		ServiceLinkedRoleARN: "arn:aws:iam::" + scenario.Target + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"})
	return asgEvent(t, scenario.Target, "app-asg")
}

const targetASGRole = "arn:aws:iam::" + scenario.Target + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"

// The kms-grant action in fix mode: after the key policy, the grant is created from the group's
// account (its member role's client), with the fixed Name and AWS's eight operations, and
// verified in the key's account; the same event again creates nothing.
func TestGrantActionCreatesAndVerifies(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	k := u.key("")
	raw := crossAccountGroup(t, u, u.image([]string{k}, scenario.Target))
	resp := u.deliver(raw)
	if got := statuses(resp.Actions); got != "key-policy:applied,kms-grant:applied" {
		t.Fatalf("actions %s: %+v", got, resp.Actions)
	}
	creates := u.cloud.Calls("KMS:CreateGrant")
	if len(creates) != 1 {
		t.Fatalf("%d CreateGrant calls", len(creates))
	}
	in := creates[0].Input.(*kms.CreateGrantInput)
	wantOps := keypolicy.LaunchGrantOperations
	if creates[0].Account != scenario.Target || aws.ToString(in.KeyId) != k || aws.ToString(in.GranteePrincipal) != targetASGRole ||
		aws.ToString(in.Name) != keypolicy.GrantName(targetASGRole, wantOps) || len(in.Operations) != len(wantOps) ||
		in.RetiringPrincipal != nil || in.Constraints != nil {
		t.Errorf("CreateGrant %+v from %s", in, creates[0].Account)
	}
	lists := u.cloud.Calls("KMS:ListGrants")
	if len(lists) == 0 || lists[len(lists)-1].Account != scenario.Owner {
		t.Errorf("ListGrants calls %+v: the last, verifying, must be in the key's account", lists)
	}
	act := resp.Actions[1]
	if !strings.Contains(act.Reason, "verified with ListGrants") || act.GrantID == "" {
		t.Errorf("grant action %+v", act)
	}
	again := u.deliver(raw)
	if len(again.Actions) != 0 || u.cloud.Count("KMS:CreateGrant") != 1 || len(again.Records[0].Findings) != 0 {
		t.Errorf("again: actions %+v, %d CreateGrant, findings %+v", again.Actions, u.cloud.Count("KMS:CreateGrant"), again.Records[0].Findings)
	}
}

// What can go wrong with the grant, and what happens then.
func TestGrantActionFailures(t *testing.T) {
	denied := fake.Error("AccessDeniedException", "not authorized to perform kms:CreateGrant")
	for name, tc := range map[string]struct {
		setup   func(u *unit)
		trusted []string
		actions string
		retry   bool
		reason  string
	}{
		"denied right after our key-policy write: the policy may not be in effect yet": {
			setup:   func(u *unit) { u.cloud.FailNext("KMS:CreateGrant", denied) },
			actions: "key-policy:applied,kms-grant:failed", retry: true, reason: "does not let the account create the grant yet",
		},
		"throttled: handed back": {
			setup:   func(u *unit) { u.cloud.FailNext("KMS:CreateGrant", fake.Error("ThrottlingException", "Rate exceeded")) },
			actions: "key-policy:applied,kms-grant:failed", retry: true,
		},
		"the group's account is not trusted: nothing planned": {
			trusted: []string{},
			actions: "",
		},
	} {
		t.Run(name, func(t *testing.T) {
			trusted := []string{scenario.Target}
			if tc.trusted != nil {
				trusted = tc.trusted
			}
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: trusted})
			k := u.key("")
			raw := crossAccountGroup(t, u, u.image([]string{k}, scenario.Target))
			if tc.setup != nil {
				tc.setup(u)
			}
			resp := u.deliver(raw)
			if got := statuses(resp.Actions); got != tc.actions {
				t.Fatalf("actions %s, want %s: %+v", got, tc.actions, resp.Actions)
			}
			if got := len(failed(resp)) == 1; got != tc.retry {
				t.Errorf("handed back %v, want retry %v", failed(resp), tc.retry)
			}
			if tc.reason != "" && !strings.Contains(resp.Actions[len(resp.Actions)-1].Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", resp.Actions[len(resp.Actions)-1].Reason, tc.reason)
			}
			if len(trusted) == 0 {
				for _, f := range resp.Records[0].Findings {
					if f.Fixable {
						t.Errorf("fixable finding for an untrusted account: %+v", f)
					}
				}
			}
		})
	}
}

// A grant that ListGrants does not list yet still counts (grants take up to five minutes); the
// reason says launches may keep failing meanwhile.
func TestGrantNotListedYet(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	k := u.key("")
	raw := crossAccountGroup(t, u, u.image([]string{k}, scenario.Target))
	// Once the grant exists, ListGrants answers as if it were not propagated yet.
	u.cloud.After("KMS:CreateGrant", func(fake.Call) {
		u.cloud.Key(k, func(key *fake.Key) { key.Grants = nil })
	})
	resp := u.deliver(raw)
	if got := statuses(resp.Actions); got != "key-policy:applied,kms-grant:applied" {
		t.Fatalf("actions %s: %+v", got, resp.Actions)
	}
	if r := resp.Actions[1].Reason; !strings.Contains(r, "not listed yet") || !strings.Contains(r, "five minutes") {
		t.Errorf("reason %q", r)
	}
	if len(failed(resp)) != 0 {
		t.Errorf("handed back %v", failed(resp))
	}
}

// An IAM Identity Center role is never granted anything: the finding names its permission set.
func TestIdentityCenterRoleIsReported(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	const name = "AWSReservedSSO_DeployAccess_0123456789abcdef"
	path := "arn:aws:iam::" + scenario.Target + ":role/aws-reserved/sso.amazonaws.com/eu-west-2/" + name
	arn := u.cloud.AddRole(scenario.Target, name)
	u.cloud.Principal(arn, func(p *fake.Principal) { p.ARN = path })
	img := u.image([]string{u.key("")}, scenario.Target)
	raw := unitEvent(t, "launch-failed.json", map[string]string{scenario.PlaceholderImage: img,
		"role/app-deployer": "role/aws-reserved/sso.amazonaws.com/eu-west-2/" + name, "assumed-role/app-deployer": "assumed-role/" + name,
		`"userName": "app-deployer"`: `"userName": "` + name + `"`})
	resp := u.deliver(raw)
	rec := resp.Records[0]
	fs := findingsOf(rec, report.IAMMissingUse)
	if len(fs) != 1 || fs[0].Fixable || !strings.Contains(fs[0].Message, "permission set DeployAccess") {
		t.Fatalf("findings %+v", rec.Findings)
	}
	for _, a := range resp.Actions {
		if a.Type == report.ActionKMSGrant {
			t.Errorf("grant for an Identity Center role %+v", a)
		}
	}
	if n := u.cloud.Count("KMS:CreateGrant"); n != 0 {
		t.Errorf("%d grants created", n)
	}
}
