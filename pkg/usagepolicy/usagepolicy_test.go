package usagepolicy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const (
	keyA = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"
	keyB = "arn:aws:kms:eu-west-1:111122223333:key/mrk-2222bbbb22bb22bb22bb222222bbbbbb"
)

// The document is AWS's console form, read back with encoding/json: the use actions, and the
// grant actions only for AWS resources, on exactly the keys given.
func TestNewShape(t *testing.T) {
	doc := New([]string{keyA, keyB})
	var got struct {
		Version   string
		Statement []struct {
			Sid, Effect string
			Action      []string
			Resource    []string
			Condition   map[string]map[string]any `json:",omitempty"`
		}
	}
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "2012-10-17" || len(got.Statement) != 2 {
		t.Fatalf("%+v", got)
	}
	use, grant := got.Statement[0], got.Statement[1]
	if use.Sid != UseSid || use.Effect != "Allow" || strings.Join(use.Action, ",") != "kms:Encrypt,kms:Decrypt,kms:ReEncrypt*,kms:GenerateDataKey*,kms:DescribeKey" || use.Condition != nil {
		t.Errorf("use statement %+v", use)
	}
	if grant.Sid != GrantSid || strings.Join(grant.Action, ",") != "kms:CreateGrant,kms:ListGrants,kms:RevokeGrant" {
		t.Errorf("grant statement %+v", grant)
	}
	if v, ok := grant.Condition["Bool"]["kms:GrantIsForAWSResource"].(bool); !ok || !v {
		t.Errorf("grant condition %#v, want the JSON boolean true", grant.Condition)
	}
	for _, s := range got.Statement {
		if !reflect.DeepEqual(s.Resource, []string{keyA, keyB}) {
			t.Errorf("Resource %v", s.Resource)
		}
	}
	if !bytes.HasPrefix(doc, []byte("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n")) {
		t.Errorf("not pretty-printed with two spaces:\n%s", doc)
	}
}

// What the document allows, read by the policy engine: EC2's use of the keys given and grants for
// AWS resources on them; nothing on another key, no grant made directly.
func TestNewAllowsExactlyEC2sUse(t *testing.T) {
	d, err := policy.Parse(New([]string{keyA}))
	if err != nil {
		t.Fatal(err)
	}
	const role = "arn:aws:iam::444455556666:role/app"
	for name, tc := range map[string]struct {
		action, key string
		grantForAWS bool
		want        evaluate.Decision
	}{
		"decrypt":                {"kms:Decrypt", keyA, false, evaluate.Allow},
		"re-encrypt":             {"kms:ReEncryptFrom", keyA, false, evaluate.Allow},
		"grant for EC2":          {"kms:CreateGrant", keyA, true, evaluate.Allow},
		"grant made directly":    {"kms:CreateGrant", keyA, false, evaluate.ImplicitDeny},
		"another key":            {"kms:Decrypt", keyB, false, evaluate.ImplicitDeny},
		"an action beyond EC2's": {"kms:ScheduleKeyDeletion", keyA, false, evaluate.ImplicitDeny},
		"the key policy of it":   {"kms:PutKeyPolicy", keyA, false, evaluate.ImplicitDeny},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := map[string][]string{"kms:GrantIsForAWSResource": {"false"}}
			if tc.grantForAWS {
				ctx["kms:GrantIsForAWSResource"] = []string{"true"}
			}
			if got := evaluate.Policy(d, evaluate.Request{PrincipalARN: role, Action: tc.action, Resource: tc.key, Context: ctx}).Decision; got != tc.want {
				t.Errorf("%s on %s: %s, want %s", tc.action, tc.key, got, tc.want)
			}
		})
	}
}

func TestCreatedByRemediator(t *testing.T) {
	for desc, want := range map[string]bool{
		"Lets principals of this account use specific KMS keys from EC2 (managed by ami-kms-remediator)": true,
		"Lets principals use keys":               false,
		"":                                       false,
		"managed by ami-kms-remediator, by hand": false,
	} {
		if got := CreatedByRemediator(desc); got != want {
			t.Errorf("CreatedByRemediator(%q) = %v, want %v", desc, got, want)
		}
	}
}
