package localaws

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

const (
	keyOwner = "111122223333"
	launcher = "444455556666"
)

// The stand-in's reading of a key policy for an EC2 launch by another account (KMS Developer
// Guide, "Allowing users in other accounts to use a KMS key": the key policy must allow the
// account; EC2 needs kms:Decrypt and kms:CreateGrant, the grant being for an AWS resource).
func TestPolicyLetsUse(t *testing.T) {
	const root = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	tests := map[string]struct {
		statements string
		principal  string
		want       bool
	}{
		"owner only":                  {statements: root, want: false},
		"account root, kms:*":         {statements: root + `,{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}`, want: true},
		"bare account id":             {statements: `{"Effect":"Allow","Principal":{"AWS":["999999999999","444455556666"]},"Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"*"}`, want: true},
		"star principal":              {statements: `{"Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:Create*"],"Resource":"*"}`, want: true},
		"decrypt without grant":       {statements: `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}`, want: false},
		"grant for AWS resource":      {statements: `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`, want: true},
		"grant condition on decrypt":  {statements: `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`, want: false},
		"caller account matches":      {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"444455556666","kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}`, want: true},
		"caller account differs":      {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}`, want: false},
		"via service wildcard":        {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:ViaService":"ec2.*.amazonaws.com"}}}`, want: true},
		"unknown condition key":       {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}`, want: false},
		"deny wins":                   {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"444455556666"},"Action":"kms:CreateGrant","Resource":"*"}`, want: false},
		"deny with unknown condition": {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`, want: false},
		"deny for someone else":       {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"999999999999"},"Action":"kms:*","Resource":"*"}`, want: true},
		"not principal deny":          {statements: `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`, want: false},
		"not action allow":            {statements: `{"Effect":"Allow","Principal":"*","NotAction":"kms:Encrypt","Resource":"*"}`, want: true},
		"role principal matches launcher": {
			statements: `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/builder"},"Action":"kms:*","Resource":"*"}`,
			principal:  "arn:aws:iam::444455556666:role/builder", want: true,
		},
		"role principal, unknown launcher": {
			statements: `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/builder"},"Action":"kms:*","Resource":"*"}`, want: false,
		},
		"single statement object": {statements: ``, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":[` + tc.statements + `]}`
			if tc.statements == "" {
				doc = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"}}`
			}
			got, why := policyLetsUse(doc, launcher, tc.principal, "us-east-1")
			if got != tc.want {
				t.Errorf("policyLetsUse = %v (%s), want %v", got, why, tc.want)
			}
			if !got && why == "" {
				t.Error("a refusal without a reason")
			}
		})
	}
	for _, bad := range []string{"", "not json", `{"Statement":"x"}`, `{"Statement":[{"Effect":"Allow","Principal":7}]}`} {
		if ok, _ := policyLetsUse(bad, launcher, "", "us-east-1"); ok {
			t.Errorf("policyLetsUse(%q) allowed", bad)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := map[string]struct {
		pattern, s string
		fold, want bool
	}{
		"exact":             {"kms:Decrypt", "kms:Decrypt", false, true},
		"case folded":       {"KMS:decrypt", "kms:Decrypt", true, true},
		"case kept":         {"KMS:decrypt", "kms:Decrypt", false, false},
		"star suffix":       {"kms:ReEncrypt*", "kms:ReEncryptFrom", false, true},
		"star alone":        {"*", "", false, true},
		"star middle":       {"ec2.*.amazonaws.com", "ec2.us-east-1.amazonaws.com", false, true},
		"star middle fails": {"ec2.*.amazonaws.com", "rds.us-east-1.amazonaws.com", false, false},
		"question":          {"kms:?ecrypt", "kms:Decrypt", false, true},
		"too short":         {"kms:Decrypt?", "kms:Decrypt", false, false},
		"backtracking":      {"a*b*c", "aXbYbZc", false, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := globMatch(tc.pattern, tc.s, tc.fold); got != tc.want {
				t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
			}
		})
	}
}

func TestSpliceSet(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"empty element": {`<R><imagesSet/><requestId>x</requestId></R>`, `<R><imagesSet><item>m</item></imagesSet><requestId>x</requestId></R>`},
		"with items":    {`<R><imagesSet><item>a</item></imagesSet></R>`, `<R><imagesSet><item>m</item><item>a</item></imagesSet></R>`},
		"no set":        {`<R></R>`, `<R></R>`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := string(spliceSet([]byte(tc.in), "imagesSet", "<item>m</item>")); got != tc.want {
				t.Errorf("got %s", got)
			}
		})
	}
}

// Both request forms of ModifyImageAttribute launchPermission (EC2 API Reference,
// ModifyImageAttribute: LaunchPermission.Add/Remove, or Attribute + OperationType + UserId.N).
func TestLaunchPermChanges(t *testing.T) {
	tests := map[string]struct {
		query string
		want  []permChange
	}{
		"structured": {
			query: "LaunchPermission.Add.1.UserId=444455556666&LaunchPermission.Add.2.Group=all&LaunchPermission.Remove.1.OrganizationArn=arn:o&LaunchPermission.Add.3.OrganizationalUnitArn=arn:ou",
			want: []permChange{{add: true, userID: "444455556666"}, {add: true, group: "all"}, {add: true, orgUnitID: "arn:ou"},
				{add: false, org: "arn:o"}},
		},
		"old form": {
			query: "Attribute=launchPermission&OperationType=remove&UserId.1=444455556666&UserGroup.1=all",
			want:  []permChange{{add: false, userID: "444455556666"}, {add: false, group: "all"}},
		},
		"old form needs the attribute": {
			query: "OperationType=add&UserId.1=444455556666",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			params, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got := launchPermChanges(&call{params: params}, "LaunchPermission", "launchPermission")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Identity policies of the launching principal (IAM User Guide, policy evaluation within an
// account: an explicit Deny wins, otherwise an Allow matching action and resource is needed).
func TestIdentityLetsUse(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/k1"
	tests := map[string]struct {
		docs []string
		want bool
	}{
		"none":               {docs: nil, want: false},
		"exact key":          {docs: []string{`{"Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"` + key + `"}]}`}, want: true},
		"wildcard resource":  {docs: []string{`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/*"}}`}, want: true},
		"other key":          {docs: []string{`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/k2"}}`}, want: false},
		"split over two":     {docs: []string{`{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}`, `{"Statement":{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*"}}`}, want: true},
		"deny in another":    {docs: []string{`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`, `{"Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}`}, want: false},
		"not resource":       {docs: []string{`{"Statement":{"Effect":"Allow","Action":"kms:*","NotResource":"` + key + `"}}`}, want: false},
		"unreadable ignored": {docs: []string{`not json`, `{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got, why := identityLetsUse(tc.docs, key, launcher, "us-east-1"); got != tc.want {
				t.Errorf("identityLetsUse = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

// Set operators and policy variables (IAM User Guide, "Condition operators", "Policy
// variables"): ForAllValues holds when every request value matches (and when there is none),
// ForAnyValue when one does; ${aws:PrincipalAccount} is the caller's account in a policy of
// Version 2012-10-17 only.
func TestConditionsHoldSetsAndVariables(t *testing.T) {
	ops := func(v ...string) map[string][]string {
		return map[string][]string{"kms:grantoperations": v, "aws:principalaccount": {"444455556666"},
			"kms:granteeprincipal": {"arn:aws:iam::444455556666:role/r"}}
	}
	all := `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","CreateGrant"]}}`
	anyOf := `{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt"]}}`
	own := `{"StringLike":{"kms:GranteePrincipal":"arn:aws:iam::${aws:PrincipalAccount}:*"}}`
	tests := map[string]struct {
		cond string
		ctx  map[string][]string
		vars bool
		want bool
	}{
		"all within":       {all, ops("Decrypt"), true, true},
		"all, one outside": {all, ops("Decrypt", "Encrypt"), true, false},
		"all, none":        {all, map[string][]string{}, true, true},
		"any, one inside":  {anyOf, ops("Encrypt", "Decrypt"), true, true},
		"any, none inside": {anyOf, ops("Encrypt"), true, false},
		"own account":      {own, ops(), true, true},
		"another account":  {own, map[string][]string{"aws:principalaccount": {"111122223333"}, "kms:granteeprincipal": {"arn:aws:iam::444455556666:role/r"}}, true, false},
		"variable as text": {own, ops(), false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var cond map[string]map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.cond), &cond); err != nil {
				t.Fatal(err)
			}
			if ok, known := conditionsHold(cond, tc.ctx, tc.vars); !known || ok != tc.want {
				t.Fatalf("conditionsHold = %v (known %v), want %v", ok, known, tc.want)
			}
		})
	}
}
