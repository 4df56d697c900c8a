package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// Markers around the machine-readable result. A parser must match whole lines: untrusted text
// never starts a line and never contains a run of five dashes.
const (
	BeginResultMarker = "-----BEGIN AMI-KMS RESULT JSON-----"
	EndResultMarker   = "-----END AMI-KMS RESULT JSON-----"
)

// The body: a top without a heading (title, severity, what happened, what was found, what was
// done, and one "do this now" block), then the sections below, in this order. Everything before
// headingResult is for people; the result and the files are for machines (and for saving).
const (
	headingHuman   = "=== NEEDS A HUMAN ==="
	headingDetails = "=== DETAILS ==="
	headingEvents  = "=== EVENTS ==="
	headingConfig  = "=== TO LET THE REMEDIATOR FIX THIS ==="
	headingResult  = "=== RESULT (JSON) ==="
	headingFiles   = "=== FILES ==="
)

// Headings returns the section heading lines of a body, in body order: the only lines of a body
// that contain "===".
func Headings() []string {
	return []string{headingHuman, headingDetails, headingEvents, headingConfig, headingResult, headingFiles}
}

// MaxTopLines bounds the top of the body, from its first line to the line before the first
// heading (a truncation note included): what an on-call engineer reads first.
const MaxTopLines = 15

// maxDoLines bounds the steps and commands of the "do this now" block; a todo with more lines
// continues under NEEDS A HUMAN. With the title, severity, three summary lines, the block's
// title and reason, one "then" line, two blank lines and a truncation note, the top stays within
// MaxTopLines.
const maxDoLines = 4

// detail says which optional parts a rendering includes; fit drops them, least important
// first, until the message fits.
type detail struct {
	diffs     bool // Action.Diff
	documents bool // Action.Document (whole policies to apply by hand)
	machine   bool // the JSON block
}

var everything = detail{diffs: true, documents: true, machine: true}

// render returns the body's head (title and summary line) and the rest.
func (a *analysis) render(d detail) (head, rest string) {
	long, _ := a.outcome()
	head = fmt.Sprintf("ami-kms-remediator: %s\nSeverity: %s | Mode: %s | Region: %s | Request: %s\n",
		long, a.severity(), cleanValue(a.ctx.Mode), orNone(a.ctx.Region), orNone(a.ctx.RequestID))

	// fit renders up to five times; each part is built once per detail level that changes it.
	return head, a.part(fmt.Sprint("top", d.documents), func(b *strings.Builder) { a.writeTop(b, d) }) +
		a.part(fmt.Sprint("human", d.documents), func(b *strings.Builder) { a.writeHuman(b, d) }) +
		a.part(fmt.Sprint("details", d.diffs), func(b *strings.Builder) { a.writeDetails(b, d) }) +
		a.part("events", a.writeEvents) +
		a.part("config", a.writeConfig) +
		a.part(fmt.Sprint("result", d.machine), func(b *strings.Builder) { a.writeResult(b, d) }) +
		a.part(fmt.Sprint("files", d.documents), func(b *strings.Builder) { a.writeFiles(b, d) })
}

func (a *analysis) part(name string, write func(*strings.Builder)) string {
	if s, ok := a.parts[name]; ok {
		return s
	}
	var b strings.Builder
	write(&b)
	if a.parts == nil {
		a.parts = map[string]string{}
	}
	a.parts[name] = b.String()
	return a.parts[name]
}

// orNone is cleanValue, with "(none)" for empty values.
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return cleanValue(s)
}

// firstFew lists up to three cleaned values and says how many more there are.
func firstFew(values []string) string {
	const show = 3
	if len(values) <= show {
		return accountList(values)
	}
	return fmt.Sprintf("%s +%d", accountList(values[:show]), len(values)-show)
}

// plural: "1 key", "2 keys".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (a *analysis) writeTop(b *strings.Builder, d detail) {
	fmt.Fprintf(b, "\nHappened: %s\n", a.happened())
	fmt.Fprintf(b, "Found: %s\n", a.found())
	fmt.Fprintf(b, "Done: %s\n\n", a.done())
	todos := a.todos(d)
	if len(todos) == 0 {
		b.WriteString("DO THIS NOW: nothing; everything found was fixed.")
		if r := a.failedRecord(); r != nil {
			what := "the launch"
			if trigger.Kind(r.Trigger) == trigger.CopyImageFailed {
				what = "the copy"
			}
			fmt.Fprintf(b, " Retry what failed: %s in account %s.", what, orNone(r.Account))
		}
		b.WriteString("\n")
		return
	}
	t := todos[0]
	where := ""
	if t.where != "" {
		where = " (" + t.where + ")"
	}
	fmt.Fprintf(b, "DO THIS NOW%s: %s\n", where, t.title)
	fmt.Fprintf(b, "%sNot fixed: %s.\n", textIndent, t.why)
	body, cut := doLines(t.body)
	b.WriteString(body)
	if cut {
		fmt.Fprintf(b, "%s(continued under NEEDS A HUMAN, item 1)\n", textIndent)
	}
	if len(todos) > 1 {
		if n := len(todos) - 1; n == 1 {
			b.WriteString("1 more thing needs a person: see NEEDS A HUMAN below.\n")
		} else {
			fmt.Fprintf(b, "%d more things need a person: see NEEDS A HUMAN below.\n", n)
		}
	}
}

// doLines is the part of a todo's body the top shows, and whether it is all of it.
func doLines(body string) (string, bool) {
	lines := strings.SplitAfter(body, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) <= maxDoLines {
		return body, false
	}
	return strings.Join(lines[:maxDoLines-1], ""), true
}

// failedRecord is the first record whose trigger says something the user did already failed.
func (a *analysis) failedRecord() *report.Record {
	for i := range a.res.Records {
		if r := &a.res.Records[i]; alreadyFailed(r.Trigger) && len(r.Findings) > 0 {
			return r
		}
	}
	return nil
}

// happened says in one line which events the invocation handled.
func (a *analysis) happened() string {
	recs := a.res.Records
	switch len(recs) {
	case 0:
		return "no event records."
	case 1:
		r := recs[0]
		s := fmt.Sprintf("%s for image %s in account %s, %s", orNone(r.Trigger), orNone(r.ImageID), orNone(r.Account), orNone(r.Region))
		if r.PrincipalARN != "" {
			s += ", by " + cleanValue(r.PrincipalARN)
		}
		if r.IgnoredReason != "" {
			s += " (ignored: " + cleanSentence(r.IgnoredReason) + ")"
		}
		return s + "."
	}
	var triggers, images, accounts distinct
	count := map[string]int{}
	for _, r := range recs {
		triggers.add(r.Trigger)
		count[r.Trigger]++
		if r.ImageID != "" {
			images.add(r.ImageID)
		}
		if r.Account != "" {
			accounts.add(r.Account)
		}
	}
	kinds := make([]string, len(triggers.list))
	for i, t := range triggers.list {
		kinds[i] = fmt.Sprintf("%d %s", count[t], orNone(t))
	}
	s := fmt.Sprintf("%d events (%s)", len(recs), firstFew(kinds))
	if len(images.list) > 0 {
		s += " for " + plural(len(images.list), "image") + " (" + firstFew(images.list) + ")"
	}
	if len(accounts.list) > 0 {
		s += " in " + plural(len(accounts.list), "account") + " (" + firstFew(accounts.list) + ")"
	}
	return s + "."
}

// found says in one line what the findings are about, codes most important first.
func (a *analysis) found() string {
	var s string
	if len(a.items) == 0 {
		s = "nothing missing"
	} else {
		var accounts, keys distinct
		for _, it := range a.items {
			if it.f.Account != "" {
				accounts.add(it.f.Account)
			}
			if it.f.KeyARN != "" {
				keys.add(it.f.KeyARN)
			}
		}
		codes := a.codesByPriority(func(item) bool { return true })
		s = plural(len(a.items), "finding")
		if len(keys.list) > 0 {
			s += " on " + plural(len(keys.list), "key")
		}
		if len(accounts.list) > 0 {
			s += " for " + plural(len(accounts.list), "account") + " (" + firstFew(accounts.list) + ")"
		}
		if len(codes) > 0 {
			s += ": " + firstFew(codes)
		}
		if fixed := a.countState(stateFixed); fixed > 0 {
			s += fmt.Sprintf("; %d fixed", fixed)
		}
	}
	errors := 0
	for _, r := range a.res.Records {
		if r.Error != "" {
			errors++
		}
	}
	if errors > 0 {
		s += fmt.Sprintf("; %s could not be processed", plural(errors, "event"))
	}
	return s + "."
}

func (a *analysis) countState(st state) int {
	n := 0
	for _, it := range a.items {
		if it.st == st {
			n++
		}
	}
	return n
}

// actionNoun names an action type for a sentence.
func actionNoun(typ string) string {
	switch typ {
	case report.ActionKeyPolicy:
		return "key-policy change"
	case report.ActionKMSGrant:
		return "KMS grant"
	}
	return cleanValue(typ) + " action"
}

// done says in one line what the invocation changed or planned.
func (a *analysis) done() string {
	type group struct {
		status, typ string
		n           int
		accounts    distinct
	}
	var groups []*group
	index := map[pair]*group{}
	applied := false
	for _, act := range a.res.Actions {
		if statusRank(act.Status) == 0 {
			continue // unchanged: nothing was done
		}
		applied = applied || act.Status == report.StatusApplied
		g := index[pair{act.Status, act.Type}]
		if g == nil {
			g = &group{status: act.Status, typ: act.Type}
			groups = append(groups, g)
			index[pair{act.Status, act.Type}] = g
		}
		g.n++
		for _, acc := range act.Accounts {
			g.accounts.add(acc)
		}
	}
	sort.SliceStable(groups, func(i, j int) bool { return statusRank(groups[i].status) > statusRank(groups[j].status) })
	var parts []string
	if !applied {
		if a.ctx.Mode == "fix" {
			parts = append(parts, "nothing was changed")
		} else {
			parts = append(parts, "nothing was changed (alert mode)")
		}
	}
	for _, g := range groups {
		verb := cleanValue(g.status)
		if g.status == report.StatusApplied {
			verb = "applied and verified"
		}
		s := verb + " " + plural(g.n, actionNoun(g.typ))
		if len(g.accounts.list) > 0 {
			s += " for " + firstFew(g.accounts.list)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ") + "."
}

// codesByPriority are the distinct valid codes of the items keep selects, most important first
// (by their rows' Priority; codes the table does not have last).
func (a *analysis) codesByPriority(keep func(item) bool) []string {
	var codes distinct
	priority := map[string]int{}
	for _, it := range a.items {
		if keep(it) && validCode(it.f.Code) {
			codes.add(string(it.f.Code))
			priority[string(it.f.Code)] = it.m.Priority
		}
	}
	out := codes.list
	sort.SliceStable(out, func(i, j int) bool {
		if priority[out[i]] != priority[out[j]] {
			return priority[out[i]] < priority[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func (a *analysis) writeHuman(b *strings.Builder, d detail) {
	todos := a.todos(d)
	if len(todos) == 0 {
		return
	}
	_, cut := doLines(todos[0].body)
	if len(todos) == 1 && todos[0].more == "" && !cut {
		return // the top said it all
	}
	b.WriteString("\n" + headingHuman + "\n")
	for i, t := range todos {
		if i == 0 {
			b.WriteString("1. The DO THIS NOW above.\n")
			if cut {
				b.WriteString(t.body)
			}
			b.WriteString(t.more)
			continue
		}
		fmt.Fprintf(b, "%d. %s\n", i+1, t.title)
		fmt.Fprintf(b, "%sNot fixed: %s.\n", textIndent, t.why)
		if t.where != "" {
			fmt.Fprintf(b, "%sWhere: %s.\n", textIndent, t.where)
		}
		b.WriteString(t.body)
		b.WriteString(t.more)
	}
}

// withoutKey shows a finding's message under its key's heading: the key ARN it repeats is "this
// key". Nothing else of the sentence changes.
func withoutKey(message, key string) string {
	if strings.HasPrefix(key, "arn:") {
		message = strings.ReplaceAll(message, key, "this key")
	}
	return cleanSentence(message)
}

// writeDetails lists, key by key, every finding (with where it stands) and the actions on that
// key; then the other actions.
func (a *analysis) writeDetails(b *strings.Builder, d detail) {
	if len(a.items) == 0 && len(a.res.Actions) == 0 {
		return
	}
	b.WriteString("\n" + headingDetails + "\n")
	keys, groups := groupBy(a.items, byKey)
	var others []*report.Action
	byTarget := map[string][]*report.Action{}
	listed := map[string]bool{}
	for _, k := range keys {
		listed[k] = true
	}
	for i := range a.res.Actions {
		act := &a.res.Actions[i]
		if act.Type != report.ActionKeyPolicy || act.Target == "" {
			others = append(others, act)
			continue
		}
		if !listed[act.Target] {
			listed[act.Target] = true
			keys = append(keys, act.Target)
		}
		byTarget[act.Target] = append(byTarget[act.Target], act)
	}
	for _, key := range keys {
		if key == "" {
			b.WriteString("Not about one key\n")
		} else {
			fmt.Fprintf(b, "Key %s\n", cleanValue(key))
		}
		for _, it := range groups[key] {
			fmt.Fprintf(b, "  [%s] %s, account %s", it.st.label(), orNone(string(it.f.Code)), orNone(it.f.Account))
			if it.f.PrincipalARN != "" {
				fmt.Fprintf(b, ", principal %s", cleanValue(it.f.PrincipalARN))
			}
			if it.f.Message != "" {
				fmt.Fprintf(b, ": %s", withoutKey(it.f.Message, key))
			}
			b.WriteString("\n")
		}
		for _, act := range byTarget[key] {
			a.writeAction(b, act, d, "key-policy change")
		}
	}
	for _, act := range others {
		switch {
		case act.Principal != "":
			fmt.Fprintf(b, "Principal %s\n", cleanValue(act.Principal))
		default:
			b.WriteString("Other action\n")
		}
		a.writeAction(b, act, d, cleanValue(act.Type)+" "+orNone(act.Target))
	}
}

func (a *analysis) writeAction(b *strings.Builder, act *report.Action, d detail, what string) {
	fmt.Fprintf(b, "  %s", what)
	if len(act.Accounts) > 0 {
		fmt.Fprintf(b, " for %s", accountList(act.Accounts))
	}
	fmt.Fprintf(b, ": %s", orNone(act.Status))
	if act.Reason != "" {
		fmt.Fprintf(b, ": %s", cleanSentence(act.Reason))
	}
	b.WriteString("\n")
	if act.Type == report.ActionKMSGrant && act.GrantID != "" && strings.HasPrefix(act.Target, "arn:") {
		fmt.Fprintf(b, "  undo, %s: aws kms revoke-grant --key-id %s --grant-id %s --region %s\n", keyOwner(act.Target),
			shellArg(act.Target), shellArg(act.GrantID), shellArg(a.regionOf(act.Target, nil)))
		if len(act.Accounts) == 1 && awsid.IsAccountID(act.Accounts[0]) {
			fmt.Fprintf(b, "  or, in account %s, which created it: aws kms retire-grant with the same arguments\n", act.Accounts[0])
		}
	}
	if act.Diff == "" {
		return
	}
	switch {
	case !d.diffs:
		fmt.Fprintf(b, "  diff: omitted to fit the SNS size limit (%d bytes)\n", len(act.Diff))
	case act.Status == report.StatusApplied:
		// What was changed is on record; the lines around it are not needed to act.
		b.WriteString("  changed lines:\n")
		b.WriteString(block(changedLines(act.Diff), blockIndent, cleanDiffLine))
	default:
		b.WriteString("  diff:\n")
		b.WriteString(block(act.Diff, blockIndent, cleanDiffLine))
	}
}

// changedLines keeps the lines of a diff that were removed or added (and hunk headers).
func changedLines(diff string) string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(diff, "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ "):
		case strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") || strings.HasPrefix(l, "@@"):
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return diff
	}
	return strings.Join(out, "\n")
}

func (a *analysis) writeEvents(b *strings.Builder) {
	b.WriteString("\n" + headingEvents + "\n")
	if len(a.res.Records) == 0 {
		b.WriteString("No event records.\n")
	}
	for i, r := range a.res.Records {
		fmt.Fprintf(b, "%d. %s", i+1, orNone(r.Trigger))
		if r.EventID != "" {
			fmt.Fprintf(b, " %s", cleanValue(r.EventID))
		}
		fmt.Fprintf(b, ": image %s, account %s, region %s\n", orNone(r.ImageID), orNone(r.Account), orNone(r.Region))
		if r.PrincipalARN != "" {
			fmt.Fprintf(b, "   principal: %s\n", cleanValue(r.PrincipalARN))
		}
		if r.IgnoredReason != "" {
			fmt.Fprintf(b, "   ignored: %s\n", cleanSentence(r.IgnoredReason))
		}
		if r.Error != "" {
			fmt.Fprintf(b, "   error (not processed; it is retried if the failure was transient): %s\n", cleanSentence(r.Error))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(b, "   note: %s\n", cleanSentence(n))
		}
	}
}

// writeConfig ends the part for people with the configuration that would have let the
// remediator fix what this alert asks a person to do: MODE=fix, and the accounts it did not
// trust added to every account it trusts.
func (a *analysis) writeConfig(b *strings.Builder) {
	planned := a.countState(statePlanned) > 0
	for _, act := range a.res.Actions {
		planned = planned || act.Status == report.StatusPlanned
	}
	var more []string
	for _, t := range a.todos(everything) {
		for _, acc := range t.trust {
			more = appendNew(more, acc)
		}
	}
	mode := a.ctx.Mode != "fix" && (planned || len(more) > 0)
	if !mode && len(more) == 0 {
		return
	}
	trusted := map[string]bool{}
	for _, acc := range a.ctx.TrustedAccounts {
		if awsid.IsAccountID(acc) {
			trusted[acc] = true
		}
	}
	var added []string
	for _, acc := range more {
		if !trusted[acc] {
			trusted[acc] = true
			added = append(added, acc)
		}
	}
	all := make([]string, 0, len(trusted))
	for acc := range trusted {
		all = append(all, acc)
	}
	sort.Strings(all)

	b.WriteString("\n" + headingConfig + "\n")
	var what []string
	if planned {
		what = append(what, "made the planned changes itself")
	}
	if len(added) > 0 {
		what = append(what, "granted "+accountList(added))
	}
	if len(what) == 0 {
		what = append(what, "fixed what it found")
	}
	fmt.Fprintf(b, "With this configuration the remediator would have %s. It affects every trusted account, not only this alert's:\n", strings.Join(what, " and "))
	fmt.Fprintf(b, "%sfrom then on it changes key policies and IAM for all of them, on every event.\n", textIndent)
	var params, env []string
	if mode {
		params, env = append(params, "Mode=fix"), append(env, "MODE=fix")
	}
	if len(added) > 0 {
		list := strings.Join(all, ",")
		params, env = append(params, "TrustedAccountIds="+list), append(env, "TRUSTED_ACCOUNT_IDS="+list)
	}
	fmt.Fprintf(b, "%ssam deploy --parameter-overrides %s\n", blockIndent, strings.Join(params, " "))
	var keep []string
	switch {
	case len(added) > 0 && len(a.ctx.TrustedAccounts) > 0:
		keep = append(keep, "the list keeps every account trusted now")
	case len(added) == 0 && len(all) > 0:
		keep = append(keep, "TrustedAccountIds stays "+strings.Join(all, ","))
	}
	if a.ctx.TrustedOrganization != "" {
		keep = append(keep, "TrustedOrganizationId stays "+cleanValue(a.ctx.TrustedOrganization))
	}
	keep = append(keep, "parameters not named keep their deployed values")
	fmt.Fprintf(b, "%s(%s; without SAM, set the function's environment: %s)\n", textIndent, strings.Join(keep, "; "), strings.Join(env, " "))
}

func (a *analysis) writeResult(b *strings.Builder, d detail) {
	b.WriteString("\n" + headingResult + "\n")
	if !d.machine {
		b.WriteString("Omitted to fit the SNS size limit; the logs have the full result.\n")
		return
	}
	raw, err := machineJSON(a.res)
	if err != nil {
		fmt.Fprintf(b, "Omitted: %s\n", cleanValue(err.Error()))
		return
	}
	b.WriteString("For machines: the result as JSON between the marker lines (values escaped as above; the logs have them raw).\n")
	b.WriteString(BeginResultMarker + "\n")
	b.Write(raw)
	b.WriteString("\n" + EndResultMarker + "\n")
}

func (a *analysis) writeFiles(b *strings.Builder, d detail) {
	var files []file
	for _, t := range a.todos(d) {
		files = append(files, t.files...)
	}
	if len(files) == 0 {
		return
	}
	b.WriteString("\n" + headingFiles + "\n")
	for _, f := range files {
		fmt.Fprintf(b, "File %s: %s.\n", cleanValue(f.name), f.about)
		b.WriteString(f.body)
	}
}

// embeddedResult is the result as an alert carries it: without its "alert" member. The message
// is composed before it is published and cannot know its own message ID; whoever reads it knows
// it was published, and the function's own result (and logs) say so with the ID.
type embeddedResult struct {
	Records []report.Record `json:"records"`
	Actions []report.Action `json:"actions"`
	Stats   map[string]int  `json:"stats,omitempty"`
}

// machineJSON marshals a copy of res whose strings are cleaned like the text: one line each, no
// marker-like runs, values from events bounded. Diff, Document and Principal are not part of the
// JSON format.
func machineJSON(res report.Result) ([]byte, error) {
	c := embeddedResult{Records: []report.Record{}, Actions: []report.Action{}}
	for _, r := range res.Records {
		cr := report.Record{
			EventID: cleanValue(r.EventID), Trigger: cleanValue(r.Trigger),
			IgnoredReason: cleanSentence(r.IgnoredReason), Account: cleanValue(r.Account),
			Region: cleanValue(r.Region), ImageID: cleanValue(r.ImageID),
			PrincipalARN: cleanValue(r.PrincipalARN), Error: cleanSentence(r.Error),
			Findings: []report.Finding{},
		}
		for _, f := range r.Findings {
			cr.Findings = append(cr.Findings, report.Finding{
				Code: report.Code(cleanValue(string(f.Code))), Account: cleanValue(f.Account), KeyARN: cleanValue(f.KeyARN),
				PrincipalARN: cleanValue(f.PrincipalARN), Message: cleanSentence(f.Message), Fixable: f.Fixable,
			})
		}
		for _, n := range r.Notes {
			cr.Notes = append(cr.Notes, cleanSentence(n))
		}
		c.Records = append(c.Records, cr)
	}
	for _, act := range res.Actions {
		ca := report.Action{
			Type: cleanValue(act.Type), Target: cleanValue(act.Target), Status: cleanValue(act.Status),
			Reason: cleanSentence(act.Reason), Accounts: []string{},
		}
		for _, acc := range act.Accounts {
			ca.Accounts = append(ca.Accounts, cleanValue(acc))
		}
		c.Actions = append(c.Actions, ca)
	}
	if len(res.Stats) > 0 {
		c.Stats = map[string]int{}
		for k, v := range res.Stats {
			c.Stats[cleanValue(k)] = v
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshal result: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// fit renders the body within budget bytes. When the whole body does not fit it drops, in
// order, the diffs, the whole-policy documents and the JSON block, and as a last resort cuts the
// text at a line boundary; every cut is announced near the top. The JSON block is either whole
// or absent, so it is always valid JSON.
func (a *analysis) fit(budget int) string {
	fullHead, fullRest := a.render(everything)
	whole := len(fullHead) + len(fullRest)
	if whole <= budget {
		return fullHead + fullRest
	}
	for _, d := range []detail{
		{documents: true, machine: true},
		{machine: true},
		{},
	} {
		head, rest := a.render(d)
		body := head + truncationNote(whole-len(head)-len(rest)) + rest
		if len(body) <= budget {
			return body
		}
	}
	head, rest := a.render(detail{})
	const tail = "(message cut here)\n"
	// The note's number has at most 20 digits.
	room := budget - len(head) - len(truncationNote(0)) - 20 - len(tail)
	if room < 0 {
		room = 0
	}
	kept := cutBytes(rest, room)
	if i := strings.LastIndexByte(kept, '\n'); i >= 0 {
		kept = kept[:i+1]
	} else {
		kept = ""
	}
	body := head + truncationNote(whole-len(head)-len(kept)) + kept + tail
	if len(body) > budget {
		// Only an absurd head (it holds only bounded values) or budget gets here.
		return cutBytes(body, budget)
	}
	return body
}

func truncationNote(omitted int) string {
	return fmt.Sprintf("(message truncated: %d bytes omitted; see the logs for the full result)\n", omitted)
}
