package alert

import (
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// Remedies of the launch codes: a key in a state other than Enabled, Disabled or pending
// deletion, and a launching service-linked role of another account than the key's, which needs
// the two steps of AWS's cross-account procedure (EC2 Auto Scaling User Guide, "Required AWS KMS
// key policy for use with encrypted volumes", example 2): the key policy lets the role's account
// create the grant, then that account creates it.

var (
	keyUnusableRemedy = &remedy{render: (*analysis).keyUnusableTodos}
	launchGrantRemedy = &remedy{render: (*analysis).launchGrantTodos}
)

// keyStates are what ends each unusable key state (KMS developer guide, "Key states of AWS KMS
// keys"): never enable-key, which these states do not allow.
var keyStates = map[string]struct{ what, do string }{
	"PendingImport": {"its imported key material is missing or expired", "Import the key material again (get the wrapping key and import token, then import):"},
	"Unavailable":   {"its custom key store is disconnected", "Connect its custom key store (find it with describe-key, CustomKeyStoreId):"},
	"Creating":      {"it is a multi-Region replica still being created", "Wait until it is Enabled (no action ends this state), then launch again:"},
	"Updating":      {"its multi-Region primary Region is being changed", "Wait until it is Enabled again (no action ends this state), then launch again:"},
}

func (a *analysis) keyUnusableTodos(_ detail, open []item) []todo {
	var out []todo
	done := map[string]bool{}
	for _, it := range open {
		if done[it.f.KeyARN] {
			continue
		}
		done[it.f.KeyARN] = true
		key, region := it.f.KeyARN, shellArg(a.regionOf(it.f.KeyARN, it.rec))
		st, known := keyStates[it.f.KeyState]
		if !known {
			st.what, st.do = "EC2 cannot use a key in this state", "See the KMS key-states table for what ends it; check the key's state:"
		}
		var w todoWriter
		w.say("%s", st.do)
		switch it.f.KeyState {
		case "PendingImport":
			w.run("aws kms get-parameters-for-import --key-id", shellArg(key), "--wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_2048 --region", region)
			w.run("aws kms import-key-material --key-id", shellArg(key), "--encrypted-key-material fileb://EncryptedKeyMaterial.bin --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE --region", region)
		case "Unavailable":
			w.run("aws kms describe-key --key-id", shellArg(key), "--query KeyMetadata.CustomKeyStoreId --output text --region", region)
			w.run("aws kms connect-custom-key-store --custom-key-store-id \"$CUSTOM_KEY_STORE_ID\" --region", region)
		default:
			w.run("aws kms describe-key --key-id", shellArg(key), "--query KeyMetadata.KeyState --output text --region", region)
		}
		out = append(out, todo{
			title: fmt.Sprintf("Key %s is %s (key-unusable-state): %s, so EC2 cannot use it for anyone.", orNone(key), orNone(it.f.KeyState), st.what),
			why:   "the remediator never changes the state of a key", where: keyOwner(key), body: w.String()})
	}
	return out
}

// launchGrantTodos renders one todo per key and role: both steps as exact commands, the second
// only once the first is done.
func (a *analysis) launchGrantTodos(d detail, open []item) []todo {
	type group struct {
		key, role, account string
		rec                *report.Record
		codes              []string
		items              []item
		policyOpen         bool
	}
	var groups []*group
	index := map[pair]*group{}
	for _, it := range open {
		g := index[pair{it.f.KeyARN, it.principal()}]
		if g == nil {
			g = &group{key: it.f.KeyARN, role: it.principal(), account: it.f.Account, rec: it.rec}
			groups = append(groups, g)
			index[pair{it.f.KeyARN, it.principal()}] = g
		}
		g.codes = appendNew(g.codes, string(it.f.Code))
		g.items = append(g.items, it)
		g.policyOpen = g.policyOpen || it.f.Code == report.KeyPolicyMissingLaunchGrant
	}
	var out []todo
	for _, g := range groups {
		region := shellArg(a.regionOf(g.key, g.rec))
		what := "A launching service-linked role"
		if p, ok := awsid.ParsePrincipal(g.role); ok {
			if r, ok := awsid.LaunchRoleOf(p); ok {
				what = "The " + r.What + " service-linked role"
			}
		}
		t := todo{
			title: fmt.Sprintf("%s %s of account %s may not use key %s (%s).", what, orNone(g.role), orNone(g.account), orNone(g.key), cleanValue(strings.Join(g.codes, ", "))),
			why:   a.whyOpen(g.items),
			where: keyOwner(g.key) + ", then in account " + orNone(g.account),
		}
		var w, more todoWriter
		step := 1
		if g.policyOpen {
			name := a.fileName("launch-grant-statement", ".json")
			w.say("%d. %s: add the statement in %s (FILES) to the key policy's \"Statement\" list, changing nothing else", step, strings.TrimPrefix(keyOwner(g.key), "in "), name)
			w.say("   (if a statement with Sid %s exists, add the account root to its Principal instead):", keypolicy.LaunchGrantSid)
			w.run("aws kms get-key-policy --key-id", shellArg(g.key), "--policy-name default --output text --region", region, "> key-policy.json")
			w.run("aws kms put-key-policy --key-id", shellArg(g.key), "--policy-name default --policy file://key-policy.json --region", region)
			t.files = append(t.files, file{name: name, about: "the statement that lets account " + orNone(g.account) + " grant its own principals EC2's operations on the key",
				body: launchGrantStatement(g.key, g.account)})
			step++
		}
		w.say("%d. In account %s, as a principal allowed kms:CreateGrant on the key (its member role is), create the grant:", step, orNone(g.account))
		w.run("aws kms create-grant --key-id", shellArg(g.key), "--grantee-principal", shellArg(g.role),
			"--operations", strings.Join(keypolicy.LaunchGrantOperations, " "), "--name", shellArg(grantName(g.role)), "--region", region)
		w.say("A grant takes effect within about five minutes: launches may keep failing until then.")
		more.say("To undo it, in the key's account: list the grants, then revoke this one (or retire it from account %s):", orNone(g.account))
		more.run("aws kms list-grants --key-id", shellArg(g.key), "--region", region)
		more.run("aws kms revoke-grant --key-id", shellArg(g.key), "--grant-id \"$GRANT_ID\" --region", region)
		t.body, t.more = w.String(), more.String()
		out = append(out, t)
	}
	return out
}

// grantName is the name the remediator gives the grant, so that a grant made by hand and one
// made by the remediator are the same grant.
func grantName(grantee string) string {
	return keypolicy.GrantName(grantee, keypolicy.LaunchGrantOperations)
}

// launchGrantStatement is keypolicy's AllowEC2LaunchGrants statement for account.
func launchGrantStatement(keyARN, account string) string {
	part := partitionOf(keyARN)
	s := statement{Sid: keypolicy.LaunchGrantSid, Effect: "Allow", Principal: map[string]any{"AWS": keypolicy.RootARN(part, account)},
		Action: []string{"kms:CreateGrant"}, Resource: "*",
		Condition: map[string]any{
			"ForAllValues:StringEquals": map[string]any{"kms:GrantOperations": keypolicy.LaunchGrantOperations},
			"StringLike":                map[string]any{"kms:GranteePrincipal": "arn:" + part + ":iam::${aws:PrincipalAccount}:*"},
		}}
	return jsonBlock(s)
}

// identityCenterTodo is the remedy for a principal that is an IAM Identity Center role: the
// statements go into its permission set's inline policy, which Identity Center provisions to the
// role (an IAM change to the role itself is undone).
// https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html
func (a *analysis) identityCenterTodo(t todo, p awsid.Principal, keys []string, w, more *todoWriter) todo {
	set := awsid.PermissionSetName(p.Name)
	if set == "" {
		set = "PERMISSION_SET_NAME"
	}
	fname := a.fileName("permission-set-statements", ".json")
	w.say("%s is an IAM Identity Center role: add the statements in %s (FILES) to the inline policy of", cleanValue(p.Name), fname)
	w.say("permission set %s (merge them: put-inline-policy-to-permission-set replaces it), then provision it:", cleanValue(set))
	w.run("aws sso-admin get-inline-policy-for-permission-set --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PERMISSION_SET_ARN\" > inline-policy.json")
	w.run("aws sso-admin put-inline-policy-to-permission-set --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PERMISSION_SET_ARN\" --inline-policy file://inline-policy.json")
	w.run("aws sso-admin provision-permission-set --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PERMISSION_SET_ARN\" --target-type ALL_PROVISIONED_ACCOUNTS")
	more.say("Find the instance and permission set ARNs with aws sso-admin list-instances and list-permission-sets; the remediator never creates a grant for an Identity Center role: the permission set is what gives it access.")
	t.files = append(t.files, file{name: fname, about: "the statements for permission set " + cleanValue(set),
		body: block(string(usagepolicy.New(keys)), blockIndent, cleanJSONLine)})
	return t
}
