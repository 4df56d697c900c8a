package stack

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/metrics"
)

func ref(name string) map[string]any { return map[string]any{"Ref": name} }
func getAtt(resource, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{resource, attr}}
}

// alarm is what an alarm watches and when it fires.
type alarm struct {
	namespace  any // a string, or a Ref to MetricNamespace
	metric     string
	dims       map[string]any
	stat       string
	period     int
	threshold  any // a number, or a Ref to a parameter
	comparison string
}

// centralAlarms is every alarm template.yaml must have: the dead-letter queue, the function's
// errors and throttles, the age of the oldest event, and the function's own metrics for records
// handed back, unusable records and alerts it could not publish.
var centralAlarms = map[string]alarm{
	"DeadLetterQueueAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible",
		map[string]any{"QueueName": getAtt("EventDeadLetterQueue", "QueueName")}, "Maximum", 300, 0.0, "GreaterThanThreshold"},
	"FunctionErrorsAlarm": {"AWS/Lambda", "Errors",
		map[string]any{"FunctionName": ref("RemediatorFunction")}, "Sum", 300, 0.0, "GreaterThanThreshold"},
	"FunctionThrottlesAlarm": {"AWS/Lambda", "Throttles",
		map[string]any{"FunctionName": ref("RemediatorFunction")}, "Sum", 300, 0.0, "GreaterThanThreshold"},
	"OldestEventAlarm": {"AWS/SQS", "ApproximateAgeOfOldestMessage",
		map[string]any{"QueueName": getAtt("EventQueue", "QueueName")}, "Maximum", 300, ref("OldestMessageAlarmSeconds"), "GreaterThanThreshold"},
	"RecordsHandedBackAlarm": {ref("MetricNamespace"), metrics.MetricRecordsHandedBack,
		map[string]any{metrics.DimFunction: ref("RemediatorFunction")}, "Sum", 900, 0.0, "GreaterThanThreshold"},
	"UnusableRecordsAlarm": {ref("MetricNamespace"), metrics.MetricUnusableRecords,
		map[string]any{metrics.DimFunction: ref("RemediatorFunction")}, "Sum", 300, 0.0, "GreaterThanThreshold"},
	"AlertsNotPublishedAlarm": {ref("MetricNamespace"), metrics.MetricAlertsFailed,
		map[string]any{metrics.DimFunction: ref("RemediatorFunction")}, "Sum", 300, 0.0, "GreaterThanThreshold"},
	// The sweep's: a task it gave up on (or a start that never ran), and tasks throttled.
	"SweepDeadLetterQueueAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible",
		map[string]any{"QueueName": getAtt("SweepDeadLetterQueue", "QueueName")}, "Maximum", 300, 0.0, "GreaterThanThreshold"},
	"SweepTaskThrottlesAlarm": {"AWS/Lambda", "Throttles",
		map[string]any{"FunctionName": ref("SweepTaskFunction")}, "Sum", 300, 0.0, "GreaterThanThreshold"},
}

// TestAlarms: every alarm of template.yaml watches the metric it should, fires above its
// threshold, and notifies the alarm topic (and says when it is OK again).
func TestAlarms(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	ids := tpl.resourcesOfType("AWS::CloudWatch::Alarm")
	if want := slices.Sorted(maps.Keys(centralAlarms)); !reflect.DeepEqual(ids, want) {
		t.Fatalf("alarms %v, want %v", ids, want)
	}
	for id, w := range centralAlarms {
		t.Run(id, func(t *testing.T) {
			a := tpl.resource(t, id, "AWS::CloudWatch::Alarm")
			dims := map[string]any{}
			for _, d := range a["Dimensions"].([]any) {
				dims[dig(d, "Name").(string)] = dig(d, "Value")
			}
			got := alarm{a["Namespace"], a["MetricName"].(string), dims, a["Statistic"].(string), num(a["Period"]), a["Threshold"], a["ComparisonOperator"].(string)}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("alarm\n got %+v\nwant %+v", got, w)
			}
			for _, actions := range []string{"AlarmActions", "OKActions"} {
				if !reflect.DeepEqual(a[actions], []any{ref("AlarmTopic")}) {
					t.Errorf("%s = %s, want the alarm topic", actions, mustJSON(t, a[actions]))
				}
			}
			if num(a["EvaluationPeriods"]) != 1 || a["TreatMissingData"] != "notBreaching" {
				t.Errorf("EvaluationPeriods %v, TreatMissingData %v: want 1, notBreaching (no data is no failure)", a["EvaluationPeriods"], a["TreatMissingData"])
			}
			if name := subString(a["AlarmName"]); !strings.HasPrefix(name, "${AWS::StackName}-") {
				t.Errorf("AlarmName %q does not start with the stack name", name)
			}
		})
	}
	params, _ := tpl["Parameters"].(map[string]any)
	if d := dig(params, "MetricNamespace", "Default"); d != metrics.DefaultNamespace {
		t.Errorf("MetricNamespace default %v, want the function's %s", d, metrics.DefaultNamespace)
	}
	if err := metrics.ValidNamespace(dig(params, "MetricNamespace", "Default").(string)); err != nil {
		t.Errorf("the default namespace is not one the function accepts: %v", err)
	}
}

// TestAlarmTopicCloudWatchCanUse: CloudWatch cannot use the AWS managed key alias/aws/sns, so
// the alarm topic is under a customer managed key whose policy lets CloudWatch (and EventBridge,
// for member accounts' alarms) encrypt, and a topic policy lets both publish, scoped to this
// account's alarms and to MemberAlarmRule.
func TestAlarmTopicCloudWatchCanUse(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	topic := tpl.resource(t, "AlarmTopic", "AWS::SNS::Topic")
	if k := topic["KmsMasterKeyId"]; !reflect.DeepEqual(k, getAtt("AlarmTopicKey", "Arn")) {
		t.Fatalf("AlarmTopic KmsMasterKeyId = %s, want the customer managed AlarmTopicKey", mustJSON(t, k))
	}
	key := tpl.resource(t, "AlarmTopicKey", "AWS::KMS::Key")
	if key["EnableKeyRotation"] != true {
		t.Errorf("AlarmTopicKey does not rotate")
	}
	services := map[string][]string{}
	for _, st := range dig(key, "KeyPolicy", "Statement").([]any) {
		if svc, ok := dig(st, "Principal", "Service").(string); ok && dig(st, "Effect") == "Allow" {
			services[svc] = stringList(dig(st, "Action"))
		}
	}
	for _, svc := range []string{"cloudwatch.amazonaws.com", "events.amazonaws.com"} {
		if got := services[svc]; !reflect.DeepEqual(got, []string{"kms:Decrypt", "kms:GenerateDataKey*"}) {
			t.Errorf("key policy lets %s %v, want kms:Decrypt and kms:GenerateDataKey*", svc, got)
		}
	}
	policy := tpl.resource(t, "AlarmTopicPolicy", "AWS::SNS::TopicPolicy")
	publishers := map[string]any{}
	for _, st := range dig(policy, "PolicyDocument", "Statement").([]any) {
		if dig(st, "Action") == "sns:Publish" {
			publishers[dig(st, "Principal", "Service").(string)] = dig(st, "Condition")
		}
	}
	if c := publishers["cloudwatch.amazonaws.com"]; dig(c, "StringEquals", "aws:SourceAccount") == nil || dig(c, "ArnLike", "aws:SourceArn") == nil {
		t.Errorf("CloudWatch may publish without a source condition: %s", mustJSON(t, c))
	}
	if c := publishers["events.amazonaws.com"]; !reflect.DeepEqual(dig(c, "ArnEquals", "aws:SourceArn"), getAtt("MemberAlarmRule", "Arn")) {
		t.Errorf("EventBridge may publish for another rule than MemberAlarmRule: %s", mustJSON(t, c))
	}
	if d := dig(tpl.resource(t, "MemberAlarmRule", "AWS::Events::Rule"), "Targets", 0, "Arn"); !reflect.DeepEqual(d, ref("AlarmTopic")) {
		t.Errorf("MemberAlarmRule targets %s, want the alarm topic", mustJSON(t, d))
	}
	if s := dig(tpl.resource(t, "AlarmEmailSubscription", "AWS::SNS::Subscription"), "TopicArn"); !reflect.DeepEqual(s, ref("AlarmTopic")) {
		t.Errorf("the alert email is not subscribed to the alarm topic: %s", mustJSON(t, s))
	}
}

// TestMemberForwardingHealth: the member stack's alarms watch its forwarding rules' failures and
// its dead-letter queue, notify its topic when one is given, and reach the central alarm topic.
func TestMemberForwardingHealth(t *testing.T) {
	t.Parallel()
	central, member := loadTemplate(t, "template.yaml"), loadTemplate(t, "member-account.yaml")
	rules := member.triggerRules(t)
	ids := member.resourcesOfType("AWS::CloudWatch::Alarm")
	if !reflect.DeepEqual(ids, []string{"ForwardDeadLetterAlarm", "ForwardingFailedAlarm"}) {
		t.Fatalf("member alarms %v", ids)
	}
	notify := map[string]any{"Fn::If": []any{"NotifyAlarmTopic", []any{ref("AlarmTopicArn")}, ref("AWS::NoValue")}}

	failed := member.resource(t, "ForwardingFailedAlarm", "AWS::CloudWatch::Alarm")
	var watched []string
	var expr string
	for _, q := range failed["Metrics"].([]any) {
		if dig(q, "ReturnData") == true {
			expr = dig(q, "Expression").(string)
			continue
		}
		if dig(q, "MetricStat", "Metric", "Namespace") != "AWS/Events" || dig(q, "MetricStat", "Metric", "MetricName") != "FailedInvocations" ||
			dig(q, "MetricStat", "Stat") != "Sum" || dig(q, "MetricStat", "Metric", "Dimensions", 0, "Name") != "RuleName" {
			t.Errorf("query %s is not the Sum of a rule's FailedInvocations", mustJSON(t, q))
			continue
		}
		watched = append(watched, dig(q, "MetricStat", "Metric", "Dimensions", 0, "Value", "Ref").(string))
	}
	sort.Strings(watched)
	if !reflect.DeepEqual(watched, rules) {
		t.Errorf("FailedInvocations watched for %v, want every forwarding rule %v", watched, rules)
	}
	for _, q := range failed["Metrics"].([]any) {
		if id, _ := dig(q, "Id").(string); dig(q, "ReturnData") == false && !regexp.MustCompile(`\b`+id+`\b`).MatchString(expr) {
			t.Errorf("expression %q leaves out %s", expr, id)
		}
	}
	if !strings.HasPrefix(expr, "SUM(") || num(failed["Threshold"]) != 0 || failed["ComparisonOperator"] != "GreaterThanThreshold" {
		t.Errorf("ForwardingFailedAlarm: %s > %v", expr, failed["Threshold"])
	}

	dlq := member.resource(t, "ForwardDeadLetterAlarm", "AWS::CloudWatch::Alarm")
	if dlq["Namespace"] != "AWS/SQS" || dlq["MetricName"] != "ApproximateNumberOfMessagesVisible" ||
		!reflect.DeepEqual(dig(dlq, "Dimensions", 0, "Value"), getAtt("ForwardDeadLetterQueue", "QueueName")) ||
		num(dlq["Threshold"]) != 0 || dlq["ComparisonOperator"] != "GreaterThanThreshold" {
		t.Errorf("ForwardDeadLetterAlarm = %s", mustJSON(t, dlq))
	}
	for id, a := range map[string]map[string]any{"ForwardingFailedAlarm": failed, "ForwardDeadLetterAlarm": dlq} {
		for _, actions := range []string{"AlarmActions", "OKActions"} {
			if !reflect.DeepEqual(a[actions], notify) {
				t.Errorf("%s %s = %s, want the AlarmTopicArn parameter when set", id, actions, mustJSON(t, a[actions]))
			}
		}
		// Its state changes reach the central alarm topic: forwarded by AlarmForwardRule, matched
		// there by MemberAlarmRule's name prefix.
		name := a["AlarmName"].(string)
		prefix := dig(central.resource(t, "MemberAlarmRule", "AWS::Events::Rule"), "EventPattern", "detail", "alarmName", 0, "prefix").(string)
		if !strings.HasPrefix(name, prefix) {
			t.Errorf("%s is named %q: the central MemberAlarmRule (prefix %q) would not send it on", id, name, prefix)
		}
	}
	fwd := member.resource(t, "AlarmForwardRule", "AWS::Events::Rule")
	if got := dig(fwd, "EventPattern", "resources"); !reflect.DeepEqual(got, []any{getAtt("ForwardingFailedAlarm", "Arn"), getAtt("ForwardDeadLetterAlarm", "Arn")}) {
		t.Errorf("AlarmForwardRule matches %s, want the two alarms", mustJSON(t, got))
	}
	if got := dig(fwd, "Targets", 0, "Arn"); !reflect.DeepEqual(got, ref("CentralEventBusArn")) {
		t.Errorf("AlarmForwardRule targets %s, want the central bus", mustJSON(t, got))
	}
	stmt := dig(member.resource(t, "ForwardDeadLetterQueuePolicy", "AWS::SQS::QueuePolicy"), "PolicyDocument", "Statement", 0)
	if sources := getAttResources(dig(stmt, "Condition", "ArnEquals", "aws:SourceArn")); !reflect.DeepEqual(sources, rules) {
		t.Errorf("the forwarding dead-letter queue takes events from %v, want the forwarding rules %v", sources, rules)
	}
}

// TestBusAdmitsWatchedAndTrusted: the central bus accepts events from the watched accounts and
// organization and from the trusted ones, each independently; with nothing configured, from none.
func TestBusAdmitsWatchedAndTrusted(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	conds, _ := tpl["Conditions"].(map[string]any)
	resources, _ := tpl["Resources"].(map[string]any)
	policies := tpl.resourcesOfType("AWS::Events::EventBusPolicy")
	admits := map[string]any{ // policy -> the principal or org condition it admits
		"WatchedAccountsPutEventsPolicy":     map[string]any{"AWS": map[string]any{"Fn::Split": []any{",", ref("WatchedAccountIds")}}},
		"AccountsPutEventsPolicy":            map[string]any{"AWS": map[string]any{"Fn::Split": []any{",", ref("TrustedAccountIds")}}},
		"WatchedOrganizationPutEventsPolicy": ref("WatchedOrganizationId"),
		"OrganizationPutEventsPolicy":        ref("TrustedOrganizationId"),
	}
	if want := slices.Sorted(maps.Keys(admits)); !reflect.DeepEqual(policies, want) {
		t.Fatalf("bus policies %v, want %v", policies, want)
	}
	statementIDs := map[string]bool{}
	for _, id := range policies {
		p := tpl.resource(t, id, "AWS::Events::EventBusPolicy")
		if statementIDs[p["StatementId"].(string)] {
			t.Errorf("%s reuses StatementId %v", id, p["StatementId"])
		}
		statementIDs[p["StatementId"].(string)] = true
		if dig(p, "Statement", "Action") != "events:PutEvents" || dig(p, "Statement", "Effect") != "Allow" {
			t.Errorf("%s: %s", id, mustJSON(t, p["Statement"]))
		}
		got := dig(p, "Statement", "Principal")
		if org := dig(p, "Statement", "Condition", "StringEquals", "aws:PrincipalOrgID"); org != nil {
			got = org
		}
		if !reflect.DeepEqual(got, admits[id]) {
			t.Errorf("%s admits %s, want %s", id, mustJSON(t, got), mustJSON(t, admits[id]))
		}
	}
	for name, tc := range map[string]struct {
		params map[string]string
		want   []string
	}{
		"nothing configured": {map[string]string{}, nil},
		"watched only, trusted none": {map[string]string{"WatchedOrganizationId": "o-a1b2c3d4e5", "WatchedAccountIds": "444455556666"},
			[]string{"WatchedAccountsPutEventsPolicy", "WatchedOrganizationPutEventsPolicy"}},
		"trusted only": {map[string]string{"TrustedAccountIds": "444455556666"}, []string{"AccountsPutEventsPolicy"}},
		"both organizations": {map[string]string{"WatchedOrganizationId": "o-a1b2c3d4e5", "TrustedOrganizationId": "o-a1b2c3d4e5"},
			[]string{"OrganizationPutEventsPolicy", "WatchedOrganizationPutEventsPolicy"}},
	} {
		t.Run(name, func(t *testing.T) {
			refs := map[string]string{"WatchedAccountIds": "", "WatchedOrganizationId": "", "TrustedAccountIds": "", "TrustedOrganizationId": ""}
			for k, v := range tc.params {
				refs[k] = v
			}
			var created []string
			for _, id := range policies {
				cond, _ := dig(resources, id, "Condition").(string)
				if evalCondition(t, conds, conds[cond], refs) {
					created = append(created, id)
				}
			}
			if !reflect.DeepEqual(created, tc.want) {
				t.Errorf("bus policies %v, want %v", created, tc.want)
			}
		})
	}
}

// subVars renders a Fn::Sub template with values for its variables, failing on any variable
// the template does not define (a parameter, a resource attribute, a pseudo parameter or a
// variable of the map).
func subVars(t *testing.T, tpl template, body string, vars map[string]any) string {
	t.Helper()
	params, _ := tpl["Parameters"].(map[string]any)
	resources, _ := tpl["Resources"].(map[string]any)
	return regexp.MustCompile(`\$\{([^}!]+)\}`).ReplaceAllStringFunc(body, func(m string) string {
		name := m[2 : len(m)-1]
		_, isVar := vars[name]
		_, isParam := params[name]
		res, _, _ := strings.Cut(name, ".")
		_, isResource := resources[res]
		if !isVar && !isParam && !isResource && !strings.HasPrefix(name, "AWS::") {
			t.Errorf("the dashboard refers to %s, which the template does not define", m)
		}
		return "X-" + strings.NewReplacer(".", "-", ":", "-").Replace(name)
	})
}

// TestDashboard: the optional dashboard shows every alarm and the function's own metrics, and its
// body is valid JSON once CloudFormation substitutes it.
func TestDashboard(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "template.yaml")
	r, _ := dig(map[string]any(tpl), "Resources", "Dashboard").(map[string]any)
	if r["Condition"] != "WantDashboard" || r["Type"] != "AWS::CloudWatch::Dashboard" {
		t.Fatalf("Dashboard = %s, want a dashboard under the WantDashboard condition", mustJSON(t, r))
	}
	params, _ := tpl["Parameters"].(map[string]any)
	if d := dig(params, "CreateDashboard", "Default"); d != "false" {
		t.Errorf("CreateDashboard default = %v, want false", d)
	}
	sub, _ := dig(r, "Properties", "DashboardBody", "Fn::Sub").([]any)
	if len(sub) != 2 {
		t.Fatalf("DashboardBody is not a Fn::Sub with variables: %s", mustJSON(t, dig(r, "Properties", "DashboardBody")))
	}
	body := sub[0].(string)
	vars, _ := sub[1].(map[string]any)
	if !reflect.DeepEqual(vars["Namespace"], ref("MetricNamespace")) {
		t.Errorf("the dashboard's namespace is %s, want MetricNamespace", mustJSON(t, vars["Namespace"]))
	}
	var doc struct {
		Widgets []map[string]any `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(subVars(t, tpl, body, vars)), &doc); err != nil || len(doc.Widgets) == 0 {
		t.Fatalf("the dashboard body is not JSON with widgets: %v", err)
	}
	for id := range centralAlarms {
		if !strings.Contains(body, "${"+id+".Arn}") {
			t.Errorf("the dashboard does not show %s", id)
		}
	}
	for _, m := range []string{metrics.MetricRecords, metrics.MetricRecordsHandedBack, metrics.MetricUnusableRecords, metrics.MetricRecordErrors,
		metrics.MetricAlertsPublished, metrics.MetricAlertsFailed, metrics.MetricAWSCalls, metrics.MetricRecordsByTrigger, metrics.MetricFindings, metrics.MetricActions} {
		if !strings.Contains(body, `"`+m+`"`) && !strings.Contains(body, `\"`+m+`\"`) {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}

// TestFunctionReadsWhatTheTemplateSets: the environment the template gives the function is
// exactly what pkg/config reads (besides the SDK's own variables).
func TestFunctionReadsWhatTheTemplateSets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot(t), "pkg", "config", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		fn, ok := call.Fun.(*ast.Ident)
		lit, isLit := call.Args[0].(*ast.BasicLit)
		if ok && isLit && fn.Name == "getenv" {
			v, _ := strconv.Unquote(lit.Value)
			if !slices.Contains(read, v) {
				read = append(read, v)
			}
		}
		return true
	})
	var set []string
	for name := range configEnvVars {
		set = append(set, name)
	}
	sort.Strings(read)
	sort.Strings(set)
	if !reflect.DeepEqual(read, set) {
		t.Errorf("pkg/config reads %v; the template sets %v", read, set)
	}
}

// TestLocalInvokeMode: make invoke runs in the mode samconfig.toml's local settings give sam
// local invoke, unless MODE says otherwise.
func TestLocalInvokeMode(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(raw)
	m := regexp.MustCompile(`(?m)^MODE \?= (\S+)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile has no MODE ?= default")
	}
	recipe := regexp.MustCompile(`(?m)^invoke:.*\n((?:\t.*\n)+)`).FindStringSubmatch(makefile)
	if recipe == nil || !strings.Contains(recipe[1], "--mode $(MODE)") {
		t.Fatalf("make invoke does not pass --mode $(MODE): %v", recipe)
	}
	cfg := pythonJSON(t, tomlToJSON, filepath.Join(repoRoot(t), "samconfig.toml"))
	local := stringList(dig(cfg, "default", "local_invoke", "parameters", "parameter_overrides"))
	if !slices.Contains(local, "Mode="+m[1]) {
		t.Errorf("make invoke defaults to MODE=%s; samconfig.toml's local_invoke says %v", m[1], local)
	}
}
