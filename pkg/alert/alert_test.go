package alert

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestCompose(t *testing.T) {
	tests := map[string]struct {
		res          report.Result
		mode         string
		wantOK       bool
		wantSubject  string
		wantSeverity string
		wantAccount  string
		wantCodes    string
		contains     []string
		notContains  []string
	}{
		"fixed": {
			res: fixedResult(), mode: "fix", wantOK: true,
			wantSubject:  "[ami-kms] ami-0a1b2c3d4e5f67890 in 444455556666: key policy fixed",
			wantSeverity: SeverityInfo,
			wantAccount:  "111122223333,444455556666",
			wantCodes:    `["key-policy-missing-grant","key-policy-missing-use"]`,
			contains: []string{
				"Happened: share-image for image ami-0a1b2c3d4e5f67890 in account 111122223333, us-east-1.\n",
				"Done: applied and verified 1 key-policy change for 444455556666.\n",
				"DO THIS NOW: nothing; everything found was fixed.\n",
				"  [fixed] key-policy-missing-use, account 444455556666: the key policy of this key does not let account 444455556666 use the key",
				"  key-policy change for 444455556666: applied: " + keyPolicyReason + "\n",
				"      +      \"Principal\": {\"AWS\": [\"arn:aws:iam::555566667777:root\", \"arn:aws:iam::444455556666:root\"]},\n",
			},
			notContains: []string{"put-key-policy", "alert mode", headingConfig, headingHuman, headingFiles},
		},
		"planned in alert mode": {
			res: plannedResult(), mode: "alert", wantOK: true,
			wantSubject:  "[ami-kms] ami-0a1b2c3d4e5f67890 in 444455556666: fix planned (alert mode)",
			wantSeverity: SeverityMedium,
			wantAccount:  "111122223333,444455556666",
			wantCodes:    `["key-policy-missing-grant","key-policy-missing-use"]`,
			contains: []string{
				"Done: nothing was changed (alert mode); planned 1 key-policy change for 444455556666.\n",
				"DO THIS NOW (in account 111122223333, the key's owner): Key " + keyARN + " does not let account(s) 444455556666 use it from EC2",
				"   Not fixed: alert mode (MODE=alert changes nothing; MODE=fix would apply it).\n",
				"      aws kms put-key-policy --key-id " + keyARN + " --policy-name default --policy file://key-policy.json --region us-east-1\n",
				"  [planned] key-policy-missing-grant, account 444455556666: ",
				"MODE=alert: " + keyPolicyReason + "\n",
				headingConfig + "\n",
				"      sam deploy --parameter-overrides Mode=fix\n",
				"File key-policy.json: the whole key policy the remediator planned for key " + keyARN + ".\n",
				"            \"Sid\": \"Enable IAM User Permissions\",\n",
			},
			notContains: []string{"bypass-policy-lockout-safety-check", truncatedSuffix, "TrustedAccountIds="},
		},
		"untrusted account": {
			res: untrustedResult(), mode: "fix", wantOK: true,
			wantSubject:  "[ami-kms] ami-0a1b2c3d4e5f67890 in 999988887777: action needed (untrusted-account +1)",
			wantSeverity: SeverityHigh,
			wantAccount:  "111122223333,999988887777",
			wantCodes:    `["key-policy-missing-use","untrusted-account"]`,
			contains: []string{
				"DO THIS NOW (in account 111122223333, the image's owner): Account(s) 999988887777 are not trusted (untrusted-account)",
				"--launch-permission 'Remove=[{UserId=999988887777}]'\n",
				"      sam deploy --parameter-overrides TrustedAccountIds=444455556666,999988887777\n",
				"It affects every trusted account",
				"File key-policy-statements.json: the two statements",
			},
			notContains: []string{"Mode=fix"},
		},
		"aws managed key after a failed launch": {
			res: awsManagedResult(), mode: "alert", wantOK: true,
			wantSubject:  "[ami-kms] ami-0a1b2c3d4e5f67890 in 444455556666: launch failed (aws-managed-key)",
			wantSeverity: SeverityCritical,
			wantAccount:  "444455556666",
			wantCodes:    `["aws-managed-key"]`,
			contains: []string{
				"DO THIS NOW (in the account that owns image ami-0a1b2c3d4e5f67890): Image ami-0a1b2c3d4e5f67890 is encrypted with the AWS managed key",
				"      aws ec2 copy-image --source-image-id ami-0a1b2c3d4e5f67890 --source-region us-east-1 --region us-east-1 --name ami-0a1b2c3d4e5f67890-cmk --encrypted --kms-key-id \"$CMK_ARN\"\n",
				"cannot be changed",
			},
			// An AWS managed key's policy cannot be edited: no statements to add to it, and no
			// configuration would let the remediator fix it.
			notContains: []string{"Allow use of the key", "put-key-policy", headingConfig},
		},
		"iam missing for a role after a failed launch": {
			res: iamRoleResult(), mode: "fix", wantOK: true,
			wantSubject:  "[ami-kms] ami-0a1b2c3d4e5f67890 in 444455556666: launch failed (iam-missing-use +1)",
			wantSeverity: SeverityCritical,
			wantAccount:  "444455556666",
			wantCodes:    `["iam-missing-grant","iam-missing-use","key-policy-missing-use"]`,
			contains: []string{
				"\"Sid\": \"AllowUseOfTheKey\"",
				"\"Sid\": \"AllowAttachmentOfPersistentResources\"",
				"\"Resource\": [\n              \"" + keyARN + "\"\n            ]",
				"\"kms:GrantIsForAWSResource\": true\n",
				"      aws iam create-policy --policy-name KmsKeyUsagePolicy --policy-document file://KmsKeyUsagePolicy.json\n",
				"      aws iam attach-role-policy --role-name launcher --policy-arn arn:aws:iam::444455556666:policy/KmsKeyUsagePolicy\n",
				"  [fixed] key-policy-missing-use, account 444455556666",
			},
			notContains: []string{"\"Resource\": \"*\"\n            \"Condition\"", "attach-user-policy"},
		},
		"nothing to tell": {
			res: nothingResult(), mode: "fix", wantOK: false,
		},
		"empty result": {
			res: report.Result{}, mode: "alert", wantOK: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(tc.res, Context{Mode: tc.mode, Region: "us-east-1", RequestID: "req-1", TrustedAccounts: []string{target}})
			if ok != tc.wantOK {
				t.Fatalf("Compose ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				if !reflect.DeepEqual(m, Message{}) {
					t.Errorf("nothing to tell, but got a message %+v", m)
				}
				return
			}
			checkInvariants(t, m)
			if m.Subject != tc.wantSubject {
				t.Errorf("subject = %q, want %q", m.Subject, tc.wantSubject)
			}
			if got := m.Attributes[AttrSeverity]; got != (Attribute{"String", tc.wantSeverity}) {
				t.Errorf("severity = %+v, want %s", got, tc.wantSeverity)
			}
			if got := m.Attributes[AttrAccount]; got != (Attribute{"String.Array", accountsJSON(tc.wantAccount)}) {
				t.Errorf("account = %+v, want %s", got, tc.wantAccount)
			}
			if got := m.Attributes[AttrFindingCodes]; got != (Attribute{"String.Array", tc.wantCodes}) {
				t.Errorf("finding_codes = %+v, want %s", got, tc.wantCodes)
			}
			for _, s := range tc.contains {
				if !strings.Contains(m.Body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			for _, s := range tc.notContains {
				if strings.Contains(m.Body, s) {
					t.Errorf("body has %q", s)
				}
			}
			if strings.Contains(m.Body, "truncated") {
				t.Errorf("a small result was truncated")
			}
			got := machineResult(t, m.Body)
			want := withoutAlertOnlyFields(tc.res)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("JSON block = %+v\nwant %+v", got, want)
			}
			raw, _ := machineBlock(m.Body)
			var members map[string]json.RawMessage
			if err := json.Unmarshal([]byte(raw), &members); err != nil {
				t.Fatal(err)
			}
			if _, has := members["alert"]; has {
				t.Errorf("the JSON block has an \"alert\" member: the message cannot say whether it was published")
			}
		})
	}
}

// withoutAlertOnlyFields is res as its JSON carries it: no Diff, Document, Principal; empty
// lists rather than nil.
func withoutAlertOnlyFields(res report.Result) report.Result {
	raw, err := json.Marshal(res)
	if err != nil {
		panic(err)
	}
	var out report.Result
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	if out.Actions == nil {
		out.Actions = []report.Action{}
	}
	if out.Records == nil {
		out.Records = []report.Record{}
	}
	for i := range out.Records {
		if out.Records[i].Findings == nil {
			out.Records[i].Findings = []report.Finding{}
		}
	}
	for i := range out.Actions {
		if out.Actions[i].Accounts == nil {
			out.Actions[i].Accounts = []string{}
		}
	}
	return out
}

// machineResult finds the JSON block by its whole marker lines and decodes it.
func machineResult(t *testing.T, body string) report.Result {
	t.Helper()
	raw, ok := machineBlock(body)
	if !ok {
		t.Fatalf("no JSON block in the body")
	}
	var res report.Result
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatalf("JSON block does not decode: %v", err)
	}
	return res
}

// machineBlock is how a subscriber should parse: the lines strictly between the marker lines.
func machineBlock(body string) (string, bool) {
	lines := strings.Split(body, "\n")
	begin, end := -1, -1
	for i, l := range lines {
		switch l {
		case BeginResultMarker:
			if begin < 0 {
				begin = i
			}
		case EndResultMarker:
			if begin >= 0 && end < 0 {
				end = i
			}
		}
	}
	if begin < 0 || end < 0 {
		return "", false
	}
	return strings.Join(lines[begin+1:end], "\n"), true
}

// goldenAlerts are the alerts of each kind, as the remediator composes them: their bodies are
// kept in testdata/ and their sizes bounded (TestAlertSizeBounds).
var goldenAlerts = map[string]struct {
	res  func() report.Result
	mode string
	// maxHuman bounds the part for people (everything before the result JSON, snippets and
	// commands included), in non-blank lines; 0 for no bound beyond the top's.
	maxHuman int
}{
	"planned-key-policy-alert-mode":  {func() report.Result { return withPolicyDiff(plannedResult()) }, "alert", 60},
	"applied-key-policy":             {func() report.Result { return withPolicyDiff(fixedResult()) }, "fix", 30},
	"applied-iam":                    {func() report.Result { return withPolicyDiff(iamFixedResult()) }, "fix", 30},
	"needs-human-untrusted":          {untrustedResult, "fix", 0},
	"needs-human-explicit-deny":      {denyResult, "fix", 0},
	"needs-human-aws-managed-key":    {awsManagedResult, "fix", 0},
	"needs-human-key-disabled":       {disabledResult, "fix", 0},
	"needs-human-iam-after-launch":   {func() report.Result { return withPolicyDiff(iamRoleResult()) }, "fix", 0},
	"record-error":                   {errorResult, "fix", 0},
	"needs-human-key-not-opted-in":   {notOptedInResult, "fix", 0},
	"needs-human-key-managed-by-iac": {iacResult, "fix", 0},
	"mixed-batch":                    {mixedResult, "fix", 0},
	"failed-assume-role":             {assumeRoleFailedResult, "fix", 30},
	"failed-lookup-after-fix":        {func() report.Result { return withPolicyDiff(lookupMissingResult()) }, "fix", 40},
	"failed-unusable-input":          {unusableResult, "fix", 30},
}

// goldenContext is the configuration the golden alerts are composed with: one account trusted.
func goldenContext(mode string) Context {
	return Context{Mode: mode, Region: "us-east-1", RequestID: "8f14e45f-ceea-467f-a0e6-1b2c3d4e5f60", TrustedAccounts: []string{target}}
}

func TestComposeGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, f := range files {
		if _, ok := goldenAlerts[strings.TrimSuffix(filepath.Base(f), ".golden")]; !ok && !*update {
			t.Errorf("%s is no golden alert's: remove it", f)
		}
	}
	for name, tc := range goldenAlerts {
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(tc.res(), goldenContext(tc.mode))
			if !ok {
				t.Fatal("nothing composed")
			}
			checkInvariants(t, m)
			got := "Subject: " + m.Subject + "\n\n" + m.Body
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("body differs from %s (run go test ./pkg/alert -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// jsonBlockAfter returns the indented block that follows the line containing marker.
func jsonBlockAfter(t *testing.T, body, marker string) string {
	t.Helper()
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("body lacks %q", marker)
	}
	rest := body[i:]
	rest = rest[strings.IndexByte(rest, '\n')+1:]
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(l, blockIndent) || strings.HasPrefix(strings.TrimSpace(l), "aws ") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, blockIndent))
	}
	return strings.Join(lines, "\n")
}

// The statements the alert tells an operator to paste must be exactly what AWS's default key
// policy uses, with the account roots filled in.
func TestKeyPolicyStatementsAreExact(t *testing.T) {
	res := plannedResult()
	res.Actions[0].Document = "" // without the whole planned policy, the statements are the remedy
	res.Records[0].Findings = append(res.Records[0].Findings, missing(report.KeyPolicyMissingUse, "777788889999"))
	m, _ := Compose(res, Context{Mode: "alert"})
	raw := jsonBlockAfter(t, m.Body, "File key-policy-statements.json: ")
	var stmts []struct {
		Sid       string
		Effect    string
		Principal struct{ AWS []string }
		Action    []string
		Resource  string
		Condition map[string]map[string]string
	}
	if err := json.Unmarshal([]byte("["+raw+"]"), &stmts); err != nil {
		t.Fatalf("statements are not valid JSON: %v\n%s", err, raw)
	}
	if len(stmts) != 2 {
		t.Fatalf("got %d statements, want 2", len(stmts))
	}
	roots := []string{"arn:aws:iam::444455556666:root", "arn:aws:iam::777788889999:root"}
	for i, want := range []struct {
		sid     string
		actions []string
	}{{keypolicy.UseSid, keypolicy.UseActions}, {keypolicy.GrantSid, keypolicy.GrantActions}} {
		s := stmts[i]
		if s.Sid != want.sid || s.Effect != "Allow" || s.Resource != "*" || !reflect.DeepEqual(s.Action, want.actions) || !reflect.DeepEqual(s.Principal.AWS, roots) {
			t.Errorf("statement %d = %+v", i, s)
		}
	}
	if stmts[0].Condition != nil {
		t.Errorf("use statement has a condition: %v", stmts[0].Condition)
	}
	if got := stmts[1].Condition["Bool"]["kms:GrantIsForAWSResource"]; got != "true" {
		t.Errorf("grant condition = %q, want \"true\"", got)
	}
}

func TestIAMDocumentIsScopedToTheKeys(t *testing.T) {
	const otherKey = "arn:aws:kms:eu-west-1:111122223333:key/ffffffff-1111-2222-3333-444444444444"
	res := iamRoleResult()
	res.Records[0].Findings = append(res.Records[0].Findings, report.Finding{
		Code: report.IAMMissingUse, Account: target, KeyARN: otherKey, PrincipalARN: roleARN})
	m, _ := Compose(res, Context{Mode: "fix", PolicyName: "TeamKmsPolicy"})
	raw := jsonBlockAfter(t, m.Body, "File TeamKmsPolicy.json: the identity policy for ")
	var doc struct {
		Version   string
		Statement []struct {
			Sid       string
			Effect    string
			Principal any
			Action    []string
			Resource  []string
			Condition map[string]map[string]bool
		}
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("IAM document is not valid JSON: %v\n%s", err, raw)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 2 {
		t.Fatalf("document = %+v", doc)
	}
	keys := []string{keyARN, otherKey}
	for i, want := range []struct {
		sid     string
		actions []string
	}{{"AllowUseOfTheKey", keypolicy.UseActions}, {"AllowAttachmentOfPersistentResources", keypolicy.GrantActions}} {
		s := doc.Statement[i]
		if s.Sid != want.sid || s.Effect != "Allow" || s.Principal != nil || !reflect.DeepEqual(s.Action, want.actions) || !reflect.DeepEqual(s.Resource, keys) {
			t.Errorf("statement %d = %+v", i, s)
		}
	}
	if !doc.Statement[1].Condition["Bool"]["kms:GrantIsForAWSResource"] {
		t.Errorf("grant statement lacks the Bool condition: %v", doc.Statement[1].Condition)
	}
	if want := string(usagepolicy.New(keys)); raw != want {
		t.Errorf("the document is not the one the remediator creates:\n%s\nwant:\n%s", raw, want)
	}
	for _, want := range []string{
		"aws iam create-policy --policy-name TeamKmsPolicy --policy-document file://TeamKmsPolicy.json\n",
		"aws iam attach-role-policy --role-name launcher --policy-arn arn:aws:iam::444455556666:policy/TeamKmsPolicy\n",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
}

func TestIAMRemedyByPrincipalKind(t *testing.T) {
	tests := map[string]struct {
		principal string
		want      []string
		dont      []string
	}{
		"user with a path": {
			principal: "arn:aws:iam::444455556666:user/ops/alice",
			want:      []string{"aws iam attach-user-policy --user-name alice --policy-arn arn:aws:iam::444455556666:policy/KmsKeyUsagePolicy\n"},
			dont:      []string{"attach-role-policy"},
		},
		"assumed-role session": {
			principal: "arn:aws:sts::444455556666:assumed-role/deployer/i-0abc",
			want:      []string{"aws iam attach-role-policy --role-name deployer "},
		},
		"role with a path": {
			principal: "arn:aws:iam::444455556666:role/team/a/builder",
			want:      []string{"--role-name builder "},
		},
		"auto scaling service-linked role": {
			principal: "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
			want: []string{
				"cannot take identity policies",
				"aws kms create-grant --key-id " + keyARN + " --grantee-principal arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling --operations ",
			},
			dont: []string{"create-policy", "attach-role-policy"},
		},
		"aws-cn partition": {
			principal: "arn:aws-cn:iam::444455556666:role/launcher",
			want:      []string{"--policy-arn arn:aws-cn:iam::444455556666:policy/KmsKeyUsagePolicy\n"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := report.Result{Records: []report.Record{{
				Trigger: "launch-failed", Account: target, Region: "us-east-1", ImageID: imageID, PrincipalARN: tc.principal,
				Findings: []report.Finding{{Code: report.IAMMissingUse, Account: target, KeyARN: keyARN}},
			}}}
			m, ok := Compose(res, Context{Mode: "fix"})
			if !ok {
				t.Fatal("nothing composed")
			}
			checkInvariants(t, m)
			for _, s := range tc.want {
				if !strings.Contains(m.Body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			for _, s := range tc.dont {
				if strings.Contains(m.Body, s) {
					t.Errorf("body has %q", s)
				}
			}
		})
	}
}

func TestRemediesForUnfixableFindings(t *testing.T) {
	tests := map[string]struct {
		finding report.Finding
		want    []string
	}{
		"public image": {
			finding: report.Finding{Code: report.PublicImage, Account: "all", KeyARN: keyARN, Message: "shared with group all"},
			want: []string{"is shared with everyone (public-image)", "never opens a key to everyone",
				"aws ec2 modify-image-attribute --image-id ami-0a1b2c3d4e5f67890 --region us-east-1 --launch-permission 'Remove=[{Group=all}]'\n"},
		},
		"explicit deny": {
			finding: report.Finding{Code: report.ExplicitDeny, Account: target, KeyARN: keyARN, Message: `statement 3 "DenyOutside" denies kms:CreateGrant`},
			want: []string{"a Deny statement blocks account(s) 444455556666 (explicit-deny)", "never removes or rewrites statements",
				"  [needs a human] explicit-deny, account 444455556666: statement 3 \"DenyOutside\" denies kms:CreateGrant\n",
				"aws kms get-key-policy --key-id " + keyARN + " --policy-name default --output text --region us-east-1\n"},
		},
		"disabled key": {
			finding: report.Finding{Code: report.KeyDisabled, Account: target, KeyARN: keyARN},
			want:    []string{"is disabled (key-disabled)", "aws kms enable-key --key-id " + keyARN + " --region us-east-1\n"},
		},
		"key pending deletion": {
			finding: report.Finding{Code: report.KeyPendingDeletion, Account: target, KeyARN: keyARN},
			want:    []string{"aws kms cancel-key-deletion --key-id " + keyARN + " --region us-east-1\n", "aws kms enable-key"},
		},
		"key not found": {
			finding: report.Finding{Code: report.KeyNotFound, Account: target, KeyARN: keyARN},
			want:    []string{"(key-not-found) does not exist, or the remediator cannot read it", "kms:DescribeKey", "aws kms describe-key --key-id " + keyARN},
		},
		"a code this package does not know": {
			finding: report.Finding{Code: "grant-missing-in-future", Account: target, KeyARN: keyARN, Message: "something new"},
			want:    []string{"DO THIS NOW: grant-missing-in-future for account 444455556666, key " + keyARN + ": something new\n"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(report.Result{Records: []report.Record{shareRecord(tc.finding)}}, Context{Mode: "fix"})
			if !ok {
				t.Fatal("nothing composed")
			}
			checkInvariants(t, m)
			if m.Attributes[AttrSeverity].Value != SeverityHigh {
				t.Errorf("severity = %s, want high", m.Attributes[AttrSeverity].Value)
			}
			for _, s := range tc.want {
				if !strings.Contains(m.Body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	failedAction := fixedResult()
	failedAction.Actions[0].Status = report.StatusFailed
	failedAction.Actions[0].Reason = "AccessDeniedException"
	recordError := fixedResult()
	recordError.Records = append(recordError.Records, report.Record{EventID: "e2", Trigger: "share-image", Error: "describe images: throttled"})
	plannedLaunch := plannedResult()
	plannedLaunch.Records[0].Trigger = "instance-terminated"
	fixedLaunch := fixedResult()
	fixedLaunch.Records[0].Trigger = "launch-failed"
	copyFailed := untrustedResult()
	copyFailed.Records[0].Trigger = "copy-image-failed"
	refusedOnly := report.Result{Actions: []report.Action{{Type: report.ActionKeyPolicy, Target: keyARN, Status: report.StatusRefused, Reason: "too-large"}}}
	tests := map[string]struct {
		res         report.Result
		want        string
		wantOutcome string
	}{
		"all fixed":                           {fixedResult(), SeverityInfo, "key policy fixed"},
		"a failed launch that is now fixed":   {fixedLaunch, SeverityInfo, "key policy fixed"},
		"planned in alert mode":               {plannedResult(), SeverityMedium, "fix planned (alert mode)"},
		"a failed action":                     {failedAction, SeverityHigh, "action needed (key-policy-missing-use +1)"},
		"a record that failed":                {recordError, SeverityHigh, "action needed"},
		"a refused action and no findings":    {refusedOnly, SeverityHigh, "action needed"},
		"terminated instance, only planned":   {plannedLaunch, SeverityCritical, "launch failed (key-policy-missing-use +1)"},
		"failed copy to an untrusted account": {copyFailed, SeverityCritical, "copy failed (untrusted-account +1)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, ok := Compose(tc.res, Context{})
			if !ok {
				t.Fatal("nothing composed")
			}
			if got := m.Attributes[AttrSeverity].Value; got != tc.want {
				t.Errorf("severity = %s, want %s", got, tc.want)
			}
			if !strings.HasSuffix(m.Subject, ": "+tc.wantOutcome) {
				t.Errorf("subject %q does not end with %q", m.Subject, tc.wantOutcome)
			}
		})
	}
}

func TestCoveringActionMatchesKeyAndAccount(t *testing.T) {
	res := fixedResult()
	// The applied action is for another key and another account: nothing is fixed.
	res.Actions = append([]report.Action{}, res.Actions[0], res.Actions[0])
	res.Actions[0].Target = "arn:aws:kms:us-east-1:111122223333:key/other"
	res.Actions[1].Accounts = []string{"777788889999"}
	m, _ := Compose(res, Context{Mode: "fix"})
	if got := m.Attributes[AttrSeverity].Value; got != SeverityHigh {
		t.Errorf("severity = %s, want high: an action on another key or account fixed nothing", got)
	}
	if !strings.Contains(m.Body, "Not fixed: no fix was attempted.") {
		t.Errorf("body does not say the finding was not fixed")
	}
}

func TestSubjectWithManyImagesAndAccounts(t *testing.T) {
	tests := map[string]struct {
		firstImage string
		extra      report.Finding
		want       string
	}{
		"fits": {
			firstImage: imageID,
			want:       "[ami-kms] ami-0a1b2c3d4e5f67890 +2 in 999988887777 +2: launch failed (untrusted-account +2)",
		},
		// The long outcome would pass 99 characters: the code goes, the rest stays.
		"too long with the code": {
			firstImage: "ami-0123456789abcdef0123456789",
			extra:      report.Finding{Code: report.KeyPendingDeletion, Account: "123456789012345678", KeyARN: keyARN},
			want:       "[ami-kms] ami-0123456789abcdef0... +2 in 1234567890123... +3: launch failed, action needed",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := untrustedResult()
			res.Records[0].ImageID = tc.firstImage
			if tc.extra.Code != "" {
				res.Records[0].Findings = append([]report.Finding{tc.extra}, res.Records[0].Findings...)
			}
			for i, acc := range []string{"000011112222", "333344445555"} {
				r := shareRecord(missing(report.KeyPolicyMissingGrant, acc))
				r.ImageID = []string{"ami-11111111111111111", "ami-22222222222222222"}[i]
				res.Records = append(res.Records, r)
			}
			res.Records[0].Trigger = "asg-launch-failed"
			m, _ := Compose(res, Context{})
			checkInvariants(t, m)
			if m.Subject != tc.want {
				t.Errorf("subject = %q, want %q", m.Subject, tc.want)
			}
		})
	}
}

// accountsJSON turns "a,b" into the String.Array value ["a","b"].
func accountsJSON(csv string) string {
	b, _ := json.Marshal(strings.Split(csv, ","))
	return string(b)
}
