package alert

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// Indentation inside a "needs a human" item: text lines, then blocks (JSON, commands).
const (
	textIndent  = "   "
	blockIndent = "      "
)

// The remedies of codeTable's rows. Each renders the open findings of the codes that share it.
var (
	keyNotFoundRemedy = keyStateRemedy(func(b *strings.Builder, key, _ string) {
		fmt.Fprintf(b, "Key %s (key-not-found) does not exist or the remediator cannot read it. Nothing was fixed.\n", orNone(key))
		fmt.Fprintf(b, "%sCheck that the key exists in %s and that the remediator's role may call kms:DescribeKey and kms:GetKeyPolicy on it.\n", textIndent, ownerOf(key))
	})
	keyDisabledRemedy = keyStateRemedy(func(b *strings.Builder, key, region string) {
		fmt.Fprintf(b, "Key %s is disabled (key-disabled): EC2 cannot use it for anyone. Nothing was fixed.\n", orNone(key))
		fmt.Fprintf(b, "%sIf it should be in use, enable it in %s:\n", textIndent, ownerOf(key))
		b.WriteString(command("aws kms enable-key --key-id", shellArg(key), "--region", shellArg(region)))
	})
	keyPendingDeletionRemedy = keyStateRemedy(func(b *strings.Builder, key, region string) {
		fmt.Fprintf(b, "Key %s is scheduled for deletion (key-pending-deletion): EC2 cannot use it, and its data becomes unreadable when it is deleted. Nothing was fixed.\n", orNone(key))
		fmt.Fprintf(b, "%sIf it is still needed, cancel the deletion and enable it in %s:\n", textIndent, ownerOf(key))
		b.WriteString(command("aws kms cancel-key-deletion --key-id", shellArg(key), "--region", shellArg(region)))
		b.WriteString(command("aws kms enable-key --key-id", shellArg(key), "--region", shellArg(region)))
	})
	awsManagedRemedy = &remedy{render: (*analysis).awsManagedRemedies}
	publicRemedy     = &remedy{render: (*analysis).publicRemedies}
	denyRemedy       = &remedy{render: (*analysis).denyRemedies}
	untrustedRemedy  = &remedy{render: (*analysis).untrustedRemedies}
	keyPolicyRemedy  = &remedy{render: (*analysis).keyPolicyRemedies}
	iamRemedy        = &remedy{render: (*analysis).iamRemedies}
)

// remedies lists what still needs a person, each entry one numbered item's text (first line
// without the number, then indented lines): the remedies in codeTable's order, then what no row
// explains.
func (a *analysis) remedies(d detail) []string {
	open := map[*remedy][]item{}
	for _, it := range a.items {
		if it.st != stateFixed && it.m.remedy != nil {
			open[it.m.remedy] = append(open[it.m.remedy], it)
		}
	}
	var out []string
	for _, m := range codeTable {
		if items := open[m.remedy]; len(items) > 0 {
			out = append(out, m.remedy.render(a, d, items)...)
			delete(open, m.remedy) // rendered once, for every code that shares it
		}
	}
	return append(out, a.otherRemedies()...)
}

// arnPart returns field i of an ARN (1 partition, 3 region, 4 account), or "".
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

// ownerOf names the account in an ARN for a sentence ("account 111122223333"), or "its owner".
func ownerOf(arn string) string {
	if acc := arnPart(arn, 4); acc != "" {
		return "account " + cleanValue(acc)
	}
	return "its owner's account"
}

// messages lists the distinct finding messages of items as indented lines.
func messages(items []item) string {
	var seen distinct
	for _, it := range items {
		if it.f.Message != "" {
			seen.add(it.f.Message)
		}
	}
	var b strings.Builder
	for _, m := range seen.list {
		fmt.Fprintf(&b, "%sfound: %s\n", textIndent, cleanValue(m))
	}
	return b.String()
}

// accountList joins cleaned account values.
func accountList(accounts []string) string {
	cleaned := make([]string, len(accounts))
	for i, acc := range accounts {
		cleaned[i] = orNone(acc)
	}
	return strings.Join(cleaned, ", ")
}

// command renders one shell command line as a block line; args are already quoted.
func command(args ...string) string {
	return blockIndent + strings.Join(args, " ") + "\n"
}

// keyStateRemedy renders one item per key in a state where EC2 cannot use it; say writes what
// that state means and the commands that end it.
func keyStateRemedy(say func(b *strings.Builder, key, region string)) *remedy {
	return &remedy{render: func(a *analysis, _ detail, open []item) []string {
		var out []string
		done := map[string]bool{}
		for _, it := range open {
			if done[it.f.KeyARN] {
				continue
			}
			done[it.f.KeyARN] = true
			var b strings.Builder
			say(&b, it.f.KeyARN, a.regionOf(it.f.KeyARN, it.rec))
			b.WriteString(messages([]item{it}))
			out = append(out, b.String())
		}
		return out
	}}
}

func (a *analysis) awsManagedRemedies(_ detail, open []item) []string {
	type group struct {
		image, key, region string
		rec                *report.Record
		accounts           []string
		items              []item
	}
	var groups []*group
	index := map[pair]*group{}
	for _, it := range open {
		g := index[pair{it.rec.ImageID, it.f.KeyARN}]
		if g == nil {
			region := it.rec.Region
			if region == "" {
				region = a.regionOf(it.f.KeyARN, it.rec)
			}
			g = &group{image: it.rec.ImageID, key: it.f.KeyARN, region: region, rec: it.rec}
			groups = append(groups, g)
			index[pair{g.image, g.key}] = g
		}
		if it.f.Account != "" {
			g.accounts = appendNew(g.accounts, it.f.Account)
		}
		g.items = append(g.items, it)
	}
	var out []string
	for _, g := range groups {
		var b strings.Builder
		fmt.Fprintf(&b, "Image %s is encrypted with the AWS managed key %s (aws-managed-key).", orNone(g.image), orNone(g.key))
		if len(g.accounts) > 0 {
			fmt.Fprintf(&b, " Accounts affected: %s.", accountList(g.accounts))
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "%sWhy nothing was fixed: the policy of an AWS managed key (aws/ebs) cannot be changed, so no other account can ever use it;\n", textIndent)
		fmt.Fprintf(&b, "%sthe image must be copied with a customer managed key, and the copy shared instead. In %s (the image owner), run:\n", textIndent, ownerOf(g.key))
		fmt.Fprintf(&b, "%s# CMK_ARN: a customer managed key in that account; the accounts above must be allowed to use it\n", blockIndent)
		image := g.image
		if image == "" {
			image = "IMAGE_ID"
		}
		b.WriteString(command("aws ec2 copy-image --source-image-id", shellArg(image),
			"--source-region", shellArg(g.region), "--region", shellArg(g.region),
			"--name", shellArg(image+"-cmk"), "--encrypted --kms-key-id \"$CMK_ARN\""))
		fmt.Fprintf(&b, "%sThen share the new image; its key policy gets the accounts added when the remediator sees the share (MODE=fix, trusted accounts).\n", textIndent)
		b.WriteString(messages(g.items))
		out = append(out, b.String())
	}
	return out
}

func (a *analysis) publicRemedies(_ detail, open []item) []string {
	var out []string
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
		var b strings.Builder
		fmt.Fprintf(&b, "Image %s is shared with everyone (public-image).\n", orNone(it.rec.ImageID))
		fmt.Fprintf(&b, "%sWhy nothing was fixed: the remediator never opens a key to everyone, and AWS does not allow public images with encrypted snapshots.\n", textIndent)
		fmt.Fprintf(&b, "%sMake it private and share it with the accounts that need it instead:\n", textIndent)
		b.WriteString(command("aws ec2 modify-image-attribute --image-id", shellArg(image), "--region", shellArg(region),
			"--launch-permission", shellQuote("Remove=[{Group=all}]")))
		b.WriteString(messages([]item{it}))
		out = append(out, b.String())
	}
	return out
}

func (a *analysis) denyRemedies(_ detail, open []item) []string {
	var out []string
	keys, groups := groupBy(open, byKey)
	for _, key := range keys {
		items := groups[key]
		var accounts distinct
		for _, it := range items {
			accounts.add(it.f.Account)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Key %s: a Deny statement blocks account(s) %s (explicit-deny).\n", orNone(key), accountList(accounts.list))
		fmt.Fprintf(&b, "%sWhy nothing was fixed: the remediator never removes or rewrites statements, and an Allow cannot override a Deny.\n", textIndent)
		fmt.Fprintf(&b, "%sReview the Deny in the key policy (in %s) and change it if the accounts should use the key:\n", textIndent, ownerOf(key))
		b.WriteString(command("aws kms get-key-policy --key-id", shellArg(key), "--policy-name default --output text --region",
			shellArg(a.regionOf(key, items[0].rec))))
		b.WriteString(messages(items))
		out = append(out, b.String())
	}
	return out
}

func (a *analysis) untrustedRemedies(_ detail, open []item) []string {
	var accounts distinct
	for _, it := range open {
		accounts.add(it.f.Account)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Account(s) %s are not trusted (untrusted-account).\n", accountList(accounts.list))
	fmt.Fprintf(&b, "%sWhy nothing was fixed: they are neither in TRUSTED_ACCOUNT_IDS nor confirmed members of TRUSTED_ORGANIZATION_ID, and the remediator grants only to trusted accounts.\n", textIndent)
	fmt.Fprintf(&b, "%sIf they should use the image, add them to TRUSTED_ACCOUNT_IDS (the next event fixes it), or apply the key-policy statements below by hand.\n", textIndent)
	b.WriteString(messages(open))
	return []string{b.String()}
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
			r = "alert mode: MODE=fix would apply it"
		case it.act != nil && it.act.Reason != "":
			r = it.act.Status + ": " + it.act.Reason
		case it.act != nil:
			r = it.act.Status
		case a.mentions(report.UntrustedAccount).accounts[it.f.Account]:
			r = "the account is not trusted"
		default:
			r = "no fix was attempted"
		}
		reasons.add(r)
	}
	cleaned := make([]string, len(reasons.list))
	for i, r := range reasons.list {
		cleaned[i] = cleanValue(r)
	}
	return strings.Join(cleaned, "; ")
}

func (a *analysis) keyPolicyRemedies(d detail, open []item) []string {
	keys, groups := groupBy(open, byKey)
	untrustedAccounts := a.mentions(report.UntrustedAccount).accounts
	deniedPairs := a.mentions(report.ExplicitDeny).pairs
	managedKeys := a.mentions(report.AWSManagedKey).keys
	var out []string
	for _, key := range keys {
		if managedKeys[key] { // an AWS managed key's policy cannot be edited: see its own item
			continue
		}
		items := groups[key]
		var codes, invalid, untrusted, denied []string
		var accounts distinct
		var act *report.Action
		for _, it := range items {
			codes = appendNew(codes, string(it.f.Code))
			switch {
			case !awsid.IsAccountID(it.f.Account):
				invalid = appendNew(invalid, it.f.Account)
				continue
			case untrustedAccounts[it.f.Account]:
				untrusted = appendNew(untrusted, it.f.Account)
			}
			if deniedPairs[pair{key, it.f.Account}] {
				denied = appendNew(denied, it.f.Account)
			}
			accounts.add(it.f.Account)
			if it.act != nil && (act == nil || statusRank(it.act.Status) > statusRank(act.Status)) {
				act = it.act
			}
		}
		sort.Strings(codes)
		var b strings.Builder
		all := append(append([]string{}, accounts.list...), invalid...)
		fmt.Fprintf(&b, "Key %s: account(s) %s cannot use it from EC2 (%s).\n", orNone(key), accountList(all), strings.Join(codes, ", "))
		fmt.Fprintf(&b, "%sNot fixed: %s.\n", textIndent, a.whyOpen(items))
		if len(invalid) > 0 {
			fmt.Fprintf(&b, "%s%s: not 12-digit account IDs; no statement is given for them.\n", textIndent, accountList(invalid))
		}
		if len(accounts.list) > 0 {
			fmt.Fprintf(&b, "%sIn %s, add these two statements to the key policy's \"Statement\" list (change nothing else):\n", textIndent, ownerOf(key))
			b.WriteString(keyPolicyStatements(key, accounts.list))
			fmt.Fprintf(&b, "%sIf statements with these Sids exist already, add the account root ARN(s) to their Principal instead of adding new ones.\n", textIndent)
			if len(untrusted) > 0 {
				fmt.Fprintf(&b, "%sCaution: the remediator does not trust %s; add them only if you do.\n", textIndent, accountList(untrusted))
			}
			if len(denied) > 0 {
				fmt.Fprintf(&b, "%sA Deny blocks %s: these statements alone will not help them (see above).\n", textIndent, accountList(denied))
			}
		}
		if act != nil && act.Document != "" && act.Status != report.StatusApplied {
			if d.documents {
				fmt.Fprintf(&b, "%sOr apply the whole policy the remediator %s (save it as key-policy.json; the lockout safety check stays on):\n", textIndent, planVerb(act.Status))
				b.WriteString(command("aws kms put-key-policy --key-id", shellArg(key), "--policy-name default --policy file://key-policy.json --region",
					shellArg(a.regionOf(key, items[0].rec))))
				fmt.Fprintf(&b, "%skey-policy.json:\n", textIndent)
				b.WriteString(documentBlock(act.Document))
			} else {
				fmt.Fprintf(&b, "%sThe whole %s policy (%d bytes) was omitted to fit the SNS size limit; the statements above are enough.\n", textIndent, planVerb(act.Status), len(act.Document))
			}
		}
		out = append(out, b.String())
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

// iamPrincipal is what the alert needs to know about a principal ARN.
type iamPrincipal struct {
	account string
	kind    string // "user" | "role" | "service-linked-role" | "root" | "other"
	name    string
}

func parsePrincipal(arn string) iamPrincipal {
	p := iamPrincipal{account: arnPart(arn, 4), kind: "other"}
	service, resource := arnPart(arn, 2), arnPart(arn, 5)
	segments := strings.Split(resource, "/")
	last := segments[len(segments)-1]
	switch {
	case service == "iam" && resource == "root":
		p.kind = "root"
	case service == "iam" && strings.HasPrefix(resource, "user/") && last != "":
		p.kind, p.name = "user", last
	case service == "iam" && strings.HasPrefix(resource, "role/aws-service-role/"):
		p.kind, p.name = "service-linked-role", last
	case service == "iam" && strings.HasPrefix(resource, "role/") && last != "":
		p.kind, p.name = "role", last
	case service == "sts" && strings.HasPrefix(resource, "assumed-role/") && len(segments) >= 2 && segments[1] != "":
		p.kind, p.name = "role", segments[1]
	}
	return p
}

func (a *analysis) iamRemedies(d detail, open []item) []string {
	principals, groups := groupBy(open, item.principal)
	var out []string
	for _, arn := range principals {
		items := groups[arn]
		var keys, codes []string
		var act *report.Action
		for _, it := range items {
			codes = appendNew(codes, string(it.f.Code))
			if strings.HasPrefix(it.f.KeyARN, "arn:") {
				keys = appendNew(keys, it.f.KeyARN)
			}
			if it.act != nil && (act == nil || statusRank(it.act.Status) > statusRank(act.Status)) {
				act = it.act
			}
		}
		sort.Strings(codes)
		p := parsePrincipal(arn)
		account := p.account
		if account == "" {
			account = items[0].f.Account
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Principal %s (account %s) is not allowed to use key(s) %s (%s).\n",
			orNone(arn), orNone(account), accountList(keys), strings.Join(codes, ", "))
		fmt.Fprintf(&b, "%sNot fixed: %s.\n", textIndent, a.whyOpen(items))
		if len(keys) == 0 {
			fmt.Fprintf(&b, "%sThe key ARN is not known; the logs for this request have the details.\n", textIndent)
			b.WriteString(messages(items))
			out = append(out, b.String())
			continue
		}
		if p.kind == "service-linked-role" {
			fmt.Fprintf(&b, "%sIt is a service-linked role, which cannot take identity policies: the fix is on the key side.\n", textIndent)
			fmt.Fprintf(&b, "%sEither the key policy names the role, or someone in account %s whose identity policy allows kms:CreateGrant on the key creates a grant:\n", textIndent, orNone(account))
			for _, key := range keys {
				b.WriteString(command("aws kms create-grant --key-id", shellArg(key), "--grantee-principal", shellArg(arn),
					"--operations Encrypt Decrypt ReEncryptFrom ReEncryptTo GenerateDataKey GenerateDataKeyWithoutPlaintext DescribeKey CreateGrant --region",
					shellArg(a.regionOf(key, items[0].rec))))
			}
			b.WriteString(messages(items))
			out = append(out, b.String())
			continue
		}
		name := a.ctx.PolicyName
		file := "file://" + name + ".json"
		policyARN := "arn:" + partitionOf(arn) + ":iam::" + account + ":policy/" + name
		if act != nil && strings.HasPrefix(act.Target, "arn:") && strings.Contains(act.Target, ":policy/") {
			policyARN = act.Target
		}
		fmt.Fprintf(&b, "%sIn account %s, create the policy %s with this document (save it as %s.json) and attach it:\n",
			textIndent, orNone(account), cleanValue(name), cleanValue(name))
		if act != nil && act.Document != "" && d.documents {
			b.WriteString(documentBlock(act.Document))
		} else {
			// The document the remediator itself creates (usagepolicy.New): never Resource "*".
			b.WriteString(block(string(usagepolicy.New(keys)), blockIndent, cleanJSONLine))
		}
		b.WriteString(command("aws iam create-policy --policy-name", shellArg(name), "--policy-document", shellArg(file)))
		switch p.kind {
		case "user":
			b.WriteString(command("aws iam attach-user-policy --user-name", shellArg(p.name), "--policy-arn", shellArg(policyARN)))
		case "role":
			b.WriteString(command("aws iam attach-role-policy --role-name", shellArg(p.name), "--policy-arn", shellArg(policyARN)))
		default:
			fmt.Fprintf(&b, "%sThe principal is not an IAM user or role: give it these permissions through whatever grants its identity policies.\n", textIndent)
		}
		fmt.Fprintf(&b, "%sIf %s already exists, put the key ARN(s) into its Resource and make that the default version (IAM keeps 5 versions: delete the oldest non-default one first):\n",
			textIndent, cleanValue(name))
		b.WriteString(command("aws iam create-policy-version --policy-arn", shellArg(policyARN), "--policy-document", shellArg(file), "--set-as-default"))
		b.WriteString(messages(items))
		out = append(out, b.String())
	}
	return out
}

// otherRemedies: open findings with codes codeTable does not have, refused or failed actions no
// finding explains, and records that failed.
func (a *analysis) otherRemedies() []string {
	var out []string
	for _, it := range a.items {
		if it.st == stateFixed || it.known {
			continue
		}
		out = append(out, fmt.Sprintf("%s for account %s, key %s: %s\n", orNone(string(it.f.Code)), orNone(it.f.Account), orNone(it.f.KeyARN), orNone(it.f.Message)))
	}
	explained := map[*report.Action]bool{}
	for _, it := range a.items {
		explained[it.act] = true
	}
	for i := range a.res.Actions {
		act := &a.res.Actions[i]
		if act.Status != report.StatusRefused && act.Status != report.StatusFailed {
			continue
		}
		if !explained[act] {
			out = append(out, fmt.Sprintf("Action %s on %s %s: %s\n", orNone(act.Type), orNone(act.Target), orNone(act.Status), orNone(act.Reason)))
		}
	}
	for _, r := range a.res.Records {
		if r.Error != "" {
			out = append(out, fmt.Sprintf("Event %s (%s) could not be processed: %s\n%sThe logs for request %s have the details.\n",
				orNone(r.EventID), orNone(r.Trigger), cleanValue(r.Error), textIndent, orNone(a.ctx.RequestID)))
		}
	}
	return out
}
