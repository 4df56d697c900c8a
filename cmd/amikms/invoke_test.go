package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// invoke's exit codes: 0 handled, 2 unusable input. An ignored event makes no AWS call, so no
// local AWS is needed here (the handler paths that call AWS are tested in pkg/remediate).
func TestInvokeExitCodes(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMIKMSCENTRAL001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "unused")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: any AWS call would fail
	t.Setenv("MODE", "alert")
	tests := map[string]struct {
		args     []string
		stdin    string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		"ignored sample":     {args: []string{"invoke", "../../events/ignored-dryrun.json"}, wantCode: 0, wantOut: `"trigger": "ignored"`},
		"ignored from stdin": {args: []string{"invoke", "-"}, stdin: mustRead(t, "../../events/ignored-unshare.json"), wantCode: 0, wantOut: `"ignored_reason"`},
		"not json":           {args: []string{"invoke", "-"}, stdin: `{"detail":`, wantCode: 2, wantErr: "unusable input"},
		"detail not object":  {args: []string{"invoke", "-"}, stdin: `{"detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","detail":"x"}`, wantCode: 2, wantErr: "detail"},
		"missing file":       {args: []string{"invoke", "does-not-exist.json"}, wantCode: 2, wantErr: "does-not-exist.json"},
		"two files":          {args: []string{"invoke", "a", "b"}, wantCode: 2, wantErr: "at most one FILE"},
		"unknown command":    {args: []string{"frobnicate"}, wantCode: 2, wantErr: "unknown command"},
		"check needs flags":  {args: []string{"check", "--image", "ami-1"}, wantCode: 2, wantErr: "--account"},
		"check bad account":  {args: []string{"check", "--image", "ami-1", "--region", "us-east-1", "--account", "*"}, wantCode: 2, wantErr: "12-digit"},
		"check bad principal": {args: []string{"check", "--image", "ami-1", "--region", "us-east-1", "--account", "444455556666", "--principal", "*"},
			wantCode: 2, wantErr: "--principal"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errw bytes.Buffer
			code := dispatch(tc.args, strings.NewReader(tc.stdin), &out, &errw)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out.String(), errw.String())
			}
			if tc.wantOut != "" {
				if !strings.Contains(out.String(), tc.wantOut) {
					t.Errorf("stdout lacks %q: %s", tc.wantOut, out.String())
				}
				var v map[string]any
				if err := json.Unmarshal(out.Bytes(), &v); err != nil {
					t.Errorf("stdout is not the result JSON: %v", err)
				}
			}
			if tc.wantErr != "" && !strings.Contains(errw.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q: %s", tc.wantErr, errw.String())
			}
		})
	}
}

func TestInvokeRefusesBadConfiguration(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("MODE", "sometimes")
	var out, errw bytes.Buffer
	if code := dispatch([]string{"invoke", "../../events/ignored-dryrun.json"}, strings.NewReader(""), &out, &errw); code != 2 || !strings.Contains(errw.String(), "MODE") {
		t.Fatalf("exit %d, stderr %s", code, errw.String())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
