package stack

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// configEnvVars are the variables the remediator's configuration reads, mapped to the
// template parameter (or resource) that sets them.
var configEnvVars = map[string]string{
	"MODE":                    "Mode",
	"TRUSTED_ACCOUNT_IDS":     "TrustedAccountIds",
	"TRUSTED_ORGANIZATION_ID": "TrustedOrganizationId",
	"ALERT_TOPIC_ARN":         "AlertTopic",
	"MEMBER_ROLE_NAME":        "MemberRoleName",
	"IAM_POLICY_NAME":         "IamPolicyName",
	"LOG_LEVEL":               "LogLevel",
	"ESTATE_TABLE":            "EstateTable",
	"METRIC_NAMESPACE":        "MetricNamespace",
	"MAX_RECEIVE_COUNT":       "MaxReceiveCount",
	"KEY_WRITE_SCOPE":         "KeyWriteScope",
	"IAC_MANAGED_TAGS":        "IacManagedTags",
	"EDIT_IAC_MANAGED_KEYS":   "EditIacManagedKeys",
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
		"ReservedConcurrentExecutions": map[string]any{"Ref": "ReservedConcurrency"},
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
	// One number for the queue and the function: the function knows which delivery is the last.
	if got := redrive["maxReceiveCount"]; !reflect.DeepEqual(got, map[string]any{"Ref": "MaxReceiveCount"}) {
		t.Errorf("RedrivePolicy.maxReceiveCount = %s, want the MaxReceiveCount parameter", mustJSON(t, got))
	}
	if got := dig(fn, "Environment", "Variables", "MAX_RECEIVE_COUNT"); !reflect.DeepEqual(got, map[string]any{"Ref": "MaxReceiveCount"}) {
		t.Errorf("MAX_RECEIVE_COUNT = %s, want the MaxReceiveCount parameter", mustJSON(t, got))
	}
	params, _ := tpl["Parameters"].(map[string]any)
	if d := num(dig(params, "MaxReceiveCount", "Default")); d != 5 || num(dig(params, "MaxReceiveCount", "MinValue")) != 1 || num(dig(params, "MaxReceiveCount", "MaxValue")) != 1000 {
		t.Errorf("MaxReceiveCount = %s, want default 5 within SQS's 1..1000", mustJSON(t, params["MaxReceiveCount"]))
	}

	// The poller takes no more batches than may run, and the function may run that many: no
	// throttled receive (which counts towards maxReceiveCount).
	if got := dig(props, "ScalingConfig", "MaximumConcurrency"); !reflect.DeepEqual(got, map[string]any{"Ref": "MaximumConcurrency"}) {
		t.Errorf("ScalingConfig.MaximumConcurrency = %s, want the MaximumConcurrency parameter", mustJSON(t, got))
	}
	maxC, reserved := params["MaximumConcurrency"], params["ReservedConcurrency"]
	if num(dig(maxC, "MinValue")) != 2 || num(dig(maxC, "MaxValue")) != 1000 {
		t.Errorf("MaximumConcurrency = %s, want AWS's range 2..1000", mustJSON(t, maxC))
	}
	if num(dig(reserved, "MinValue")) < num(dig(maxC, "MinValue")) || num(dig(reserved, "Default")) < num(dig(maxC, "Default")) {
		t.Errorf("ReservedConcurrency %s may be below MaximumConcurrency %s", mustJSON(t, reserved), mustJSON(t, maxC))
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

// triggerRules are a template's rules for the remediator's triggers (not its alarm rules).
func (tpl template) triggerRules(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, id := range tpl.resourcesOfType("AWS::Events::Rule") {
		if !slices.Contains(stringList(dig(tpl.resource(t, id, "AWS::Events::Rule"), "EventPattern", "source")), "aws.cloudwatch") {
			out = append(out, id)
		}
	}
	return out
}

// TestRulesDeliverToQueue: every rule is on the default bus, targets EventQueue (with the DLQ for
// undeliverable events), and is the only kind of source the queue policy lets send.
func TestRulesDeliverToQueue(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	rules := tpl.triggerRules(t)
	var kindRules []string // the rules the trigger kinds name, each once
	for _, d := range trigger.Kinds() {
		if d.Rule != "" && !slices.Contains(kindRules, d.Rule) {
			kindRules = append(kindRules, d.Rule)
		}
	}
	slices.Sort(kindRules)
	slices.Sort(rules)
	if !reflect.DeepEqual(rules, kindRules) {
		t.Fatalf("template.yaml has the trigger rules %v, the trigger kinds name %v: want the same (a rule per kind or kinds)", rules, kindRules)
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
	if allowed := getAttResources(dig(stmt, "Condition", "ArnEquals", "aws:SourceArn")); !reflect.DeepEqual(allowed, rules) {
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
