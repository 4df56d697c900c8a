package remediate

import (
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Each AWS failure, injected with the code AWS answers, decides retry or final by its class alone:
// throttling and 5xx hand the record back (and the redelivery completes once AWS recovers),
// access denied and the like are final (reported, acknowledged).
func TestFaultsDecideRetryByErrorClass(t *testing.T) {
	throttled, internal := fake.Error("ThrottlingException", "Rate exceeded"), fake.Error("InternalFailure", "")
	denied := fake.Error("AccessDeniedException", "not authorized")
	for name, tc := range map[string]struct {
		mode    config.Mode // fix unless set
		alerts  bool
		org     string
		scope   string // KEY_WRITE_SCOPE: the default (tagged-keys) when empty
		launch  bool   // a failed launch by a role (the IAM side runs) instead of a share
		op      string
		err     error
		retry   bool   // the record is handed back
		recErr  bool   // the record failed
		actions string // sorted type:status
		cause   report.Cause
		told    bool // an alert was published
	}{
		"DescribeImages throttled":    {op: "EC2:DescribeImages", err: fake.Error("RequestLimitExceeded", ""), retry: true, recErr: true},
		"DescribeImages unauthorized": {op: "EC2:DescribeImages", err: fake.Error("UnauthorizedOperation", ""), recErr: true},
		"DescribeSnapshots 503":       {op: "EC2:DescribeSnapshots", err: fake.Error("ServiceUnavailable", ""), retry: true, recErr: true},
		"DescribeKey throttled":       {op: "KMS:DescribeKey", err: throttled, retry: true, recErr: true},
		"DescribeKey access denied":   {op: "KMS:DescribeKey", err: denied},
		"PutKeyPolicy throttled":      {op: "KMS:PutKeyPolicy", err: throttled, retry: true, actions: "key-policy:failed", cause: report.CauseTransient},
		"PutKeyPolicy access denied":  {scope: config.WriteAllKeys, op: "KMS:PutKeyPolicy", err: denied, actions: "key-policy:failed"},
		// Under tagged-keys a denial of an opted-in key may be the tag not in effect yet (up to
		// five minutes): retried.
		"PutKeyPolicy denied just after opt-in": {op: "KMS:PutKeyPolicy", err: denied, retry: true, actions: "key-policy:failed", cause: report.CauseTransient},
		"ListResourceTags throttled":            {op: "KMS:ListResourceTags", err: throttled, retry: true, actions: "key-policy:failed", cause: report.CauseTransient},
		"DescribeStackResources throttled":      {op: "CloudFormation:DescribeStackResources", err: throttled, retry: true, actions: "key-policy:failed", cause: report.CauseTransient},
		"read-back fails transiently":           {op: "KMS:GetKeyPolicy", err: internal, retry: true, recErr: true},
		"member role not assumable":             {op: "STS:AssumeRole", err: fake.Error("AccessDenied", ""), launch: true, recErr: true},
		"member role assumption throttled":      {op: "STS:AssumeRole", err: fake.Error("Throttling", ""), launch: true, retry: true, recErr: true},
		"IAM read throttled":                    {op: "IAM:GetRole", err: fake.Error("Throttling", ""), launch: true, retry: true, actions: "key-policy:applied"},
		"IAM read denied":                       {op: "IAM:GetRole", err: fake.Error("AccessDenied", ""), launch: true, actions: "key-policy:applied"},
		"no fault, failed launch":               {launch: true, actions: "key-policy:applied,kms-grant:applied"},
		"launch lookup throttled":               {op: "CloudTrail:LookupEvents", err: fake.Error("ThrottlingException", ""), launch: true, retry: true, actions: "key-policy:applied"},
		"launch lookup denied":                  {op: "CloudTrail:LookupEvents", err: fake.Error("AccessDeniedException", ""), launch: true, actions: "key-policy:applied"},
		"CreateGrant throttled":                 {op: "KMS:CreateGrant", err: throttled, launch: true, retry: true, actions: "key-policy:applied,kms-grant:failed", cause: report.CauseTransient},
		"CreateGrant denied just after opt-in":  {op: "KMS:CreateGrant", err: denied, launch: true, retry: true, actions: "key-policy:applied,kms-grant:failed", cause: report.CauseTransient},
		"CreateGrant limit exceeded":            {op: "KMS:CreateGrant", err: fake.Error("LimitExceededException", ""), launch: true, actions: "key-policy:applied,kms-grant:failed"},
		"grants unreadable for a moment":        {op: "KMS:ListGrants", err: throttled, launch: true, retry: true, actions: "key-policy:applied,kms-grant:applied"},
		"organization lookup throttled":         {org: "o-exampleorg1", op: "Organizations:DescribeAccount", err: fake.Error("TooManyRequestsException", ""), retry: true, recErr: true},
		"alert publish throttled":               {mode: config.ModeAlert, alerts: true, op: "SNS:Publish", err: fake.Error("Throttling", ""), retry: true, actions: "key-policy:planned"},
		"alert publish unauthorized":            {mode: config.ModeAlert, alerts: true, op: "SNS:Publish", err: fake.Error("AuthorizationError", ""), actions: "key-policy:planned"},
		"no fault, alert mode":                  {mode: config.ModeAlert, alerts: true, actions: "key-policy:planned", told: true},
	} {
		t.Run(name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = config.ModeFix
			}
			trusted := []string{scenario.Target}
			if tc.org != "" {
				trusted = nil
			}
			u := newUnit(t, unitSetup{mode: mode, trusted: trusted, alerts: tc.alerts, org: tc.org,
				config: func(c *config.Config) { c.KeyWriteScope = tc.scope }})
			u.cloud.Organization("o-exampleorg1", scenario.Target)
			k := u.key("")
			img := u.image([]string{k}, scenario.Target)
			event := shareEvent(t, img, scenario.Target)
			if tc.launch {
				u.cloud.AddRole(scenario.Target, "app-deployer")
				event = launchEvent(t, img, "app-deployer")
				u.confirmLaunch(t, event)
			}
			if tc.op != "" {
				u.cloud.Fail(tc.op, tc.err)
			}
			resp := u.deliver(event)
			if got := len(failed(resp)) == 1; got != tc.retry {
				t.Errorf("handed back %v, want retry %v (record error %q, actions %+v)", failed(resp), tc.retry, resp.Records[0].Error, resp.Actions)
			}
			if got := resp.Records[0].Error != ""; got != tc.recErr {
				t.Errorf("record error %q, want one: %v", resp.Records[0].Error, tc.recErr)
			}
			if got := statuses(resp.Actions); got != tc.actions {
				t.Errorf("actions %s, want %s: %+v", got, tc.actions, resp.Actions)
			}
			for _, a := range resp.Actions {
				if a.Status == report.StatusFailed && a.Cause != tc.cause {
					t.Errorf("%s cause %q, want %q", a.Type, a.Cause, tc.cause)
				}
			}
			if resp.Alert.Published != tc.told || (len(u.cloud.Published()) == 1) != tc.told {
				t.Errorf("alert %+v, %d published, want told %v", resp.Alert, len(u.cloud.Published()), tc.told)
			}
			if !tc.retry {
				return
			}
			u.cloud.Heal(tc.op)
			again := u.deliver(event)
			if len(failed(again)) != 0 || again.Records[0].Error != "" {
				t.Errorf("redelivery after AWS recovered: handed back %v, error %q", failed(again), again.Records[0].Error)
			}
			for _, a := range again.Actions {
				if a.Status == report.StatusFailed {
					t.Errorf("redelivery: %+v", a)
				}
			}
			if tc.alerts && !again.Alert.Published {
				t.Errorf("redelivery did not tell: %+v", again.Alert)
			}
		})
	}
}
