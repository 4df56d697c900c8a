package keypolicy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// What an Auto Scaling group (or another launching service) needs from a key policy, beyond what
// EnsureAccountsForKey gives an account (EC2 Auto Scaling User Guide, "Required AWS KMS key
// policy for use with encrypted volumes"):
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
//   - Example 1, the key in the group's own account: the key policy names the group's
//     service-linked role itself for the use actions and for kms:CreateGrant when
//     kms:GrantIsForAWSResource is true. A statement naming the account root is not enough: it
//     only delegates to the role's identity policies, and a service-linked role's include no
//     customer managed key (EnsureServiceLinkedRolesForKey).
//   - Example 2, the key in another account: the key policy lets the group's account call
//     kms:CreateGrant itself, without kms:GrantIsForAWSResource, and a principal of that account
//     creates a grant for the role with LaunchGrantOperations (EnsureLaunchGrantsForKey). AWS's
//     example gives the account root kms:CreateGrant with no condition; the statement added here
//     lets each account grant only to its own principals (kms:GranteePrincipal), and only
//     LaunchGrantOperations (kms:GrantOperations): nothing the account could not already give
//     them through "Allow use of the key" and its own IAM.

// LaunchGrantSid is the Sid of the one statement that lets trusted accounts create launch grants.
const LaunchGrantSid = "AllowEC2LaunchGrants"

// LaunchGrantOperations are the operations of the grant AWS's example creates for an Auto Scaling
// group's service-linked role, in its order.
var LaunchGrantOperations = []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}

// GrantName is the Name of the grant for grantee with operations: "ami-kms-remediator-" and 16
// hex digits of a hash of both (KMS: 1 to 256 characters of [a-zA-Z0-9:/_-]). KMS takes a
// CreateGrant identical to an existing grant, name included, for a retry and creates nothing, so
// one name per grantee and operations makes every retry, and a grant made by hand from the
// alert's command, the same grant.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html#KMS-CreateGrant-request-Name
func GrantName(grantee string, operations []string) string {
	ops := slices.Clone(operations)
	slices.Sort(ops)
	sum := sha256.Sum256([]byte(grantee + "\n" + strings.Join(ops, ",")))
	return "ami-kms-remediator-" + hex.EncodeToString(sum[:8])
}

// Want is everything a key policy must allow, for EnsureForKey.
type Want struct {
	// Accounts: their roots may use the key from EC2 (EnsureAccountsForKey).
	Accounts []string
	// ServiceLinkedRoles: Auto Scaling service-linked roles of the key's own account that may use
	// the key from EC2 themselves (EnsureServiceLinkedRolesForKey).
	ServiceLinkedRoles []string
	// LaunchGrantees: principals of other accounts whose account may create a launch grant for
	// them (EnsureLaunchGrantsForKey).
	LaunchGrantees []string
}

// EnsureForKey makes the key policy allow everything w asks, one part after the other, adding only
// what is missing; the Edit lists every change. Re-running on its output changes nothing. The
// error is a *RefusedError, and then nothing is changed.
func EnsureForKey(doc []byte, key Key, w Want) (Edit, error) {
	out := Edit{Document: doc, Changes: []Change{}}
	steps := []func([]byte) (Edit, error){
		func(d []byte) (Edit, error) { return EnsureAccountsForKey(d, key, w.Accounts) },
		func(d []byte) (Edit, error) { return EnsureServiceLinkedRolesForKey(d, key, w.ServiceLinkedRoles) },
		func(d []byte) (Edit, error) { return EnsureLaunchGrantsForKey(d, key, w.LaunchGrantees) },
	}
	for _, step := range steps {
		e, err := step(out.Document)
		if err != nil {
			return Edit{Document: doc}, err
		}
		if e.Changed {
			out.Document, out.Changed = e.Document, true
			out.Changes = append(out.Changes, e.Changes...)
		}
	}
	return out, nil
}

// EnsureServiceLinkedRolesForKey makes the key policy of key allow each Auto Scaling
// service-linked role itself (not through its account) every request EC2 makes for it when the
// group launches (UseRequests, and GrantRequests for AWS resources): AWS's Example 1. Each role
// must be an Auto Scaling service-linked role (awsid.LaunchRoleOf) of the key's own account, and
// the key's ARN must be known. Statements are read and extended as EnsureAccountsForKey does,
// with one more rule: an allow that only delegates to the role's account does not count, since
// a service-linked role has no identity policy for the key. The error is a *RefusedError.
func EnsureServiceLinkedRolesForKey(doc []byte, key Key, roles []string) (Edit, error) {
	if len(roles) == 0 {
		return unchanged(doc)
	}
	keyAccount := evaluate.KeyAccount(key.ARN)
	for _, role := range roles {
		p, ok := awsid.ParsePrincipal(role)
		r, isLaunch := awsid.LaunchRoleOf(p)
		switch {
		case keyAccount == "":
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-key", Detail: fmt.Sprintf("key ARN %q: a role is added only to the policy of a known key", key.ARN)}
		case !ok || !isLaunch || r.Service != awsid.AutoScalingService:
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-principal", Detail: fmt.Sprintf("%q is not an Auto Scaling service-linked role ARN", role)}
		case p.Account != keyAccount:
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-principal", Detail: fmt.Sprintf("%s is not in the key's account %s: from another account a role needs a grant", role, keyAccount)}
		}
	}
	roles = sortedUnique(roles)
	d, err := policy.Parse(doc)
	if err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	r := newReader(key, partitionOf(d, key.ARN))
	changes, err := addMissing(roles, func(role string, n need) bool { return r.roleDenied(d, role, n) == "" },
		func(n need, missing []string) ([]Change, error) { return r.addRoles(d, n, missing) })
	if err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	if len(changes) == 0 {
		return unchanged(doc)
	}
	for _, role := range roles {
		for _, n := range needs {
			if why := r.roleDenied(d, role, n); why != "" {
				return Edit{Document: doc}, &RefusedError{Reason: "ineffective", Detail: why}
			}
		}
	}
	return finish(doc, d, changes)
}

// roleDenied says why the policy does not allow role itself need n ("" when it does).
func (r *reader) roleDenied(d *policy.Document, role string, n need) string {
	for _, a := range n.requests {
		res := evaluate.KeyPolicy(d, r.requestFor(role, a, n.grant))
		switch {
		case res.Decision == evaluate.Allow && !res.Delegates:
			continue
		case res.Decision == evaluate.Allow:
			return fmt.Sprintf("%s may %s only through its account's identity policies, which a service-linked role does not have", role, n.what)
		}
		why := append(append([]string{}, res.Reasons...), res.NotEvaluated...)
		return fmt.Sprintf("adding %s would not let it %s through EC2: %s is %s (%s)", role, n.what, a, res.Decision, strings.Join(why, "; "))
	}
	return ""
}

// roleExtends reports whether adding role to statement s makes the policy allow the role itself
// every request of need n, and grants nothing a new AWS default statement would not.
func (r *reader) roleExtends(d *policy.Document, s policy.Statement, role string, n need) bool {
	if !candidate(s, n) {
		return false
	}
	for _, a := range n.requests {
		if dec, delegates := evaluate.KeyPolicyAllowsAdding(d, s.Index, role, r.requestFor(role, a, n.grant)); dec != evaluate.Allow || delegates {
			return false
		}
		if n.grant {
			other := r.requestFor(role, a, false)
			if evaluate.KeyPolicyDecisionAdding(d, s.Index, role, other) != evaluate.KeyPolicyDecision(d, other) {
				return false
			}
		}
	}
	return true
}

// addRoles gives the roles need n: each joins the statement that extends to it (AWS's default Sid
// first, then document order), the others share one new statement in AWS's default form.
func (r *reader) addRoles(d *policy.Document, n need, roles []string) ([]Change, error) {
	return join(d, n.sid, n.what, roles, func(arns []string) []string { return arns },
		func(s policy.Statement, role string) bool { return r.roleExtends(d, s, role, n) },
		func(arns []string) ([]Change, error) { return r.appendFor(d, n, arns, n.what) })
}

// EnsureLaunchGrantsForKey makes the key policy of key let each grantee's account create, itself,
// a grant on the key for the grantee with LaunchGrantOperations: step 1 of AWS's cross-account
// procedure (Example 2), after which a principal of that account runs the create-grant. It adds
// the accounts' roots to the statement LaunchGrantSid, created once per key:
//
//	{"Sid": "AllowEC2LaunchGrants", "Effect": "Allow",
//	 "Principal": {"AWS": ["arn:aws:iam::ACCOUNT:root", ...]},
//	 "Action": "kms:CreateGrant", "Resource": "*",
//	 "Condition": {
//	   "ForAllValues:StringEquals": {"kms:GrantOperations": [LaunchGrantOperations...]},
//	   "StringLike": {"kms:GranteePrincipal": "arn:aws:iam::${aws:PrincipalAccount}:*"}}}
//
// so that every account listed may give only its own principals (the policy variable is the
// caller's account; IAM User Guide, "Policy variables", which key policies support in condition
// values of documents with Version 2012-10-17) only EC2's operations (ForAllValues: each
// operation requested must be one of them; KMS rejects a CreateGrant without operations). A
// policy whose Version is not 2012-10-17 reads the variable as text: the edit is then refused as
// ineffective. An existing statement joins only when the evaluator says adding the account
// allows the grant and nothing a new LaunchGrantSid statement would not (a grant for another
// account's principal, or for other operations).
//
// Grantees must be IAM principal ARNs of trusted accounts other than the key's own (which need
// no grant: its key policy names the role itself), and the key's ARN must be known. The error
// is a *RefusedError.
//
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-operations
func EnsureLaunchGrantsForKey(doc []byte, key Key, grantees []string) (Edit, error) {
	if len(grantees) == 0 {
		return unchanged(doc)
	}
	keyAccount := evaluate.KeyAccount(key.ARN)
	if keyAccount == "" {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-key", Detail: fmt.Sprintf("key ARN %q: launch grants are allowed only on a known key", key.ARN)}
	}
	byAccount := map[string][]string{}
	for _, g := range grantees {
		p, ok := awsid.ParsePrincipal(g)
		switch {
		case !ok || p.Service != "iam" || p.Check() != nil || (p.Kind != awsid.PrincipalRole && p.Kind != awsid.PrincipalServiceLinkedRole && p.Kind != awsid.PrincipalUser):
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-principal", Detail: fmt.Sprintf("%q is not an IAM user or role ARN", g)}
		case p.Account == keyAccount:
			return Edit{Document: doc}, &RefusedError{Reason: "invalid-principal", Detail: fmt.Sprintf("%s is in the key's own account: it needs no grant from another account", g)}
		}
		byAccount[p.Account] = appendNew(byAccount[p.Account], g)
	}
	accounts := sortedKeys(byAccount)
	d, err := policy.Parse(doc)
	if err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	r := newReader(key, partitionOf(d, key.ARN))
	var missing []string
	for _, a := range accounts {
		if !r.grantsAllowed(d, a, byAccount[a]) {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return unchanged(doc)
	}
	before := map[string]evaluate.Decision{}
	for _, a := range missing {
		before[a] = evaluate.KeyPolicyDecision(d, r.strayGrant(a))
	}
	changes, err := r.addLaunchGrants(d, missing, byAccount)
	if err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	for _, a := range missing {
		for _, g := range byAccount[a] {
			req := r.grantRequest(a, g, LaunchGrantOperations)
			if res := evaluate.KeyPolicy(d, req); res.Decision != evaluate.Allow {
				why := append(append([]string{}, res.Reasons...), res.NotEvaluated...)
				if d.Version() != "2012-10-17" {
					why = append(why, fmt.Sprintf("the policy's Version is %q, so ${aws:PrincipalAccount} is not substituted", d.Version()))
				}
				return Edit{Document: doc}, &RefusedError{Reason: "ineffective", Detail: fmt.Sprintf(
					"adding %s would not let it create the grant for %s: kms:CreateGrant is %s (%s)", r.root(a), g, res.Decision, strings.Join(why, "; "))}
			}
		}
		if evaluate.KeyPolicyDecision(d, r.strayGrant(a)) != before[a] {
			return Edit{Document: doc}, &RefusedError{Reason: "too-broad", Detail: fmt.Sprintf("the edit would let %s grant the key to another account's principals", r.root(a))}
		}
	}
	return finish(doc, d, changes)
}

// grantRequest is account's own CreateGrant for grantee (its root asks: the key policy names
// roots, and the identity side of the principal that runs it is its account's business).
func (r *reader) grantRequest(account, grantee string, ops []string) evaluate.Request {
	var org *evaluate.Org
	if o, ok := r.key.Orgs[account]; ok {
		org = &o
	}
	return evaluate.GrantRequest(r.key.ARN, r.root(account), grantee, ops, org)
}

// strayGrant is a grant the launch-grant statement must never allow account: one for a principal
// of another account, with more than EC2's operations.
func (r *reader) strayGrant(account string) evaluate.Request {
	other := "999999999999"
	if account == other {
		other = "999999999998"
	}
	return r.grantRequest(account, RootARN(r.partition, other), append(slices.Clone(LaunchGrantOperations), "RetireGrant"))
}

func (r *reader) grantsAllowed(d *policy.Document, account string, grantees []string) bool {
	for _, g := range grantees {
		if evaluate.KeyPolicyDecision(d, r.grantRequest(account, g, LaunchGrantOperations)) != evaluate.Allow {
			return false
		}
	}
	return true
}

// launchGrantNeed is the launch-grant statement's shape, for candidate.
var launchGrantNeed = need{sid: LaunchGrantSid, actions: []string{"kms:CreateGrant"},
	what: "create grants for its own principals with " + strings.Join(LaunchGrantOperations, ", ")}

// launchExtends reports whether adding account's root to s lets it create the grants, and
// nothing more than a new LaunchGrantSid statement would: not a grant for another account's
// principal, not one with other operations.
func (r *reader) launchExtends(d *policy.Document, s policy.Statement, account string, grantees []string) bool {
	if !candidate(s, launchGrantNeed) {
		return false
	}
	root := r.root(account)
	for _, g := range grantees {
		if evaluate.KeyPolicyDecisionAdding(d, s.Index, root, r.grantRequest(account, g, LaunchGrantOperations)) != evaluate.Allow {
			return false
		}
	}
	stray := r.strayGrant(account)
	wider := r.grantRequest(account, grantees[0], append(slices.Clone(LaunchGrantOperations), "RetireGrant"))
	return evaluate.KeyPolicyDecisionAdding(d, s.Index, root, stray) == evaluate.KeyPolicyDecision(d, stray) &&
		evaluate.KeyPolicyDecisionAdding(d, s.Index, root, wider) == evaluate.KeyPolicyDecision(d, wider)
}

func (r *reader) addLaunchGrants(d *policy.Document, accounts []string, grantees map[string][]string) ([]Change, error) {
	return join(d, LaunchGrantSid, launchGrantNeed.what, accounts, r.roots,
		func(s policy.Statement, a string) bool { return r.launchExtends(d, s, a, grantees[a]) },
		func(arns []string) ([]Change, error) { return r.appendLaunchGrant(d, arns) })
}

// appendLaunchGrant appends the LaunchGrantSid statement for account roots arns.
func (r *reader) appendLaunchGrant(d *policy.Document, arns []string) ([]Change, error) {
	sid := freeSid(d.Statements(), LaunchGrantSid)
	grantee := "arn:" + r.partition + ":iam::${aws:PrincipalAccount}:*"
	members := []policy.Member{
		{Key: "Sid", Value: policy.String(sid)},
		{Key: "Effect", Value: policy.String("Allow")},
		{Key: "Principal", Value: policy.Object(policy.Member{Key: "AWS", Value: principalValue(arns)})},
		{Key: "Action", Value: policy.String("kms:CreateGrant")},
		{Key: "Resource", Value: policy.String("*")},
		{Key: "Condition", Value: policy.Object(
			policy.Member{Key: "ForAllValues:StringEquals", Value: policy.Object(policy.Member{Key: "kms:GrantOperations", Value: policy.Strings(LaunchGrantOperations...)})},
			policy.Member{Key: "StringLike", Value: policy.Object(policy.Member{Key: "kms:GranteePrincipal", Value: policy.String(grantee)})},
		)},
	}
	target, err := d.AppendStatement(policy.Object(members...))
	if err != nil {
		return nil, fmt.Errorf("append statement %q: %w", sid, err)
	}
	return describePrincipals("add-statement", sid, target, launchGrantNeed.what, arns), nil
}

// addPrincipals adds principal ARNs to statement s's Principal "AWS" list.
func addPrincipals(d *policy.Document, s policy.Statement, arns []string, what string) ([]Change, error) {
	var err error
	if _, ok := s.Principal.By["AWS"]; ok {
		err = d.AppendStrings(s.Index, []string{"Principal", "AWS"}, arns...)
	} else {
		err = d.AddMember(s.Index, []string{"Principal"}, "AWS", principalValue(arns))
	}
	if err != nil {
		return nil, fmt.Errorf("add %s to statement %d: %w", strings.Join(arns, ", "), s.Index, err)
	}
	return describePrincipals("add-principal", s.Sid, s.Index, what, arns), nil
}

// appendFor appends AWS's default statement of need n for principal ARNs.
func (r *reader) appendFor(d *policy.Document, n need, arns []string, what string) ([]Change, error) {
	sid := freeSid(d.Statements(), n.sid)
	members := []policy.Member{
		{Key: "Sid", Value: policy.String(sid)},
		{Key: "Effect", Value: policy.String("Allow")},
		{Key: "Principal", Value: policy.Object(policy.Member{Key: "AWS", Value: principalValue(arns)})},
		{Key: "Action", Value: policy.Strings(n.actions...)},
		{Key: "Resource", Value: policy.String("*")},
	}
	if n.grant {
		members = append(members, policy.Member{Key: "Condition", Value: policy.Object(policy.Member{
			Key: "Bool", Value: policy.Object(policy.Member{Key: "kms:GrantIsForAWSResource", Value: policy.String("true")}),
		})})
	}
	target, err := d.AppendStatement(policy.Object(members...))
	if err != nil {
		return nil, fmt.Errorf("append statement %q: %w", sid, err)
	}
	return describePrincipals("add-statement", sid, target, what, arns), nil
}

// describePrincipals describes adding principal ARNs (account roots or roles).
func describePrincipals(kind, sid string, target int, what string, arns []string) []Change {
	verb := "added to"
	if kind == "add-statement" {
		verb = "added new"
	}
	changes := make([]Change, len(arns))
	for i, arn := range arns {
		c := Change{Kind: kind, Sid: sid, Statement: target, Account: principalAccount(arn),
			Description: fmt.Sprintf("allow %s to %s: %s statement %d %q", arn, what, verb, target, sid)}
		if !strings.HasSuffix(arn, ":root") {
			c.Principal = arn
		}
		changes[i] = c
	}
	return changes
}

// finish checks the edited document against KMS's limits and returns the edit.
func finish(src []byte, d *policy.Document, changes []Change) (Edit, error) {
	out := d.Bytes()
	if len(out) > MaxPolicyBytes {
		return Edit{Document: src}, &RefusedError{Reason: "too-large", Detail: fmt.Sprintf("the edited policy would be %d bytes, over KMS's limit of %d", len(out), MaxPolicyBytes)}
	}
	if off, r, ok := kmsCharacters(out); !ok {
		return Edit{Document: src}, &RefusedError{Reason: "invalid-characters", Detail: fmt.Sprintf("byte offset %d holds %s, which KMS does not accept in a key policy", off, r)}
	}
	return Edit{Document: out, Changes: changes, Changed: true}, nil
}

// unchanged is the edit that changes nothing; the document must still parse.
func unchanged(doc []byte) (Edit, error) {
	if _, err := policy.Parse(doc); err != nil {
		return Edit{Document: doc}, &RefusedError{Reason: "invalid-policy", Detail: err.Error()}
	}
	return Edit{Document: doc, Changes: []Change{}}, nil
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
