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
				// The default write scope is the opted-in keys, as the template's default.
				if c.MetricNamespace != "AmiKmsRemediator" || c.MaxReceiveCount != 5 || c.KeyWriteScope != WriteTaggedKeys || !c.TaggedKeysOnly() {
					t.Errorf("defaults: namespace %q, max receive count %d, write scope %q", c.MetricNamespace, c.MaxReceiveCount, c.KeyWriteScope)
				}
				if len(c.IaCTags) != 0 || c.EditIaCManagedKeys {
					t.Errorf("defaults: IaC tags %v, edit IaC keys %v", c.IaCTags, c.EditIaCManagedKeys)
				}
			},
		},
		"metrics and redelivery": {
			env: map[string]string{"METRIC_NAMESPACE": "Team/ami-kms", "MAX_RECEIVE_COUNT": "10", "KEY_WRITE_SCOPE": "Tagged-Keys"},
			check: func(t *testing.T, c Config) {
				if c.MetricNamespace != "Team/ami-kms" || c.MaxReceiveCount != 10 || c.KeyWriteScope != WriteTaggedKeys {
					t.Errorf("got namespace %q, max receive count %d, write scope %q", c.MetricNamespace, c.MaxReceiveCount, c.KeyWriteScope)
				}
			},
		},
		"AWS namespace":          {env: map[string]string{"METRIC_NAMESPACE": "AWS/Lambda"}, wantErr: "METRIC_NAMESPACE"},
		"namespace with a comma": {env: map[string]string{"METRIC_NAMESPACE": "a,b"}, wantErr: "METRIC_NAMESPACE"},
		"namespace 256":          {env: map[string]string{"METRIC_NAMESPACE": strings.Repeat("n", 256)}, wantErr: "METRIC_NAMESPACE"},
		"receive count 0":        {env: map[string]string{"MAX_RECEIVE_COUNT": "0"}, wantErr: "MAX_RECEIVE_COUNT"},
		"receive count 1001":     {env: map[string]string{"MAX_RECEIVE_COUNT": "1001"}, wantErr: "MAX_RECEIVE_COUNT"},
		"receive count 1000":     {env: map[string]string{"MAX_RECEIVE_COUNT": "1000"}},
		"receive count word":     {env: map[string]string{"MAX_RECEIVE_COUNT": "five"}, wantErr: "MAX_RECEIVE_COUNT"},
		"bad write scope":        {env: map[string]string{"KEY_WRITE_SCOPE": "some-keys"}, wantErr: "KEY_WRITE_SCOPE"},
		"all keys, explicitly": {
			env: map[string]string{"KEY_WRITE_SCOPE": " ALL-KEYS "},
			check: func(t *testing.T, c Config) {
				if c.KeyWriteScope != WriteAllKeys || c.TaggedKeysOnly() {
					t.Errorf("write scope %q, tagged only %v", c.KeyWriteScope, c.TaggedKeysOnly())
				}
			},
		},
		"IaC tags": {
			env: map[string]string{"IAC_MANAGED_TAGS": "managed-by=terraform, ManagedBy ,owner:tool = Pulumi", "EDIT_IAC_MANAGED_KEYS": "TRUE"},
			check: func(t *testing.T, c Config) {
				want := []Tag{{Key: "managed-by", Value: "terraform"}, {Key: "ManagedBy"}, {Key: "owner:tool", Value: "Pulumi"}}
				if len(c.IaCTags) != len(want) {
					t.Fatalf("IaC tags %v, want %v", c.IaCTags, want)
				}
				for i := range want {
					if c.IaCTags[i] != want[i] {
						t.Errorf("IaC tag %d = %v, want %v", i, c.IaCTags[i], want[i])
					}
				}
				if !c.EditIaCManagedKeys {
					t.Error("EDIT_IAC_MANAGED_KEYS=TRUE not read")
				}
			},
		},
		"IaC tag aws:":      {env: map[string]string{"IAC_MANAGED_TAGS": "aws:cloudformation:stack-id"}, wantErr: "IAC_MANAGED_TAGS"},
		"IaC tag no key":    {env: map[string]string{"IAC_MANAGED_TAGS": "=terraform"}, wantErr: "IAC_MANAGED_TAGS"},
		"IaC tag bad char":  {env: map[string]string{"IAC_MANAGED_TAGS": "managed*by"}, wantErr: "IAC_MANAGED_TAGS"},
		"IaC tag key 129":   {env: map[string]string{"IAC_MANAGED_TAGS": strings.Repeat("k", 129)}, wantErr: "IAC_MANAGED_TAGS"},
		"IaC tag key 128":   {env: map[string]string{"IAC_MANAGED_TAGS": strings.Repeat("k", 128)}},
		"edit IaC keys yes": {env: map[string]string{"EDIT_IAC_MANAGED_KEYS": "yes"}, wantErr: "EDIT_IAC_MANAGED_KEYS"},
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
		"org id 32 chars":         {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "o-" + strings.Repeat("a", 32)}},
		"org id 33 chars":         {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "o-" + strings.Repeat("a", 33)}, wantErr: "TRUSTED_ORGANIZATION_ID"},
		"org id 9 chars":          {env: map[string]string{"TRUSTED_ORGANIZATION_ID": "o-" + strings.Repeat("a", 9)}, wantErr: "TRUSTED_ORGANIZATION_ID"},
		"topic name 256":          {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:" + strings.Repeat("t", 256)}},
		"fifo topic name 256":     {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:" + strings.Repeat("t", 256) + ".fifo"}},
		"topic name 257":          {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:" + strings.Repeat("t", 257)}, wantErr: "ALERT_TOPIC_ARN"},
		"topic name with a colon": {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:a:b"}, wantErr: "ALERT_TOPIC_ARN"},
		"GovCloud topic":          {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws-us-gov:sns:us-gov-west-1:111122223333:alerts"}},
		"topic account 11 digits": {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:11112222333:alerts"}, wantErr: "ALERT_TOPIC_ARN"},
		"topic name empty":        {env: map[string]string{"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:"}, wantErr: "ALERT_TOPIC_ARN"},
		"role name 64":            {env: map[string]string{"MEMBER_ROLE_NAME": strings.Repeat("r", 64)}},
		"role name 65":            {env: map[string]string{"MEMBER_ROLE_NAME": strings.Repeat("r", 65)}, wantErr: "MEMBER_ROLE_NAME"},
		"policy name 128":         {env: map[string]string{"IAM_POLICY_NAME": strings.Repeat("p", 128)}},
		"policy name 129":         {env: map[string]string{"IAM_POLICY_NAME": strings.Repeat("p", 129)}, wantErr: "IAM_POLICY_NAME"},
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

// The cold-start line says what the function will do: its mode, whom it trusts (and that the
// default trusts nobody), its write scope when stated, its topic.
func TestEffective(t *testing.T) {
	c, err := FromEnv(env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Effective()
	if e["mode"] != "alert" || !strings.HasPrefix(e["trust"].(string), "nobody") || e["alert_topic"] != "none: no alerts are sent" {
		t.Errorf("defaults: %v", e)
	}
	if accounts, ok := e["trusted_accounts"].([]string); !ok || accounts == nil || len(accounts) != 0 {
		t.Errorf("trusted_accounts = %#v, want an empty list", e["trusted_accounts"])
	}
	if e["key_write_scope"] != "tagged-keys: only keys tagged ami-kms-remediator=managed" {
		t.Errorf("the default write scope is reported as %v", e["key_write_scope"])
	}
	if tags, _ := e["iac_managed_tags"].([]string); strings.Join(tags, ",") != "aws:cloudformation:stack-id" || e["edit_iac_managed_keys"] != false {
		t.Errorf("IaC detection reported as %v, edits %v", e["iac_managed_tags"], e["edit_iac_managed_keys"])
	}
	c, err = FromEnv(env(map[string]string{"MODE": "fix", "TRUSTED_ACCOUNT_IDS": "444455556666,111122223333", "TRUSTED_ORGANIZATION_ID": "o-a1b2c3d4e5",
		"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:alerts", "KEY_WRITE_SCOPE": "all-keys", "MAX_RECEIVE_COUNT": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	e = c.Effective()
	for k, want := range map[string]any{
		"mode": "fix", "trust": "2 accounts and the members of organization o-a1b2c3d4e5", "trusted_organization": "o-a1b2c3d4e5",
		"alert_topic": "arn:aws:sns:us-east-1:111122223333:alerts", "key_write_scope": "all-keys", "max_receive_count": 7,
		"metric_namespace": "AmiKmsRemediator",
	} {
		if e[k] != want {
			t.Errorf("%s = %v, want %v", k, e[k], want)
		}
	}
	if got := strings.Join(e["trusted_accounts"].([]string), ","); got != "111122223333,444455556666" {
		t.Errorf("trusted_accounts = %s", got)
	}
}
