package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// The identity side against the local AWS: the launching principal lives in Target (or
// Untrusted), reached through the member role like in production. It is fixed with a grant on
// the key for the principal, created from its account, once the account's CloudTrail shows the
// launch; IAM is only ever read.

var iamSeq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, iamSeq.Add(1)) }

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

// launchEventOf is events/launch-failed.json with replace, under a CloudTrail eventID of its own
// (records of different launches have different IDs; tests share one CloudTrail).
func launchEventOf(t *testing.T, replace map[string]string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/launch-failed.json", replace)
	if err != nil {
		t.Fatal(err)
	}
	return ownEventID(raw)
}

// sampleEventID is the CloudTrail eventID of the launch-failed samples.
const sampleEventID = "4a6c8e0a-2c4e-4a6c-8e0a-2c4e6a8c0e2a"

// ownEventID gives a launch-failed event a CloudTrail eventID no other test uses.
func ownEventID(raw []byte) []byte {
	return []byte(strings.ReplaceAll(string(raw), sampleEventID, fmt.Sprintf("4a6c8e0a-2c4e-4a6c-8e0a-%012d", iamSeq.Add(1))))
}

// inTrail puts a launch event's CloudTrail record into the account's CloudTrail, as AWS has it
// minutes after the call.
func inTrail(t *testing.T, raw []byte) []byte {
	t.Helper()
	if err := env.Filler.RecordTrail(raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func roleARN(account, name string) string { return "arn:aws:iam::" + account + ":role/" + name }

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

// iamWrites counts the IAM calls that are not reads: there must never be any.
func iamWrites(stats map[string]int) int {
	n := 0
	for op, c := range stats {
		if strings.HasPrefix(op, "IAM:") && !strings.HasPrefix(op, "IAM:Get") && !strings.HasPrefix(op, "IAM:List") {
			n += c
		}
	}
	return n
}

// grantsFor lists, in the key's account, the grants on keyARN for grantee (the local AWS ignores
// ListGrants' GranteePrincipal filter, so it is applied here).
func grantsFor(t *testing.T, keyARN, grantee string) []kmstypes.GrantListEntry {
	t.Helper()
	out, err := world.KMS(scenario.Owner, scenario.Region).ListGrants(context.Background(), &kms.ListGrantsInput{KeyId: aws.String(keyARN)})
	if err != nil {
		t.Fatal(err)
	}
	var gs []kmstypes.GrantListEntry
	for _, g := range out.Grants {
		if aws.ToString(g.GranteePrincipal) == grantee {
			gs = append(gs, g)
		}
	}
	return gs
}

// checkIdentityGrant checks that keyARN has exactly one grant for grantee: the remediator's
// name, EC2's operations and nothing more, created by the grantee's account.
func checkIdentityGrant(t *testing.T, keyARN, grantee, grantID string) {
	t.Helper()
	gs := grantsFor(t, keyARN, grantee)
	if len(gs) != 1 {
		t.Fatalf("%d grants on %s for %s, want 1: %+v", len(gs), keyARN, grantee, gs)
	}
	g := gs[0]
	if grantID != "" && aws.ToString(g.GrantId) != grantID {
		t.Errorf("grant %s, the action says %s", aws.ToString(g.GrantId), grantID)
	}
	if aws.ToString(g.Name) != keypolicy.GrantName(grantee, keypolicy.LaunchGrantOperations) {
		t.Errorf("grant name %q", aws.ToString(g.Name))
	}
	if !hasOperations(g.Operations, launchGrantOperations()) || len(g.Operations) != len(keypolicy.LaunchGrantOperations) {
		t.Errorf("grant operations %v, want exactly %v", g.Operations, keypolicy.LaunchGrantOperations)
	}
	if p := aws.ToString(g.IssuingAccount); p != "" && !strings.Contains(p, scenario.Target) {
		t.Errorf("issued by %s, want the grantee's account %s", p, scenario.Target)
	}
}

// launchChecked is launchAs with the local AWS checking the launching principal's own side too
// (its identity policies, or a grant naming it), as AWS does for a key of another account. Only
// for the launch: the remediator's member role in the tests has no policies to check.
func launchChecked(t *testing.T, principal, image string) string {
	t.Helper()
	env.Filler.RequireLauncherIAM(true)
	defer env.Filler.RequireLauncherIAM(false)
	return launchAs(t, principal, image)
}

// The main case, end to end: a role with no KMS permissions in Target fails to launch the shared
// image (the local AWS checks the role's own side too). The key policy gains Target (and the
// statement that lets Target grant its own principals EC2's operations); the role gets a grant
// on the key, created from Target; IAM is only read. The role then launches; the same event
// again changes nothing.
func TestLaunchFailedRoleGetsKeyPolicyAndGrant(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := uniq("launcher")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rARN := roleARN(scenario.Target, role)
	if got := launchChecked(t, rARN, f.image); got != "terminated" {
		t.Fatalf("the role launches before the fix: %s", got)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})
	raw := inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target)))

	res := invokeRaw(t, rm, raw)

	rec := res.Records[0]
	if rec.Error != "" || rec.PrincipalARN != rARN {
		t.Fatalf("record: %+v", rec)
	}
	if got := joined(codes(rec)); got != "iam-missing-grant,iam-missing-use,key-policy-missing-grant,key-policy-missing-use" {
		t.Errorf("findings = %s (notes %v)", got, rec.Notes)
	}
	for _, fd := range iamFindings(rec) {
		if !fd.Fixable || fd.PrincipalARN != rARN || fd.KeyARN != f.key || fd.Account != scenario.Target {
			t.Errorf("iam finding %+v", fd)
		}
	}
	kp, grant := actionOf(res, report.ActionKeyPolicy), actionOf(res, report.ActionKMSGrant)
	if kp == nil || kp.Status != report.StatusApplied {
		t.Fatalf("key policy action: %+v", res.Actions)
	}
	if grant == nil || grant.Status != report.StatusApplied || grant.GrantID == "" || joined(grant.Accounts) != scenario.Target ||
		!strings.Contains(grant.Reason, "verified with ListGrants") {
		t.Fatalf("grant action: %+v", res.Actions)
	}
	checkIdentityGrant(t, f.key, rARN, grant.GrantID)
	if p := keyPolicy(t, f.key); !strings.Contains(p, `"`+keypolicy.LaunchGrantSid+`"`) {
		t.Errorf("the key policy does not let Target create the grant:\n%s", p)
	}
	if n := iamWrites(res.Stats); n != 0 || res.Stats["KMS:CreateGrant"] != 1 || res.Stats["CloudTrail:LookupEvents"] != 1 {
		t.Errorf("calls: %v", res.Stats)
	}
	if got := launchChecked(t, rARN, f.image); got != "running" {
		t.Fatalf("the role launches after the fix: %s", got)
	}

	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("alerts: %+v", alerts)
	}
	for _, want := range []string{grant.GrantID, rARN, "revoke-grant", "retire-grant"} {
		if !strings.Contains(alerts[0].Message, want) {
			t.Errorf("the alert lacks %q:\n%s", want, alerts[0].Message)
		}
	}

	again := invokeRaw(t, rm, raw)
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || iamWrites(again.Stats)+again.Stats["KMS:CreateGrant"]+again.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Errorf("re-run did something: %+v %+v %v", again.Records[0].Findings, again.Actions, again.Stats)
	}
	checkIdentityGrant(t, f.key, rARN, grant.GrantID)
}

// An event's word is not enough: a launch the account's CloudTrail does not show gets no grant
// (the key side is fixed; the record says what is missing). Once CloudTrail has the record, the
// same event gets the grant.
func TestLaunchNotInTrailGetsNoGrantUntilItIs(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := uniq("unconfirmed")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rARN := roleARN(scenario.Target, role)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	raw := launchEventOf(t, launchFailed(f, role, scenario.Target))

	res := invokeRaw(t, rm, raw)

	rec := res.Records[0]
	if got := joined(rec.Incomplete); got != report.PartIdentityGrant {
		t.Errorf("incomplete = %q, want %s", got, report.PartIdentityGrant)
	}
	for _, fd := range iamFindings(rec) {
		if fd.Fixable || !strings.Contains(fd.Message, "CloudTrail") {
			t.Errorf("iam finding %+v", fd)
		}
	}
	if !hasCode(rec, report.LookupUnavailable) {
		t.Errorf("the missing confirmation is not told (not from SQS, this is the last delivery): %+v", rec.Findings)
	}
	if act := actionOf(res, report.ActionKMSGrant); act != nil || res.Stats["KMS:CreateGrant"] != 0 || len(grantsFor(t, f.key, rARN)) != 0 {
		t.Fatalf("a grant on an event's word: %+v %v", act, res.Stats)
	}
	if kp := actionOf(res, report.ActionKeyPolicy); kp == nil || kp.Status != report.StatusApplied {
		t.Errorf("the key side was not fixed: %+v", res.Actions)
	}

	// Another principal's record under the event's ID does not confirm it either.
	other := strings.ReplaceAll(string(raw), "assumed-role/"+role+"/", "assumed-role/"+role+"-other/")
	other = strings.ReplaceAll(other, "role/"+role+`"`, "role/"+role+`-other"`)
	inTrail(t, []byte(other))
	if res := invokeRaw(t, rm, raw); actionOf(res, report.ActionKMSGrant) != nil {
		t.Fatalf("granted on another principal's record: %+v", res.Actions)
	}

	inTrail(t, raw)
	res = invokeRaw(t, rm, raw)
	if act := actionOf(res, report.ActionKMSGrant); act == nil || act.Status != report.StatusApplied {
		t.Fatalf("once in CloudTrail: %+v (records %+v)", res.Actions, res.Records)
	}
	checkIdentityGrant(t, f.key, rARN, "")
}

// Under the tagged-keys scope a key that has not opted in gets neither a key-policy write nor a
// grant; the findings say how to opt it in.
func TestUntaggedKeyGetsNoGrant(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := untaggedFixture(t, scenario.Target)
	key := f.key
	role := uniq("untagged")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	res := invokeRaw(t, rm, inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target))))
	for _, fd := range iamFindings(res.Records[0]) {
		if fd.Fixable || !strings.Contains(fd.Message, "aws kms tag-resource --key-id "+key) {
			t.Errorf("iam finding %+v", fd)
		}
	}
	if kp := actionOf(res, report.ActionKeyPolicy); kp == nil || kp.Status != report.StatusRefused {
		t.Errorf("key policy action: %+v", res.Actions)
	}
	if res.Stats["KMS:CreateGrant"]+res.Stats["KMS:PutKeyPolicy"] != 0 || actionOf(res, report.ActionKMSGrant) != nil {
		t.Errorf("an untagged key was written: %+v %v", res.Actions, res.Stats)
	}
}

// A user whose group already allows the key: nothing changes on the identity side (the key
// policy is still fixed), and each group policy is read once.
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
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	userARN := "arn:aws:iam::" + scenario.Target + ":user/" + user
	raw := inTrail(t, ownEventID(launchFailedBy(t, f, `{"type":"IAMUser","principalId":"AIDAEXAMPLEBUILDER01","arn":"`+userARN+`","accountId":"`+scenario.Target+`","accessKeyId":"AKIAEXAMPLEBUILDER01","userName":"`+user+`"}`)))

	res := invokeRaw(t, rm, raw)

	rec := res.Records[0]
	if rec.Error != "" || rec.PrincipalARN != userARN {
		t.Fatalf("record: %+v", rec)
	}
	if got := iamFindings(rec); len(got) != 0 {
		t.Errorf("IAM findings for a user whose group allows the key: %+v", got)
	}
	if act := actionOf(res, report.ActionKMSGrant); act != nil || res.Stats["KMS:CreateGrant"] != 0 {
		t.Errorf("grant for a user whose group allows the key: %+v", act)
	}
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM was written: %v", res.Stats)
	}
	if res.Stats["IAM:GetGroupPolicy"] != 1 || res.Stats["IAM:GetPolicyVersion"] != 1 || res.Stats["IAM:ListGroupsForUser"] != 1 {
		t.Errorf("policies read more than once: %v", res.Stats)
	}
}

// A launching user gets its grant too, named by its ARN as IAM reports it (with its path).
func TestLaunchFailedUserGetsAGrant(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	user := uniq("operator")
	out, err := world.IAM(scenario.Target).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Path: aws.String("/ops/")})
	if err != nil {
		t.Fatal(err)
	}
	userARN := aws.ToString(out.User.Arn)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	raw := inTrail(t, ownEventID(launchFailedBy(t, f, `{"type":"IAMUser","principalId":"AIDAEXAMPLEOPERATOR1","arn":"`+userARN+`","accountId":"`+scenario.Target+`","accessKeyId":"AKIAEXAMPLEOPERATOR1","userName":"`+user+`"}`)))
	res := invokeRaw(t, rm, raw)
	act := actionOf(res, report.ActionKMSGrant)
	if act == nil || act.Status != report.StatusApplied {
		t.Fatalf("grant action: %+v (records %+v)", res.Actions, res.Records)
	}
	checkIdentityGrant(t, f.key, userARN, act.GrantID)
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM written: %v", res.Stats)
	}
}

// A usage policy an earlier version created (its description says so) keeps working and is never
// changed: the record says how to retire it. The key it does not name gets a grant.
func TestPreviousUsagePolicyIsReportedNotChanged(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := uniq("upgraded")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	other := "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-0000-0000-000000000001"
	cl := world.IAM(scenario.Target)
	doc := string(usagepolicy.New([]string{other}))
	p, err := cl.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(uniq(usagepolicy.DefaultName)), PolicyDocument: aws.String(doc),
		Description: aws.String("Lets launching principals use the KMS keys of shared AMIs (managed by ami-kms-remediator)")})
	if err != nil {
		t.Fatal(err)
	}
	pARN := aws.ToString(p.Policy.Arn)
	if _, err := cl.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(pARN)}); err != nil {
		t.Fatal(err)
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})

	res := invokeRaw(t, rm, inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target))))

	notes := strings.Join(res.Records[0].Notes, "|")
	if !strings.Contains(notes, pARN) || !strings.Contains(notes, "aws iam detach-role-policy --role-name "+role) {
		t.Errorf("notes do not say how to retire the earlier policy: %s", notes)
	}
	if act := actionOf(res, report.ActionKMSGrant); act == nil || act.Status != report.StatusApplied {
		t.Errorf("grant action: %+v", res.Actions)
	}
	if iamWrites(res.Stats) != 0 {
		t.Errorf("IAM written: %v", res.Stats)
	}
	vs, err := cl.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(pARN)})
	if err != nil || len(vs.Versions) != 1 {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	att, err := cl.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil || len(att.AttachedPolicies) != 1 || aws.ToString(att.AttachedPolicies[0].PolicyArn) != pARN {
		t.Errorf("attached: %+v %v", att, err)
	}
}

// A permissions boundary without KMS: reported, and no grant is made as if it solved it.
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
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})

	res := invokeRaw(t, rm, inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target))))

	rec := res.Records[0]
	fs := iamFindings(rec)
	if len(fs) != 2 {
		t.Fatalf("iam findings: %+v", rec.Findings)
	}
	for _, fd := range fs {
		if fd.Fixable || !strings.Contains(fd.Message, "permissions boundary "+aws.ToString(b.Policy.Arn)) || !strings.Contains(fd.Message, "may NOT fix this") {
			t.Errorf("finding should say the boundary blocks and not be fixable: %+v", fd)
		}
	}
	if act := actionOf(res, report.ActionKMSGrant); act != nil || res.Stats["KMS:CreateGrant"] != 0 || iamWrites(res.Stats) != 0 {
		t.Errorf("written although the boundary blocks: %+v %v", act, res.Stats)
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
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})

	res := invokeRaw(t, rm, inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Untrusted))))

	rec := res.Records[0]
	if rec.Account != scenario.Untrusted || !hasCode(rec, report.UntrustedAccount) {
		t.Fatalf("record: %+v", rec)
	}
	if fs := iamFindings(rec); len(fs) != 2 {
		t.Fatalf("iam findings: %+v", rec.Findings)
	}
	for _, fd := range rec.Findings {
		if fd.Fixable {
			t.Errorf("fixable finding in an untrusted account: %+v", fd)
		}
	}
	if len(res.Actions) != 0 || iamWrites(res.Stats) != 0 || res.Stats["KMS:PutKeyPolicy"]+res.Stats["KMS:CreateGrant"] != 0 {
		t.Errorf("untrusted account led to a change: %+v %v", res.Actions, res.Stats)
	}
}

// Alert mode: the grant is planned, nothing is written; the alert gives both manual fixes (the
// usage policy by AWS's console procedure, and the grant) and how to undo the grant.
func TestAlertModePlansTheGrant(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	role := uniq("planner")
	if err := world.Role(ctx, scenario.Target, role); err != nil {
		t.Fatal(err)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})

	res := invokeRaw(t, rm, inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target))))

	act := actionOf(res, report.ActionKMSGrant)
	if act == nil || act.Status != report.StatusPlanned || !strings.Contains(act.Reason, roleARN(scenario.Target, role)) {
		t.Fatalf("grant action: %+v", res.Actions)
	}
	if iamWrites(res.Stats) != 0 || res.Stats["KMS:CreateGrant"]+res.Stats["KMS:PutKeyPolicy"] != 0 {
		t.Errorf("alert mode wrote: %v", res.Stats)
	}
	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("alerts: %+v", alerts)
	}
	for _, want := range []string{"aws iam create-policy", usagepolicy.GrantSid, "aws kms create-grant", keypolicy.GrantName(roleARN(scenario.Target, role), keypolicy.LaunchGrantOperations), "retire-grant"} {
		if !strings.Contains(alerts[0].Message, want) {
			t.Errorf("the alert lacks %q:\n%s", want, alerts[0].Message)
		}
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
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})
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
	checkIdentityGrant(t, f.key, slr, res.Actions[1].GrantID)
	if p := keyPolicy(t, f.key); !strings.Contains(p, `"AllowEC2LaunchGrants"`) || !strings.Contains(p, "${aws:PrincipalAccount}") {
		t.Fatalf("key policy:\n%s", p)
	}

	again := invokeRaw(t, rm, raw)
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || again.Stats["KMS:PutKeyPolicy"]+again.Stats["KMS:CreateGrant"] != 0 {
		t.Errorf("the same event again: %+v %+v %v", again.Records[0].Findings, again.Actions, again.Stats)
	}
	_ = ctx
}

// Under 30% injected faults (throttles, 5xx, resets, resets after the call reached AWS), four
// failed launches by two roles end, after redeliveries, in exactly one grant per key for its
// role (a retried CreateGrant with the same name creates nothing), IAM never written, and every
// role launching.
func TestIdentityGrantsUnderFaults(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	events := map[string][]byte{}
	roles := []string{uniq("faulty"), uniq("faulty")}
	type launch struct{ role, key, image string }
	var launches []launch
	for i := range 4 {
		role := roles[i%len(roles)]
		if err := world.Role(ctx, scenario.Target, role); err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, "", scenario.Target)
		events[fmt.Sprintf("launch-%02d", i)] = inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target)))
		launches = append(launches, launch{role, f.key, f.image})
	}
	events["launch-00-dup"] = events["launch-00"]

	proxy, url := faultProxy(t, env.URL, localaws.FaultConfig{Seed: faultSeed + 7, Rate: faultRate, LatencyMillis: 20,
		Kinds: []string{localaws.FaultThrottle, localaws.Fault500, localaws.Fault503, localaws.FaultReset, localaws.FaultResetAfter}})
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, url, faultAttempts)

	resps, rounds := deliverUntilDone(t, rm, events, 3)

	for _, l := range launches {
		checkIdentityGrant(t, l.key, roleARN(scenario.Target, l.role), "")
		if got := launchChecked(t, roleARN(scenario.Target, l.role), l.image); got != "running" {
			t.Errorf("%s cannot launch %s: %s", l.role, l.image, got)
		}
	}
	for _, r := range resps {
		if iamWrites(r.Stats) != 0 {
			t.Errorf("IAM written: %v", r.Stats)
		}
	}
	s := proxy.Stats()
	if s.Faults == 0 || rounds < 2 {
		t.Errorf("the faults were not exercised: %+v, %d rounds", s, rounds)
	}
	t.Logf("%d requests, %d faults %v; done after %d rounds", s.Requests, s.Faults, s.ByKind, rounds)
}

// A Deny in the role's own policies is reported as explicit-deny and never "fixed" by a grant; a
// principal that no longer exists is noted, not guessed at.
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
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}})

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
			res := invokeRaw(t, rm, inTrail(t, launchEventOf(t, launchFailed(f, role, scenario.Target))))
			if res.Records[0].Error != "" {
				t.Fatalf("record error: %s", res.Records[0].Error)
			}
			check(t, res)
			if act := actionOf(res, report.ActionKMSGrant); act != nil || iamWrites(res.Stats)+res.Stats["KMS:CreateGrant"] != 0 {
				t.Errorf("identity action for %s: %+v %v", role, act, res.Stats)
			}
		})
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
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target, scenario.Owner}})
	res := invokeEvent(t, rm, "share-image.json", f.replace())
	rec := res.Records[0]
	if fs := iamFindings(rec); len(fs) != 0 || actionOf(res, report.ActionKMSGrant) != nil {
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
