package stack

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// policyStatements returns the Allow/Deny statements of a role's inline policies; Fn::If
// branches are both included (each is a possible deployment).
func policyStatements(t *testing.T, role map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	var add func(v any)
	add = func(v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if branches, ok := m["Fn::If"].([]any); ok && len(branches) == 3 {
			add(branches[1])
			add(branches[2])
			return
		}
		if _, ok := m["Effect"]; ok {
			out = append(out, m)
		}
	}
	policies, _ := role["Policies"].([]any)
	for _, p := range policies {
		stmts, _ := dig(p, "PolicyDocument", "Statement").([]any)
		for _, s := range stmts {
			add(s)
		}
	}
	return out
}

// actionsByEffect collects the actions of the statements with the given effect.
func actionsByEffect(stmts []map[string]any, effect string) []string {
	seen := map[string]bool{}
	for _, s := range stmts {
		if s["Effect"] == effect {
			for _, a := range stringList(s["Action"]) {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// resourceList returns a statement's Resource as strings, Fn::Sub templates unexpanded.
func resourceList(v any) []string {
	if l, ok := v.([]any); ok {
		var out []string
		for _, e := range l {
			out = append(out, resourceList(e)...)
		}
		return out
	}
	return []string{subString(v)}
}

func subString(v any) string {
	if s, ok := dig(v, "Fn::Sub").(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func TestCentralRoleLeastPrivilege(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	stmts := policyStatements(t, tpl.resource(t, "RemediatorRole", "AWS::IAM::Role"))
	want := []string{
		"ec2:DescribeImageAttribute", "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSnapshots",
		"ec2:DescribeLaunchTemplateVersions", "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLaunchConfigurations", "cloudtrail:LookupEvents",
		"cloudformation:DescribeStackResources",
		// launches in the central account: its default EBS key, its templates' SSM parameters
		"ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault", "ssm:GetParameters",
		// the member role's IAM reads, for principals of the central account (no AssumeRole there)
		"iam:GetGroupPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
		"iam:GetUser", "iam:GetUserPolicy",
		"iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListGroupPolicies", "iam:ListGroupsForUser", "iam:ListRolePolicies",
		"iam:ListUserPolicies",
		"kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants", "kms:ListResourceTags", "kms:PutKeyPolicy",
		"logs:CreateLogStream", "logs:PutLogEvents",
		"organizations:DescribeAccount", "organizations:DescribeOrganization",
		"sns:Publish",
		"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
		"sts:AssumeRole",
	}
	slices.Sort(want)
	if got := actionsByEffect(stmts, "Allow"); !reflect.DeepEqual(got, want) {
		t.Errorf("function role allows %v\nwant exactly %v", got, want)
	}
	checkNoIAMWrites(t, stmts)
	checkKeyWrites(t, stmts)
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			continue
		}
		actions := stringList(s["Action"])
		resources := resourceList(s["Resource"])
		switch {
		case slices.Contains(actions, "sts:AssumeRole"):
			if got := subString(s["Resource"]); got != "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}" {
				t.Errorf("sts:AssumeRole on %s, want only role/${MemberRoleName}", got)
			}
			cond, _ := dig(s, "Condition", "StringEquals").(map[string]any)
			if len(cond) != 1 || (cond["aws:ResourceOrgID"] == nil && cond["aws:ResourceAccount"] == nil) {
				t.Errorf("sts:AssumeRole %v conditioned on %s: want aws:ResourceOrgID or aws:ResourceAccount", s["Sid"], mustJSON(t, s["Condition"]))
			}
		case slices.Contains(actions, "kms:PutKeyPolicy"), slices.Contains(actions, "kms:GetKeyPolicy"):
			if got := subString(s["Resource"]); got != "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*" {
				t.Errorf("%v on %s, want this account's keys only", actions, got)
			}
		case slices.Contains(actions, "sns:Publish"):
			if !reflect.DeepEqual(s["Resource"], map[string]any{"Ref": "AlertTopic"}) {
				t.Errorf("sns:Publish on %s, want AlertTopic only", mustJSON(t, s["Resource"]))
			}
		case slices.Contains(actions, "ssm:GetParameters"):
			checkParameterReads(t, resources)
		}
		checkAllowShape(t, actions, resources)
	}
}

// checkAllowShape: no wildcard action is allowed, and only actions without resource-level
// permissions on Resource "*".
func checkAllowShape(t *testing.T, actions, resources []string) {
	t.Helper()
	for _, a := range actions {
		if strings.HasSuffix(a, "*") {
			t.Errorf("wildcard action %s", a)
		}
	}
	if slices.Contains(resources, "*") {
		for _, a := range actions {
			if !strings.HasPrefix(a, "ec2:Describe") && !strings.HasPrefix(a, "ec2:GetEbs") && !strings.HasPrefix(a, "autoscaling:Describe") &&
				a != "cloudtrail:LookupEvents" && a != "organizations:DescribeOrganization" && a != "cloudformation:DescribeStackResources" {
				t.Errorf("%s on Resource * (only actions without resource-level permissions may be)", a)
			}
		}
	}
}

func TestMemberRoleLeastPrivilege(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "member-account.yaml")
	role := tpl.resource(t, "MemberRole", "AWS::IAM::Role")
	if !reflect.DeepEqual(role["RoleName"], map[string]any{"Ref": "MemberRoleName"}) {
		t.Errorf("RoleName = %s, want the MemberRoleName parameter", mustJSON(t, role["RoleName"]))
	}
	trust, _ := dig(role, "AssumeRolePolicyDocument", "Statement").([]any)
	if len(trust) != 1 || !reflect.DeepEqual(dig(trust[0], "Principal"), map[string]any{"AWS": map[string]any{"Ref": "CentralFunctionRoleArn"}}) {
		t.Errorf("trust policy = %s, want only CentralFunctionRoleArn", mustJSON(t, trust))
	}
	stmts := policyStatements(t, role)
	want := []string{
		"ec2:DescribeImageAttribute", "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSnapshots",
		"ec2:DescribeLaunchTemplateVersions", "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLaunchConfigurations", "cloudtrail:LookupEvents",
		"cloudformation:DescribeStackResources",
		"ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault", "ssm:GetParameters", "kms:CreateGrant",
		"iam:GetGroupPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
		"iam:GetUser", "iam:GetUserPolicy",
		"iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListGroupPolicies", "iam:ListGroupsForUser", "iam:ListRolePolicies",
		"iam:ListUserPolicies",
		// its own keys: read, and written under the write scope (keys of a trusted account only)
		"kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants", "kms:ListResourceTags", "kms:PutKeyPolicy",
	}
	slices.Sort(want)
	if got := actionsByEffect(stmts, "Allow"); !reflect.DeepEqual(got, want) {
		t.Errorf("member role allows %v\nwant exactly %v", got, want)
	}
	checkNoIAMWrites(t, stmts)
	checkKeyWrites(t, stmts)
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			continue
		}
		actions := stringList(s["Action"])
		// KMS: this account's own keys, except the launch grants (checkLaunchGrantScope).
		if slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "kms:") && a != "kms:CreateGrant" }) {
			if got := subString(s["Resource"]); got != "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*" {
				t.Errorf("%v on %s, want this account's keys only", actions, got)
			}
		}
		if slices.Contains(actions, "ssm:GetParameters") {
			checkParameterReads(t, resourceList(s["Resource"]))
		}
		checkAllowShape(t, actions, resourceList(s["Resource"]))
	}
	checkLaunchGrantScope(t, stmts)
}

// checkParameterReads: only this account's and AWS's public SSM parameters are read.
func checkParameterReads(t *testing.T, resources []string) {
	t.Helper()
	for _, r := range resources {
		if r != "arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:parameter/*" && r != "arn:${AWS::Partition}:ssm:*::parameter/aws/service/*" {
			t.Errorf("ssm:GetParameters on %s", r)
		}
	}
}

// checkLaunchGrantScope: the member role creates grants on keys (whose key policies must allow
// it) only with EC2's operations, for this account's principals, under the write scope.
func checkLaunchGrantScope(t *testing.T, stmts []map[string]any) {
	t.Helper()
	found := false
	for _, s := range stmts {
		actions := stringList(s["Action"])
		if !slices.Contains(actions, "kms:CreateGrant") || s["Effect"] != "Allow" {
			continue
		}
		found = true
		if len(actions) != 1 || subString(s["Resource"]) != "arn:${AWS::Partition}:kms:*:*:key/*" {
			t.Errorf("%v on %s, want kms:CreateGrant alone on KMS keys", actions, mustJSON(t, s["Resource"]))
		}
		// One condition per write scope: Fn::If [WriteTaggedKeysOnly, tagged, all-keys].
		branches, _ := dig(s, "Condition", "Fn::If").([]any)
		if len(branches) != 3 || branches[0] != "WriteTaggedKeysOnly" {
			t.Fatalf("%v: condition %s, want one per write scope", s["Sid"], mustJSON(t, s["Condition"]))
		}
		for i, cond := range branches[1:] {
			ops := stringList(dig(cond, "ForAllValues:StringEquals", "kms:GrantOperations"))
			want := []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}
			if !reflect.DeepEqual(ops, want) {
				t.Errorf("%v: kms:GrantOperations %v, want %v", s["Sid"], ops, want)
			}
			grantees := resourceList(dig(cond, "StringLike", "kms:GranteePrincipal"))
			if len(grantees) == 0 {
				t.Errorf("%v: kms:CreateGrant without a kms:GranteePrincipal condition", s["Sid"])
			}
			for _, g := range grantees {
				if !strings.HasPrefix(g, "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/") && !strings.HasPrefix(g, "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/") {
					t.Errorf("%v: grantee %s is not a user or role of this account", s["Sid"], g)
				}
			}
			tag := dig(cond, "StringEquals", "aws:ResourceTag/ami-kms-remediator")
			if tagged := i == 0; tagged != (tag == "managed") {
				t.Errorf("%v: scope %d has tag condition %v", s["Sid"], i, tag)
			}
		}
	}
	if !found {
		t.Error("no kms:CreateGrant statement")
	}
	// The Denies that keep the grantees to what the function grants automatically; the launching
	// services' roles they let through are those awsid recognises.
	denies := map[string]map[string]any{}
	for _, s := range stmts {
		if s["Effect"] == "Deny" && slices.Contains(stringList(s["Action"]), "kms:CreateGrant") {
			denies[fmt.Sprint(s["Sid"])] = s
		}
	}
	if denies["NeverGrantReservedPrincipals"] == nil || denies["NeverGrantOtherServiceLinkedRoles"] == nil {
		t.Fatalf("CreateGrant denies: %v", slices.Collect(maps.Keys(denies)))
	}
	launching := resourceList(dig(denies["NeverGrantOtherServiceLinkedRoles"], "Condition", "StringNotLike", "kms:GranteePrincipal"))
	services := map[string]bool{}
	for _, g := range launching {
		arn := strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::AccountId}", "444455556666", "*", "x").Replace(g)
		p, ok := awsid.ParsePrincipal(arn)
		r, launches := awsid.LaunchRoleOf(p)
		if !ok || !launches {
			t.Errorf("NeverGrantOtherServiceLinkedRoles lets %s through, which is no launching role", g)
		}
		services[r.Service] = true
	}
	if len(services) != 4 {
		t.Errorf("launching services let through: %v", services)
	}
}

// checkNoIAMWrites: the role may only read IAM (of its own account and AWS managed policies), and
// a Deny of every IAM write verb keeps it so whatever else is attached.
func checkNoIAMWrites(t *testing.T, stmts []map[string]any) {
	t.Helper()
	verbs := []string{"Add", "Attach", "Change", "Create", "Deactivate", "Delete", "Detach", "Enable", "Put", "Remove", "Reset",
		"Set", "Tag", "Untag", "Update", "Upload"}
	denied := map[string]bool{}
	for _, s := range stmts {
		actions := stringList(s["Action"])
		if s["Effect"] == "Deny" {
			if subString(s["Resource"]) == "*" && s["Condition"] == nil {
				for _, a := range actions {
					denied[a] = true
				}
			}
			continue
		}
		for _, a := range actions {
			if strings.HasPrefix(a, "iam:") && !strings.HasPrefix(a, "iam:Get") && !strings.HasPrefix(a, "iam:List") {
				t.Errorf("the role may %s: no IAM write is allowed", a)
			}
		}
		for _, r := range resourceList(s["Resource"]) {
			if strings.HasPrefix(actions[0], "iam:") && !strings.Contains(r, ":iam::${AWS::AccountId}:") && !strings.Contains(r, ":iam::aws:policy/") {
				t.Errorf("%v on %s, want this account's IAM (or AWS managed policies) only", actions, r)
			}
		}
	}
	for _, v := range verbs {
		if !denied["iam:"+v+"*"] {
			t.Errorf("no unconditional Deny of iam:%s*", v)
		}
	}
	if !denied["iam:PassRole"] {
		t.Error("no unconditional Deny of iam:PassRole")
	}
}

// checkKeyWrites: PutKeyPolicy is denied with the lockout bypass, whatever the scope.
func checkKeyWrites(t *testing.T, stmts []map[string]any) {
	t.Helper()
	for _, s := range stmts {
		if s["Effect"] == "Deny" && slices.Contains(stringList(s["Action"]), "kms:PutKeyPolicy") && subString(s["Resource"]) == "*" &&
			fmt.Sprint(dig(s, "Condition", "Bool", "kms:BypassPolicyLockoutSafetyCheck")) == "true" {
			return
		}
	}
	t.Error("no Deny of kms:PutKeyPolicy with kms:BypassPolicyLockoutSafetyCheck true")
}
