// Command emptyhandler is the cold-start baseline of `make bench`: an aws-lambda-go handler that
// does nothing, built exactly like bootstrap (CGO_ENABLED=0 -tags lambda.norpc -trimpath
// -ldflags='-s -w'). It lives under testdata so `go build ./...` and `go vet ./...` skip it; the
// bench builds it explicitly.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (struct{}, error) { return struct{}{}, nil })
}
