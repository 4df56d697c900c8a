package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// initErrorType is the category of a start-up failure, in the <category.reason> form AWS
// recommends for the Lambda-Runtime-Function-Error-Type header.
const initErrorType = "Runtime.ConfigInvalid"

// reportInitError makes a failed start visible: a line on standard error and a JSON log line on
// standard output (CloudWatch Logs keeps both), and, under Lambda or its emulator, the runtime
// API's initialization error, so that the invocation fails with this message instead of a bare
// "Runtime exited" (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-initerror).
func reportInitError(err error, stdout, stderr io.Writer) {
	fmt.Fprintln(stderr, "ami-kms-remediator:", err)
	line, _ := json.Marshal(map[string]string{"level": "error", "error": err.Error(), "message": "cannot start: invalid configuration"})
	fmt.Fprintf(stdout, "%s\n", line)
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": initErrorType})
	req, rerr := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if rerr != nil {
		return
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", initErrorType)
	req.Header.Set("Content-Type", "application/json")
	resp, rerr := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if rerr != nil {
		fmt.Fprintln(stderr, "ami-kms-remediator: report the init error to the runtime API:", rerr)
		return
	}
	resp.Body.Close()
}
