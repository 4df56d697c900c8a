package evaluate

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const (
	keyARN      = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	ownerRoot   = "arn:aws:iam::111122223333:root"
	ownerUser   = "arn:aws:iam::111122223333:user/alice"
	ownerRole   = "arn:aws:iam::111122223333:role/app"
	ownerSess   = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
	otherRoot   = "arn:aws:iam::444455556666:root"
	otherRole   = "arn:aws:iam::444455556666:role/ExampleRole"
	otherSess   = "arn:aws:sts::444455556666:assumed-role/ExampleRole/s1"
	otherUser   = "arn:aws:iam::444455556666:user/bob"
	thirdUser   = "arn:aws:iam::777788889999:user/eve"
	ec2Service  = "ec2.amazonaws.com"
	keyPolicyFm = `{"Version":"2012-10-17","Statement":[%s]}`
)

func mustParse(t testing.TB, s string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse policy: %v\n%s", err, s)
	}
	return d
}

// stmt builds one statement; principal is a JSON value or "" for none.
func stmt(effect, principal, action, resource, condition string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"Effect":%q`, effect)
	if principal != "" {
		fmt.Fprintf(&b, `,"Principal":%s`, principal)
	}
	fmt.Fprintf(&b, `,"Action":%s,"Resource":%s`, action, resource)
	if condition != "" {
		fmt.Fprintf(&b, `,"Condition":%s`, condition)
	}
	b.WriteString("}")
	return b.String()
}

func doc(stmts ...string) string { return fmt.Sprintf(keyPolicyFm, strings.Join(stmts, ",")) }

// Doc references (IAM User Guide unless noted):
//
//	[principal]    "AWS JSON policy elements: Principal"
//	[notprincipal] "AWS JSON policy elements: NotPrincipal"
//	[action]       "IAM JSON policy elements: Action" / "NotAction"
//	[resource]     "IAM JSON policy elements: Resource" / "NotResource"
//	[logic]        "Policy evaluation logic" (explicit deny wins; default deny)
//	[vars]         "IAM policy elements: Variables and tags"
//	[multi]        "Creating a condition with multiple context keys or values"
func TestPolicy(t *testing.T) {
	allowDecrypt := func(principal string) string {
		return doc(stmt("Allow", principal, `"kms:Decrypt"`, `"*"`, ""))
	}
	tests := map[string]struct {
		policy       string
		principal    string
		action       string
		resource     string
		ctx          map[string][]string
		unknown      []string
		want         Decision
		matched      []int
		delegates    bool
		reason       string // substring of some reason
		notEvaluated bool
	}{
		// [principal] "*" means every principal.
		"principal star": {policy: allowDecrypt(`"*"`), principal: thirdUser, want: Allow, matched: []int{0}},
		// [principal] {"AWS": "*"} is equivalent to "*".
		"principal AWS star": {policy: allowDecrypt(`{"AWS":"*"}`), principal: otherSess, want: Allow, matched: []int{0}},
		// [principal] An account ID means the account: any principal of it, delegated to its IAM.
		"account id covers role": {policy: allowDecrypt(`{"AWS":"444455556666"}`), principal: otherRole, want: Allow, matched: []int{0}, delegates: true},
		// [principal] The root ARN is the same as the account ID.
		"root ARN covers session": {policy: allowDecrypt(`{"AWS":"arn:aws:iam::444455556666:root"}`), principal: otherSess, want: Allow, matched: []int{0}, delegates: true,
			reason: `Statement[0] allows kms:Decrypt for arn:aws:iam::444455556666:root (the account of ` + otherSess + `)`},
		"root ARN is the root user itself": {policy: allowDecrypt(`{"AWS":"arn:aws:iam::444455556666:root"}`), principal: otherRoot, want: Allow, matched: []int{0}},
		"root ARN other account":           {policy: allowDecrypt(`{"AWS":"arn:aws:iam::444455556666:root"}`), principal: thirdUser, want: ImplicitDeny},
		"root ARN other partition":         {policy: allowDecrypt(`{"AWS":"arn:aws-cn:iam::444455556666:root"}`), principal: otherUser, want: ImplicitDeny},
		// [principal] A user ARN names exactly that user.
		"user ARN exact":      {policy: allowDecrypt(`{"AWS":["arn:aws:iam::111122223333:user/alice"]}`), principal: ownerUser, want: Allow, matched: []int{0}},
		"user ARN other user": {policy: allowDecrypt(`{"AWS":"arn:aws:iam::111122223333:user/alice"}`), principal: "arn:aws:iam::111122223333:user/mallory", want: ImplicitDeny},
		// [principal] A role ARN covers the role's assumed-role sessions.
		"role ARN covers session": {policy: allowDecrypt(`{"AWS":"arn:aws:iam::111122223333:role/app"}`), principal: ownerSess, want: Allow, matched: []int{0}},
		// Role with a path: the session ARN has no path; role names are unique per account.
		"role ARN with path covers session": {policy: allowDecrypt(`{"AWS":"arn:aws:iam::111122223333:role/team/x/app"}`), principal: ownerSess, want: Allow, matched: []int{0}},
		"role ARN other account same name":  {policy: allowDecrypt(`{"AWS":"arn:aws:iam::444455556666:role/app"}`), principal: ownerSess, want: ImplicitDeny},
		"role ARN other role":               {policy: allowDecrypt(`{"AWS":"arn:aws:iam::111122223333:role/other"}`), principal: ownerSess, want: ImplicitDeny},
		// [principal] A session ARN in a policy names that session only.
		"session ARN exact":        {policy: allowDecrypt(`{"AWS":"` + ownerSess + `"}`), principal: ownerSess, want: Allow, matched: []int{0}},
		"session ARN not the role": {policy: allowDecrypt(`{"AWS":"` + ownerSess + `"}`), principal: ownerRole, want: ImplicitDeny},
		// [principal] Service principals match only that service.
		"service principal":              {policy: allowDecrypt(`{"Service":"ec2.amazonaws.com"}`), principal: ec2Service, want: Allow, matched: []int{0}},
		"service principal not user":     {policy: allowDecrypt(`{"Service":"ec2.amazonaws.com"}`), principal: ownerUser, want: ImplicitDeny},
		"account does not cover service": {policy: allowDecrypt(`{"AWS":"111122223333"}`), principal: ec2Service, want: ImplicitDeny},
		"other service":                  {policy: allowDecrypt(`{"Service":["s3.amazonaws.com","logs.amazonaws.com"]}`), principal: ec2Service, want: ImplicitDeny},
		// [principal] Federated / CanonicalUser name only that identity.
		"federated": {policy: allowDecrypt(`{"Federated":"cognito-identity.amazonaws.com"}`), principal: ownerUser, want: ImplicitDeny},
		"canonical": {policy: allowDecrypt(`{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}`), principal: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", want: Allow, matched: []int{0}},
		// [notprincipal] NotPrincipal with Deny: every identity of the request (session, role,
		// account) must be listed to be exempt.
		"NotPrincipal exempts fully listed session": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"AWS":["`+ownerSess+`","arn:aws:iam::111122223333:role/app","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}`),
			principal: ownerSess, want: Allow, matched: []int{0}},
		"NotPrincipal role only still denies session": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:role/app"]},"Action":"kms:*","Resource":"*"}`),
			principal: ownerSess, want: ExplicitDeny, matched: []int{0, 1}},
		"NotPrincipal denies others": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"AWS":["`+ownerUser+`","111122223333"]},"Action":"kms:*","Resource":"*"}`),
			principal: otherUser, want: ExplicitDeny, matched: []int{0, 1}},
		"NotPrincipal exempts user and account": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"AWS":["`+ownerUser+`","111122223333"]},"Action":"kms:*","Resource":"*"}`),
			principal: ownerUser, want: Allow, matched: []int{0}},
		// [notprincipal] The root user is exempt when its account (or root ARN) is listed.
		"NotPrincipal exempts root by account": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`),
			principal: ownerRoot, want: Allow, matched: []int{0}},
		// [notprincipal] A service is exempt only when that service is listed.
		"NotPrincipal exempts listed service": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"Service":"ec2.amazonaws.com","AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`),
			principal: ec2Service, want: Allow, matched: []int{0}},
		"NotPrincipal denies unlisted service": {
			policy: doc(
				stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
				`{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`),
			principal: ec2Service, want: ExplicitDeny, matched: []int{0, 1}},
		// [principal] A request principal given as a bare account ID is that account's root.
		"request principal as account id": {policy: allowDecrypt(`{"AWS":"arn:aws:iam::444455556666:root"}`), principal: "444455556666", want: Allow, matched: []int{0}},
		// [principal] The best match of a list wins: the principal itself beats its account.
		"exact beats account in one list": {policy: allowDecrypt(`{"AWS":["444455556666","` + otherRole + `"]}`), principal: otherSess, want: Allow, matched: []int{0}},
		// [principal] Anonymous requests match only "*".
		"anonymous vs account": {policy: allowDecrypt(`{"AWS":"444455556666"}`), principal: "-", want: ImplicitDeny},
		// [principal] Identity policies have no Principal: they apply to the caller.
		"no principal applies to caller": {policy: doc(stmt("Allow", "", `["kms:Decrypt"]`, `"`+keyARN+`"`, "")), principal: otherRole, want: Allow, matched: []int{0}},
		// [action] Actions are case-insensitive and take * and ?.
		"action case-insensitive": {policy: doc(stmt("Allow", "", `"KMS:DECRYPT"`, `"*"`, "")), action: "kms:Decrypt", want: Allow, matched: []int{0}},
		"action star":             {policy: doc(stmt("Allow", "", `"kms:*"`, `"*"`, "")), action: "kms:ScheduleKeyDeletion", want: Allow, matched: []int{0}},
		"action prefix star":      {policy: doc(stmt("Allow", "", `"kms:ReEncrypt*"`, `"*"`, "")), action: "kms:ReEncryptFrom", want: Allow, matched: []int{0}},
		"action question":         {policy: doc(stmt("Allow", "", `"kms:?ecrypt"`, `"*"`, "")), action: "kms:Encrypt", want: ImplicitDeny},
		"action other service":    {policy: doc(stmt("Allow", "", `"s3:*"`, `"*"`, "")), action: "kms:Decrypt", want: ImplicitDeny},
		// [action] NotAction matches every action except those listed.
		"NotAction excludes": {policy: doc(`{"Effect":"Allow","NotAction":"kms:Schedule*","Resource":"*"}`), action: "kms:ScheduleKeyDeletion", want: ImplicitDeny},
		"NotAction includes": {policy: doc(`{"Effect":"Allow","NotAction":["kms:Schedule*"],"Resource":"*"}`), action: "kms:Decrypt", want: Allow, matched: []int{0}},
		// [resource] Resource ARNs with wildcards.
		"resource wildcard": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:111122223333:key/*"`, "")), want: Allow, matched: []int{0}},
		"resource other account": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:444455556666:key/*"`, "")), want: ImplicitDeny,
			reason: `Statement[0] would allow kms:Decrypt for ` + ownerUser + `, but Resource "arn:aws:kms:*:444455556666:key/*" does not cover ` + keyARN},
		"resource list":              {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `["arn:aws:kms:us-east-1:111122223333:alias/x","`+keyARN+`"]`, "")), want: Allow, matched: []int{0}},
		"resource star spans colons": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*"`, "")), want: Allow, matched: []int{0}},
		"resource case-sensitive":    {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"`+strings.ToUpper(keyARN)+`"`, "")), want: ImplicitDeny},
		"NotResource excludes":       {policy: doc(`{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:kms:*:111122223333:key/*"}`), want: ImplicitDeny},
		"NotResource includes":       {policy: doc(`{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:s3:::*"}`), want: Allow, matched: []int{0}},
		// [vars] A Resource whose variable has no value matches no resource.
		"resource variable without value": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:*:key/${aws:username}"`, "")), want: ImplicitDeny},
		// [vars] Substituted from the request (Version 2012-10-17).
		"resource variable substituted": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:*:key/${aws:username}"`, "")),
			resource: "arn:aws:kms:us-east-1:111122223333:key/alice", ctx: map[string][]string{"aws:username": {"alice"}}, want: Allow, matched: []int{0}},
		"resource variable other user": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:*:key/${aws:username}"`, "")),
			resource: "arn:aws:kms:us-east-1:111122223333:key/bob", ctx: map[string][]string{"aws:username": {"alice"}}, want: ImplicitDeny},
		// [vars] Without Version 2012-10-17 a variable is literal text.
		"resource variable literal in old version": {policy: `{"Version":"2008-10-17","Statement":[` + stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:*:key/${aws:username}"`, "") + `]}`,
			resource: "arn:aws:kms:us-east-1:111122223333:key/${aws:username}", ctx: map[string][]string{"aws:username": {"alice"}}, want: Allow, matched: []int{0}},
		// [vars] A variable the request carries but whose value is not known: not evaluated.
		"resource variable unknown": {policy: doc(stmt("Allow", "", `"kms:Decrypt"`, `"arn:aws:kms:*:*:key/${aws:PrincipalTag/team}"`, "")),
			unknown: []string{"aws:PrincipalTag/"}, want: ImplicitDeny, notEvaluated: true},
		// [vars] NotResource with a variable that has no value excludes nothing.
		"NotResource variable without value": {policy: doc(`{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:kms:*:*:key/${aws:username}"}`),
			want: Allow, matched: []int{0}},
		// [logic] Explicit deny wins over allow.
		"deny wins": {policy: doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""), stmt("Deny", `{"AWS":"444455556666"}`, `"kms:Decrypt"`, `"*"`, "")),
			principal: otherRole, want: ExplicitDeny, matched: []int{0, 1}, reason: "Statement[1] denies kms:Decrypt"},
		// [logic] Nothing matching is an implicit deny.
		"implicit deny": {policy: allowDecrypt(`{"AWS":"111122223333"}`), principal: otherRole, want: ImplicitDeny, reason: "no statement allows kms:Decrypt for " + otherRole},
		// A Deny that cannot be evaluated might apply: the allow is not confirmed (documented choice).
		"uncertain deny blocks allow": {policy: doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
			stmt("Deny", `"*"`, `"kms:*"`, `"*"`, `{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`)),
			unknown: []string{"aws:SourceVpce"}, want: ImplicitDeny, matched: []int{0}, notEvaluated: true, reason: "allow not confirmed"},
		"uncertain deny, definite false elsewhere": {policy: doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
			stmt("Deny", `"*"`, `"s3:*"`, `"*"`, `{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`)),
			unknown: []string{"aws:SourceVpce"}, want: Allow, matched: []int{0}},
		// [vars] A Deny whose variable has no value: StringNotEquals matches the null value, so
		// it applies (the IAM guide's "Access is explicitly denied when aws:principaltag/Team is
		// not set").
		"deny with variable without value": {policy: doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, ""),
			stmt("Deny", `"*"`, `"kms:*"`, `"*"`, `{"StringNotEquals":{"aws:PrincipalTag/owner":"${aws:username}"}}`)),
			ctx: map[string][]string{"aws:PrincipalTag/owner": {"bob"}}, want: ExplicitDeny, matched: []int{0, 1}},
		// [ops] An unknown operator is never a match for Allow.
		"unknown operator allow": {policy: doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, `{"StringSoundsLike":{"kms:ViaService":"x"}}`)),
			want: ImplicitDeny, notEvaluated: true},
		// [multi] Several keys in a block are ANDed.
		"condition keys ANDed, one fails": {policy: doc(stmt("Allow", `"*"`, `"kms:Decrypt"`, `"*"`,
			`{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`)),
			ctx: map[string][]string{"kms:CallerAccount": {"111122223333"}, "kms:ViaService": {"s3.us-east-1.amazonaws.com"}}, want: ImplicitDeny},
		"condition keys ANDed, all hold": {policy: doc(stmt("Allow", `"*"`, `"kms:Decrypt"`, `"*"`,
			`{"StringEquals":{"kms:CallerAccount":"111122223333"},"StringLike":{"kms:ViaService":"ec2.*.amazonaws.com"}}`)),
			ctx: map[string][]string{"KMS:CallerAccount": {"111122223333"}, "kms:viaservice": {"ec2.us-east-1.amazonaws.com"}}, want: Allow, matched: []int{0}},
		// A false condition decides even when another condition is not evaluable.
		"false beats unknown": {policy: doc(stmt("Allow", `"*"`, `"kms:Decrypt"`, `"*"`,
			`{"StringEquals":{"kms:CallerAccount":"999999999999"},"StringSoundsLike":{"k":"v"}}`)),
			ctx: map[string][]string{"kms:CallerAccount": {"111122223333"}}, want: ImplicitDeny},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := Request{PrincipalARN: tc.principal, Action: tc.action, Resource: tc.resource, Context: tc.ctx, Unknown: tc.unknown}
			switch req.PrincipalARN {
			case "":
				req.PrincipalARN = ownerUser
			case "-":
				req.PrincipalARN = ""
			}
			if req.Action == "" {
				req.Action = "kms:Decrypt"
			}
			if req.Resource == "" {
				req.Resource = keyARN
			}
			got := Policy(mustParse(t, tc.policy), req)
			if got.Decision != tc.want {
				t.Fatalf("decision = %s, want %s\n%+v", got.Decision, tc.want, got)
			}
			var idx []int
			for _, m := range got.Matched {
				idx = append(idx, m.Index)
			}
			if !reflect.DeepEqual(idx, tc.matched) {
				t.Errorf("matched = %v, want %v", idx, tc.matched)
			}
			if got.Delegates != tc.delegates {
				t.Errorf("delegates = %v, want %v", got.Delegates, tc.delegates)
			}
			if tc.reason != "" && !containsSub(got.Reasons, tc.reason) {
				t.Errorf("reasons %q lack %q", got.Reasons, tc.reason)
			}
			if (len(got.NotEvaluated) > 0) != tc.notEvaluated {
				t.Errorf("not_evaluated = %q, want non-empty %v", got.NotEvaluated, tc.notEvaluated)
			}
		})
	}
}

func containsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestPolicyReasonNamesSid(t *testing.T) {
	d := mustParse(t, doc(`{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`))
	got := Policy(d, Request{PrincipalARN: otherRoot, Action: "kms:Decrypt", Resource: keyARN})
	want := []string{`Statement[0] "Allow use of the key" allows kms:Decrypt for arn:aws:iam::444455556666:root`}
	if !reflect.DeepEqual(got.Reasons, want) {
		t.Fatalf("reasons = %q, want %q", got.Reasons, want)
	}
	if !reflect.DeepEqual(got.Matched, []Match{{Index: 0, Sid: "Allow use of the key", Effect: "Allow"}}) {
		t.Fatalf("matched = %+v", got.Matched)
	}
}

func TestPolicyNilDocument(t *testing.T) {
	got := Policy(nil, Request{PrincipalARN: ownerUser, Action: "kms:Decrypt", Resource: keyARN})
	if got.Decision != ImplicitDeny || got.Matched == nil || got.NotEvaluated == nil {
		t.Fatalf("got %+v", got)
	}
}
