package alert

import (
	"cmp"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// Indentation inside a todo: text lines, then blocks (JSON, commands).
const (
	textIndent  = "   "
	blockIndent = "      "
)

// todo is one thing a person must do: what is wrong, why the remediator did not fix it, where
// and how to fix it. The first todo of an alert is its "do this now" block; every todo has one
// way to fix it (its body), and anything else it may need goes to more.
type todo struct {
	title string // what is wrong, one line, cleaned
	why   string // why the remediator did not fix it, cleaned
	where string // who runs the commands ("in account 111122223333, the key's owner"); "" for nobody in particular
	body  string // the steps and the exact commands: indented lines
	more  string // details and alternatives: indented lines
	files []file // files the commands read
	trust []string
}

// file is a document a todo's commands read, shown under FILES at the end of the body.
type file struct {
	name  string // e.g. "key-policy.json"
	about string // what it is, cleaned
	body  string // block lines, cleaned
}

// todoWriter builds a todo's indented lines.
type todoWriter struct{ strings.Builder }

func (w *todoWriter) say(format string, a ...any) {
	w.WriteString(textIndent)
	fmt.Fprintf(w, format, a...)
	w.WriteByte('\n')
}

// run writes one shell command; args are already quoted.
func (w *todoWriter) run(args ...string) {
	w.WriteString(blockIndent + strings.Join(args, " ") + "\n")
}

// The remedies of codeTable's rows. Each renders the open findings of the codes that share it.
var (
	keyNotFoundRemedy = keyStateRemedy(func(key, region string, w *todoWriter) (title, why string) {
		w.say("Check that the key exists and that the remediator's role may call kms:DescribeKey and kms:GetKeyPolicy on it:")
		w.run("aws kms describe-key --key-id", shellArg(key), "--region", shellArg(region))
		return fmt.Sprintf("Key %s (key-not-found) does not exist, or the remediator cannot read it.", orNone(key)),
			"without the key and its policy the remediator can neither check nor change anything"
	})
	keyUnreadableRemedy = keyStateRemedy(func(key, region string, w *todoWriter) (title, why string) {
		w.say("Let the remediator read it: its key policy must allow kms:DescribeKey and kms:GetKeyPolicy to the remediator's role in the key's account (the member role there, which needs them too: deploy member-account.yaml). Check what the key's owner sees:")
		w.run("aws kms get-key-policy --key-id", shellArg(key), "--policy-name default --output text --region", shellArg(region))
		return fmt.Sprintf("Key %s (key-unreadable) exists but the remediator may not read it.", orNone(key)),
			"without its policy the remediator can neither check nor change anything"
	})
	keyPolicyInvalidRemedy = keyStateRemedy(func(key, region string, w *todoWriter) (title, why string) {
		w.say("Read the policy and correct it by hand (KMS accepted it, but it is not a policy document):")
		w.run("aws kms get-key-policy --key-id", shellArg(key), "--policy-name default --output text --region", shellArg(region))
		return fmt.Sprintf("The key policy of %s (key-policy-invalid) does not parse.", orNone(key)),
			"the remediator never rewrites a policy it cannot read exactly"
	})
	keyDisabledRemedy = keyStateRemedy(func(key, region string, w *todoWriter) (title, why string) {
		w.say("If it should be in use, enable it:")
		w.run("aws kms enable-key --key-id", shellArg(key), "--region", shellArg(region))
		return fmt.Sprintf("Key %s is disabled (key-disabled): EC2 cannot use it for anyone.", orNone(key)),
			"the remediator never changes the state of a key"
	})
	keyPendingDeletionRemedy = keyStateRemedy(func(key, region string, w *todoWriter) (title, why string) {
		w.say("If it is still needed, cancel the deletion and enable it:")
		w.run("aws kms cancel-key-deletion --key-id", shellArg(key), "--region", shellArg(region))
		w.run("aws kms enable-key --key-id", shellArg(key), "--region", shellArg(region))
		return fmt.Sprintf("Key %s is scheduled for deletion (key-pending-deletion): EC2 cannot use it, and its data becomes unreadable when it is deleted.", orNone(key)),
			"the remediator never changes the state of a key"
	})
	awsManagedRemedy = &remedy{render: (*analysis).awsManagedTodos}
	publicRemedy     = &remedy{render: (*analysis).publicTodos}
	denyRemedy       = &remedy{render: (*analysis).denyTodos}
	untrustedRemedy  = &remedy{render: (*analysis).untrustedTodos}
	keyPolicyRemedy  = &remedy{render: (*analysis).keyPolicyTodos}
	iamRemedy        = &remedy{render: (*analysis).iamTodos}
	iacRemedy        = &remedy{render: (*analysis).iacTodos}
)

// todos lists what still needs a person, most urgent first: the remedies in codeTable's order,
// then what no row explains. Rendered once per detail level.
func (a *analysis) todos(d detail) []todo {
	if t, ok := a.todoCache[d]; ok {
		return t
	}
	a.fileNames = map[string]int{}
	open := map[*remedy][]item{}
	for _, it := range a.items {
		if it.st != stateFixed && it.m.remedy != nil {
			open[it.m.remedy] = append(open[it.m.remedy], it)
		}
	}
	var out []todo
	for _, m := range codeTable {
		if items := open[m.remedy]; len(items) > 0 {
			out = append(out, m.remedy.render(a, d, items)...)
			delete(open, m.remedy) // rendered once, for every code that shares it
		}
	}
	out = append(out, a.otherTodos()...)
	if a.todoCache == nil {
		a.todoCache = map[detail][]todo{}
	}
	a.todoCache[d] = out
	return out
}

// fileName returns base+ext, or base-N+ext when an earlier todo already uses that name.
func (a *analysis) fileName(base, ext string) string {
	a.fileNames[base]++
	if n := a.fileNames[base]; n > 1 {
		return fmt.Sprintf("%s-%d%s", base, n, ext)
	}
	return base + ext
}

// arnPart returns field i of an ARN (1 partition, 2 service, 3 region, 4 account, 5 resource), or "".
func arnPart(arn string, i int) string {
	a, ok := awsid.ParseARN(arn)
	if !ok {
		return ""
	}
	return [...]string{"arn", a.Partition, a.Service, a.Region, a.Account, a.Resource}[i]
}

func partitionOf(arn string) string {
	if p := arnPart(arn, 1); p != "" {
		return p
	}
	return "aws"
}

// regionOf: the ARN's region, else the record's, else the remediator's.
func (a *analysis) regionOf(arn string, rec *report.Record) string {
	if r := arnPart(arn, 3); r != "" {
		return r
	}
	if rec != nil && rec.Region != "" {
		return rec.Region
	}
	return a.ctx.Region
}

// keyOwner says where a key's commands run: "in account 111122223333, the key's owner".
func keyOwner(key string) string {
	if acc := arnPart(key, 4); acc != "" {
		return "in account " + cleanValue(acc) + ", the key's owner"
	}
	return "in the account that owns the key"
}

// imageOwner says where an image's commands run. A share event comes from the image's owner;
// for other events the owner is not in the record.
func imageOwner(rec *report.Record) string {
	if rec.Trigger == "share-image" && awsid.IsAccountID(rec.Account) {
		return "in account " + rec.Account + ", the image's owner"
	}
	return "in the account that owns image " + orNone(rec.ImageID)
}

// accountList joins cleaned account values.
func accountList(accounts []string) string {
	cleaned := make([]string, len(accounts))
	for i, acc := range accounts {
		cleaned[i] = orNone(acc)
	}
	return strings.Join(cleaned, ", ")
}

// keyStateRemedy renders one todo per key in a state where EC2 cannot use it; say writes the
// commands that end that state and returns the title and why nothing was fixed.
func keyStateRemedy(say func(key, region string, w *todoWriter) (title, why string)) *remedy {
	return &remedy{render: func(a *analysis, _ detail, open []item) []todo {
		var out []todo
		done := map[string]bool{}
		for _, it := range open {
			if done[it.f.KeyARN] {
				continue
			}
			done[it.f.KeyARN] = true
			var w todoWriter
			title, why := say(it.f.KeyARN, a.regionOf(it.f.KeyARN, it.rec), &w)
			out = append(out, todo{title: title, why: why, where: keyOwner(it.f.KeyARN), body: w.String()})
		}
		return out
	}}
}

func (a *analysis) awsManagedTodos(_ detail, open []item) []todo {
	type group struct {
		rec      *report.Record
		key      string
		accounts []string
	}
	var groups []*group
	index := map[pair]*group{}
	for _, it := range open {
		g := index[pair{it.rec.ImageID, it.f.KeyARN}]
		if g == nil {
			g = &group{rec: it.rec, key: it.f.KeyARN}
			groups = append(groups, g)
			index[pair{it.rec.ImageID, it.f.KeyARN}] = g
		}
		if it.f.Account != "" {
			g.accounts = appendNew(g.accounts, it.f.Account)
		}
	}
	var out []todo
	for _, g := range groups {
		region := g.rec.Region
		if region == "" {
			region = a.regionOf(g.key, g.rec)
		}
		image := g.rec.ImageID
		if image == "" {
			image = "IMAGE_ID"
		}
		title := fmt.Sprintf("Image %s is encrypted with the AWS managed key %s (aws-managed-key).", orNone(g.rec.ImageID), orNone(g.key))
		if len(g.accounts) > 0 {
			title = fmt.Sprintf("Image %s is encrypted with the AWS managed key %s (aws-managed-key): account(s) %s cannot launch it.",
				orNone(g.rec.ImageID), orNone(g.key), accountList(g.accounts))
		}
		var w, more todoWriter
		w.say("Copy it with a customer managed key that those accounts may use (CMK_ARN), and share the copy instead:")
		w.run("aws ec2 copy-image --source-image-id", shellArg(image),
			"--source-region", shellArg(region), "--region", shellArg(region),
			"--name", shellArg(image+"-cmk"), "--encrypted --kms-key-id \"$CMK_ARN\"")
		more.say("When the copy is shared, the remediator adds the accounts to its key policy (MODE=fix, trusted accounts).")
		out = append(out, todo{title: title, why: "the policy of an AWS managed key cannot be changed, so no other account can ever use it",
			where: imageOwner(g.rec), body: w.String(), more: more.String()})
	}
	return out
}

func (a *analysis) publicTodos(_ detail, open []item) []todo {
	var out []todo
	done := map[string]bool{}
	for _, it := range open {
		if done[it.rec.ImageID] {
			continue
		}
		done[it.rec.ImageID] = true
		image := it.rec.ImageID
		if image == "" {
			image = "IMAGE_ID"
		}
		region := it.rec.Region
		if region == "" {
			region = a.ctx.Region
		}
		var w todoWriter
		w.say("Make it private, then share it with the accounts that need it:")
		w.run("aws ec2 modify-image-attribute --image-id", shellArg(image), "--region", shellArg(region),
			"--launch-permission", shellQuote("Remove=[{Group=all}]"))
		out = append(out, todo{
			title: fmt.Sprintf("Image %s is shared with everyone (public-image).", orNone(it.rec.ImageID)),
			why:   "the remediator never opens a key to everyone, and AWS does not allow public images with encrypted snapshots",
			where: imageOwner(it.rec), body: w.String()})
	}
	return out
}

func (a *analysis) denyTodos(_ detail, open []item) []todo {
	var out []todo
	keys, groups := groupBy(open, byKey)
	for _, key := range keys {
		items := groups[key]
		var accounts distinct
		for _, it := range items {
			accounts.add(it.f.Account)
		}
		var w todoWriter
		w.say("Read the key policy, and change the Deny if the accounts should use the key (the next event fixes the rest):")
		w.run("aws kms get-key-policy --key-id", shellArg(key), "--policy-name default --output text --region",
			shellArg(a.regionOf(key, items[0].rec)))
		out = append(out, todo{
			title: fmt.Sprintf("Key %s: a Deny statement blocks account(s) %s (explicit-deny).", orNone(key), accountList(accounts.list)),
			why:   "the remediator never removes or rewrites statements, and an Allow cannot override a Deny",
			where: keyOwner(key), body: w.String()})
	}
	return out
}

func (a *analysis) untrustedTodos(_ detail, open []item) []todo {
	var accounts distinct
	var trust []string
	shares := map[string][]string{} // image -> untrusted accounts that are not a key's owner
	var images distinct
	var recs = map[string]*report.Record{}
	for _, it := range open {
		accounts.add(it.f.Account)
		if awsid.IsAccountID(it.f.Account) {
			trust = appendNew(trust, it.f.Account)
			if it.f.Account != arnPart(it.f.KeyARN, 4) && it.rec.ImageID != "" {
				images.add(it.rec.ImageID)
				shares[it.rec.ImageID] = appendNew(shares[it.rec.ImageID], it.f.Account)
				if recs[it.rec.ImageID] == nil {
					recs[it.rec.ImageID] = it.rec
				}
			}
		}
	}
	why := "the remediator grants only to accounts in TRUSTED_ACCOUNT_IDS or confirmed members of TRUSTED_ORGANIZATION_ID"
	if len(a.ctx.TrustedAccounts) == 0 && a.ctx.TrustedOrganization == "" {
		why += ", and none are configured"
	}
	var w, more todoWriter
	where := ""
	switch {
	case len(trust) == 0:
		w.say("They are not 12-digit account IDs: nothing can be granted to them; the logs for request %s have the event.", orNone(a.ctx.RequestID))
	case len(images.list) == 0:
		w.say("If they should be trusted, apply the configuration change at the end of this alert (it affects every trusted account).")
	default:
		w.say("If they should not use the image, remove their launch permission; if they should, apply the configuration change at the end.")
		for _, image := range images.list {
			rec := recs[image]
			ids := make([]string, len(shares[image]))
			for i, acc := range shares[image] {
				ids[i] = "{UserId=" + acc + "}"
			}
			region := rec.Region
			if region == "" {
				region = a.ctx.Region
			}
			w.run("aws ec2 modify-image-attribute --image-id", shellArg(image), "--region", shellArg(region),
				"--launch-permission", shellQuote("Remove=["+strings.Join(ids, ",")+"]"))
		}
		where = imageOwner(recs[images.list[0]])
	}
	var files []file
	if len(trust) > 0 {
		// Granting by hand, without trusting them, stays possible: the statements for each key.
		keys, groups := groupBy(open, byKey)
		for _, key := range keys {
			var accs []string
			for _, it := range groups[key] {
				if awsid.IsAccountID(it.f.Account) && it.f.Account != arnPart(key, 4) {
					accs = appendNew(accs, it.f.Account)
				}
			}
			if len(accs) == 0 || !strings.HasPrefix(key, "arn:") {
				continue
			}
			name := a.fileName("key-policy-statements", ".json")
			more.say("To grant %s by hand without trusting them: add the statements in %s (FILES) to the key policy of %s.", accountList(accs), name, orNone(key))
			files = append(files, file{name: name, about: "the two statements AWS's default key policy uses, for " + accountList(accs), body: keyPolicyStatements(key, accs)})
		}
	}
	return []todo{{
		title: fmt.Sprintf("Account(s) %s are not trusted (untrusted-account): nothing was changed for them.", accountList(accounts.list)),
		why:   why, where: where, body: w.String(), more: more.String(), files: files, trust: trust,
	}}
}

// statement is one policy statement, members in AWS's usual order.
type statement struct {
	Sid       string   `json:"Sid"`
	Effect    string   `json:"Effect"`
	Principal any      `json:"Principal,omitempty"`
	Action    []string `json:"Action"`
	Resource  any      `json:"Resource"`
	Condition any      `json:"Condition,omitempty"`
}

// oneOrMany is a string for one value, a list for more, as AWS writes them.
func oneOrMany(values []string) any {
	if len(values) == 1 {
		return values[0]
	}
	return values
}

// jsonBlock marshals v indented and renders it as block lines that keep its meaning.
func jsonBlock(v any) string {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Only our own statement types get here, and they always marshal.
		return blockIndent + "(cannot show: " + cleanValue(err.Error()) + ")\n"
	}
	return block(string(raw), blockIndent, cleanJSONLine)
}

// keyPolicyStatements are the two statements AWS's default key policy uses to let accounts use
// a key from EC2, with the account roots as principals.
func keyPolicyStatements(keyARN string, accounts []string) string {
	roots := make([]string, len(accounts))
	for i, acc := range accounts {
		roots[i] = "arn:" + partitionOf(keyARN) + ":iam::" + acc + ":root"
	}
	principal := map[string]any{"AWS": oneOrMany(roots)}
	use := statement{Sid: keypolicy.UseSid, Effect: "Allow", Principal: principal, Action: keypolicy.UseActions, Resource: "*"}
	grant := statement{Sid: keypolicy.GrantSid, Effect: "Allow", Principal: principal, Action: keypolicy.GrantActions, Resource: "*",
		Condition: map[string]map[string]string{"Bool": {"kms:GrantIsForAWSResource": "true"}}}
	return strings.TrimSuffix(jsonBlock(use), "\n") + ",\n" + jsonBlock(grant)
}

// whyOpen says why items were not fixed, one distinct reason per cause.
func (a *analysis) whyOpen(items []item) string {
	var reasons distinct
	for _, it := range items {
		var r string
		switch {
		case it.st == statePlanned:
			r = "alert mode (MODE=alert changes nothing; MODE=fix would apply it)"
		case it.act != nil && it.act.Reason != "":
			r = cleanValue(it.act.Status) + ": " + cleanSentence(it.act.Reason)
		case it.act != nil:
			r = cleanValue(it.act.Status)
		case a.mentions(report.UntrustedAccount).accounts[it.f.Account]:
			r = "the account is not trusted"
		default:
			r = "no fix was attempted"
		}
		reasons.add(r)
	}
	return strings.Join(reasons.list, "; ")
}

// bestAction is the most successful action covering items.
func bestAction(items []item) *report.Action {
	var act *report.Action
	for _, it := range items {
		if it.act != nil && (act == nil || statusRank(it.act.Status) > statusRank(act.Status)) {
			act = it.act
		}
	}
	return act
}

func (a *analysis) keyPolicyTodos(d detail, open []item) []todo {
	keys, groups := groupBy(open, byKey)
	untrustedAccounts := a.mentions(report.UntrustedAccount).accounts
	deniedPairs := a.mentions(report.ExplicitDeny).pairs
	managedKeys := a.mentions(report.AWSManagedKey).keys
	iacKeys := a.mentions(report.KeyManagedByIaC).keys
	var out []todo
	for _, key := range keys {
		if managedKeys[key] || iacKeys[key] { // its policy is not edited here: see its own todo
			continue
		}
		var codes, invalid []string
		var accounts distinct
		var items []item
		for _, it := range groups[key] {
			switch {
			case !awsid.IsAccountID(it.f.Account):
				invalid = appendNew(invalid, it.f.Account)
			case untrustedAccounts[it.f.Account] || deniedPairs[pair{key, it.f.Account}]:
				continue // the untrusted-account or explicit-deny todo says what to do
			default:
				accounts.add(it.f.Account)
			}
			codes = appendNew(codes, string(it.f.Code))
			items = append(items, it)
		}
		if len(items) == 0 {
			continue
		}
		sort.Strings(codes)
		all := append(append([]string{}, accounts.list...), invalid...)
		t := todo{
			title: fmt.Sprintf("Key %s does not let account(s) %s use it from EC2 (%s).", orNone(key), accountList(all), cleanValue(strings.Join(codes, ", "))),
			why:   a.whyOpen(items), where: keyOwner(key),
		}
		var w, more todoWriter
		if len(invalid) > 0 {
			w.say("%s: not 12-digit account IDs; nothing is given for them.", accountList(invalid))
		}
		region := shellArg(a.regionOf(key, items[0].rec))
		act := bestAction(items)
		manual := &w
		if act != nil && act.Cause == report.CauseNotInWriteScope && len(accounts.list) > 0 {
			// Opting the key in is the fix: the remediator then adds the accounts itself.
			w.say("Opt the key in to the remediator's write scope; the next event for the image then fixes it (a new tag takes up to five minutes to take effect):")
			w.run("aws kms tag-resource --key-id", shellArg(key), "--tags", "TagKey="+config.OptInTagKey+",TagValue="+config.OptInTagValue, "--region", region)
			more.say("Or, without opting it in, change the policy by hand:")
			manual = &more
		}
		switch {
		case len(accounts.list) == 0:
		case act != nil && act.Document != "" && act.Status != report.StatusApplied && d.documents:
			name := a.fileName("key-policy", ".json")
			manual.say("Save %s (under FILES, at the end of this message), then apply it:", name)
			manual.run("aws kms put-key-policy --key-id", shellArg(key), "--policy-name default --policy file://"+name, "--region", region)
			manual.say("It adds %s and changes nothing else (diff under DETAILS); if the key policy changed since, check the image again instead.", accountList(accounts.list))
			t.files = append(t.files, file{name: name, about: "the whole key policy the remediator " + planVerb(act.Status) + " for key " + orNone(key), body: documentBlock(act.Document)})
		default:
			name := a.fileName("key-policy-statements", ".json")
			manual.say("Add the two statements in %s (FILES, at the end) to the policy's \"Statement\" list, changing nothing else:", name)
			manual.run("aws kms get-key-policy --key-id", shellArg(key), "--policy-name default --output text --region", region, "> key-policy.json")
			manual.run("aws kms put-key-policy --key-id", shellArg(key), "--policy-name default --policy file://key-policy.json --region", region)
			more.say("If statements with these Sids exist already, add the account root ARN(s) to their Principal instead of adding new ones.")
			if act != nil && act.Document != "" && act.Status != report.StatusApplied {
				more.say("The whole %s policy (%d bytes) was omitted to fit the SNS size limit; the statements are enough.", planVerb(act.Status), len(act.Document))
			}
			t.files = append(t.files, file{name: name, about: "the two statements AWS's default key policy uses, for " + accountList(accounts.list), body: keyPolicyStatements(key, accounts.list)})
		}
		t.body, t.more = w.String(), more.String()
		out = append(out, t)
	}
	return out
}

func planVerb(status string) string {
	if status == report.StatusPlanned {
		return "planned"
	}
	return "prepared"
}

// maxDocumentBytes: a key policy is at most 32 KB; anything much larger is not a policy to paste.
const maxDocumentBytes = 2 * keypolicy.MaxPolicyBytes

// documentBlock shows a policy document the operator will apply, keeping its meaning.
func documentBlock(doc string) string {
	if len(doc) > maxDocumentBytes {
		return fmt.Sprintf("%s(document of %d bytes not shown: larger than any valid policy; see the logs)\n", blockIndent, len(doc))
	}
	return block(doc, blockIndent, cleanJSONLine)
}

// iacTodos: one todo per key whose policy infrastructure as code owns. The fix belongs in its
// template: the todo names the stack (or the tag that marks the key) and gives the statements
// that let the accounts the key-policy findings name use the key from EC2.
func (a *analysis) iacTodos(_ detail, open []item) []todo {
	keys, groups := groupBy(open, byKey)
	untrustedAccounts := a.mentions(report.UntrustedAccount).accounts
	var out []todo
	for _, key := range keys {
		var accounts distinct
		for _, it := range a.items {
			if it.f.KeyARN == key && (it.f.Code == report.KeyPolicyMissingUse || it.f.Code == report.KeyPolicyMissingGrant) &&
				awsid.IsAccountID(it.f.Account) && !untrustedAccounts[it.f.Account] {
				accounts.add(it.f.Account)
			}
		}
		owner := groups[key][0].f.ManagedBy
		if owner == nil {
			owner = &report.ManagedBy{}
		}
		t := todo{
			title: fmt.Sprintf("Key %s is managed by %s (key-managed-by-iac).", orNone(key), cleanSentence(owner.Describe())),
			why:   "the remediator never edits a key policy that infrastructure as code owns: its next deployment would revert the edit (EDIT_IAC_MANAGED_KEYS=true lets it edit such keys anyway)",
			where: "in the code that manages key " + orNone(key),
		}
		if len(accounts.list) > 0 {
			t.title = fmt.Sprintf("Key %s is managed by %s (key-managed-by-iac): account(s) %s cannot use it from EC2.", orNone(key), cleanSentence(owner.Describe()), accountList(accounts.list))
		}
		var w, more todoWriter
		name := a.fileName("key-policy-statements", ".json")
		switch {
		case len(accounts.list) == 0:
			w.say("Change the key's policy in that code; the findings say what it misses.")
		case owner.Tool == report.ManagedByCloudFormation:
			stack := cmp.Or(owner.StackName, owner.StackID)
			t.where = "in the template of stack " + orNone(stack) + ", account " + orNone(arnPart(key, 4)) + ", " + cleanValue(a.regionOf(key, groups[key][0].rec))
			resource := "the key's AWS::KMS::Key resource"
			if owner.LogicalResourceID != "" {
				resource = "resource " + orNone(owner.LogicalResourceID)
			}
			w.say("Add the statements in %s (FILES) to the KeyPolicy \"Statement\" list of %s, then deploy the stack as usual:", name, resource)
			w.run("aws cloudformation deploy --stack-name", shellArg(stack), "--template-file TEMPLATE --region", shellArg(a.regionOf(key, groups[key][0].rec)))
			more.say("JSON is YAML: the statements can be pasted into a YAML template as they are.")
		default:
			w.say("Add the statements in %s (FILES) to the key's policy in that code, then apply it as usual.", name)
		}
		if len(accounts.list) > 0 {
			t.files = []file{{name: name, about: "the two statements AWS's default key policy uses, for " + accountList(accounts.list), body: keyPolicyStatements(key, accounts.list)}}
		}
		t.body, t.more = w.String(), more.String()
		out = append(out, t)
	}
	return out
}

// iamPrincipal is what the alert needs to know about a principal ARN.
type iamPrincipal struct {
	account string
	kind    string // "user" | "role" | "service-linked-role" | "root" | "other"
	name    string
}

func parsePrincipal(arn string) iamPrincipal {
	p, ok := awsid.ParsePrincipal(arn)
	if !ok {
		return iamPrincipal{kind: "other"}
	}
	out := iamPrincipal{account: p.Account, kind: "other", name: p.Name}
	switch p.Kind {
	case awsid.PrincipalRoot, awsid.PrincipalUser, awsid.PrincipalRole, awsid.PrincipalServiceLinkedRole:
		out.kind = string(p.Kind)
	case awsid.PrincipalAssumedRole:
		out.kind = "role" // the session's role is what a grant or policy names
	default:
		out.name = ""
	}
	return out
}

func (a *analysis) iamTodos(d detail, open []item) []todo {
	principals, groups := groupBy(open, item.principal)
	var out []todo
	for _, arn := range principals {
		items := groups[arn]
		var keys, codes []string
		for _, it := range items {
			codes = appendNew(codes, string(it.f.Code))
			if strings.HasPrefix(it.f.KeyARN, "arn:") {
				keys = appendNew(keys, it.f.KeyARN)
			}
		}
		sort.Strings(codes)
		act := bestAction(items)
		p := parsePrincipal(arn)
		account := p.account
		if account == "" {
			account = items[0].f.Account
		}
		t := todo{
			title: fmt.Sprintf("Principal %s may not use key(s) %s (%s).", orNone(arn), accountList(keys), cleanValue(strings.Join(codes, ", "))),
			why:   a.whyOpen(items), where: "in account " + orNone(account) + ", the principal's",
		}
		var w, more todoWriter
		switch {
		case len(keys) == 0:
			w.say("The key ARN is not known; the logs for request %s have the details.", orNone(a.ctx.RequestID))
		case p.kind == "role" && identityCenter(arn):
			pp, _ := awsid.ParsePrincipal(arn)
			t = a.identityCenterTodo(t, pp, keys, &w, &more)
		case p.kind == "service-linked-role":
			w.say("A service-linked role cannot take identity policies: a principal of that account allowed kms:CreateGrant on the key grants it instead:")
			for _, key := range keys {
				w.run("aws kms create-grant --key-id", shellArg(key), "--grantee-principal", shellArg(arn),
					"--operations Encrypt Decrypt ReEncryptFrom ReEncryptTo GenerateDataKey GenerateDataKeyWithoutPlaintext DescribeKey CreateGrant --region",
					shellArg(a.regionOf(key, items[0].rec)))
			}
			more.say("Or let the key policy name the role (in the key owner's account).")
		default:
			name := a.ctx.PolicyName
			fname := a.fileName(name, ".json")
			policyARN := "arn:" + partitionOf(arn) + ":iam::" + account + ":policy/" + name
			if act != nil && strings.HasPrefix(act.Target, "arn:") && strings.Contains(act.Target, ":policy/") {
				policyARN = act.Target
			}
			doc := block(string(usagepolicy.New(keys)), blockIndent, cleanJSONLine) // what the remediator itself creates: never Resource "*"
			if act != nil && act.Document != "" && d.documents {
				doc = documentBlock(act.Document)
			}
			w.say("Save %s (FILES, at the end), then create the policy and attach it:", cleanValue(fname))
			w.run("aws iam create-policy --policy-name", shellArg(name), "--policy-document", shellArg("file://"+fname))
			switch p.kind {
			case "user":
				w.run("aws iam attach-user-policy --user-name", shellArg(p.name), "--policy-arn", shellArg(policyARN))
			case "role":
				w.run("aws iam attach-role-policy --role-name", shellArg(p.name), "--policy-arn", shellArg(policyARN))
			default:
				w.say("The principal is not an IAM user or role: give it these permissions through whatever grants its identity policies.")
			}
			more.say("If %s already exists, put the key ARN(s) into its Resource and make that the default version (IAM keeps 5 versions: delete the oldest non-default one first):", cleanValue(name))
			more.run("aws iam create-policy-version --policy-arn", shellArg(policyARN), "--policy-document", shellArg("file://"+fname), "--set-as-default")
			a.identityGrantMore(&more, arn, account, keys, items[0].rec)
			t.files = append(t.files, file{name: fname, about: "the identity policy for " + orNone(arn), body: doc})
		}
		t.body, t.more = w.String(), more.String()
		out = append(out, t)
	}
	return out
}

// identityGrantMore tells the other fix, the one the remediator makes itself in fix mode for a
// launch the principal's account's CloudTrail confirms: a grant on each key of another account,
// created from the principal's account, with EC2's operations, and how to undo it.
func (a *analysis) identityGrantMore(more *todoWriter, arn, account string, keys []string, rec *report.Record) {
	var other []string
	for _, key := range keys {
		if arnPart(key, 4) != account {
			other = append(other, key)
		}
	}
	if len(other) == 0 || !awsid.IsAccountID(account) {
		return
	}
	more.say("Or, as the remediator does in fix mode once the launch is confirmed by account %s's CloudTrail, grant it", account)
	more.say("EC2's operations on the key: in account %s, as a principal allowed kms:CreateGrant on the key (its member role", account)
	more.say("is, for a key opted in with the tag %s=%s whose policy has the statement %s):", config.OptInTagKey, config.OptInTagValue, keypolicy.LaunchGrantSid)
	for _, key := range other {
		more.run("aws kms create-grant --key-id", shellArg(key), "--grantee-principal", shellArg(arn),
			"--operations", strings.Join(keypolicy.LaunchGrantOperations, " "), "--name", shellArg(grantName(arn)), "--region", shellArg(a.regionOf(key, rec)))
	}
	more.say("Undo it in the key's account with aws kms revoke-grant, or in account %s with aws kms retire-grant (the grant ID is in list-grants).", account)
}

// otherTodos: open findings with codes codeTable does not have, refused or failed actions no
// finding explains, and records that failed.
func (a *analysis) otherTodos() []todo {
	var out []todo
	for _, it := range a.items {
		if it.st == stateFixed || it.known {
			continue
		}
		out = append(out, todo{
			title: fmt.Sprintf("%s for account %s, key %s: %s", orNone(string(it.f.Code)), orNone(it.f.Account), orNone(it.f.KeyARN), orNoneSentence(it.f.Message)),
			why:   "this remediator does not know the code; the logs for request " + orNone(a.ctx.RequestID) + " have the details",
		})
	}
	explained := map[*report.Action]bool{}
	for _, it := range a.items {
		explained[it.act] = true
	}
	for i := range a.res.Actions {
		act := &a.res.Actions[i]
		if act.Status != report.StatusRefused && act.Status != report.StatusFailed || explained[act] {
			continue
		}
		out = append(out, todo{
			title: fmt.Sprintf("Action %s on %s %s.", orNone(act.Type), orNone(act.Target), orNone(act.Status)),
			why:   orNoneSentence(act.Reason),
		})
	}
	for i := range a.res.Records {
		r := &a.res.Records[i]
		if r.Error == "" || HasFailure(*r) {
			continue
		}
		var w todoWriter
		// A failed launch or copy names the account that needs the image; a share names the owner.
		if alreadyFailed(r.Trigger) && r.ImageID != "" && awsid.IsAccountID(r.Account) && r.Region != "" {
			w.say("Find the cause in the function's logs for request %s; once it is fixed, check the image again:", orNone(a.ctx.RequestID))
			w.run("amikms check --image", shellArg(r.ImageID), "--region", shellArg(r.Region), "--account", r.Account)
		} else {
			w.say("Find the cause in the function's logs for request %s; once it is fixed, redrive the event if it reached", orNone(a.ctx.RequestID))
			w.say("the dead-letter queue (README: \"Dead-letter queue redrive\"); the next event for the image checks it again anyway.")
		}
		out = append(out, todo{
			title: fmt.Sprintf("Event %s (%s) could not be processed: %s", orNone(r.EventID), orNone(r.Trigger), cleanSentence(r.Error)),
			why:   "the check did not finish; the event is retried when the failure was transient",
			body:  w.String(),
		})
	}
	return out
}

// orNoneSentence is cleanSentence, with "(none)" for empty text.
func orNoneSentence(s string) string {
	if s == "" {
		return "(none)"
	}
	return cleanSentence(s)
}

// identityCenter reports whether arn is a role IAM Identity Center made for a permission set.
func identityCenter(arn string) bool {
	p, ok := awsid.ParsePrincipal(arn)
	return ok && awsid.IsIdentityCenterRole(p)
}
