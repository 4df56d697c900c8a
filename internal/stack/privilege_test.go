package stack

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// The roles' guardrails, proven with the project's own policy engine: the role policies are read
// from template.yaml and member-account.yaml, resolved as CloudFormation would deploy them (for a
// given set of parameters), and evaluated with pkg/evaluate against the requests a compromised
// function could make. Each assertion is shown to be able to fail: a loosened template (the
// lockout Deny dropped, a free attach permission, AssumeRole in any account, the all-keys scope)
// makes it fail, while the real templates pass.

const (
	proofCentral  = "111122223333"
	proofMember   = "444455556666"
	proofWatched  = "777788889999"
	proofOutsider = "999900001111"
	proofOrg      = "o-aaaaaaaaaa"
	proofOtherOrg = "o-bbbbbbbbbb"
	proofRegion   = "us-east-1"
)

// cfnScope resolves a template's intrinsic functions for one deployment: its parameters (the
// defaults, with overrides) and pseudo parameters. Resources referenced by Ref or Fn::GetAtt
// resolve to placeholders that no request names.
type cfnScope struct {
	t     *testing.T
	tpl   template
	refs  map[string]string
	conds map[string]any
}

var noValue = struct{}{}

func newScope(t *testing.T, tpl template, account string, overrides map[string]string) *cfnScope {
	t.Helper()
	refs := map[string]string{"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": proofRegion,
		"AWS::StackName": "ami-kms-remediator", "AWS::URLSuffix": "amazonaws.com"}
	params, _ := tpl["Parameters"].(map[string]any)
	for name, p := range params {
		if d := dig(p, "Default"); d != nil {
			refs[name] = fmt.Sprint(d)
		}
	}
	for k, v := range overrides {
		if _, ok := params[k]; !ok {
			t.Fatalf("override %s: the template has no such parameter", k)
		}
		refs[k] = v
	}
	for name := range params {
		if _, ok := refs[name]; !ok {
			t.Fatalf("parameter %s has no default and no override", name)
		}
	}
	conds, _ := tpl["Conditions"].(map[string]any)
	return &cfnScope{t: t, tpl: tpl, refs: refs, conds: conds}
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (c *cfnScope) resolve(v any) any {
	c.t.Helper()
	switch x := v.(type) {
	case []any:
		out := []any{}
		for _, e := range x {
			if r := c.resolve(e); r != noValue {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if r, ok := c.intrinsic(k, arg); ok {
					return r
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			if r := c.resolve(e); r != noValue {
				out[k] = r
			}
		}
		return out
	}
	return v
}

func (c *cfnScope) str(v any) string {
	c.t.Helper()
	s, ok := c.resolve(v).(string)
	if !ok {
		c.t.Fatalf("%s does not resolve to a string", mustJSON(c.t, v))
	}
	return s
}

func (c *cfnScope) intrinsic(name string, arg any) (any, bool) {
	c.t.Helper()
	resources, _ := c.tpl["Resources"].(map[string]any)
	switch name {
	case "Ref":
		ref := fmt.Sprint(arg)
		if ref == "AWS::NoValue" {
			return noValue, true
		}
		if v, ok := c.refs[ref]; ok {
			return v, true
		}
		if _, ok := resources[ref]; ok {
			return "placeholder-" + ref, true
		}
		c.t.Fatalf("Ref %s: no parameter or resource", ref)
	case "Fn::GetAtt":
		l, _ := arg.([]any)
		return fmt.Sprintf("arn:aws:placeholder:::%v/%v", l...), true
	case "Fn::Sub":
		body, vars := arg, map[string]any{}
		if l, ok := arg.([]any); ok && len(l) == 2 {
			body, _ = l[0], l[1]
			m, _ := l[1].(map[string]any)
			for k, e := range m {
				vars[k] = c.str(e)
			}
		}
		s, _ := body.(string)
		return subVar.ReplaceAllStringFunc(s, func(m string) string {
			name := m[2 : len(m)-1]
			switch {
			case strings.HasPrefix(name, "!"):
				return "${" + name[1:] + "}"
			case vars[name] != nil:
				return fmt.Sprint(vars[name])
			case hasKey(c.refs, name):
				return c.refs[name]
			case strings.Contains(name, "."):
				return "arn:aws:placeholder:::" + strings.Replace(name, ".", "/", 1)
			}
			if _, ok := resources[name]; ok {
				return "placeholder-" + name
			}
			c.t.Fatalf("Fn::Sub %q: ${%s} is not defined", s, name)
			return ""
		}), true
	case "Fn::If":
		l, _ := arg.([]any)
		if len(l) != 3 {
			c.t.Fatalf("Fn::If %s", mustJSON(c.t, arg))
		}
		if evalCondition(c.t, c.conds, c.conds[fmt.Sprint(l[0])], c.refs) {
			return c.resolve(l[1]), true
		}
		return c.resolve(l[2]), true
	case "Fn::Split":
		l, _ := arg.([]any)
		parts := strings.Split(c.str(l[1]), fmt.Sprint(l[0]))
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, true
	case "Fn::Join":
		l, _ := arg.([]any)
		var parts []string
		for _, e := range c.resolve(l[1]).([]any) {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, fmt.Sprint(l[0])), true
	}
	return nil, false
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// rolePolicies returns every policy document the template gives a role as deployed in scope,
// each as JSON: its inline Policies, and the AWS::IAM::RolePolicy, AWS::IAM::Policy and
// AWS::IAM::ManagedPolicy resources that name it. A managed policy ARN (whose content the
// template does not hold) cannot be proven and fails the test.
func (c *cfnScope) rolePolicies(roleID string) []map[string]any {
	c.t.Helper()
	role := c.tpl.resource(c.t, roleID, "AWS::IAM::Role")
	if role["ManagedPolicyArns"] != nil || role["PermissionsBoundary"] != nil {
		c.t.Fatalf("%s has managed policies or a boundary the template does not hold: they cannot be evaluated", roleID)
	}
	var out []map[string]any
	for _, p := range c.resolve(role["Policies"]).([]any) {
		doc, _ := dig(p, "PolicyDocument").(map[string]any)
		out = append(out, doc)
	}
	names := func(v any) bool {
		for _, r := range append([]any{v}, listOf(v)...) {
			if ref, ok := dig(r, "Ref").(string); ok && ref == roleID {
				return true
			}
		}
		return false
	}
	resources, _ := c.tpl["Resources"].(map[string]any)
	for id, r := range resources {
		props, _ := dig(r, "Properties").(map[string]any)
		switch dig(r, "Type") {
		case "AWS::IAM::RolePolicy":
			if !names(props["RoleName"]) {
				continue
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			if !names(props["Roles"]) {
				continue
			}
		default:
			continue
		}
		if cond, ok := dig(r, "Condition").(string); ok && !evalCondition(c.t, c.conds, c.conds[cond], c.refs) {
			continue
		}
		doc, ok := c.resolve(props["PolicyDocument"]).(map[string]any)
		if !ok {
			c.t.Fatalf("%s: no PolicyDocument", id)
		}
		out = append(out, doc)
	}
	return out
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// deployed is one role as one deployment leaves it.
type deployed struct {
	name     string
	account  string // the role's account
	docs     []map[string]any
	ownRoles []string // the remediator's own roles (never to be changed by it)
}

func (d deployed) parsed(t *testing.T) []*policy.Document {
	t.Helper()
	var out []*policy.Document
	for _, doc := range d.docs {
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Parse(raw)
		if err != nil {
			t.Fatalf("%s: a role policy does not parse: %v\n%s", d.name, err, raw)
		}
		out = append(out, p)
	}
	return out
}

// decide combines the role's identity policies as IAM does for one principal: an explicit Deny in
// any wins, else an Allow in any.
func (d deployed) decide(t *testing.T, req evaluate.Request) evaluate.Decision {
	t.Helper()
	req.PrincipalARN = "arn:aws:sts::" + d.account + ":assumed-role/remediator/session"
	out := evaluate.ImplicitDeny
	for _, doc := range d.parsed(t) {
		switch evaluate.Policy(doc, req).Decision {
		case evaluate.ExplicitDeny:
			return evaluate.ExplicitDeny
		case evaluate.Allow:
			out = evaluate.Allow
		}
	}
	return out
}

// statements are the deployed role's statements.
func (d deployed) statements() []map[string]any {
	var out []map[string]any
	for _, doc := range d.docs {
		switch st := doc["Statement"].(type) {
		case []any:
			for _, s := range st {
				if m, ok := s.(map[string]any); ok {
					out = append(out, m)
				}
			}
		case map[string]any:
			out = append(out, st)
		}
	}
	return out
}

func keyReq(account, action string, ctx map[string][]string) evaluate.Request {
	return evaluate.Request{Action: action, Resource: "arn:aws:kms:" + proofRegion + ":" + account + ":key/1234abcd-12ab-34cd-56ef-1234567890ab", Context: ctx}
}

// The guardrails, each an assertion about one deployed role (role: only that one; "" both).
type guardrail struct {
	name  string
	check func(t *testing.T, d deployed) error
	role  string
}

// launchGrantOps are EC2's operations, those of the grants the remediator creates.
var launchGrantOps = []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}

// grantReq is a CreateGrant on a key of keyAccount for grantee with ops, the key tagged
// ami-kms-remediator=tag ("" for no such tag).
func grantReq(keyAccount, grantee string, ops []string, tag string) evaluate.Request {
	ctx := map[string][]string{"kms:GranteePrincipal": {grantee}, "kms:GrantOperations": ops}
	if tag != "" {
		ctx["aws:ResourceTag/ami-kms-remediator"] = []string{tag}
	}
	return keyReq(keyAccount, "kms:CreateGrant", ctx)
}

var guardrails = []guardrail{
	{name: "PutKeyPolicy on a key that has not opted in is denied under the default scope", check: func(t *testing.T, d deployed) error {
		untagged := keyReq(d.account, "kms:PutKeyPolicy", map[string][]string{"kms:BypassPolicyLockoutSafetyCheck": {"false"}})
		if got := d.decide(t, untagged); got == evaluate.Allow {
			return fmt.Errorf("PutKeyPolicy on an untagged key: %s", got)
		}
		otherTag := keyReq(d.account, "kms:PutKeyPolicy", map[string][]string{"kms:BypassPolicyLockoutSafetyCheck": {"false"},
			"aws:ResourceTag/ami-kms-remediator": {"something-else"}})
		if got := d.decide(t, otherTag); got == evaluate.Allow {
			return fmt.Errorf("PutKeyPolicy on a key tagged ami-kms-remediator=something-else: %s", got)
		}
		return nil
	}},
	{name: "PutKeyPolicy on an opted-in key of this account is allowed (the job)", check: func(t *testing.T, d deployed) error {
		tagged := keyReq(d.account, "kms:PutKeyPolicy", map[string][]string{"kms:BypassPolicyLockoutSafetyCheck": {"false"},
			"aws:ResourceTag/ami-kms-remediator": {"managed"}})
		if got := d.decide(t, tagged); got != evaluate.Allow {
			return fmt.Errorf("PutKeyPolicy on an opted-in key: %s", got)
		}
		if got := d.decide(t, keyReq(proofOutsider, "kms:PutKeyPolicy", tagged.Context)); got == evaluate.Allow {
			return fmt.Errorf("PutKeyPolicy on another account's key: %s", got)
		}
		return nil
	}},
	{name: "PutKeyPolicy with the lockout bypass is denied, opted in or not", check: func(t *testing.T, d deployed) error {
		for _, tags := range [][]string{{"managed"}, nil} {
			ctx := map[string][]string{"kms:BypassPolicyLockoutSafetyCheck": {"true"}}
			if tags != nil {
				ctx["aws:ResourceTag/ami-kms-remediator"] = tags
			}
			if got := d.decide(t, keyReq(d.account, "kms:PutKeyPolicy", ctx)); got != evaluate.ExplicitDeny {
				return fmt.Errorf("PutKeyPolicy with BypassPolicyLockoutSafetyCheck (tags %v): %s, want explicit-deny", tags, got)
			}
		}
		return nil
	}},
	{name: "no statement allows writing IAM policy content", check: func(t *testing.T, d deployed) error {
		writes := []string{"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:PutRolePolicy",
			"iam:PutUserPolicy", "iam:PutGroupPolicy", "iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:PassRole"}
		for _, s := range d.statements() {
			if s["Effect"] != "Allow" {
				continue
			}
			for _, pattern := range stringList(s["Action"]) {
				for _, a := range writes {
					if policy.WildcardMatchFold(pattern, a) {
						return fmt.Errorf("statement %v allows %s (as %s)", s["Sid"], a, pattern)
					}
				}
			}
		}
		for _, a := range writes {
			for _, res := range []string{"arn:aws:iam::" + d.account + ":policy/KmsKeyUsagePolicy", "arn:aws:iam::" + d.account + ":role/app",
				"arn:aws:iam::" + d.account + ":user/app", "*"} {
				if got := d.decide(t, evaluate.Request{Action: a, Resource: res}); got != evaluate.ExplicitDeny {
					return fmt.Errorf("%s on %s: %s, want explicit-deny", a, res, got)
				}
			}
		}
		return nil
	}},
	{name: "attaching any policy to anyone is denied", check: func(t *testing.T, d deployed) error {
		for _, p := range []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::" + d.account + ":policy/KmsKeyUsagePolicy"} {
			for _, a := range []string{"iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:AttachGroupPolicy"} {
				for _, who := range []string{"role/app", "user/app", "group/admins"} {
					req := evaluate.Request{Action: a, Resource: "arn:aws:iam::" + d.account + ":" + who, Context: map[string][]string{"iam:PolicyARN": {p}}}
					if got := d.decide(t, req); got != evaluate.ExplicitDeny {
						return fmt.Errorf("%s of %s to %s: %s, want explicit-deny", a, p, who, got)
					}
				}
			}
		}
		return nil
	}},
	{name: "the remediator's own roles cannot be changed", check: func(t *testing.T, d deployed) error {
		for _, role := range d.ownRoles {
			for _, a := range []string{"iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRolePolicy",
				"iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:TagRole"} {
				req := evaluate.Request{Action: a, Resource: role, Context: map[string][]string{"iam:PolicyARN": {"arn:aws:iam::aws:policy/AdministratorAccess"}}}
				if got := d.decide(t, req); got != evaluate.ExplicitDeny {
					return fmt.Errorf("%s on %s: %s, want explicit-deny", a, role, got)
				}
			}
		}
		return nil
	}},
	{name: "CreateGrant only for this account's users and roles, with EC2's operations, on an opted-in key", role: "member role", check: func(t *testing.T, d deployed) error {
		role := "arn:aws:iam::" + d.account + ":role/app"
		job := grantReq(proofCentral, role, launchGrantOps, "managed")
		if got := d.decide(t, job); got != evaluate.Allow {
			return fmt.Errorf("the launch grant for %s on an opted-in key: %s (the job)", role, got)
		}
		user := grantReq(proofCentral, "arn:aws:iam::"+d.account+":user/ops/alice", launchGrantOps, "managed")
		if got := d.decide(t, user); got != evaluate.Allow {
			return fmt.Errorf("the launch grant for a user: %s (the job)", got)
		}
		for what, req := range map[string]evaluate.Request{
			"another account's principal":             grantReq(proofCentral, "arn:aws:iam::"+proofOutsider+":role/app", launchGrantOps, "managed"),
			"another account's root":                  grantReq(proofCentral, "arn:aws:iam::"+proofOutsider+":root", launchGrantOps, "managed"),
			"an operation beyond EC2's (RetireGrant)": grantReq(proofCentral, role, append(slices.Clone(launchGrantOps), "RetireGrant"), "managed"),
			"a signing operation":                     grantReq(proofCentral, role, []string{"Decrypt", "Sign"}, "managed"),
			"a key that has not opted in":             grantReq(proofCentral, role, launchGrantOps, ""),
			"a key tagged otherwise":                  grantReq(proofCentral, role, launchGrantOps, "no"),
		} {
			if got := d.decide(t, req); got == evaluate.Allow {
				return fmt.Errorf("CreateGrant for %s: %s", what, got)
			}
		}
		return nil
	}},
	{name: "CreateGrant never for the member role, an Identity Center role or a service-linked role that does not launch", role: "member role", check: func(t *testing.T, d deployed) error {
		for _, grantee := range []string{
			"arn:aws:iam::" + d.account + ":role/ami-kms-remediator-member",
			"arn:aws:iam::" + d.account + ":role/team/ami-kms-remediator-member",
			"arn:aws:iam::" + d.account + ":role/aws-reserved/sso.amazonaws.com/eu-west-2/AWSReservedSSO_Admin_0123456789abcdef",
			"arn:aws:iam::" + d.account + ":role/AWSReservedSSO_Admin_0123456789abcdef",
			"arn:aws:iam::" + d.account + ":role/aws-service-role/elasticmapreduce.amazonaws.com/AWSServiceRoleForEMRCleanup",
			"arn:aws:iam::" + d.account + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScalingPlans_EC2AutoScaling",
		} {
			if got := d.decide(t, grantReq(proofCentral, grantee, launchGrantOps, "managed")); got != evaluate.ExplicitDeny {
				return fmt.Errorf("CreateGrant for %s: %s, want explicit-deny", grantee, got)
			}
		}
		for _, slr := range []string{
			"role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
			"role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_custom",
			"role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet",
			"role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
			"role/aws-service-role/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet",
		} {
			if got := d.decide(t, grantReq(proofCentral, "arn:aws:iam::"+d.account+":"+slr, launchGrantOps, "managed")); got != evaluate.Allow {
				return fmt.Errorf("CreateGrant for the launching role %s: %s (the job)", slr, got)
			}
		}
		return nil
	}},
	{name: "the central function role creates no grant", role: "central function role", check: func(t *testing.T, d deployed) error {
		for _, key := range []string{d.account, proofMember} {
			if got := d.decide(t, grantReq(key, "arn:aws:iam::"+d.account+":role/app", launchGrantOps, "managed")); got == evaluate.Allow {
				return fmt.Errorf("CreateGrant on a key of %s: %s", key, got)
			}
		}
		return nil
	}},
	{name: "AssumeRole only into the member role of the organization's and the configured accounts", role: "central function role", check: func(t *testing.T, d deployed) error {
		assume := func(account, org, role string) evaluate.Decision {
			ctx := map[string][]string{"aws:ResourceAccount": {account}}
			if org != "" {
				ctx["aws:ResourceOrgID"] = []string{org}
			}
			return d.decide(t, evaluate.Request{Action: "sts:AssumeRole", Resource: "arn:aws:iam::" + account + ":role/" + role, Context: ctx})
		}
		const member = "ami-kms-remediator-member"
		for _, c := range []struct {
			account, org, role string
			allow              bool
		}{
			{proofOutsider, proofOtherOrg, member, false}, // another organization
			{proofOutsider, "", member, false},            // no organization
			{"123412341234", proofOrg, member, true},      // a member of the trusted organization
			{proofMember, "", member, true},               // a trusted account
			{proofWatched, "", member, true},              // a watched account
			{proofMember, proofOrg, "OrganizationAccountAccessRole", false},
		} {
			if got := assume(c.account, c.org, c.role); (got == evaluate.Allow) != c.allow {
				return fmt.Errorf("AssumeRole %s in %s (organization %q): %s, want allowed %v", c.role, c.account, c.org, got, c.allow)
			}
		}
		return nil
	}},
}

// The deployments the guardrails are checked on: the central role with trust and watch
// configured, and the member role of a member account, each with the templates' default scope.
func deployments(t *testing.T, central, member template, centralOverrides, memberOverrides map[string]string) []deployed {
	t.Helper()
	co := map[string]string{"TrustedAccountIds": proofMember, "TrustedOrganizationId": proofOrg, "WatchedAccountIds": proofWatched}
	for k, v := range centralOverrides {
		co[k] = v
	}
	cs := newScope(t, central, proofCentral, co)
	mo := map[string]string{"CentralAccountId": proofCentral, "CentralRegion": proofRegion,
		"CentralFunctionRoleArn": "arn:aws:iam::" + proofCentral + ":role/ami-kms-remediator-RemediatorRole-ABC",
		"CentralEventBusArn":     "arn:aws:events:" + proofRegion + ":" + proofCentral + ":event-bus/default"}
	for k, v := range memberOverrides {
		mo[k] = v
	}
	ms := newScope(t, member, proofMember, mo)
	own := func(account string) []string {
		return []string{"arn:aws:iam::" + account + ":role/ami-kms-remediator-member", "arn:aws:iam::" + account + ":role/ami-kms-remediator-RemediatorRole-ABC"}
	}
	return []deployed{
		{name: "central function role", account: proofCentral, docs: cs.rolePolicies("RemediatorRole"), ownRoles: own(proofCentral)},
		{name: "member role", account: proofMember, docs: ms.rolePolicies("MemberRole"), ownRoles: own(proofMember)},
	}
}

// applies: a guardrail of one role is checked on that role only.
func applies(g guardrail, d deployed) bool { return g.role == "" || g.role == d.name }

func TestRolePoliciesEnforceTheGuardrails(t *testing.T) {
	t.Parallel()
	central, member := loadTemplate(t, "template.yaml"), loadTemplate(t, "member-account.yaml")
	for _, d := range deployments(t, central, member, nil, nil) {
		for _, g := range guardrails {
			if !applies(g, d) {
				continue
			}
			t.Run(d.name+"/"+g.name, func(t *testing.T) {
				if err := g.check(t, d); err != nil {
					t.Error(err)
				}
			})
		}
	}
	// With a watched organization too, and with no organization at all.
	for _, co := range []map[string]string{{"WatchedOrganizationId": proofOrg, "TrustedOrganizationId": ""}, {"TrustedOrganizationId": ""}} {
		d := deployments(t, central, member, co, nil)[0]
		assume := guardrails[len(guardrails)-1]
		err := assume.check(t, d)
		switch {
		case co["WatchedOrganizationId"] != "" && err != nil:
			t.Errorf("watched organization: %v", err)
		case co["WatchedOrganizationId"] == "" && (err == nil || !strings.Contains(err.Error(), "123412341234")):
			t.Errorf("without an organization, an account of %s is still assumable: %v", proofOrg, err)
		}
	}
}

// loosening is a change to the deployed templates that must make one guardrail fail.
type loosening struct {
	name      string
	guardrail string // the assertion that must fail
	role      string // the deployed role it is shown on
	central   map[string]string
	member    map[string]string
	edit      func(docs []map[string]any) []map[string]any
}

// withoutStatement drops the statement with Sid sid.
func withoutStatement(sid string) func([]map[string]any) []map[string]any {
	return func(docs []map[string]any) []map[string]any {
		return editStatements(docs, sid, func(map[string]any) map[string]any { return nil })
	}
}

// editStatements replaces (nil: drops) the statements with Sid sid.
func editStatements(docs []map[string]any, sid string, f func(map[string]any) map[string]any) []map[string]any {
	var out []map[string]any
	for _, doc := range docs {
		c := map[string]any{}
		for k, v := range doc {
			c[k] = v
		}
		var stmts []any
		for _, s := range doc["Statement"].([]any) {
			m := s.(map[string]any)
			if m["Sid"] == sid {
				if m = f(m); m == nil {
					continue
				}
			}
			stmts = append(stmts, m)
		}
		c["Statement"] = stmts
		out = append(out, c)
	}
	return out
}

// withStatement appends a statement to the role's first policy.
func withStatement(stmt string) func([]map[string]any) []map[string]any {
	return func(docs []map[string]any) []map[string]any {
		var s map[string]any
		if err := json.Unmarshal([]byte(stmt), &s); err != nil {
			panic(err)
		}
		out := editStatements(docs, "", func(m map[string]any) map[string]any { return m })
		out[0]["Statement"] = append(out[0]["Statement"].([]any), s)
		return out
	}
}

// The previous version's attach permission, with its iam:PolicyARN condition widened to any policy.
const widenedAttach = `{"Sid": "AttachKeyUsagePolicyOnly", "Effect": "Allow", "Action": ["iam:AttachUserPolicy", "iam:AttachRolePolicy"],
	"Resource": ["arn:aws:iam::%[1]s:user/*", "arn:aws:iam::%[1]s:role/*"], "Condition": {"ArnLike": {"iam:PolicyARN": "arn:aws:iam::*:policy/*"}}}`

// The previous version's policy-content permission.
const usagePolicyWrites = `{"Sid": "ManageKeyUsagePolicy", "Effect": "Allow", "Action": ["iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion"],
	"Resource": "arn:aws:iam::%[1]s:policy/KmsKeyUsagePolicy"}`

// withCondition replaces, in the statements with Sid sid, the condition key of operator with
// value (nil: drops it).
func withCondition(sid, operator, key string, value any) func([]map[string]any) []map[string]any {
	return func(docs []map[string]any) []map[string]any {
		return editStatements(docs, sid, func(m map[string]any) map[string]any {
			var c map[string]any
			raw, _ := json.Marshal(m)
			_ = json.Unmarshal(raw, &c)
			cond, _ := c["Condition"].(map[string]any)
			op, _ := cond[operator].(map[string]any)
			if op == nil {
				panic(fmt.Sprintf("%s has no %s condition", sid, operator))
			}
			if value == nil {
				delete(op, key)
			} else {
				op[key] = value
			}
			if len(op) == 0 {
				delete(cond, operator)
			}
			return c
		})
	}
}

var loosenings = []loosening{
	{name: "the grantee condition widened to any account", guardrail: "CreateGrant only for this account's users and roles, with EC2's operations, on an opted-in key",
		role: "member role", edit: withCondition("CreateLaunchGrants", "StringLike", "kms:GranteePrincipal", "*")},
	{name: "the grant operations condition dropped", guardrail: "CreateGrant only for this account's users and roles, with EC2's operations, on an opted-in key",
		role: "member role", edit: withCondition("CreateLaunchGrants", "ForAllValues:StringEquals", "kms:GrantOperations", nil)},
	{name: "the grant operations widened to any", guardrail: "CreateGrant only for this account's users and roles, with EC2's operations, on an opted-in key",
		role: "member role", edit: withCondition("CreateLaunchGrants", "ForAllValues:StringEquals", "kms:GrantOperations", "*")},
	{name: "the member scope switched to all-keys, for grants", guardrail: "CreateGrant only for this account's users and roles, with EC2's operations, on an opted-in key",
		role: "member role", member: map[string]string{"KeyWriteScope": "all-keys"}},
	{name: "the reserved-principals Deny dropped", guardrail: "CreateGrant never for the member role, an Identity Center role or a service-linked role that does not launch",
		role: "member role", edit: withoutStatement("NeverGrantReservedPrincipals")},
	{name: "the other service-linked roles Deny dropped", guardrail: "CreateGrant never for the member role, an Identity Center role or a service-linked role that does not launch",
		role: "member role", edit: withoutStatement("NeverGrantOtherServiceLinkedRoles")},
	{name: "the member role's grant permission given to the central role", guardrail: "the central function role creates no grant", role: "central function role",
		edit: withStatement(`{"Sid": "CreateLaunchGrants", "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*"}`)},
	{name: "the lockout bypass Deny dropped", guardrail: "PutKeyPolicy with the lockout bypass is denied, opted in or not", role: "central function role",
		edit: withoutStatement("NeverBypassLockoutSafetyCheck")},
	{name: "the member role's lockout bypass Deny dropped", guardrail: "PutKeyPolicy with the lockout bypass is denied, opted in or not", role: "member role",
		edit: withoutStatement("NeverBypassLockoutSafetyCheck")},
	{name: "the scope switched to all-keys", guardrail: "PutKeyPolicy on a key that has not opted in is denied under the default scope", role: "central function role",
		central: map[string]string{"KeyWriteScope": "all-keys"}},
	{name: "the member scope switched to all-keys", guardrail: "PutKeyPolicy on a key that has not opted in is denied under the default scope", role: "member role",
		member: map[string]string{"KeyWriteScope": "all-keys"}},
	{name: "the IAM write Deny dropped and the iam:PolicyARN condition of an attach permission widened", guardrail: "attaching any policy to anyone is denied",
		role: "member role", edit: func(docs []map[string]any) []map[string]any {
			return withStatement(fmt.Sprintf(widenedAttach, proofMember))(withoutStatement("NeverWriteIAM")(docs))
		}},
	{name: "the previous version's usage-policy writes back", guardrail: "no statement allows writing IAM policy content", role: "member role",
		edit: withStatement(fmt.Sprintf(usagePolicyWrites, proofMember))},
	{name: "the IAM write Deny dropped, an attach allowed on the member role", guardrail: "the remediator's own roles cannot be changed", role: "member role",
		edit: func(docs []map[string]any) []map[string]any {
			return withStatement(fmt.Sprintf(widenedAttach, proofMember))(withoutStatement("NeverWriteIAM")(docs))
		}},
	{name: "the organization condition on AssumeRole dropped", guardrail: "AssumeRole only into the member role of the organization's and the configured accounts",
		role: "central function role", edit: func(docs []map[string]any) []map[string]any {
			return editStatements(docs, "AssumeMemberRoleInOrganizations", func(m map[string]any) map[string]any {
				c := map[string]any{}
				for k, v := range m {
					if k != "Condition" {
						c[k] = v
					}
				}
				return c
			})
		}},
}

// Each loosening makes its guardrail fail: the assertions are not vacuous.
func TestLooseningTheRolesBreaksTheGuardrails(t *testing.T) {
	t.Parallel()
	central, member := loadTemplate(t, "template.yaml"), loadTemplate(t, "member-account.yaml")
	byName := map[string]guardrail{}
	for _, g := range guardrails {
		byName[g.name] = g
	}
	for _, l := range loosenings {
		t.Run(l.name, func(t *testing.T) {
			g, ok := byName[l.guardrail]
			if !ok {
				t.Fatalf("no guardrail %q", l.guardrail)
			}
			real := deployments(t, central, member, nil, nil)
			i := slices.IndexFunc(real, func(d deployed) bool { return d.name == l.role })
			if err := g.check(t, real[i]); err != nil {
				t.Fatalf("the real %s fails %q: %v", real[i].name, g.name, err)
			}
			if l.edit == nil && l.central == nil && l.member == nil {
				t.Fatal("the loosening changes nothing")
			}
			d := deployments(t, central, member, l.central, l.member)[i]
			if l.edit != nil {
				d.docs = l.edit(d.docs)
			}
			if err := g.check(t, d); err == nil {
				t.Errorf("%s still passes %q once loosened", d.name, g.name)
			} else {
				t.Logf("loosened: %v", err)
			}
		})
	}
}

// TestWriteScopeDefaults: by default the roles write only keys that opted in, IaC-managed keys
// are never edited, and the function's own default (KEY_WRITE_SCOPE unset) is the templates'.
func TestWriteScopeDefaults(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"template.yaml", "member-account.yaml"} {
		tpl := loadTemplate(t, name)
		if d := dig(map[string]any(tpl), "Parameters", "KeyWriteScope", "Default"); d != config.WriteTaggedKeys {
			t.Errorf("%s: KeyWriteScope default %v, want %s", name, d, config.WriteTaggedKeys)
		}
		if allowed := stringList(dig(map[string]any(tpl), "Parameters", "KeyWriteScope", "AllowedValues")); !slices.Contains(allowed, config.WriteAllKeys) {
			t.Errorf("%s: all-keys is no longer a choice: %v", name, allowed)
		}
	}
	tpl := loadTemplate(t, "template.yaml")
	if d := dig(map[string]any(tpl), "Parameters", "EditIacManagedKeys", "Default"); d != "false" {
		t.Errorf("EditIacManagedKeys default %v, want false", d)
	}
	c, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyWriteScope != dig(map[string]any(tpl), "Parameters", "KeyWriteScope", "Default") || c.EditIaCManagedKeys {
		t.Errorf("the function's defaults (scope %q, edit IaC keys %v) are not the template's", c.KeyWriteScope, c.EditIaCManagedKeys)
	}
	// The opt-in tag the code checks is the one the roles' condition names.
	want := "aws:ResourceTag/" + config.OptInTagKey
	for _, name := range []string{"template.yaml", "member-account.yaml"} {
		if raw := mustJSON(t, loadTemplate(t, name)); !strings.Contains(raw, `"`+want+`":"`+config.OptInTagValue+`"`) {
			t.Errorf("%s does not condition PutKeyPolicy on %s=%s", name, want, config.OptInTagValue)
		}
	}
	cfg := pythonJSON(t, tomlToJSON, filepath.Join(repoRoot(t), "samconfig.toml"))
	overrides := stringList(dig(cfg, "default", "deploy", "parameters", "parameter_overrides"))
	if !slices.Contains(overrides, "KeyWriteScope="+config.WriteTaggedKeys) {
		t.Errorf("samconfig.toml deploys KeyWriteScope other than %s: %v", config.WriteTaggedKeys, overrides)
	}
}
