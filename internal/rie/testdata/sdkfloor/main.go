// Command sdkfloor is the second cold-start baseline of `make bench`: the empty aws-lambda-go
// handler with the AWS SDK packages bootstrap links imported and unused, that loads the SDK
// configuration once before it starts, as any Go Lambda calling AWS does. Go runs every imported
// package's initialisers before main (each SDK service compiles its endpoint rules and builds
// its schemas), so this is the floor any Go Lambda that calls these services pays. Built like
// bootstrap; under testdata so `go build ./...` and `go vet ./...` skip it.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	_ "github.com/aws/aws-sdk-go-v2/service/autoscaling"
	_ "github.com/aws/aws-sdk-go-v2/service/cloudformation"
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
	if _, err := config.LoadDefaultConfig(context.Background()); err != nil {
		panic(err)
	}
	lambda.Start(func(context.Context, json.RawMessage) (struct{}, error) { return struct{}{}, nil })
}
