package stack

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
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
		// launches in the central account: its default EBS key, its templates' SSM parameters
		"ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault", "ssm:GetParameters",
		// the member role's IAM set, for principals of the central account (no AssumeRole there)
		"iam:AttachRolePolicy", "iam:AttachUserPolicy",
		"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
		"iam:GetGroupPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
		"iam:GetUser", "iam:GetUserPolicy",
		"iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListGroupPolicies", "iam:ListGroupsForUser", "iam:ListPolicyVersions", "iam:ListRolePolicies",
		"iam:ListUserPolicies",
		"kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants", "kms:PutKeyPolicy",
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
	checkIAMFixScope(t, stmts)
	for _, s := range stmts {
		actions := stringList(s["Action"])
		resources := resourceList(s["Resource"])
		switch {
		case slices.Contains(actions, "sts:AssumeRole"):
			if got := subString(s["Resource"]); got != "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}" {
				t.Errorf("sts:AssumeRole on %s, want only role/${MemberRoleName}", got)
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
			for _, r := range resources {
				if r != "arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:parameter/*" && r != "arn:${AWS::Partition}:ssm:*::parameter/aws/service/*" {
					t.Errorf("ssm:GetParameters on %s", r)
				}
			}
		}
		for _, a := range actions {
			if strings.HasSuffix(a, "*") {
				t.Errorf("wildcard action %s", a)
			}
		}
		if slices.Contains(resources, "*") {
			for _, a := range actions {
				if !strings.HasPrefix(a, "ec2:Describe") && !strings.HasPrefix(a, "ec2:GetEbs") && !strings.HasPrefix(a, "autoscaling:Describe") && a != "cloudtrail:LookupEvents" && a != "organizations:DescribeOrganization" {
					t.Errorf("%s on Resource * (only actions without resource-level permissions may be)", a)
				}
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
		"ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault", "ssm:GetParameters", "kms:CreateGrant",
		"iam:AttachRolePolicy", "iam:AttachUserPolicy",
		"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
		"iam:GetGroupPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
		"iam:GetUser", "iam:GetUserPolicy",
		"iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListGroupPolicies", "iam:ListGroupsForUser", "iam:ListPolicyVersions", "iam:ListRolePolicies",
		"iam:ListUserPolicies",
		// its own keys: read, and written under the write scope (keys of a trusted account only)
		"kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListGrants", "kms:PutKeyPolicy",
	}
	slices.Sort(want)
	if got := actionsByEffect(stmts, "Allow"); !reflect.DeepEqual(got, want) {
		t.Errorf("member role allows %v\nwant exactly %v", got, want)
	}
	checkIAMFixScope(t, stmts)
	// KMS: this account's own keys, except the launch grants (checkLaunchGrantScope).
	for _, s := range stmts {
		if actions := stringList(s["Action"]); slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "kms:") && a != "kms:CreateGrant" }) {
			if got := subString(s["Resource"]); got != "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*" {
				t.Errorf("%v on %s, want this account's keys only", actions, got)
			}
		}
	}
	checkLaunchGrantScope(t, stmts)
}

// checkLaunchGrantScope: the member role creates grants on keys (whose key policies must allow
// this account: KMS's cross-account rule) only for this account's launching service-linked roles, only with the operations of AWS's Auto
// Scaling example; it reads only this account's and AWS's public SSM parameters.
func checkLaunchGrantScope(t *testing.T, stmts []map[string]any) {
	t.Helper()
	found := false
	for _, s := range stmts {
		actions := stringList(s["Action"])
		switch {
		case slices.Contains(actions, "kms:CreateGrant"):
			found = true
			if len(actions) != 1 || subString(s["Resource"]) != "arn:${AWS::Partition}:kms:*:*:key/*" {
				t.Errorf("%v on %s, want kms:CreateGrant alone on KMS keys", actions, mustJSON(t, s["Resource"]))
			}
			ops := stringList(dig(s, "Condition", "ForAllValues:StringEquals", "kms:GrantOperations"))
			want := []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}
			if !reflect.DeepEqual(ops, want) {
				t.Errorf("kms:GrantOperations %v, want %v", ops, want)
			}
			grantees := resourceList(dig(s, "Condition", "StringLike", "kms:GranteePrincipal"))
			if len(grantees) == 0 {
				t.Error("kms:CreateGrant without a kms:GranteePrincipal condition")
			}
			for _, g := range grantees {
				if !strings.HasPrefix(g, "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/") {
					t.Errorf("grantee %s is not a service-linked role of this account", g)
				}
			}
		case slices.Contains(actions, "ssm:GetParameters"):
			for _, r := range resourceList(s["Resource"]) {
				if r != "arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:parameter/*" && r != "arn:${AWS::Partition}:ssm:*::parameter/aws/service/*" {
					t.Errorf("ssm:GetParameters on %s", r)
				}
			}
		}
	}
	if !found {
		t.Error("no kms:CreateGrant statement")
	}
}

// checkIAMFixScope: IAM writes touch only the IamPolicyName policy of this account, attach only
// it, and never to a service-linked role.
func checkIAMFixScope(t *testing.T, stmts []map[string]any) {
	t.Helper()
	policyARN := "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${IamPolicyName}"
	denied := false
	for _, s := range stmts {
		actions := stringList(s["Action"])
		if s["Effect"] == "Deny" {
			if slices.Contains(actions, "iam:AttachRolePolicy") &&
				subString(s["Resource"]) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/*" {
				denied = true
			}
			continue
		}
		for _, r := range resourceList(s["Resource"]) {
			if strings.HasPrefix(actions[0], "iam:") && !strings.Contains(r, ":iam::${AWS::AccountId}:") && !strings.Contains(r, ":iam::aws:policy/") {
				t.Errorf("%v on %s, want this account's IAM (or AWS managed policies) only", actions, r)
			}
		}
		switch {
		case slices.Contains(actions, "iam:CreatePolicyVersion"), slices.Contains(actions, "iam:CreatePolicy"):
			if got := subString(s["Resource"]); got != policyARN {
				t.Errorf("%v on %s, want only %s", actions, got, policyARN)
			}
		case slices.Contains(actions, "iam:AttachRolePolicy"), slices.Contains(actions, "iam:AttachUserPolicy"):
			if got := subString(dig(s, "Condition", "ArnEquals", "iam:PolicyARN")); got != policyARN {
				t.Errorf("%v conditioned on iam:PolicyARN %s, want %s", actions, got, policyARN)
			}
		}
	}
	if !denied {
		t.Error("no Deny of iam:AttachRolePolicy on role/aws-service-role/*")
	}
}
