package stack

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// sampleRoutes maps each events/ sample that is no trigger kind's own sample to the rule
// (template.yaml logical ID) that must route it; "" means no rule may match. A kind's sample
// must be routed by its descriptor's Rule. Every events/*.json file is one or the other.
var sampleRoutes = map[string]string{
	"ignored-unshare.json":              "",
	"ignored-runinstances-success.json": "",
	"ignored-dryrun.json":               "",
	"launch-template-failed.json":       "LaunchFailedRule",
	"launch-failed-kms-key.json":        "LaunchFailedRule",
}

// isKindSample reports whether events/name is a trigger kind's sample.
func isKindSample(name string) bool {
	for _, d := range trigger.Kinds() {
		if d.Sample == "events/"+name {
			return true
		}
	}
	return false
}

// sqsBatchSample is an SQS event, not an EventBridge event. Its bodies may include events the
// handler must ignore (a batch can mix them in tests), but none may be routed twice.
const sqsBatchSample = "sqs-batch.json"

// corpusRoutes: real recorded samples (internal/stack/testdata/corpus, copied from ../shared/corpus; see
// SOURCES.md there). Bare CloudTrail records are wrapped the way EventBridge delivers them. One
// expected rule per record of the file.
var corpusRoutes = map[string][]string{
	"cloudtrail/stratus-modifyimageattribute-share-ami.json":                                                          {"ShareImageRule"},
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-ami-made-public.json":                     {"ShareImageRule"},
	"cloudtrail/elastic-modifyimageattribute-remove-public.json":                                                      {""},
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-error-making-ami-public.json":             {""},
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-ami-launch-permissions-not-modified.json": {""},
	"cloudtrail/stratus-runinstances-unauthorized-with-assumerole.json":                                               {"LaunchFailedRule", "", ""},
	"cloudtrail/panther-runinstances-ec2-monitoring-runinstance-dry-run.json":                                         {""},
	"cloudtrail/panther-runinstances-modify-cloud-compute-infrastructure-weird-aws-internal-message.json":             {""},
	"cloudtrail/custodian-runinstances-iamuser-success.json":                                                          {""},
	"cloudtrail/panther-createimage-ec2-monitoring-copyimage.json":                                                    {""},
	"cloudtrail/awsdocs-kms-putkeypolicy.json":                                                                        {"KeyPolicyDriftRule"},
	"cloudtrail/custodian-eb-envelope-deletetransitgatewayvpcattachment.json":                                         {""},
	"eventbridge/awsdocs-ec2-ami-state-change-available.json":                                                         {"AmiAvailableRule"},
	"eventbridge/awsdocs-ec2-ami-state-change-deregistered.json":                                                      {""},
	"eventbridge/awsdocs-ec2-ami-state-change-failed.json":                                                            {"AmiAvailableRule"},
	"eventbridge/awsdocs-eb-instance-state-change-terminated.json":                                                    {"InstanceTerminatedRule"},
	"eventbridge/awsdocs-eb-instance-state-change-terminated-2.json":                                                  {"InstanceTerminatedRule"},
	"eventbridge/awsdocs-ec2-instance-state-change-pending.json":                                                      {""},
	"eventbridge/awslambdago-asg-launch-unsuccessful.json":                                                            {"AsgLaunchFailedRule"},
	"eventbridge/custodian-asg-launch-unsuccessful.json":                                                              {"AsgLaunchFailedRule"},
	"eventbridge/awsdocs-eb-asg-instance-launch-successful.json":                                                      {""},
	"eventbridge/custodian-guardduty-finding-ec2.json":                                                                {""},
}

// envelope is the part of an EventBridge event that PutEvents takes.
type envelope struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// router is the local EventBridge with the rules of one template, each with its own SQS queue
// as its only target, on an event bus of their own.
type router struct {
	eb     *eventbridge.Client
	sqs    *sqs.Client
	bus    string
	queues map[string]string // rule logical ID -> queue URL
}

// newRouter creates, on the local AWS, an event bus named bus ("default" exists) holding each
// rule of the template file with its own pattern and an SQS queue as its only target.
func newRouter(t *testing.T, ctx context.Context, endpoint, file, bus string) *router {
	t.Helper()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "local-secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	r := &router{
		eb:     eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		sqs:    sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		bus:    bus,
		queues: map[string]string{},
	}
	if bus != "default" {
		if _, err := r.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
			t.Fatalf("create event bus %s: %v", bus, err)
		}
	}
	tpl := loadTemplate(t, file)
	rules := tpl.resourcesOfType("AWS::Events::Rule")
	if len(rules) == 0 {
		t.Fatalf("%s has no AWS::Events::Rule", file)
	}
	for _, id := range rules {
		pattern := mustJSON(t, tpl.resource(t, id, "AWS::Events::Rule")["EventPattern"])
		q, err := r.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("route-" + bus + "-" + id)})
		if err != nil {
			t.Fatalf("create queue for %s: %v", id, err)
		}
		attrs, err := r.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			t.Fatalf("get queue ARN for %s: %v", id, err)
		}
		if _, err := r.eb.PutRule(ctx, &eventbridge.PutRuleInput{
			Name:         aws.String(id),
			EventBusName: aws.String(bus),
			EventPattern: aws.String(pattern),
			State:        ebtypes.RuleStateEnabled,
		}); err != nil {
			t.Fatalf("put rule %s with pattern %s: %v", id, pattern, err)
		}
		if _, err := r.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
			Rule:         aws.String(id),
			EventBusName: aws.String(bus),
			Targets:      []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}},
		}); err != nil {
			t.Fatalf("put target of %s: %v", id, err)
		}
		r.queues[id] = *q.QueueUrl
	}
	return r
}

// route puts one event on the default bus and returns the rules whose queue received it (sorted),
// checking that each delivered copy carries the event's detail.
func (r *router) route(t *testing.T, ctx context.Context, ev envelope) []string {
	t.Helper()
	entry := ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(r.bus),
		Source:       aws.String(ev.Source),
		DetailType:   aws.String(ev.DetailType),
		Detail:       aws.String(string(ev.Detail)),
		Resources:    ev.Resources,
	}
	if ts, err := time.Parse(time.RFC3339, ev.Time); err == nil {
		entry.Time = aws.Time(ts)
	}
	out, err := r.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		t.Fatalf("put events: %v", err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("put events: entry failed: %s: %s", aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage))
	}
	var wantDetail any
	if err := json.Unmarshal(ev.Detail, &wantDetail); err != nil {
		t.Fatalf("decode sample detail: %v", err)
	}
	var matched []string
	for id, url := range r.queues {
		// moto delivers to SQS targets inside PutEvents: the message is there when it returns.
		msgs, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("receive from the queue of %s: %v", id, err)
		}
		for _, m := range msgs.Messages {
			var delivered struct {
				Source string `json:"source"`
				Detail any    `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &delivered); err != nil {
				t.Errorf("rule %s delivered a body that is not an event: %v", id, err)
			} else if delivered.Source != ev.Source || !reflect.DeepEqual(delivered.Detail, wantDetail) {
				t.Errorf("rule %s delivered another event (source %q)", id, delivered.Source)
			}
			if _, err := r.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete message from the queue of %s: %v", id, err)
			}
		}
		if len(msgs.Messages) > 0 {
			matched = append(matched, id)
		}
		if len(msgs.Messages) > 1 {
			t.Errorf("rule %s received %d copies of one event", id, len(msgs.Messages))
		}
	}
	sort.Strings(matched)
	return matched
}

func expectRoute(t *testing.T, got []string, want string) {
	t.Helper()
	var wantList []string
	if want != "" {
		wantList = []string{want}
	}
	if !slices.Equal(got, wantList) {
		if want == "" {
			t.Errorf("matched rules %v, want none", got)
		} else {
			t.Errorf("matched rules %v, want exactly %s", got, want)
		}
	}
}

// TestRouting proves the EventBridge patterns of template.yaml on the local AWS: each events/
// sample is routed by the rule meant for it and only by it (a trigger kind's sample by its
// descriptor's Rule, in template.yaml and in member-account.yaml, which forwards it from member
// accounts), the ignore samples by none, and the same holds for real recorded events from the
// corpus.
func TestRouting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	endpoint := startMoto(t)
	r := newRouter(t, ctx, endpoint, "template.yaml", "default")
	member := newRouter(t, ctx, endpoint, "member-account.yaml", "member-forward")
	root := repoRoot(t)

	t.Run("events", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
		if err != nil {
			t.Fatalf("list events/: %v", err)
		}
		seen := map[string]bool{}
		for _, f := range files {
			name := filepath.Base(f)
			seen[name] = true
			if name == sqsBatchSample || isKindSample(name) {
				continue // the kinds' samples are routed below
			}
			want, ok := sampleRoutes[name]
			if !ok {
				t.Errorf("events/%s is no kind's sample and has no expected route: add it to sampleRoutes", name)
				continue
			}
			t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
				var ev envelope
				readJSON(t, f, &ev)
				expectRoute(t, r.route(t, ctx, ev), want)
			})
		}
		for name := range sampleRoutes {
			if !seen[name] {
				t.Errorf("events/%s is missing", name)
			}
		}
	})

	// Every kind's sample is routed by its rule, on the central bus and, forwarded from member
	// accounts, by the member stack's rule of the same name.
	t.Run("kinds", func(t *testing.T) {
		for _, d := range trigger.Kinds() {
			if d.Synthetic {
				continue
			}
			t.Run(string(d.Kind), func(t *testing.T) {
				var ev envelope
				readJSON(t, filepath.Join(root, d.Sample), &ev)
				// A kind the stack sends to its own queue is routed by no rule: no event put on a
				// bus can pass for it.
				expectRoute(t, r.route(t, ctx, ev), d.Rule)
				expectRoute(t, member.route(t, ctx, ev), d.Rule)
			})
		}
	})

	t.Run("sqs-batch-bodies", func(t *testing.T) {
		var batch struct {
			Records []struct {
				MessageID string `json:"messageId"`
				Body      string `json:"body"`
			} `json:"Records"`
		}
		readJSON(t, filepath.Join(root, "events", sqsBatchSample), &batch)
		if len(batch.Records) == 0 {
			t.Fatalf("events/%s has no records", sqsBatchSample)
		}
		for _, rec := range batch.Records {
			var ev envelope
			if err := json.Unmarshal([]byte(rec.Body), &ev); err != nil || ev.Source == "" {
				continue // a deliberately malformed record: it tests the handler, not routing
			}
			if got := r.route(t, ctx, ev); len(got) > 1 {
				t.Errorf("record %s: matched rules %v, want at most one (one event, one delivery)", rec.MessageID, got)
			}
		}
	})

	t.Run("corpus", func(t *testing.T) {
		for file, wants := range corpusRoutes {
			t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
				events := corpusEvents(t, filepath.Join("testdata", "corpus", file))
				if len(events) != len(wants) {
					t.Fatalf("%d events in %s, table expects %d", len(events), file, len(wants))
				}
				for i, ev := range events {
					expectRoute(t, r.route(t, ctx, ev), wants[i])
				}
			})
		}
	})
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

// corpusEvents reads a corpus file (an EventBridge event, a bare CloudTrail record, or a list of
// records) as the EventBridge events it would be delivered as.
func corpusEvents(t *testing.T, path string) []envelope {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		raws = []json.RawMessage{b}
	}
	events := make([]envelope, 0, len(raws))
	for _, raw := range raws {
		var probe struct {
			DetailType  string `json:"detail-type"`
			EventSource string `json:"eventSource"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		if probe.DetailType != "" {
			var ev envelope
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("decode %s: %v", path, err)
			}
			events = append(events, ev)
			continue
		}
		if probe.EventSource == "" {
			t.Fatalf("%s: neither an EventBridge event nor a CloudTrail record", path)
		}
		// CloudTrail API events reach EventBridge as detail-type "AWS API Call via CloudTrail",
		// source aws.<service>, detail = the record.
		events = append(events, envelope{
			Source:     "aws." + strings.TrimSuffix(probe.EventSource, ".amazonaws.com"),
			DetailType: "AWS API Call via CloudTrail",
			Detail:     raw,
		})
	}
	return events
}
