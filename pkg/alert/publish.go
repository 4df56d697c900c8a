package alert

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// SNSPublisher is the part of the SNS client Publish needs; *sns.Client satisfies it.
type SNSPublisher interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Publish sends m to the topic and returns SNS's message ID.
func Publish(ctx context.Context, client SNSPublisher, topicARN string, m Message) (string, error) {
	if client == nil {
		return "", errors.New("publish alert: no SNS client")
	}
	if topicARN == "" {
		return "", errors.New("publish alert: no topic ARN (ALERT_TOPIC_ARN)")
	}
	in := &sns.PublishInput{
		TopicArn: aws.String(topicARN),
		Message:  aws.String(m.Body),
	}
	if m.Subject != "" {
		in.Subject = aws.String(m.Subject)
	}
	if len(m.Attributes) > 0 {
		in.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
		for name, attr := range m.Attributes {
			if attr.Value == "" {
				continue // SNS rejects empty attribute values
			}
			in.MessageAttributes[name] = types.MessageAttributeValue{
				DataType:    aws.String(attr.DataType),
				StringValue: aws.String(attr.Value),
			}
		}
	}
	out, err := client.Publish(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publish alert to %s: %w", topicARN, err)
	}
	if out == nil || out.MessageId == nil {
		return "", fmt.Errorf("publish alert to %s: no message ID in the response", topicARN)
	}
	return *out.MessageId, nil
}
