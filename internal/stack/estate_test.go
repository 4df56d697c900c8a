package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// TestEstateTable: the table has the store's keys and time-to-live attribute, on demand.
func TestEstateTable(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	table := tpl.resource(t, "EstateTable", "AWS::DynamoDB::Table")
	if table["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v, want PAY_PER_REQUEST", table["BillingMode"])
	}
	wantKeys := []any{
		map[string]any{"AttributeName": store.PartitionKey, "KeyType": "HASH"},
		map[string]any{"AttributeName": store.SortKey, "KeyType": "RANGE"},
	}
	if !reflect.DeepEqual(table["KeySchema"], wantKeys) {
		t.Errorf("KeySchema = %s, want %s", mustJSON(t, table["KeySchema"]), mustJSON(t, wantKeys))
	}
	for _, def := range table["AttributeDefinitions"].([]any) {
		if dig(def, "AttributeType") != "S" {
			t.Errorf("attribute %s is not a string", mustJSON(t, def))
		}
	}
	if ttl := table["TimeToLiveSpecification"]; !reflect.DeepEqual(ttl, map[string]any{"AttributeName": store.TTLAttribute, "Enabled": true}) {
		t.Errorf("TimeToLiveSpecification = %s, want %s enabled", mustJSON(t, ttl), store.TTLAttribute)
	}
	for _, fn := range []string{"RemediatorFunction", "SweepTaskFunction"} {
		if got := dig(tpl.resource(t, fn, "AWS::Serverless::Function"), "Environment", "Variables", "ESTATE_TABLE"); !reflect.DeepEqual(got, ref("EstateTable")) {
			t.Errorf("%s ESTATE_TABLE = %s, want the table", fn, mustJSON(t, got))
		}
	}
}

// TestSweepTasks: the sweep's own queue and event source, into the remediator's own code with
// its role and configuration, never more at once than its reserved concurrency.
func TestSweepTasks(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	fn := tpl.resource(t, "SweepTaskFunction", "AWS::Serverless::Function")
	live := tpl.resource(t, "RemediatorFunction", "AWS::Serverless::Function")
	for _, k := range []string{"Runtime", "Architectures", "Handler", "CodeUri", "Role"} {
		if !reflect.DeepEqual(fn[k], live[k]) {
			t.Errorf("SweepTaskFunction %s = %s, RemediatorFunction's %s: want the same code and role", k, mustJSON(t, fn[k]), mustJSON(t, live[k]))
		}
	}
	// The same configuration diagnoses both; a task also retries adaptively (it reads every image
	// of an account and region, and throttling must slow it down).
	env, _ := dig(fn, "Environment", "Variables").(map[string]any)
	want := map[string]any{"AWS_RETRY_MODE": "adaptive"}
	if vars, ok := dig(live, "Environment", "Variables").(map[string]any); ok {
		for k, v := range vars {
			want[k] = v
		}
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("SweepTaskFunction's environment %s, want RemediatorFunction's and AWS_RETRY_MODE=adaptive: %s", mustJSON(t, env), mustJSON(t, want))
	}
	ev, _ := dig(fn, "Events", "SweepQueue", "Properties").(map[string]any)
	if dig(fn, "Events", "SweepQueue", "Type") != "SQS" || !reflect.DeepEqual(ev["Queue"], getAtt("SweepQueue", "Arn")) {
		t.Fatalf("SweepTaskFunction's event source = %s, want SQS from SweepQueue", mustJSON(t, dig(fn, "Events")))
	}
	d, _ := trigger.Lookup(trigger.SweepTask)
	if d.Queue != "SweepQueue" {
		t.Errorf("the sweep-task kind names queue %q, the function consumes SweepQueue", d.Queue)
	}
	if num(ev["BatchSize"]) != 1 || !slices.Contains(stringList(ev["FunctionResponseTypes"]), "ReportBatchItemFailures") {
		t.Errorf("event source %s: want one task per invocation and partial batch responses", mustJSON(t, ev))
	}
	max := dig(ev, "ScalingConfig", "MaximumConcurrency")
	if !reflect.DeepEqual(max, ref("SweepMaximumConcurrency")) || !reflect.DeepEqual(fn["ReservedConcurrentExecutions"], max) {
		t.Errorf("MaximumConcurrency %s, reserved concurrency %s: want both SweepMaximumConcurrency", mustJSON(t, max), mustJSON(t, fn["ReservedConcurrentExecutions"]))
	}
	if p := dig(map[string]any(tpl), "Parameters", "SweepMaximumConcurrency"); num(dig(p, "MinValue")) != 2 || num(dig(p, "Default")) < 2 {
		t.Errorf("SweepMaximumConcurrency %s: AWS's minimum is 2", mustJSON(t, p))
	}
	queue := tpl.resource(t, "SweepQueue", "AWS::SQS::Queue")
	if vt := num(queue["VisibilityTimeout"]); vt < 6*num(fn["Timeout"]) {
		t.Errorf("SweepQueue VisibilityTimeout %d < 6 x the function's Timeout %d", vt, num(fn["Timeout"]))
	}
	// The same MaxReceiveCount as the function's MAX_RECEIVE_COUNT: it knows which delivery is the last.
	if redrive := queue["RedrivePolicy"]; !reflect.DeepEqual(redrive, map[string]any{"deadLetterTargetArn": getAtt("SweepDeadLetterQueue", "Arn"),
		"maxReceiveCount": dig(fn, "Environment", "Variables", "MAX_RECEIVE_COUNT")}) {
		t.Errorf("SweepQueue RedrivePolicy = %s, want SweepDeadLetterQueue after MAX_RECEIVE_COUNT deliveries", mustJSON(t, redrive))
	}
	for _, q := range []string{"SweepQueue", "SweepDeadLetterQueue"} {
		if tpl.resource(t, q, "AWS::SQS::Queue")["SqsManagedSseEnabled"] != true {
			t.Errorf("%s is not encrypted", q)
		}
	}
	makefile, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"SweepTaskFunction", "SweeperFunction"} {
		if bm := dig(map[string]any(tpl), "Resources", id, "Metadata", "BuildMethod"); bm != "makefile" || !strings.Contains(string(makefile), "\nbuild-"+id+":") {
			t.Errorf("%s: BuildMethod %v; SAM builds it with the Makefile target build-%s, which must exist", id, bm, id)
		}
	}
}

// TestSweepSchedule: EventBridge Scheduler starts the sweeper with a fixed Input naming the sweep,
// which the starter accepts; "disabled" disables it.
func TestSweepSchedule(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	s := tpl.resource(t, "SweepSchedule", "AWS::Scheduler::Schedule")
	target, _ := s["Target"].(map[string]any)
	if !reflect.DeepEqual(target["Arn"], getAtt("SweeperFunction", "Arn")) || !reflect.DeepEqual(target["RoleArn"], getAtt("SweepScheduleRole", "Arn")) {
		t.Errorf("target %s: want SweeperFunction with SweepScheduleRole", mustJSON(t, target))
	}
	input, _ := target["Input"].(string)
	in, err := sweep.ParseInput([]byte(strings.ReplaceAll(input, "<aws.scheduler.scheduled-time>", "2026-11-29T06:00:00Z")))
	if err != nil || in.Sweep == "" || in.ScheduledTime != "2026-11-29T06:00:00Z" {
		t.Errorf("Input %q (as Scheduler fills it in) = %+v, %v: want the sweep named and its scheduled time", input, in, err)
	}
	if !reflect.DeepEqual(dig(target, "DeadLetterConfig", "Arn"), getAtt("SweepDeadLetterQueue", "Arn")) {
		t.Errorf("no dead-letter queue for starts Scheduler could not deliver: %s", mustJSON(t, target))
	}
	if !reflect.DeepEqual(s["State"], map[string]any{"Fn::If": []any{"SweepEnabled", "ENABLED", "DISABLED"}}) {
		t.Errorf("State = %s, want ENABLED unless the expression is disabled", mustJSON(t, s["State"]))
	}
	if c := dig(map[string]any(tpl), "Conditions", "SweepEnabled"); !strings.Contains(mustJSON(t, c), `"disabled"`) {
		t.Errorf("SweepEnabled = %s", mustJSON(t, c))
	}
	fn := tpl.resource(t, "SweeperFunction", "AWS::Serverless::Function")
	if d := dig(fn, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination"); !reflect.DeepEqual(d, getAtt("SweepDeadLetterQueue", "Arn")) {
		t.Errorf("the sweeper's failed starts go to %s, want SweepDeadLetterQueue", mustJSON(t, d))
	}
	vars, _ := dig(fn, "Environment", "Variables").(map[string]any)
	var names []string
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	if want := []string{"LOG_LEVEL", "SWEEP_ACCOUNTS", "SWEEP_QUEUE_URL", "SWEEP_REGIONS"}; !reflect.DeepEqual(names, want) {
		t.Errorf("the sweeper's environment %v, want %v", names, want)
	}
	if !reflect.DeepEqual(vars["SWEEP_QUEUE_URL"], ref("SweepQueue")) {
		t.Errorf("SWEEP_QUEUE_URL = %s", mustJSON(t, vars["SWEEP_QUEUE_URL"]))
	}
	for _, p := range []string{"SweepScheduleExpression", "SweepAccounts", "SweepRegions"} {
		if d := dig(map[string]any(tpl), "Parameters", p, "Default"); d == nil {
			t.Errorf("parameter %s has no default", p)
		}
	}
}

// TestEstateRoles: each role of the estate view may do exactly its part.
func TestEstateRoles(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	central := tpl.resource(t, "EstatePolicy", "AWS::IAM::RolePolicy")
	if !reflect.DeepEqual(central["RoleName"], ref("RemediatorRole")) {
		t.Errorf("EstatePolicy is on %s, want RemediatorRole", mustJSON(t, central["RoleName"]))
	}
	wantCentral := map[string][]string{
		"dynamodb:BatchWriteItem:EstateTable": nil, "dynamodb:DeleteItem:EstateTable": nil, "dynamodb:GetItem:EstateTable": nil,
		"dynamodb:PutItem:EstateTable": nil, "dynamodb:Query:EstateTable": nil, "dynamodb:UpdateItem:EstateTable": nil,
		"sqs:ReceiveMessage:SweepQueue": nil, "sqs:DeleteMessage:SweepQueue": nil, "sqs:ChangeMessageVisibility:SweepQueue": nil,
		"sqs:GetQueueAttributes:SweepQueue": nil, "logs:CreateLogStream:SweepTaskLogGroup": nil, "logs:PutLogEvents:SweepTaskLogGroup": nil,
		"events:ListRuleNamesByTarget:arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/*": nil,
	}
	checkGrants(t, "EstatePolicy", statementsOf(t, dig(central, "PolicyDocument", "Statement")), wantCentral)

	sweeper := tpl.resource(t, "SweeperRole", "AWS::IAM::Role")
	wantSweeper := map[string][]string{
		"logs:CreateLogStream:SweeperLogGroup": nil, "logs:PutLogEvents:SweeperLogGroup": nil,
		"sqs:SendMessage:SweepQueue": nil, "sqs:SendMessage:SweepDeadLetterQueue": nil,
		"account:ListRegions:arn:${AWS::Partition}:account::${AWS::AccountId}:account": nil,
		"account:ListRegions:arn:${AWS::Partition}:account::*:account/o-*/*":           nil,
		"organizations:ListAccounts:*":                                                 nil,
	}
	checkGrants(t, "SweeperRole", policyStatements(t, sweeper), wantSweeper)

	schedule := tpl.resource(t, "SweepScheduleRole", "AWS::IAM::Role")
	checkGrants(t, "SweepScheduleRole", policyStatements(t, schedule), map[string][]string{
		"lambda:InvokeFunction:SweeperFunction": nil, "sqs:SendMessage:SweepDeadLetterQueue": nil})
	if p := dig(schedule, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"); p != "scheduler.amazonaws.com" {
		t.Errorf("SweepScheduleRole is assumed by %v, want scheduler.amazonaws.com", p)
	}

	member := loadTemplate(t, "member-account.yaml")
	mp := member.resource(t, "MemberEstatePolicy", "AWS::IAM::RolePolicy")
	if !reflect.DeepEqual(mp["RoleName"], ref("MemberRole")) {
		t.Errorf("MemberEstatePolicy is on %s, want MemberRole", mustJSON(t, mp["RoleName"]))
	}
	checkGrants(t, "MemberEstatePolicy", statementsOf(t, dig(mp, "PolicyDocument", "Statement")), map[string][]string{
		"events:ListRuleNamesByTarget:arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/*": nil})
}

func statementsOf(t *testing.T, v any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range v.([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

// checkGrants: the Allow statements grant exactly want ("action:resource", a resource named by
// the logical ID of what it refers to, or its Fn::Sub template).
func checkGrants(t *testing.T, name string, stmts []map[string]any, want map[string][]string) {
	t.Helper()
	got := map[string]bool{}
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			t.Errorf("%s: a %v statement", name, s["Effect"])
			continue
		}
		var resources []string
		rs := s["Resource"]
		if l, ok := rs.([]any); ok {
			for _, r := range l {
				resources = append(resources, resourceName(r))
			}
		} else {
			resources = []string{resourceName(rs)}
		}
		for _, a := range stringList(s["Action"]) {
			for _, r := range resources {
				got[a+":"+r] = true
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s does not grant %s", name, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s grants %s too", name, k)
		}
	}
}

func resourceName(r any) string {
	if id, ok := dig(r, "Fn::GetAtt", 0).(string); ok {
		return id
	}
	if id, ok := dig(r, "Ref").(string); ok {
		return id
	}
	return subString(r)
}

// TestAuditTrust: the function's role trusts Lambda, and the audit principal only when one is
// given, only in the session name the remediator knows as its own.
func TestAuditTrust(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	stmts, _ := dig(tpl.resource(t, "RemediatorRole", "AWS::IAM::Role"), "AssumeRolePolicyDocument", "Statement").([]any)
	if len(stmts) != 2 || dig(stmts[0], "Principal", "Service") != "lambda.amazonaws.com" {
		t.Fatalf("trust = %s", mustJSON(t, stmts))
	}
	branches, _ := dig(stmts[1], "Fn::If").([]any)
	if len(branches) != 3 || branches[0] != "HasAuditPrincipal" || !reflect.DeepEqual(branches[2], ref("AWS::NoValue")) {
		t.Fatalf("the audit statement %s is not conditional on HasAuditPrincipal", mustJSON(t, stmts[1]))
	}
	audit := branches[1]
	if !reflect.DeepEqual(dig(audit, "Principal", "AWS"), ref("AuditPrincipalArn")) || dig(audit, "Condition", "StringEquals", "sts:RoleSessionName") != awsapi.SessionName {
		t.Errorf("the audit principal's statement %s: want AuditPrincipalArn in session %s", mustJSON(t, audit), awsapi.SessionName)
	}
	if d := dig(map[string]any(tpl), "Parameters", "AuditPrincipalArn", "Default"); d != "" {
		t.Errorf("AuditPrincipalArn default %v, want empty: nobody", d)
	}
}
