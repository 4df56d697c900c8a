package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// The IAM half against the local AWS: the launching principal lives in Target (or Untrusted),
// reached through the member role like in production. Every test uses its own policy name (the
// IAM_POLICY_NAME setting) so tests sharing the local AWS cannot see each other's policy.

var iamSeq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, iamSeq.Add(1)) }

// iamRemediator is newRemediator with a policy name of the test's own.
func iamRemediator(t *testing.T, s setup) (*Remediator, string) {
	t.Helper()
	rm, _ := newRemediator(t, s)
	rm.cfg.IAMPolicyName = uniq("KmsKeyUsagePolicy")
	return rm, rm.cfg.IAMPolicyName
}

// launchFailed is events/launch-failed.json for the fixture's image, launched by role (in the
// event's account 444455556666 unless account says otherwise).
func launchFailed(f keyFixture, role, account string) map[string]string {
	r := f.replace()
	r["app-deployer"] = role
	if account != scenario.Target {
		r[scenario.Target] = account
	}
	return r
}

// launchFailedBy is events/launch-failed.json with another userIdentity.
func launchFailedBy(t *testing.T, f keyFixture, userIdentity string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/launch-failed.json", f.replace())
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var detail map[string]json.RawMessage
	if err := json.Unmarshal(ev["detail"], &detail); err != nil {
		t.Fatal(err)
	}
	detail["userIdentity"] = json.RawMessage(userIdentity)
	if ev["detail"], err = json.Marshal(detail); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// invokeFull runs an event like invokeRaw but keeps what the JSON wire format leaves out
// (an action's Document, Diff and Principal go to the alert only).
func invokeFull(t *testing.T, rm *Remediator, file string, replace map[string]string) report.Result {
	t.Helper()
	raw, err := scenario.Event("../../events/"+file, replace)
	if err != nil {
		t.Fatal(err)
	}
	out, err := rm.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	res, ok := out.(report.Result)
	if !ok {
		t.Fatalf("result is a %T", out)
	}
	return res
}

func roleARN(account, name string) string { return "arn:aws:iam::" + account + ":role/" + name }

func policyARNIn(account, name string) string { return "arn:aws:iam::" + account + ":policy/" + name }

// storedDefault reads a managed policy's default document straight from IAM.
func storedDefault(t *testing.T, account, arn string) (string, bool) {
	t.Helper()
	cl := world.IAM(account)
	p, err := cl.GetPolicy(context.Background(), &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		if awsapi.IsNotFound(err) {
			return "", false
		}
		t.Fatal(err)
	}
	v, err := cl.GetPolicyVersion(context.Background(), &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := policy.DecodeIAM(aws.ToString(v.PolicyVersion.Document))
	if err != nil {
		t.Fatal(err)
	}
	return doc, true
}

func attachedToRole(t *testing.T, account, role string) []string {
	t.Helper()
	out, err := world.IAM(account).ListAttachedRolePolicies(context.Background(), &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, aws.ToString(p.PolicyArn))
	}
	return arns
}

// resources returns each statement's Resource list by Sid.
func resources(t *testing.T, doc string) map[string][]string {
	t.Helper()
	d, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("stored policy does not parse: %v\n%s", err, doc)
	}
	out := map[string][]string{}
	for _, s := range d.Statements() {
		if s.Resource != nil {
			out[s.Sid] = append([]string{}, s.Resource.List...)
			sort.Strings(out[s.Sid])
		}
	}
	return out
}

// principalCanLaunch decides, independently of the remediator, whether the principal may make
// every request EC2 makes on the key: key policy (read from KMS) and identity policies (gathered
// afresh from IAM) together.
func principalCanLaunch(t *testing.T, keyARN string, p identity.Principal, principalARN string) bool {
	t.Helper()
	kd, err := policy.Parse([]byte(keyPolicy(t, keyARN)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := identity.New().Gather(context.Background(), world.IAM(p.Account), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(append([]string{}, useRequests...), grantRequests...) {
		res := evaluate.KMS(evaluate.KMSInput{KeyPolicy: kd, KeyAccount: scenario.Owner, IdentityPolicies: set.Documents(), IdentityKnown: true,
			Boundary: set.BoundaryDocument(), Request: evaluate.Request{PrincipalARN: principalARN, Action: a, Resource: keyARN,
				Context: evaluate.EC2Context(scenario.Region, principalARN, a == "kms:CreateGrant")}})
		if res.Decision != evaluate.Allow {
			t.Logf("%s: %s missing %v: %+v", principalARN, a, res.Missing, res.Identity)
			return false
		}
	}
	return true
}

func actionOf(res report.Result, typ string) *report.Action {
	for i := range res.Actions {
		if res.Actions[i].Type == typ {
			return &res.Actions[i]
		}
	}
	return nil
}

func iamFindings(rec report.Record) []report.Finding {
	var out []report.Finding
	for _, f := range rec.Findings {
		if f.Code == report.IAMMissingUse || f.Code == report.IAMMissingGrant {
			out = append(out, f)
		}
	}
	return out
}

func iamWrites(stats map[string]int) int {
	return stats["IAM:CreatePolicy"] + stats["IAM:CreatePolicyVersion"] + stats["IAM:DeletePolicyVersion"] +
		stats["IAM:AttachRolePolicy"] + stats["IAM:AttachUserPolicy"]
}

// The main case: a role with no KMS permissions in Target fails to launch the shared
// image. Both halves get fixed: the key policy names Target, and KmsKeyUsagePolicy (scoped to
// exactly the key) is created and attached to the role.
func TestLaunchFailedRoleGetsKeyPolicyAndUsagePolicy(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := scenario.AppRoleName
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	name := uniq("KmsKeyUsagePolicy")
	rm.cfg.IAMPolicyName = name
	pARN, rARN := policyARNIn(scenario.Target, name), roleARN(scenario.Target, role)
	ip := identity.Principal{Account: scenario.Target, Kind: identity.Role, Name: role}
	if principalCanLaunch(t, f.key, ip, rARN) {
		t.Fatal("the role can launch before the fix")
	}

	res := invokeEvent(t, rm, "launch-failed.json", f.replace())

	rec := res.Records[0]
	if rec.Error != "" || rec.PrincipalARN != rARN {
		t.Fatalf("record: %+v", rec)
	}
	if got := joined(codes(rec)); got != "iam-missing-grant,iam-missing-use,key-policy-missing-grant,key-policy-missing-use" {
		t.Errorf("findings = %s", got)
	}
	for _, fd := range iamFindings(rec) {
		if !fd.Fixable || fd.PrincipalARN != rARN || fd.KeyARN != f.key || fd.Account != scenario.Target ||
			!strings.Contains(fd.Message, "SCPs, RCPs and session policies not evaluated") {
			t.Errorf("iam finding %+v", fd)
		}
	}
	act := actionOf(res, report.ActionIAMPolicy)
	if act == nil || act.Status != report.StatusApplied || act.Target != pARN || joined(act.Accounts) != scenario.Target {
		t.Fatalf("iam action: %+v (all %+v)", act, res.Actions)
	}
	if kp := actionOf(res, report.ActionKeyPolicy); kp == nil || kp.Status != report.StatusApplied {
		t.Fatalf("key policy action: %+v", kp)
	}

	doc, ok := storedDefault(t, scenario.Target, pARN)
	if !ok {
		t.Fatal("policy not created")
	}
	want := map[string][]string{usagepolicy.UseSid: {f.key}, usagepolicy.GrantSid: {f.key}}
	if got := resources(t, doc); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("policy resources = %v, want exactly the key: %s", got, doc)
	}
	if strings.Contains(doc, `"*"`) {
		t.Errorf("policy has a wildcard: %s", doc)
	}
	if a := attachedToRole(t, scenario.Target, role); joined(a) != pARN {
		t.Errorf("attached to the role: %v", a)
	}
	if !principalCanLaunch(t, f.key, ip, rARN) {
		t.Error("after the fix the role still cannot use the key")
	}
	if res.Stats["IAM:CreatePolicy"] != 1 || res.Stats["IAM:AttachRolePolicy"] != 1 {
		t.Errorf("IAM writes: %v", res.Stats)
	}

	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, pARN) || !strings.Contains(alerts[0].Message, rARN) {
		t.Fatalf("alert does not name the policy and role: %+v", alerts)
	}

	// Re-running the same event finds nothing and writes nothing.
	again := invokeEvent(t, rm, "launch-failed.json", f.replace())
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || iamWrites(again.Stats) != 0 {
		t.Errorf("re-run did something: %+v %v", again, again.Stats)
	}
}

// A user whose group already grants the key: nothing changes on the IAM side (the key policy is
// still fixed), and each group policy is read once.
func TestUserWhoseGroupGrantsItIsLeftAlone(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	cl := world.IAM(scenario.Target)
	user, group := uniq("builder"), uniq("builders")
	if _, err := cl.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(group), UserName: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	// Use through an inline group policy (URL-encoded by IAM on the way back), grants through a
	// managed policy attached to the group.
	use := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"` + f.key + `"}]}`
	if _, err := cl.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String(group), PolicyName: aws.String("kms-use"), PolicyDocument: aws.String(use)}); err != nil {
		t.Fatal(err)
	}
	grant := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"arn:aws:kms:*:111122223333:key/*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`
	gp, err := cl.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(uniq("group-grants")), PolicyDocument: aws.String(grant)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String(group), PolicyArn: gp.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	rm, name := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	userARN := "arn:aws:iam::" + scenario.Target + ":user/" + user
	raw := launchFailedBy(t, f, `{"type":"IAMUser","principalId":"AIDAEXAMPLEBUILDER01","arn":"`+userARN+`","accountId":"`+scenario.Target+`","accessKeyId":"AKIAEXAMPLEBUILDER01","userName":"`+user+`"}`)

	res := invokeRaw(t, rm, raw)

	rec := res.Records[0]
	if rec.Error != "" || rec.PrincipalARN != userARN {
		t.Fatalf("record: %+v", rec)
	}
	if got := iamFindings(rec); len(got) != 0 {
		t.Errorf("IAM findings for a user whose group allows the key: %+v", got)
	}
	if act := actionOf(res, report.ActionIAMPolicy); act != nil {
		t.Errorf("iam action: %+v", act)
	}
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM was written: %v", res.Stats)
	}
	if _, ok := storedDefault(t, scenario.Target, policyARNIn(scenario.Target, name)); ok {
		t.Error("usage policy created")
	}
	if res.Stats["IAM:GetGroupPolicy"] != 1 || res.Stats["IAM:GetPolicyVersion"] != 1 || res.Stats["IAM:ListGroupsForUser"] != 1 {
		t.Errorf("policies read more than once: %v", res.Stats)
	}
	if !principalCanLaunch(t, f.key, identity.Principal{Account: scenario.Target, Kind: identity.User, Name: user}, userARN) {
		t.Error("the user cannot launch after the key policy fix")
	}
}

// An existing usage policy for another key at IAM's five versions: the oldest non-default
// version goes, a new default version allows both keys, the default stays.
func TestExistingUsagePolicyGetsNewVersion(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := uniq("deployer")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rm, name := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	other := "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-0000-0000-000000000001"
	cl := world.IAM(scenario.Target)
	p, err := cl.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(string(usagepolicy.New([]string{other})))})
	if err != nil {
		t.Fatal(err)
	}
	pARN := aws.ToString(p.Policy.Arn)
	for i := 2; i <= 5; i++ { // v2..v5, never default: v1 stays the default
		old := fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-0000-0000-00000000010%d", i)
		if _, err := cl.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(pARN), PolicyDocument: aws.String(string(usagepolicy.New([]string{old})))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(pARN)}); err != nil {
		t.Fatal(err)
	}

	res := invokeFull(t, rm, "launch-failed.json", launchFailed(f, role, scenario.Target))

	act := actionOf(res, report.ActionIAMPolicy)
	if act == nil || act.Status != report.StatusApplied || act.Target != pARN {
		t.Fatalf("iam action: %+v (records %+v)", act, res.Records)
	}
	doc, _ := storedDefault(t, scenario.Target, pARN)
	want := []string{other, f.key}
	sort.Strings(want)
	for sid, got := range resources(t, doc) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s resources = %v, want %v", sid, got, want)
		}
	}
	vs, err := cl.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(pARN)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs.Versions {
		id := aws.ToString(v.VersionId)
		if v.IsDefaultVersion {
			id += "*"
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if got := joined(ids); got != "v1,v3,v4,v5,v6*" {
		t.Errorf("versions = %s, want v2 (oldest non-default) deleted and v6 the default", got)
	}
	if res.Stats["IAM:AttachRolePolicy"] != 0 || res.Stats["IAM:DeletePolicyVersion"] != 1 || res.Stats["IAM:CreatePolicyVersion"] != 1 {
		t.Errorf("IAM calls: %v", res.Stats)
	}
	if a := attachedToRole(t, scenario.Target, role); joined(a) != pARN {
		t.Errorf("attached: %v", a)
	}
	if !strings.Contains(act.Diff, f.key) {
		t.Errorf("diff does not show the added key: %s", act.Diff)
	}
}

// A permissions boundary without KMS: reported, and the identity-policy fix is refused rather
// than applied and claimed to solve it.
func TestPermissionsBoundaryBlockingKMSIsReported(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	cl := world.IAM(scenario.Target)
	b, err := cl.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(uniq("boundary-ec2-only")),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","s3:*"],"Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	role := uniq("bounded")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}]}`
	if _, err := cl.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust), PermissionsBoundary: b.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	rm, name := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})

	res := invokeFull(t, rm, "launch-failed.json", launchFailed(f, role, scenario.Target))

	rec := res.Records[0]
	fs := iamFindings(rec)
	if len(fs) != 2 {
		t.Fatalf("iam findings: %+v", rec.Findings)
	}
	for _, fd := range fs {
		if fd.Fixable || !strings.Contains(fd.Message, "permissions boundary "+aws.ToString(b.Policy.Arn)) || !strings.Contains(fd.Message, "will NOT fix this") {
			t.Errorf("finding should say the boundary blocks and not be fixable: %+v", fd)
		}
	}
	act := actionOf(res, report.ActionIAMPolicy)
	if act == nil || act.Status != report.StatusRefused || !strings.Contains(act.Reason, "permissions boundary") || !strings.Contains(act.Document, f.key) {
		t.Fatalf("iam action should be refused with the boundary as reason and the document for a human: %+v", act)
	}
	if _, ok := storedDefault(t, scenario.Target, policyARNIn(scenario.Target, name)); ok {
		t.Error("usage policy created although the boundary blocks")
	}
	if a := attachedToRole(t, scenario.Target, role); len(a) != 0 {
		t.Errorf("attached: %v", a)
	}
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM written: %v", res.Stats)
	}
}

// A launch in an untrusted account: reported, nothing written on either side.
func TestUntrustedAccountIAMIsNotChanged(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Untrusted)
	role := uniq("outsider")
	if err := world.Role(ctx, scenario.Untrusted, role); err != nil {
		t.Fatal(err)
	}
	rm, name := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})

	res := invokeEvent(t, rm, "launch-failed.json", launchFailed(f, role, scenario.Untrusted))

	rec := res.Records[0]
	if rec.Account != scenario.Untrusted || !hasCode(rec, report.UntrustedAccount) {
		t.Fatalf("record: %+v", rec)
	}
	fs := iamFindings(rec)
	if len(fs) != 2 {
		t.Fatalf("iam findings: %+v", rec.Findings)
	}
	for _, fd := range rec.Findings {
		if fd.Fixable {
			t.Errorf("fixable finding in an untrusted account: %+v", fd)
		}
	}
	if len(res.Actions) != 0 || iamWrites(res.Stats) != 0 || res.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Errorf("untrusted account led to a change: %+v %v", res.Actions, res.Stats)
	}
	if _, ok := storedDefault(t, scenario.Untrusted, policyARNIn(scenario.Untrusted, name)); ok {
		t.Error("usage policy created in the untrusted account")
	}
}

// Alert mode: the IAM fix is planned with the real document, nothing is written.
func TestAlertModePlansTheUsagePolicy(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := uniq("planner")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
	name := uniq("KmsKeyUsagePolicy")
	rm.cfg.IAMPolicyName = name

	res := invokeFull(t, rm, "launch-failed.json", launchFailed(f, role, scenario.Target))

	act := actionOf(res, report.ActionIAMPolicy)
	if act == nil || act.Status != report.StatusPlanned || act.Principal != roleARN(scenario.Target, role) {
		t.Fatalf("iam action: %+v", act)
	}
	if got := resources(t, act.Document); fmt.Sprint(got[usagepolicy.UseSid]) != fmt.Sprint([]string{f.key}) {
		t.Errorf("planned document: %s", act.Document)
	}
	if iamWrites(res.Stats) != 0 {
		t.Errorf("alert mode wrote IAM: %v", res.Stats)
	}
	if _, ok := storedDefault(t, scenario.Target, policyARNIn(scenario.Target, name)); ok {
		t.Error("alert mode created the policy")
	}
	if a := attachedToRole(t, scenario.Target, role); len(a) != 0 {
		t.Errorf("alert mode attached: %v", a)
	}
	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, f.key) || !strings.Contains(alerts[0].Message, usagepolicy.GrantSid) {
		t.Fatalf("alert should carry the planned usage policy: %+v", alerts)
	}
}

// A launching service-linked role of another account is never changed and takes no identity
// policy: AWS's cross-account procedure is the fix. The key policy (which already lets the
// account use the key) gains AllowEC2LaunchGrants, the grant is created from the role's account
// and listed in the key's; the role then launches; the same event again changes nothing.
func TestServiceLinkedRoleNeedsAGrant(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	pol := strings.Replace(scenario.DefaultKeyPolicy(scenario.Owner), `"arn:aws:iam::111122223333:role/ImageBuilder"`,
		`["arn:aws:iam::111122223333:role/ImageBuilder", "arn:aws:iam::444455556666:root"]`, 2)
	f := newFixture(t, pol, scenario.Target)
	rm, _ := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	slr := "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	raw := launchFailedBy(t, f, `{"type":"AssumedRole","principalId":"AROAEXAMPLESLR:AutoScaling","arn":"arn:aws:sts::444455556666:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling","accountId":"444455556666",
		"sessionContext":{"sessionIssuer":{"type":"Role","arn":"`+slr+`","accountId":"444455556666","userName":"AWSServiceRoleForAutoScaling"}},"invokedBy":"autoscaling.amazonaws.com"}`)

	res := invokeRaw(t, rm, raw)

	rec := res.Records[0]
	if got := joined(codes(rec)); got != "key-policy-missing-launch-grant,slr-missing-grant" {
		t.Fatalf("findings %s: %+v (notes %v)", got, rec.Findings, rec.Notes)
	}
	for _, fd := range rec.Findings {
		if !fd.Fixable || fd.PrincipalARN != slr || fd.Account != scenario.Target || fd.KeyRole != report.KeyRoleSource {
			t.Errorf("finding: %+v", fd)
		}
	}
	if len(res.Actions) != 2 || res.Actions[0].Type != report.ActionKeyPolicy || res.Actions[0].Status != report.StatusApplied ||
		res.Actions[1].Type != report.ActionKMSGrant || res.Actions[1].Status != report.StatusApplied || res.Actions[1].GrantID == "" {
		t.Fatalf("actions: %+v", res.Actions)
	}
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM changed for a service-linked role: %v", res.Stats)
	}
	grants, err := world.KMS(scenario.Owner, scenario.Region).ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(f.key)})
	if err != nil || len(grants.Grants) != 1 || aws.ToString(grants.Grants[0].GranteePrincipal) != slr ||
		aws.ToString(grants.Grants[0].GrantId) != res.Actions[1].GrantID || !hasOperations(grants.Grants[0].Operations, launchGrantOperations()) {
		t.Fatalf("grants in the key's account: %+v %v", grants, err)
	}
	if p := keyPolicy(t, f.key); !strings.Contains(p, `"AllowEC2LaunchGrants"`) || !strings.Contains(p, "${aws:PrincipalAccount}") {
		t.Fatalf("key policy:\n%s", p)
	}

	again := invokeRaw(t, rm, raw)
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || again.Stats["KMS:PutKeyPolicy"]+again.Stats["KMS:CreateGrant"] != 0 {
		t.Errorf("the same event again: %+v %+v %v", again.Records[0].Findings, again.Actions, again.Stats)
	}
}

// Under 30% injected faults (throttles, 5xx, resets, resets after the write reached IAM), four
// failed launches by two roles end, after redeliveries, in one usage policy that allows exactly
// the four keys, attached once to each role, within IAM's version limit.
func TestUsagePolicyUnderFaults(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	events := map[string][]byte{}
	roles := []string{uniq("faulty"), uniq("faulty")}
	keysOf := map[string][]string{}
	var all []string
	for i := range 4 {
		role := roles[i%len(roles)]
		if err := world.Role(ctx, scenario.Target, role); err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, "", scenario.Target)
		raw, err := scenario.Event("../../events/launch-failed.json", launchFailed(f, role, scenario.Target))
		if err != nil {
			t.Fatal(err)
		}
		// Distinct event IDs, as distinct CloudTrail records would have.
		events[fmt.Sprintf("launch-%02d", i)] = []byte(strings.ReplaceAll(string(raw), "7f1b3d5e-9a2c-4e6f-8b0d-1c3e5a7b9d24", fmt.Sprintf("7f1b3d5e-9a2c-4e6f-8b0d-%012d", i)))
		keysOf[role] = append(keysOf[role], f.key)
		all = append(all, f.key)
	}
	events["launch-00-dup"] = events["launch-00"]
	sort.Strings(all)

	proxy, url := faultProxy(t, env.URL, localaws.FaultConfig{Seed: faultSeed + 7, Rate: faultRate, LatencyMillis: 20,
		Kinds: []string{localaws.FaultThrottle, localaws.Fault500, localaws.Fault503, localaws.FaultReset, localaws.FaultResetAfter}})
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, url, faultAttempts, WithIAMSettle(10*time.Millisecond))
	name := uniq("KmsKeyUsagePolicy")
	rm.cfg.IAMPolicyName = name

	_, rounds := deliverUntilDone(t, rm, events, 3)

	pARN := policyARNIn(scenario.Target, name)
	doc, ok := storedDefault(t, scenario.Target, pARN)
	if !ok {
		t.Fatal("usage policy not created")
	}
	for sid, got := range resources(t, doc) {
		if fmt.Sprint(got) != fmt.Sprint(all) {
			t.Errorf("%s resources = %v, want exactly %v", sid, got, all)
		}
	}
	vs, err := world.IAM(scenario.Target).ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(pARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) > maxPolicyVersions {
		t.Errorf("%d versions", len(vs.Versions))
	}
	for _, role := range roles {
		if a := attachedToRole(t, scenario.Target, role); joined(a) != pARN {
			t.Errorf("%s attached: %v", role, a)
		}
		for _, k := range keysOf[role] {
			if !principalCanLaunch(t, k, identity.Principal{Account: scenario.Target, Kind: identity.Role, Name: role}, roleARN(scenario.Target, role)) {
				t.Errorf("%s cannot use %s", role, k)
			}
		}
	}
	s := proxy.Stats()
	if s.Faults == 0 || rounds < 2 {
		t.Errorf("the faults were not exercised: %+v, %d rounds", s, rounds)
	}
	t.Logf("%d requests, %d faults %v; done after %d rounds; %d policy versions", s.Requests, s.Faults, s.ByKind, rounds, len(vs.Versions))
}

// A Deny in the role's own policies is reported as explicit-deny and never "fixed" by adding an
// Allow; a principal that no longer exists is noted, not guessed at.
func TestIdentityDenyAndMissingPrincipal(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	denied, gone := uniq("denied"), uniq("gone")
	if err := world.Role(ctx, scenario.Target, denied); err != nil {
		t.Fatal(err)
	}
	deny := `{"Version":"2012-10-17","Statement":[{"Sid":"NoKMSDecrypt","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	if _, err := world.IAM(scenario.Target).PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(denied), PolicyName: aws.String("no-kms"), PolicyDocument: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	rm, name := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})

	for role, check := range map[string]func(t *testing.T, res report.Result){
		denied: func(t *testing.T, res report.Result) {
			rec := res.Records[0]
			var deny *report.Finding
			for i, fd := range rec.Findings {
				if fd.Code == report.ExplicitDeny {
					deny = &rec.Findings[i]
				}
			}
			if deny == nil || deny.Fixable || deny.PrincipalARN != roleARN(scenario.Target, denied) || !strings.Contains(deny.Message, "NoKMSDecrypt") {
				t.Errorf("explicit-deny finding: %+v", rec.Findings)
			}
			if fs := iamFindings(rec); len(fs) != 0 {
				t.Errorf("a denied principal got iam-missing findings: %+v", fs)
			}
		},
		gone: func(t *testing.T, res report.Result) {
			rec := res.Records[0]
			if fs := iamFindings(rec); len(fs) != 0 || !strings.Contains(strings.Join(rec.Notes, "|"), "does not exist") {
				t.Errorf("findings %+v notes %v", rec.Findings, rec.Notes)
			}
		},
	} {
		t.Run(role, func(t *testing.T) {
			res := invokeEvent(t, rm, "launch-failed.json", launchFailed(f, role, scenario.Target))
			if res.Records[0].Error != "" {
				t.Fatalf("record error: %s", res.Records[0].Error)
			}
			check(t, res)
			if act := actionOf(res, report.ActionIAMPolicy); act != nil || iamWrites(res.Stats) != 0 {
				t.Errorf("IAM action for %s: %+v %v", role, act, res.Stats)
			}
		})
	}
	if _, ok := storedDefault(t, scenario.Target, policyARNIn(scenario.Target, name)); ok {
		t.Error("usage policy created")
	}
}

// Whoever shares an image is not who launches it: a share-image event checks no identity
// policies, even when the sharing role exists and lacks KMS permissions.
func TestShareImageChecksNoIdentityPolicies(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	if err := world.Role(context.Background(), scenario.Owner, "image-publisher"); err != nil {
		t.Fatal(err)
	}
	rm, _ := iamRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target, scenario.Owner}})
	res := invokeEvent(t, rm, "share-image.json", f.replace())
	rec := res.Records[0]
	if fs := iamFindings(rec); len(fs) != 0 || actionOf(res, report.ActionIAMPolicy) != nil {
		t.Errorf("share-image checked the sharer's IAM: %+v %+v", fs, res.Actions)
	}
	for op, n := range res.Stats {
		if strings.HasPrefix(op, "IAM:") && n > 0 {
			t.Errorf("%s called %d times", op, n)
		}
	}
	if !strings.Contains(strings.Join(rec.Notes, "|"), "no launching principal is known yet") {
		t.Errorf("notes: %v", rec.Notes)
	}
}
