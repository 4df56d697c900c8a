package alert

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

const subjectPrefix = "[ami-kms] "

// subject names the image, the account and the outcome, e.g.
// "[ami-kms] ami-0a1b2c3d4e5f67890 in 444455556666: key policy fixed".
func (a *analysis) subject() string {
	var who strings.Builder
	images := a.images()
	accounts := a.accounts()
	if len(images) > 0 {
		who.WriteString(asciiSubject(images[0], 24))
		if len(images) > 1 {
			fmt.Fprintf(&who, " +%d", len(images)-1)
		}
		if len(accounts) > 0 {
			who.WriteString(" in ")
		}
	} else if len(accounts) > 0 {
		who.WriteString("account ")
	}
	if len(accounts) > 0 {
		who.WriteString(asciiSubject(accounts[0], 16))
		if len(accounts) > 1 {
			fmt.Fprintf(&who, " +%d", len(accounts)-1)
		}
	}
	long, short := a.outcome()
	for _, outcome := range []string{long, short} {
		s := asciiSubject(subjectPrefix+who.String()+": "+outcome, 4*MaxSubjectBytes)
		if len(s) <= MaxSubjectBytes {
			return s
		}
	}
	return asciiSubject(subjectPrefix+who.String()+": "+short, MaxSubjectBytes)
}

// images are the images of records with findings (or of all records), in order, distinct.
func (a *analysis) images() []string {
	var withFindings, all distinct
	for _, r := range a.res.Records {
		if r.ImageID == "" {
			continue
		}
		all.add(r.ImageID)
		if len(r.Findings) > 0 {
			withFindings.add(r.ImageID)
		}
	}
	if len(withFindings.list) > 0 {
		return withFindings.list
	}
	return all.list
}

// accounts are the accounts findings are about; else those actions name; else the records'.
func (a *analysis) accounts() []string {
	var out distinct
	for _, it := range a.items {
		if it.f.Account != "" {
			out.add(it.f.Account)
		}
	}
	if len(out.list) > 0 {
		return out.list
	}
	for _, act := range a.res.Actions {
		for _, acc := range act.Accounts {
			out.add(acc)
		}
	}
	if len(out.list) > 0 {
		return out.list
	}
	for _, r := range a.res.Records {
		if r.Account != "" {
			out.add(r.Account)
		}
	}
	return out.list
}

// appendNew is for short lists (one group's accounts); use distinct across a whole batch.
func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// outcome returns the subject's outcome, long (with the main open code) and short.
func (a *analysis) outcome() (long, short string) {
	switch a.severity() {
	case SeverityInfo:
		key, grant := false, false
		for _, act := range a.res.Actions {
			if act.Status == report.StatusApplied {
				key = key || act.Type == report.ActionKeyPolicy
				grant = grant || act.Type == report.ActionKMSGrant
			}
		}
		switch {
		case key && grant:
			return "key policy fixed, grant created", "fixed"
		case key:
			return "key policy fixed", "fixed"
		case grant:
			return "grant created", "fixed"
		}
		return "fixed", "fixed"
	case SeverityMedium:
		return "fix planned (alert mode)", "fix planned"
	case SeverityCritical:
		what := "launch failed"
		for _, it := range a.items {
			if it.st != stateFixed && alreadyFailed(it.rec.Trigger) {
				if trigger.Kind(it.rec.Trigger) == trigger.CopyImageFailed {
					what = "copy failed"
				}
				break
			}
		}
		// "launch failed" already says a person must act; the code says why.
		return withCodes(what, a.openCodes()), what + ", action needed"
	}
	return withCodes("action needed", a.openCodes()), "action needed"
}

// withCodes appends the main code and how many more there are: "action needed (aws-managed-key +1)".
func withCodes(s string, codes []string) string {
	switch len(codes) {
	case 0:
		return s
	case 1:
		return s + " (" + codes[0] + ")"
	default:
		return fmt.Sprintf("%s (%s +%d)", s, codes[0], len(codes)-1)
	}
}

// openCodes are the distinct codes of findings that are not fixed, most important first.
func (a *analysis) openCodes() []string {
	return a.codesByPriority(func(it item) bool { return it.st != stateFixed })
}

// validCode: codes are ours ("key-policy-missing-use"), but the field is a string; anything else
// stays out of the subject and the attributes.
func validCode(code report.Code) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (a *analysis) attributes() map[string]Attribute {
	attrs := map[string]Attribute{
		AttrSeverity: {DataType: "String", Value: a.severity()},
	}
	var involved distinct
	add := func(acc string) {
		if awsid.IsAccountID(acc) {
			involved.add(acc)
		}
	}
	for _, r := range a.res.Records {
		add(r.Account)
		for _, f := range r.Findings {
			add(f.Account)
		}
	}
	for _, act := range a.res.Actions {
		for _, acc := range act.Accounts {
			add(acc)
		}
	}
	accounts := involved.list
	sort.Strings(accounts)
	if len(accounts) > maxAccountsInAttribute {
		accounts = accounts[:maxAccountsInAttribute]
	}
	if len(accounts) > 0 {
		// String.Array: an SNS filter policy on "account" matches when any element does, so a
		// subscriber can follow one account.
		rawAccounts, _ := json.Marshal(accounts) // a []string always marshals
		attrs[AttrAccount] = Attribute{DataType: "String.Array", Value: string(rawAccounts)}
	}
	var all distinct
	for _, it := range a.items {
		if validCode(it.f.Code) {
			all.add(string(it.f.Code))
		}
	}
	codes := append([]string{}, all.list...)
	sort.Strings(codes)
	raw, _ := json.Marshal(codes) // a []string always marshals
	attrs[AttrFindingCodes] = Attribute{DataType: "String.Array", Value: string(raw)}
	return attrs
}

// maxAccountsInAttribute bounds the account attribute (13 bytes each) for absurd batches: the
// body lists every account anyway.
const maxAccountsInAttribute = 100

// attributesBytes is what SNS counts for the attributes: names, types and values.
func attributesBytes(attrs map[string]Attribute) int {
	n := 0
	for name, attr := range attrs {
		n += len(name) + len(attr.DataType) + len(attr.Value)
	}
	return n
}
