package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
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

// Every command's --help says what it does, which credentials it uses and whether it can write,
// and exits 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		for _, flag := range []string{"--help", "-h"} {
			t.Run(c.name+" "+flag, func(t *testing.T) {
				var out, errw bytes.Buffer
				if code := dispatch([]string{c.name, flag}, strings.NewReader(""), &out, &errw); code != 0 {
					t.Fatalf("exit %d, want 0\nstderr: %s", code, errw.String())
				}
				help := out.String() + errw.String()
				for _, want := range []string{"Credentials:", "Writes:", c.name} {
					if !strings.Contains(help, want) {
						t.Errorf("help lacks %q:\n%s", want, help)
					}
				}
				if c.name != "explain" && !strings.Contains(out.String(), "usage: amikms "+c.name) {
					t.Errorf("help is not on standard output:\n%s", out.String())
				}
			})
		}
	}
	var out, errw bytes.Buffer
	if code := dispatch([]string{"--help"}, nil, &out, &errw); code != 0 || !strings.Contains(out.String(), "--help for one command") {
		t.Errorf("amikms --help: exit %d, %s", code, out.String())
	}
}

// Without credentials the CLI says how to give it some, before any record is processed.
func TestMissingCredentialsGiveAHint(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("MODE", "alert")
	for name, args := range map[string][]string{
		"invoke": {"invoke", "../../events/share-image.json"},
		"check":  {"check", "--image", "ami-1", "--region", "us-east-1", "--account", "444455556666"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errw bytes.Buffer
			code := dispatch(args, strings.NewReader(""), &out, &errw)
			if code != 2 || out.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, want 2 and nothing", code, out.String())
			}
			for _, want := range []string{"no usable AWS credentials", "--profile NAME", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"} {
				if !strings.Contains(errw.String(), want) {
					t.Errorf("stderr lacks %q: %s", want, errw.String())
				}
			}
		})
	}
	t.Run("unknown profile", func(t *testing.T) {
		var out, errw bytes.Buffer
		if code := dispatch([]string{"invoke", "--profile", "nope", "../../events/share-image.json"}, nil, &out, &errw); code != 2 || !strings.Contains(errw.String(), "--profile") {
			t.Errorf("exit %d, stderr %s", code, errw.String())
		}
	})
}

// check's --region is the region the SDK signs and sends its requests for, whatever AWS_REGION says.
func TestCheckUsesRegionForTheSDK(t *testing.T) {
	var mu sync.Mutex
	var scopes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		scopes = append(scopes, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, `<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>`, http.StatusForbidden)
	}))
	defer srv.Close()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMIKMSCENTRAL001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "unused")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	t.Setenv("MODE", "alert")
	var out, errw bytes.Buffer
	dispatch([]string{"check", "--image", "ami-0a1b2c3d4e5f67890", "--region", "eu-west-2", "--account", "444455556666"}, nil, &out, &errw)
	mu.Lock()
	defer mu.Unlock()
	if len(scopes) == 0 {
		t.Fatalf("no request reached the endpoint; stderr: %s", errw.String())
	}
	for _, auth := range scopes {
		if !strings.Contains(auth, "/eu-west-2/") {
			t.Errorf("a request was signed for another region: %s", auth)
		}
	}
}

// invoke says when the alert it owed could not be published, and the result JSON says the
// alert is owed. An unusable record makes no AWS call but the alert's: STS (the central account,
// once) and SNS are all this endpoint answers. (The record's error alone exits 1 too: see
// TestPrintResultExitCodes for the owed alert alone.)
func TestInvokeSaysTheAlertIsOwed(t *testing.T) {
	for name, tc := range map[string]struct {
		publish int // HTTP status SNS answers Publish with
		owed    bool
	}{
		"published":     {http.StatusOK, false},
		"not permitted": {http.StatusForbidden, true},
		"sns down":      {http.StatusInternalServerError, true},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var actions []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				mu.Lock()
				actions = append(actions, r.Form.Get("Action"))
				mu.Unlock()
				w.Header().Set("Content-Type", "text/xml")
				switch r.Form.Get("Action") {
				case "GetCallerIdentity":
					_, _ = w.Write([]byte(`<GetCallerIdentityResponse><GetCallerIdentityResult><Account>111122223333</Account>` +
						`<Arn>arn:aws:iam::111122223333:user/op</Arn><UserId>AIDAEXAMPLE</UserId></GetCallerIdentityResult></GetCallerIdentityResponse>`))
				case "Publish":
					if tc.publish == http.StatusOK {
						_, _ = w.Write([]byte(`<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>`))
						return
					}
					code := map[int]string{http.StatusForbidden: "AuthorizationError", http.StatusInternalServerError: "InternalError"}[tc.publish]
					w.WriteHeader(tc.publish)
					_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>` + code + `</Code><Message>no</Message></Error></ErrorResponse>`))
				default:
					http.Error(w, "unexpected call", http.StatusBadRequest)
				}
			}))
			defer srv.Close()
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMIKMSCENTRAL001")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "unused")
			t.Setenv("AWS_ENDPOINT_URL", srv.URL)
			t.Setenv("AWS_MAX_ATTEMPTS", "1")
			t.Setenv("MODE", "alert")
			t.Setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:ami-kms-remediator-alerts")
			event := strings.Replace(mustRead(t, "../../events/launch-failed.json"), `"recipientAccountId": "444455556666"`, `"recipientAccountId": " 444455556666"`, 1)
			if !strings.Contains(event, `" 444455556666"`) {
				t.Fatal("the sample has no recipientAccountId to spoil")
			}
			var out, errw bytes.Buffer
			if code := dispatch([]string{"invoke", "-"}, strings.NewReader(event), &out, &errw); code != 1 {
				t.Fatalf("exit %d, want 1 (the record is unusable)\nstderr: %s", code, errw.String())
			}
			var res struct {
				Records []struct{ Error string }
				Alert   struct {
					Published, Owed bool
					Error           string
				}
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Records) != 1 || res.Records[0].Error == "" {
				t.Fatalf("result %s (%v)", out.String(), err)
			}
			if res.Alert.Published == res.Alert.Owed || res.Alert.Owed != tc.owed || (res.Alert.Error != "") != tc.owed {
				t.Errorf("alert %+v, want owed %v", res.Alert, tc.owed)
			}
			if strings.Contains(errw.String(), "the alert could not be published") != tc.owed {
				t.Errorf("stderr says the alert is owed: %v, want %v: %s", !tc.owed, tc.owed, errw.String())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range actions {
				if a != "GetCallerIdentity" && a != "Publish" {
					t.Errorf("an unusable record made the call %q", a)
				}
			}
		})
	}
}

// Exit 1 when the alert owed could not be published, even when every record and action is fine.
func TestPrintResultExitCodes(t *testing.T) {
	fine := report.Result{Records: []report.Record{{EventID: "e"}}, Actions: []report.Action{{Status: report.StatusApplied}}}
	owed := fine
	owed.Alert = report.Alert{Owed: true, Error: "publish alert: throttled"}
	failedRecord := fine
	failedRecord.Records = []report.Record{{EventID: "e", Error: "boom"}}
	for name, tc := range map[string]struct {
		out  any
		want int
	}{
		"fine":                {fine, 0},
		"alert owed":          {owed, 1},
		"alert owed, SQS":     {remediate.SQSResponse{Result: owed, BatchItemFailures: []remediate.BatchItemFailure{}}, 1},
		"record failed":       {failedRecord, 1},
		"published, from SQS": {remediate.SQSResponse{Result: fine}, 0},
	} {
		var out, errw bytes.Buffer
		if got := printResult(&out, &errw, tc.out); got != tc.want {
			t.Errorf("%s: exit %d, want %d (%s)", name, got, tc.want, errw.String())
		}
	}
}
