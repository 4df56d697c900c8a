package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Markers around the machine-readable result. A parser must match whole lines: untrusted text
// never starts a line and never contains a run of five dashes.
const (
	BeginResultMarker = "-----BEGIN AMI-KMS RESULT JSON-----"
	EndResultMarker   = "-----END AMI-KMS RESULT JSON-----"
)

// Section headings, in body order.
const (
	headingHappened = "=== WHAT HAPPENED ==="
	headingFindings = "=== FINDINGS ==="
	headingActions  = "=== ACTIONS ==="
	headingHuman    = "=== NEEDS A HUMAN ==="
	headingResult   = "=== RESULT (JSON) ==="
)

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
	return head, a.part("happened", func(b *strings.Builder) { a.writeHappened(b) }) +
		a.part("findings", func(b *strings.Builder) { a.writeFindings(b) }) +
		a.part(fmt.Sprint("actions", d.diffs), func(b *strings.Builder) { a.writeActions(b, d) }) +
		a.part(fmt.Sprint("human", d.documents), func(b *strings.Builder) { a.writeHuman(b, d) }) +
		a.part(fmt.Sprint("result", d.machine), func(b *strings.Builder) { a.writeResult(b, d) })
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

func (a *analysis) writeHappened(b *strings.Builder) {
	b.WriteString("\n" + headingHappened + "\n")
	if len(a.res.Records) == 0 {
		b.WriteString("No event records.\n")
	}
	for i, r := range a.res.Records {
		fmt.Fprintf(b, "%d. %s: image %s, account %s, region %s\n",
			i+1, orNone(r.Trigger), orNone(r.ImageID), orNone(r.Account), orNone(r.Region))
		if r.EventID != "" {
			fmt.Fprintf(b, "   event: %s\n", cleanValue(r.EventID))
		}
		if r.PrincipalARN != "" {
			fmt.Fprintf(b, "   principal: %s\n", cleanValue(r.PrincipalARN))
		}
		if r.IgnoredReason != "" {
			fmt.Fprintf(b, "   ignored: %s\n", cleanValue(r.IgnoredReason))
		}
		if r.Error != "" {
			fmt.Fprintf(b, "   error (not processed; it is retried if the failure was transient): %s\n", cleanValue(r.Error))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(b, "   note: %s\n", cleanValue(n))
		}
		if len(r.Findings) == 0 && r.IgnoredReason == "" && r.Error == "" {
			b.WriteString("   no findings\n")
		}
	}
}

func (a *analysis) writeFindings(b *strings.Builder) {
	if len(a.items) == 0 {
		return
	}
	b.WriteString("\n" + headingFindings + "\n")
	keys, groups := groupBy(a.items, byKey)
	for _, key := range keys {
		if key == "" {
			b.WriteString("Not about one key\n")
		} else {
			fmt.Fprintf(b, "Key %s\n", cleanValue(key))
		}
		for _, it := range groups[key] {
			fmt.Fprintf(b, "  - %s, account %s", orNone(string(it.f.Code)), orNone(it.f.Account))
			if it.f.PrincipalARN != "" {
				fmt.Fprintf(b, ", principal %s", cleanValue(it.f.PrincipalARN))
			}
			fmt.Fprintf(b, " [%s]\n", it.st.label())
			if it.f.Message != "" {
				fmt.Fprintf(b, "    %s\n", cleanValue(it.f.Message))
			}
		}
	}
}

func (a *analysis) writeActions(b *strings.Builder, d detail) {
	if len(a.res.Actions) == 0 {
		return
	}
	b.WriteString("\n" + headingActions + "\n")
	if a.ctx.Mode != "fix" {
		b.WriteString("Alert mode: nothing was changed; \"planned\" is what MODE=fix would do.\n")
	}
	for i, act := range a.res.Actions {
		fmt.Fprintf(b, "%d. %s on %s", i+1, orNone(act.Type), orNone(act.Target))
		if len(act.Accounts) > 0 {
			fmt.Fprintf(b, " for %s", cleanValue(strings.Join(act.Accounts, ", ")))
		}
		fmt.Fprintf(b, ": %s\n", orNone(act.Status))
		if act.Principal != "" {
			fmt.Fprintf(b, "   principal: %s\n", cleanValue(act.Principal))
		}
		if act.Reason != "" {
			fmt.Fprintf(b, "   reason: %s\n", cleanValue(act.Reason))
		}
		if act.Diff == "" {
			continue
		}
		if !d.diffs {
			fmt.Fprintf(b, "   diff: omitted to fit the SNS size limit (%d bytes)\n", len(act.Diff))
			continue
		}
		b.WriteString("   diff:\n")
		b.WriteString(block(act.Diff, "      ", cleanDiffLine))
	}
}

func (a *analysis) writeHuman(b *strings.Builder, d detail) {
	b.WriteString("\n" + headingHuman + "\n")
	todo := a.remedies(d)
	if len(todo) == 0 {
		b.WriteString("Nothing: everything found was fixed.\n")
		return
	}
	for i, r := range todo {
		fmt.Fprintf(b, "%d. ", i+1)
		b.WriteString(r)
	}
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
	b.WriteString("For machines: the result as JSON between the marker lines (long or odd values are cut and escaped as above; the logs have them raw).\n")
	b.WriteString(BeginResultMarker + "\n")
	b.Write(raw)
	b.WriteString("\n" + EndResultMarker + "\n")
}

// machineJSON marshals a copy of res whose strings are cleaned like the text: bounded, one line,
// no marker-like runs. Diff, Document and Principal are not part of the JSON format.
func machineJSON(res report.Result) ([]byte, error) {
	c := report.Result{Alert: res.Alert, Records: []report.Record{}, Actions: []report.Action{}}
	for _, r := range res.Records {
		cr := report.Record{
			EventID: cleanValue(r.EventID), Trigger: cleanValue(r.Trigger),
			IgnoredReason: cleanValue(r.IgnoredReason), Account: cleanValue(r.Account),
			Region: cleanValue(r.Region), ImageID: cleanValue(r.ImageID),
			PrincipalARN: cleanValue(r.PrincipalARN), Error: cleanValue(r.Error),
			Findings: []report.Finding{},
		}
		for _, f := range r.Findings {
			cr.Findings = append(cr.Findings, report.Finding{
				Code: report.Code(cleanValue(string(f.Code))), Account: cleanValue(f.Account), KeyARN: cleanValue(f.KeyARN),
				PrincipalARN: cleanValue(f.PrincipalARN), Message: cleanValue(f.Message), Fixable: f.Fixable,
			})
		}
		for _, n := range r.Notes {
			cr.Notes = append(cr.Notes, cleanValue(n))
		}
		c.Records = append(c.Records, cr)
	}
	for _, act := range res.Actions {
		ca := report.Action{
			Type: cleanValue(act.Type), Target: cleanValue(act.Target), Status: cleanValue(act.Status),
			Reason: cleanValue(act.Reason), Accounts: []string{},
		}
		for _, acc := range act.Accounts {
			ca.Accounts = append(ca.Accounts, cleanValue(acc))
		}
		c.Actions = append(c.Actions, ca)
	}
	c.Alert.MessageID = cleanValue(c.Alert.MessageID)
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
