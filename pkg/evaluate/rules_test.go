package evaluate

import (
	"slices"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// The AWS rules behind the cases below:
//
//	[denyallow]   IAM User Guide, "How AWS enforcement code logic evaluates requests": within an
//	              account, a resource policy granting a user ARN or a role-session ARN is not
//	              limited by an implicit deny in identity policies or the permissions boundary; one
//	              granting a role ARN is limited by an implicit deny in the boundary; KMS key
//	              policies must allow explicitly.
//	              https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
//	[crossacct]   IAM User Guide, "Cross-account policy evaluation logic": the identity side of the
//	              other account must allow too.
//	              https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
//	[boundaries]  IAM User Guide, "Permissions boundaries for IAM entities": a Deny with NotPrincipal
//	              always denies a principal that has a permissions boundary.
//	              https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
//	[putkeypol]   KMS API Reference, PutKeyPolicy: each statement must contain a principal; a
//	              statement without Resource or Action has no effect.
//	              https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
//	[notprinc]    IAM User Guide, "NotPrincipal": must be used with Deny; Allow is not supported.
//	              https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
//	[orgid]       IAM User Guide, global condition keys, aws:PrincipalOrgID / aws:PrincipalOrgPaths:
//	              included only if the principal is a member of an organization.
//	              https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid
func TestKMSRules(t *testing.T) {
	const (
		ownerRoleARN = "arn:aws:iam::111122223333:role/app"
		describeOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}`
		kmsUse       = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}`
	)
	allowTo := func(principal string) string {
		return stmt("Allow", principal, `["kms:Decrypt","kms:DescribeKey"]`, `"*"`, "")
	}
	orgGuard := stmt("Deny", `"*"`, `"kms:*"`, `"*"`, `{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`)
	tests := map[string]struct {
		keyPolicy    string
		principal    string
		action       string // default kms:Decrypt
		identity     []string
		boundary     string
		unknownID    bool // IdentityKnown false
		org          *Org // the request is EC2's (EC2Request) with this org; nil and ec2 false: no context
		ec2          bool
		want         Decision
		missing      []string
		notEvaluated string // substring of a not_evaluated entry
		ineffective  string // substring of a key-policy ineffective entry
	}{
		// Rule 1 [denyallow]: no identity policies means none; unknown identity is never allow
		// where AWS requires it.
		"delegated, no identity policies": {keyPolicy: doc(allowTo(`{"AWS":"111122223333"}`)), principal: ownerUser,
			want: ImplicitDeny, missing: []string{"identity"}},
		"delegated, identity unknown": {keyPolicy: doc(allowTo(`{"AWS":"111122223333"}`)), principal: ownerUser, unknownID: true,
			want: ImplicitDeny, missing: []string{}, notEvaluated: "AWS requires them for this request, so the allow is not confirmed"},
		"user named, identity unknown": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerUser + `"}`)), principal: ownerUser, unknownID: true,
			want: Allow, missing: []string{}, notEvaluated: "not read: service control policies"},
		"role named, identity unknown": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerRoleARN + `"}`)), principal: ownerSess, unknownID: true,
			want: ImplicitDeny, missing: []string{}, notEvaluated: "AWS requires them"},

		// Rule 2 [putkeypol]: statements AWS never applies.
		"statement without Principal": {keyPolicy: doc(stmt("Allow", "", `"kms:*"`, `"*"`, "")), principal: ownerRoot,
			want: ImplicitDeny, missing: []string{"key-policy"}, ineffective: "Statement[0]: it has no Principal"},
		"statement without Resource": {keyPolicy: doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*"}`), principal: ownerRoot,
			want: ImplicitDeny, missing: []string{"key-policy"}, ineffective: "Statement[0]: it has no Resource: it has no effect"},
		"statement without Action": {keyPolicy: doc(`{"Effect":"Allow","Principal":"*","Resource":"*"}`), principal: ownerRoot,
			want: ImplicitDeny, missing: []string{"key-policy"}, ineffective: "Statement[0]: it has no Action"},
		"deny without Resource does not deny": {keyPolicy: doc(allowTo(`"*"`), `{"Effect":"Deny","Principal":"*","Action":"kms:*"}`), principal: ownerRoot,
			want: Allow, missing: []string{}, ineffective: "Statement[1]: it has no Resource"},

		// Rule 3 [notprinc]: Allow with NotPrincipal grants nothing, and says so.
		"Allow NotPrincipal other principal": {keyPolicy: doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"` + otherUser + `"},"Action":"kms:*","Resource":"*"}`),
			principal: ownerUser, identity: []string{kmsUse}, want: ImplicitDeny, missing: []string{"key-policy"},
			notEvaluated: "Allow with NotPrincipal is not supported"},
		"Allow NotPrincipal listed principal": {keyPolicy: doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"` + otherUser + `"},"Action":"kms:*","Resource":"*"}`),
			principal: otherUser, identity: []string{kmsUse}, want: ImplicitDeny, missing: []string{"key-policy"}},

		// Rule 4 [denyallow]: permissions boundaries and key-policy grants.
		"user ARN granted, boundary blocks nothing": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerUser + `"}`)), principal: ownerUser,
			boundary: describeOnly, want: Allow, missing: []string{}},
		"session ARN granted, boundary blocks nothing": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerSess + `"}`)), principal: ownerSess,
			boundary: describeOnly, want: Allow, missing: []string{}},
		"role ARN granted, boundary limits": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerRoleARN + `"}`)), principal: ownerSess,
			boundary: describeOnly, want: ImplicitDeny, missing: []string{"identity"}},
		"role ARN granted, boundary allows, no identity policy": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerRoleARN + `"}`)), principal: ownerSess,
			action: "kms:DescribeKey", boundary: describeOnly, want: Allow, missing: []string{}},
		"role ARN granted, no boundary": {keyPolicy: doc(allowTo(`{"AWS":"` + ownerRoleARN + `"}`)), principal: ownerSess,
			want: Allow, missing: []string{}},
		"star with aws:PrincipalArn, boundary blocks nothing": {keyPolicy: doc(stmt("Allow", `"*"`, `"kms:Decrypt"`, `"*"`,
			`{"ArnLike":{"aws:PrincipalArn":"`+ownerRoleARN+`"}}`)), principal: ownerSess, boundary: describeOnly, ec2: true, org: &Org{},
			want: Allow, missing: []string{}},
		"other account user named, boundary applies": {keyPolicy: doc(allowTo(`{"AWS":"` + otherUser + `"}`)), principal: otherUser,
			identity: []string{kmsUse}, boundary: describeOnly, want: ImplicitDeny, missing: []string{"identity"}},
		"other account user named, boundary allows": {keyPolicy: doc(allowTo(`{"AWS":"` + otherUser + `"}`)), principal: otherUser,
			action: "kms:DescribeKey", identity: []string{kmsUse}, boundary: describeOnly, want: Allow, missing: []string{}},
		"other account user named, no identity policy": {keyPolicy: doc(allowTo(`{"AWS":"` + otherUser + `"}`)), principal: otherUser,
			want: ImplicitDeny, missing: []string{"identity"}},
		// [boundaries] A Deny with NotPrincipal denies a principal with a boundary even if listed.
		"NotPrincipal deny with boundary": {keyPolicy: doc(allowTo(`{"AWS":"`+ownerUser+`"}`),
			`{"Effect":"Deny","NotPrincipal":{"AWS":["`+ownerUser+`","111122223333"]},"Action":"kms:*","Resource":"*"}`), principal: ownerUser,
			identity: []string{kmsUse}, boundary: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
			want: ExplicitDeny, missing: []string{"key-policy"}},
		"NotPrincipal deny without boundary": {keyPolicy: doc(allowTo(`{"AWS":"`+ownerUser+`"}`),
			`{"Effect":"Deny","NotPrincipal":{"AWS":["`+ownerUser+`","111122223333"]},"Action":"kms:*","Resource":"*"}`), principal: ownerUser,
			want: Allow, missing: []string{}},

		// Rule 7 [orgid]: the organization of the target account, when known.
		"org guard, member": {keyPolicy: doc(allowTo(`{"AWS":"`+otherRoot+`"}`), orgGuard), principal: otherRoot, identity: []string{kmsUse},
			ec2: true, org: &Org{ID: "o-a1b2c3d4e5"}, want: Allow, missing: []string{}},
		"org guard, other organization": {keyPolicy: doc(allowTo(`{"AWS":"`+otherRoot+`"}`), orgGuard), principal: otherRoot, identity: []string{kmsUse},
			ec2: true, org: &Org{ID: "o-zzzzzzzzzz"}, want: ExplicitDeny, missing: []string{"key-policy"}},
		"org guard, no organization": {keyPolicy: doc(allowTo(`{"AWS":"`+otherRoot+`"}`), orgGuard), principal: otherRoot, identity: []string{kmsUse},
			ec2: true, org: &Org{}, want: ExplicitDeny, missing: []string{"key-policy"}},
		"org guard, organization unknown": {keyPolicy: doc(allowTo(`{"AWS":"`+otherRoot+`"}`), orgGuard), principal: otherRoot, identity: []string{kmsUse},
			ec2: true, want: ImplicitDeny, missing: []string{},
			notEvaluated: "aws:PrincipalOrgID: the request carries aws:PrincipalOrgID but its value is not known"},
		"org-wide allow, member": {keyPolicy: doc(stmt("Allow", `"*"`, `["kms:Decrypt","kms:DescribeKey"]`, `"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`)),
			principal: otherRoot, identity: []string{kmsUse}, ec2: true, org: &Org{ID: "o-a1b2c3d4e5"}, want: Allow, missing: []string{}},
		"org-wide allow, unknown": {keyPolicy: doc(stmt("Allow", `"*"`, `["kms:Decrypt","kms:DescribeKey"]`, `"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`)),
			principal: otherRoot, identity: []string{kmsUse}, ec2: true, want: ImplicitDeny, missing: []string{"key-policy"},
			notEvaluated: "(Allow, not counted): condition StringEquals aws:PrincipalOrgID"},
		"org paths, known": {keyPolicy: doc(stmt("Allow", `"*"`, `"kms:Decrypt"`, `"*"`, `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}`)),
			principal: otherRoot, identity: []string{kmsUse}, ec2: true, org: &Org{ID: "o-a1b2c3d4e5", Paths: []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"}},
			want: Allow, missing: []string{}},
		"org paths, not known": {keyPolicy: doc(stmt("Allow", `"*"`, `"kms:Decrypt"`, `"*"`, `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}`)),
			principal: otherRoot, identity: []string{kmsUse}, ec2: true, org: &Org{ID: "o-a1b2c3d4e5"}, want: ImplicitDeny, missing: []string{"key-policy"},
			notEvaluated: "aws:PrincipalOrgPaths"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			action := tc.action
			if action == "" {
				action = "kms:Decrypt"
			}
			req := Request{PrincipalARN: tc.principal, Action: action, Resource: keyARN}
			if tc.ec2 {
				req = EC2Request(keyARN, tc.principal, action, tc.org)
			}
			in := KMSInput{KeyPolicy: mustParse(t, tc.keyPolicy), KeyAccount: "111122223333", IdentityKnown: !tc.unknownID, Request: req}
			for _, s := range tc.identity {
				in.IdentityPolicies = append(in.IdentityPolicies, mustParse(t, s))
			}
			if tc.boundary != "" {
				in.Boundary = mustParse(t, tc.boundary)
			}
			got := KMS(in)
			dump := checkKMS(t, got, tc.want, tc.missing)
			if tc.notEvaluated != "" && !containsSub(got.NotEvaluated, tc.notEvaluated) {
				t.Errorf("not_evaluated lacks %q\n%s", tc.notEvaluated, dump)
			}
			if tc.ineffective != "" && !containsSub(got.KeyPolicy.Ineffective, tc.ineffective) {
				t.Errorf("ineffective lacks %q\n%s", tc.ineffective, dump)
			}
			if !containsSub(got.NotEvaluated, neverEvaluated) {
				t.Errorf("not_evaluated does not name the policy types never read\n%s", dump)
			}
		})
	}
}

// [putkeypol] An identity policy statement has no Principal and applies to its caller; in a key
// policy the same statement is invalid.
func TestPrincipalRequiredOnlyInKeyPolicies(t *testing.T) {
	d := mustParse(t, doc(stmt("Allow", "", `"kms:Decrypt"`, `"*"`, "")))
	req := Request{PrincipalARN: ownerUser, Action: "kms:Decrypt", Resource: keyARN}
	if got := Policy(d, req); got.Decision != Allow || len(got.Ineffective) != 0 {
		t.Fatalf("identity policy: %+v", got)
	}
	if got := KeyPolicy(d, req); got.Decision != ImplicitDeny || !containsSub(got.Ineffective, "no Principal") {
		t.Fatalf("key policy: %+v", got)
	}
}

// KeyPolicyDecisionAdding reads an extension without making it: the result is what the edited
// document gives.
func TestKeyPolicyDecisionAdding(t *testing.T) {
	src := doc(stmt("Allow", `{"AWS":"arn:aws:iam::777788889999:root"}`, `["kms:Decrypt"]`, `"*"`, `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`))
	d := mustParse(t, src)
	for name, tc := range map[string]struct {
		req  Request
		want Decision
	}{
		"via EC2":        {EC2Request(keyARN, otherRoot, "kms:Decrypt", nil), Allow},
		"direct":         {Request{PrincipalARN: otherRoot, Action: "kms:Decrypt", Resource: keyARN}, ImplicitDeny},
		"other action":   {EC2Request(keyARN, otherRoot, "kms:Encrypt", nil), ImplicitDeny},
		"other region":   {EC2Request("arn:aws:kms:eu-west-1:111122223333:key/k", otherRoot, "kms:Decrypt", nil), ImplicitDeny},
		"third account":  {EC2Request(keyARN, "arn:aws:iam::999988887777:user/x", "kms:Decrypt", nil), ImplicitDeny},
		"session of 444": {EC2Request(keyARN, otherSess, "kms:Decrypt", nil), Allow},
	} {
		t.Run(name, func(t *testing.T) {
			got := KeyPolicyDecisionAdding(d, 0, otherRoot, tc.req)
			if got != tc.want {
				t.Fatalf("KeyPolicyDecisionAdding = %s, want %s", got, tc.want)
			}
			// The same as evaluating the edited document.
			edited := mustParse(t, src)
			if err := edited.AppendStrings(0, []string{"Principal", "AWS"}, otherRoot); err != nil {
				t.Fatal(err)
			}
			if real := KeyPolicy(edited, tc.req); real.Decision != got || KeyPolicyDecision(edited, tc.req) != got {
				t.Fatalf("edited document gives %s, KeyPolicyDecisionAdding %s", real.Decision, got)
			}
		})
	}
	if got := KeyPolicy(d, EC2Request(keyARN, otherRoot, "kms:Decrypt", nil)); got.Decision != ImplicitDeny {
		t.Fatalf("without the extension: %s", got.Decision)
	}
}

// EC2Request carries what AWS sends with EC2's requests (IAM "Forward access sessions", global
// condition keys, KMS condition keys) and marks what cannot be known.
func TestEC2Request(t *testing.T) {
	get := func(r Request, k string) ([]string, keyState) {
		doc, _ := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[]}`))
		rq := prepare(r, doc, options{})
		return rq.lookup(k)
	}
	type want struct {
		key    string
		state  keyState
		values []string
	}
	tests := map[string]struct {
		req  Request
		want []want
	}{
		"session, CreateGrant, member": {EC2Request(keyARN, otherSess, "kms:CreateGrant", &Org{ID: "o-1", Paths: []string{"o-1/r-1/"}}), []want{
			{"kms:ViaService", keyPresent, []string{"ec2.us-east-1.amazonaws.com"}},
			{"kms:CallerAccount", keyPresent, []string{"444455556666"}},
			{"aws:PrincipalArn", keyPresent, []string{"arn:aws:iam::444455556666:role/ExampleRole"}},
			{"aws:PrincipalType", keyPresent, []string{"AssumedRole"}},
			{"aws:RequestedRegion", keyPresent, []string{"us-east-1"}},
			{"aws:ResourceAccount", keyPresent, []string{"111122223333"}},
			{"aws:PrincipalIsAWSService", keyPresent, []string{"false"}},
			{"kms:GrantIsForAWSResource", keyPresent, []string{"true"}},
			{"aws:PrincipalOrgID", keyPresent, []string{"o-1"}},
			{"aws:PrincipalOrgPaths", keyPresent, []string{"o-1/r-1/"}},
			{"aws:username", keyAbsent, nil},
			{"aws:userid", keyUnknown, nil},
			{"aws:PrincipalTag/team", keyUnknown, nil},
			{"kms:EncryptionContext:aws:ebs:id", keyUnknown, nil},
			{"kms:GranteePrincipal", keyUnknown, nil},
			{"aws:SourceIp", keyUnknown, nil},
			{"aws:SourceArn", keyAbsent, nil},
			{"kms:RecipientAttestation:PCR0", keyAbsent, nil},
			{"s3:prefix", keyAbsent, nil},
		}},
		"user, Decrypt, no organization": {EC2Request(keyARN, otherUser, "kms:Decrypt", &Org{}), []want{
			{"aws:username", keyPresent, []string{"bob"}},
			{"aws:PrincipalType", keyPresent, []string{"User"}},
			{"kms:GrantIsForAWSResource", keyAbsent, nil},
			{"kms:GranteePrincipal", keyAbsent, nil},
			{"aws:PrincipalOrgID", keyAbsent, nil},
			{"aws:PrincipalOrgPaths", keyAbsent, nil},
		}},
		"root, ListGrants, organization unknown": {EC2Request(keyARN, otherRoot, "kms:ListGrants", nil), []want{
			{"aws:PrincipalArn", keyPresent, []string{otherRoot}},
			{"aws:PrincipalType", keyPresent, []string{"Account"}},
			{"aws:userid", keyPresent, []string{"444455556666"}},
			{"kms:GrantIsForAWSResource", keyPresent, []string{"true"}},
			{"aws:PrincipalOrgID", keyUnknown, nil},
			{"aws:PrincipalOrgPaths", keyUnknown, nil},
		}},
		"member, paths unknown": {EC2Request(keyARN, otherRoot, "kms:Decrypt", &Org{ID: "o-1"}), []want{
			{"aws:PrincipalOrgID", keyPresent, []string{"o-1"}},
			{"aws:PrincipalOrgPaths", keyUnknown, nil},
		}},
		"key unknown": {EC2Request("", otherRoot, "kms:Decrypt", nil), []want{
			{"kms:ViaService", keyUnknown, nil},
			{"aws:RequestedRegion", keyUnknown, nil},
			{"aws:ResourceAccount", keyUnknown, nil},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, w := range tc.want {
				v, st := get(tc.req, w.key)
				if st != w.state || !slices.Equal(v, w.values) {
					t.Errorf("%s = %q (state %d), want %q (state %d)", w.key, v, st, w.values, w.state)
				}
			}
		})
	}
	// Requests do not share their Unknown lists.
	a := EC2Request(keyARN, otherUser, "kms:Decrypt", nil)
	b := EC2Request("", otherRoot, "kms:Decrypt", nil)
	if slices.Contains(a.Unknown, "kms:ViaService") || !slices.Contains(b.Unknown, "kms:ViaService") {
		t.Fatalf("unknown lists shared: %q / %q", a.Unknown, b.Unknown)
	}
	if !strings.HasPrefix(a.Resource, "arn:aws:kms:") || a.Action != "kms:Decrypt" {
		t.Fatalf("request %+v", a)
	}
}
