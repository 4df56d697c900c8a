// Command sdkfloor is the second cold-start baseline of `make bench`: the empty aws-lambda-go
// handler with the AWS SDK packages bootstrap links imported and unused. Go runs every imported
// package's initialisers before main (each SDK service compiles its endpoint rules and builds
// its schemas), so this is the init any Go Lambda that calls these services pays. Built like
// bootstrap; under testdata so `go build ./...` and `go vet ./...` skip it.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	_ "github.com/aws/aws-sdk-go-v2/service/autoscaling"
	_ "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	_ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	_ "github.com/aws/aws-sdk-go-v2/service/iam"
	_ "github.com/aws/aws-sdk-go-v2/service/kms"
	_ "github.com/aws/aws-sdk-go-v2/service/organizations"
	_ "github.com/aws/aws-sdk-go-v2/service/sns"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (struct{}, error) { return struct{}{}, nil })
}
