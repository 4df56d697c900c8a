package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	tests := map[string]struct {
		env     map[string]string
		wantErr string // substring naming the variable
		check   func(t *testing.T, c Config)
	}{
		"defaults": {
			env: map[string]string{},
			check: func(t *testing.T, c Config) {
				if c.Mode != ModeAlert || c.MemberRoleName != DefaultMemberRoleName || c.IAMPolicyName != DefaultIAMPolicyName || c.LogLevel != "info" {
					t.Errorf("defaults: %+v", c)
				}
				if len(c.TrustedAccountIDs) != 0 {
					t.Errorf("trusted: %v", c.TrustedAccountIDs)
				}
			},
		},
		"fix mode with accounts": {
			env: map[string]string{"MODE": "FIX", "TRUSTED_ACCOUNT_IDS": "444455556666, 111122223333,444455556666"},
			check: func(t *testing.T, c Config) {
				if c.Mode != ModeFix {
					t.Errorf("mode %q", c.Mode)
				}
				if strings.Join(c.TrustedAccountIDs, ",") != "111122223333,444455556666" {
					t.Errorf("trusted %v", c.TrustedAccountIDs)
				}
				if !c.Trusted("444455556666") || c.Trusted("999999999999") || c.Trusted("") {
					t.Error("Trusted() wrong")
				}
			},
		},
		"bad mode":           {env: map[string]string{"MODE": "yolo"}, wantErr: "MODE"},
		"13 digits":          {env: map[string]string{"TRUSTED_ACCOUNT_IDS": "1234567890123"}, wantErr: "TRUSTED_ACCOUNT_IDS"},
		"star":               {env: map[string]string{"TRUSTED_ACCOUNT_IDS": "*"}, wantErr: "TRUSTED_ACCOUNT_IDS"},
		"unicode digits":     {env: map[string]string{"TRUSTED_ACCOUNT_IDS": "١٢٣٤٥٦٧٨٩٠١٢"}, wantErr: "TRUSTED_ACCOUNT_IDS"},
		"bad org":            {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "org-1"}, wantErr: "TRUSTED_ORGANIZATION_ID"},
		"bad topic":          {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sqs:us-east-1:111122223333:q"}, wantErr: "ALERT_TOPIC_ARN"},
		"bad role name":      {env: map[string]string{"MEMBER_ROLE_NAME": "a/b"}, wantErr: "MEMBER_ROLE_NAME"},
		"bad policy name":    {env: map[string]string{"IAM_POLICY_NAME": "has space"}, wantErr: "IAM_POLICY_NAME"},
		"bad log level":      {env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		"good topic and org": {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:alerts", "TRUSTED_ORGANIZATION_ID": "o-a1b2c3d4e5"}},
		// The length limits, at and past each boundary.
		"org id 32 chars":     {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "o-" + strings.Repeat("a", 32)}},
		"org id 33 chars":     {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "o-" + strings.Repeat("a", 33)}, wantErr: "TRUSTED_ORGANIZATION_ID"},
		"org id 9 chars":      {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "o-" + strings.Repeat("a", 9)}, wantErr: "TRUSTED_ORGANIZATION_ID"},
		"topic name 256":      {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:" + strings.Repeat("t", 256)}},
		"fifo topic name 256": {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:" + strings.Repeat("t", 256) + ".fifo"}},
		"topic name 257":      {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:" + strings.Repeat("t", 257)}, wantErr: "ALERT_TOPIC_ARN"},
		"topic name empty":    {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:"}, wantErr: "ALERT_TOPIC_ARN"},
		"role name 64":        {env: map[string]string{"MEMBER_ROLE_NAME": strings.Repeat("r", 64)}},
		"role name 65":        {env: map[string]string{"MEMBER_ROLE_NAME": strings.Repeat("r", 65)}, wantErr: "MEMBER_ROLE_NAME"},
		"policy name 128":     {env: map[string]string{"IAM_POLICY_NAME": strings.Repeat("p", 128)}},
		"policy name 129":     {env: map[string]string{"IAM_POLICY_NAME": strings.Repeat("p", 129)}, wantErr: "IAM_POLICY_NAME"},
		"estate table": {env: map[string]string{"ESTATE_TABLE": "ami-kms-remediator-EstateTable-1A2B3C"}, check: func(t *testing.T, c Config) {
			if c.EstateTable != "ami-kms-remediator-EstateTable-1A2B3C" {
				t.Errorf("estate table %q", c.EstateTable)
			}
		}},
		"estate table 2 chars":   {env: map[string]string{"ESTATE_TABLE": "ab"}, wantErr: "ESTATE_TABLE"},
		"estate table 256 chars": {env: map[string]string{"ESTATE_TABLE": strings.Repeat("t", 256)}, wantErr: "ESTATE_TABLE"},
		"estate table, an ARN":   {env: map[string]string{"ESTATE_TABLE": "arn:aws:dynamodb:us-east-1:111122223333:table/t"}, wantErr: "ESTATE_TABLE"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := FromEnv(env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr+":") {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
