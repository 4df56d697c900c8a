package alert

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// fakeSNS records what it was asked to publish and answers as told.
type fakeSNS struct {
	calls []*sns.PublishInput
	out   *sns.PublishOutput
	err   error
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.calls = append(f.calls, in)
	return f.out, f.err
}

var _ SNSPublisher = (*sns.Client)(nil) // the real client satisfies the interface

const topicARN = "arn:aws:sns:us-east-1:111122223333:ami-kms-alerts"

func TestPublish(t *testing.T) {
	m, _ := Compose(untrustedResult(), Context{Mode: "fix"})
	fake := &fakeSNS{out: &sns.PublishOutput{MessageId: aws.String("5f3c1a9e-0000-4000-8000-000000000001")}}
	id, err := Publish(context.Background(), fake, topicARN, m)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if id != "5f3c1a9e-0000-4000-8000-000000000001" {
		t.Errorf("message ID = %q", id)
	}
	if len(fake.calls) != 1 {
		t.Fatalf("%d calls, want 1", len(fake.calls))
	}
	in := fake.calls[0]
	if aws.ToString(in.TopicArn) != topicARN || aws.ToString(in.Message) != m.Body || aws.ToString(in.Subject) != m.Subject {
		t.Errorf("input = topic %q subject %q message %.80q", aws.ToString(in.TopicArn), aws.ToString(in.Subject), aws.ToString(in.Message))
	}
	want := map[string]types.MessageAttributeValue{
		"severity":      {DataType: aws.String("String"), StringValue: aws.String("high")},
		"account":       {DataType: aws.String("String.Array"), StringValue: aws.String(`["111122223333","999988887777"]`)},
		"finding_codes": {DataType: aws.String("String.Array"), StringValue: aws.String(`["key-policy-missing-use","untrusted-account"]`)},
	}
	if len(in.MessageAttributes) != len(want) {
		t.Errorf("got %d attributes, want %d", len(in.MessageAttributes), len(want))
	}
	for name, w := range want {
		got, ok := in.MessageAttributes[name]
		if !ok {
			t.Errorf("attribute %s missing", name)
			continue
		}
		if aws.ToString(got.DataType) != aws.ToString(w.DataType) || aws.ToString(got.StringValue) != aws.ToString(w.StringValue) || got.BinaryValue != nil {
			t.Errorf("attribute %s = %s %s", name, aws.ToString(got.DataType), aws.ToString(got.StringValue))
		}
	}
	if in.MessageStructure != nil || in.MessageGroupId != nil {
		t.Errorf("unexpected MessageStructure or MessageGroupId")
	}
}

func TestPublishErrors(t *testing.T) {
	errThrottled := errors.New("api error Throttling: Rate exceeded")
	msg := Message{Subject: "[ami-kms] s", Body: "b", Attributes: map[string]Attribute{"severity": {"String", "info"}, "empty": {"String", ""}}}
	tests := map[string]struct {
		client   SNSPublisher
		topic    string
		wantIs   error
		wantText string
	}{
		"sns fails":     {client: &fakeSNS{err: errThrottled}, topic: topicARN, wantIs: errThrottled, wantText: "publish alert to " + topicARN + ": "},
		"no message id": {client: &fakeSNS{out: &sns.PublishOutput{}}, topic: topicARN, wantText: "no message ID"},
		"nil output":    {client: &fakeSNS{}, topic: topicARN, wantText: "no message ID"},
		"no topic":      {client: &fakeSNS{}, topic: "", wantText: "ALERT_TOPIC_ARN"},
		"no client":     {client: nil, topic: topicARN, wantText: "no SNS client"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id, err := Publish(context.Background(), tc.client, tc.topic, msg)
			if err == nil {
				t.Fatalf("Publish = %q, nil; want an error", id)
			}
			if id != "" {
				t.Errorf("message ID %q with an error", id)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q lacks %q", err, tc.wantText)
			}
		})
	}
}

// Empty attribute values are left out: SNS rejects them.
func TestPublishSkipsEmptyAttributes(t *testing.T) {
	fake := &fakeSNS{out: &sns.PublishOutput{MessageId: aws.String("id")}}
	msg := Message{Body: "b", Attributes: map[string]Attribute{"severity": {"String", "info"}, "account": {"String", ""}}}
	if _, err := Publish(context.Background(), fake, topicARN, msg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range fake.calls[0].MessageAttributes {
		names = append(names, name)
	}
	if !reflect.DeepEqual(names, []string{"severity"}) {
		t.Errorf("attributes sent = %v, want [severity]", names)
	}
	if fake.calls[0].Subject != nil {
		t.Errorf("empty subject sent as %q", aws.ToString(fake.calls[0].Subject))
	}
}
