package deploy

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// configEnvVars are the variables the remediator's configuration reads (issue 3), mapped to the
// template parameter (or resource) that sets them.
var configEnvVars = map[string]string{
	"MODE":                    "Mode",
	"TRUSTED_ACCOUNT_IDS":     "TrustedAccountIds",
	"TRUSTED_ORGANIZATION_ID": "TrustedOrganizationId",
	"ALERT_TOPIC_ARN":         "AlertTopic",
	"MEMBER_ROLE_NAME":        "MemberRoleName",
	"IAM_POLICY_NAME":         "IamPolicyName",
	"LOG_LEVEL":               "LogLevel",
}

func TestFunction(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	fn := tpl.resource(t, "RemediatorFunction", "AWS::Serverless::Function")

	want := map[string]any{
		"Runtime":                      "provided.al2023",
		"Architectures":                []any{"arm64"},
		"Handler":                      "bootstrap",
		"CodeUri":                      ".",
		"MemorySize":                   float64(128),
		"ReservedConcurrentExecutions": float64(1),
		"Role":                         map[string]any{"Fn::GetAtt": []any{"RemediatorRole", "Arn"}},
		"LoggingConfig": map[string]any{
			"LogFormat": "JSON",
			"LogGroup":  map[string]any{"Ref": "RemediatorLogGroup"},
		},
	}
	for key, w := range want {
		t.Run(key, func(t *testing.T) {
			if got := fn[key]; !reflect.DeepEqual(got, w) {
				t.Errorf("RemediatorFunction.%s = %s, want %s", key, mustJSON(t, got), mustJSON(t, w))
			}
		})
	}
	if bm := dig(map[string]any(tpl), "Resources", "RemediatorFunction", "Metadata", "BuildMethod"); bm != "makefile" {
		t.Errorf("Metadata.BuildMethod = %v, want makefile (Makefile target build-RemediatorFunction)", bm)
	}
	if timeout := num(fn["Timeout"]); timeout < 10 || timeout > 900 {
		t.Errorf("Timeout = %v, want 10..900 s", fn["Timeout"])
	}
	logGroup := tpl.resource(t, "RemediatorLogGroup", "AWS::Logs::LogGroup")
	if r := logGroup["RetentionInDays"]; !reflect.DeepEqual(r, map[string]any{"Ref": "LogRetentionInDays"}) {
		t.Errorf("log group RetentionInDays = %s, want the LogRetentionInDays parameter", mustJSON(t, r))
	}
}

func TestFunctionEnvironment(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	fn := tpl.resource(t, "RemediatorFunction", "AWS::Serverless::Function")
	vars, _ := dig(fn, "Environment", "Variables").(map[string]any)
	for name, source := range configEnvVars {
		t.Run(name, func(t *testing.T) {
			got, ok := vars[name]
			if !ok {
				t.Fatalf("env var %s is not set", name)
			}
			if want := map[string]any{"Ref": source}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %s, want %s", name, mustJSON(t, got), mustJSON(t, want))
			}
		})
	}
	for name := range vars {
		if _, ok := configEnvVars[name]; !ok {
			t.Errorf("env var %s is not one the remediator reads", name)
		}
	}
}

// TestQueueing checks the SQS path: batching that coalesces bursts, partial batch failures, a
// visibility timeout that outlasts a batch, and a redrive to the DLQ.
func TestQueueing(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	fn := tpl.resource(t, "RemediatorFunction", "AWS::Serverless::Function")
	ev, _ := dig(fn, "Events", "EventQueue").(map[string]any)
	if ev["Type"] != "SQS" {
		t.Fatalf("RemediatorFunction.Events.EventQueue.Type = %v, want SQS", ev["Type"])
	}
	props, _ := ev["Properties"].(map[string]any)
	if q := props["Queue"]; !reflect.DeepEqual(q, map[string]any{"Fn::GetAtt": []any{"EventQueue", "Arn"}}) {
		t.Errorf("SQS event Queue = %s, want EventQueue's ARN", mustJSON(t, q))
	}
	batch, window := num(props["BatchSize"]), num(props["MaximumBatchingWindowInSeconds"])
	if batch != 100 {
		t.Errorf("BatchSize = %d, want 100", batch)
	}
	if window < 1 || window > 300 {
		t.Errorf("MaximumBatchingWindowInSeconds = %d, want 1..300 (needed with BatchSize > 10)", window)
	}
	if !slices.Contains(stringList(props["FunctionResponseTypes"]), "ReportBatchItemFailures") {
		t.Errorf("FunctionResponseTypes = %v, want ReportBatchItemFailures", props["FunctionResponseTypes"])
	}

	queue := tpl.resource(t, "EventQueue", "AWS::SQS::Queue")
	if vt, min := num(queue["VisibilityTimeout"]), 6*num(fn["Timeout"])+window; vt < min {
		t.Errorf("EventQueue VisibilityTimeout = %d, want >= 6 x Timeout + batching window = %d", vt, min)
	}
	redrive, _ := queue["RedrivePolicy"].(map[string]any)
	if got := redrive["deadLetterTargetArn"]; !reflect.DeepEqual(got, map[string]any{"Fn::GetAtt": []any{"EventDeadLetterQueue", "Arn"}}) {
		t.Errorf("RedrivePolicy.deadLetterTargetArn = %s, want EventDeadLetterQueue's ARN", mustJSON(t, got))
	}
	if n := num(redrive["maxReceiveCount"]); n != 5 {
		t.Errorf("RedrivePolicy.maxReceiveCount = %d, want 5", n)
	}
	dlq := tpl.resource(t, "EventDeadLetterQueue", "AWS::SQS::Queue")
	for id, q := range map[string]map[string]any{"EventQueue": queue, "EventDeadLetterQueue": dlq} {
		if q["SqsManagedSseEnabled"] != true {
			t.Errorf("%s is not encrypted (SqsManagedSseEnabled = %v)", id, q["SqsManagedSseEnabled"])
		}
	}
	if k := dig(tpl.resource(t, "AlertTopic", "AWS::SNS::Topic"), "KmsMasterKeyId"); k != "alias/aws/sns" {
		t.Errorf("AlertTopic KmsMasterKeyId = %v, want alias/aws/sns", k)
	}
}

// TestRulesDeliverToQueue: every rule is on the default bus, targets EventQueue (with the DLQ for
// undeliverable events), and is the only kind of source the queue policy lets send.
func TestRulesDeliverToQueue(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	rules := tpl.resourcesOfType("AWS::Events::Rule")
	if len(rules) != 6 {
		t.Fatalf("template.yaml has %d rules (%v), want 6 (one per trigger)", len(rules), rules)
	}
	policy := tpl.resource(t, "EventQueuePolicy", "AWS::SQS::QueuePolicy")
	stmts, _ := dig(policy, "PolicyDocument", "Statement").([]any)
	if len(stmts) != 1 {
		t.Fatalf("queue policy has %d statements, want 1", len(stmts))
	}
	stmt, _ := stmts[0].(map[string]any)
	if p := dig(stmt, "Principal", "Service"); p != "events.amazonaws.com" || stmt["Action"] != "sqs:SendMessage" {
		t.Errorf("queue policy statement = %s, want events.amazonaws.com sqs:SendMessage", mustJSON(t, stmt))
	}
	var allowed []string
	sources, _ := dig(stmt, "Condition", "ArnEquals", "aws:SourceArn").([]any)
	for _, src := range sources {
		allowed = append(allowed, fmt.Sprint(dig(src, "Fn::GetAtt", 0)))
	}
	sort.Strings(allowed)
	if !reflect.DeepEqual(allowed, rules) {
		t.Errorf("queue policy aws:SourceArn names %v, want exactly the rules %v", allowed, rules)
	}
	for _, id := range rules {
		t.Run(id, func(t *testing.T) {
			props := tpl.resource(t, id, "AWS::Events::Rule")
			if props["EventBusName"] != "default" || props["State"] != "ENABLED" {
				t.Errorf("EventBusName = %v, State = %v, want default, ENABLED", props["EventBusName"], props["State"])
			}
			targets, _ := props["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("%d targets, want 1", len(targets))
			}
			if arn := dig(targets[0], "Arn", "Fn::GetAtt", 0); arn != "EventQueue" {
				t.Errorf("target = %s, want EventQueue", mustJSON(t, targets[0]))
			}
			if dlq := dig(targets[0], "DeadLetterConfig", "Arn", "Fn::GetAtt", 0); dlq != "EventDeadLetterQueue" {
				t.Errorf("target DeadLetterConfig = %v, want EventDeadLetterQueue", dlq)
			}
			if dig(props, "EventPattern", "source") == nil || dig(props, "EventPattern", "detail-type") == nil {
				t.Errorf("pattern %s does not pin source and detail-type", mustJSON(t, props["EventPattern"]))
			}
		})
	}
}

// TestMemberRulesMatchCentral: member accounts forward exactly what the central rules route.
func TestMemberRulesMatchCentral(t *testing.T) {
	t.Parallel()
	central, member := loadTemplate(t, "template.yaml"), loadTemplate(t, "member-account.yaml")
	cRules, mRules := central.resourcesOfType("AWS::Events::Rule"), member.resourcesOfType("AWS::Events::Rule")
	if !reflect.DeepEqual(cRules, mRules) {
		t.Fatalf("member rules %v, central rules %v: want the same set", mRules, cRules)
	}
	for _, id := range cRules {
		t.Run(id, func(t *testing.T) {
			c := central.resource(t, id, "AWS::Events::Rule")
			m := member.resource(t, id, "AWS::Events::Rule")
			if !reflect.DeepEqual(c["EventPattern"], m["EventPattern"]) {
				t.Errorf("patterns differ:\ncentral %s\nmember  %s", mustJSON(t, c["EventPattern"]), mustJSON(t, m["EventPattern"]))
			}
			want := []any{map[string]any{
				"Id":      "CentralBus",
				"Arn":     map[string]any{"Ref": "CentralEventBusArn"},
				"RoleArn": map[string]any{"Fn::GetAtt": []any{"ForwardRole", "Arn"}},
			}}
			if !reflect.DeepEqual(m["Targets"], want) {
				t.Errorf("member targets = %s, want %s", mustJSON(t, m["Targets"]), mustJSON(t, want))
			}
		})
	}
}

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
		"organizations:DescribeAccount",
		"sns:Publish",
		"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
		"sts:AssumeRole",
	}
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
		}
		for _, a := range actions {
			if strings.HasSuffix(a, "*") {
				t.Errorf("wildcard action %s", a)
			}
		}
		if slices.Contains(resources, "*") {
			for _, a := range actions {
				if !strings.HasPrefix(a, "ec2:Describe") {
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
		"iam:AttachRolePolicy", "iam:AttachUserPolicy",
		"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
		"iam:GetGroupPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
		"iam:GetUser", "iam:GetUserPolicy",
		"iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListGroupPolicies", "iam:ListGroupsForUser", "iam:ListPolicyVersions", "iam:ListRolePolicies",
		"iam:ListUserPolicies",
	}
	if got := actionsByEffect(stmts, "Allow"); !reflect.DeepEqual(got, want) {
		t.Errorf("member role allows %v\nwant exactly %v", got, want)
	}
	checkIAMFixScope(t, stmts)
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

// TestParameters: defaults and samconfig.toml overrides are valid values of their parameters,
// and the deploy and local-invoke defaults are the safe alert mode.
func TestParameters(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	params, _ := tpl["Parameters"].(map[string]any)
	for _, name := range []string{"Mode", "TrustedAccountIds", "TrustedOrganizationId", "MemberRoleName", "IamPolicyName", "AlertEmail", "LogLevel"} {
		if _, ok := params[name]; !ok {
			t.Errorf("parameter %s is missing", name)
		}
	}
	if d := dig(params, "Mode", "Default"); d != "alert" {
		t.Errorf("Mode default = %v, want alert", d)
	}
	valid := func(name, value string) error {
		p, ok := params[name].(map[string]any)
		if !ok {
			return fmt.Errorf("no parameter %s", name)
		}
		if allowed := stringList(p["AllowedValues"]); allowed != nil && !slices.Contains(allowed, value) {
			return fmt.Errorf("%s=%q is not one of %v", name, value, allowed)
		}
		if pat, ok := p["AllowedPattern"].(string); ok {
			// CloudFormation matches the whole value (Java regex); the patterns here are anchored.
			re, err := regexp.Compile(pat)
			if err != nil {
				return fmt.Errorf("%s AllowedPattern %q: %v", name, pat, err)
			}
			if !re.MatchString(value) {
				return fmt.Errorf("%s=%q does not match %s", name, value, pat)
			}
		}
		return nil
	}
	for name, p := range params {
		if d := dig(p, "Default"); d != nil {
			if err := valid(name, fmt.Sprint(d)); err != nil {
				t.Errorf("default: %v", err)
			}
		}
	}
	for field, want := range map[string]string{
		"TrustedAccountIds":     "111122223333,444455556666",
		"TrustedOrganizationId": "o-a1b2c3d4e5",
	} {
		if err := valid(field, want); err != nil {
			t.Errorf("a realistic value is refused: %v", err)
		}
	}
	for field, bad := range map[string]string{
		"TrustedAccountIds":     "111122223333, 444455556666",
		"TrustedOrganizationId": "r-abcd",
		"Mode":                  "FIX",
	} {
		if err := valid(field, bad); err == nil {
			t.Errorf("%s=%q is accepted, want refused", field, bad)
		}
	}

	cfg := pythonJSON(t, tomlToJSON, filepath.Join(repoRoot(t), "samconfig.toml"))
	if s := dig(cfg, "default", "global", "parameters", "stack_name"); s == nil || s == "" {
		t.Error("samconfig.toml has no default.global.parameters.stack_name")
	}
	if c := fmt.Sprint(dig(cfg, "default", "deploy", "parameters", "capabilities")); !strings.Contains(c, "CAPABILITY_IAM") {
		t.Errorf("deploy capabilities = %s, want CAPABILITY_IAM", c)
	}
	for _, section := range []string{"deploy", "local_invoke"} {
		t.Run(section, func(t *testing.T) {
			overrides := stringList(dig(cfg, "default", section, "parameters", "parameter_overrides"))
			if !slices.Contains(overrides, "Mode=alert") {
				t.Errorf("parameter_overrides %v lack Mode=alert", overrides)
			}
			for _, o := range overrides {
				name, value, ok := strings.Cut(o, "=")
				if !ok || value == "" {
					t.Errorf("override %q is not Name=Value (SAM rejects empty values)", o)
					continue
				}
				if err := valid(name, value); err != nil {
					t.Errorf("override: %v", err)
				}
			}
		})
	}
}
