// Package alert turns an invocation's report.Result into one SNS message an operator can act on
// in a minute, and publishes it.
//
// Compose is pure (no clock, no clients, no logging); Publish is the only AWS call. Everything
// that came from events is treated as hostile text: see sanitize.go for the rules.
package alert

import (
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// Context is what Compose needs besides the result: the function's configuration, so that the
// alert can say which configuration change would let the remediator fix what it did not.
type Context struct {
	Mode       string // "alert" | "fix" (MODE); "" is shown as "alert", the default
	Region     string // the remediator's own region, used when a record has none
	RequestID  string // Lambda request ID (or the CLI's run ID): ties the alert to the logs
	PolicyName string // IAM_POLICY_NAME; "" means usagepolicy.DefaultName
	// TrustedAccounts (TRUSTED_ACCOUNT_IDS) and TrustedOrganization (TRUSTED_ORGANIZATION_ID)
	// are the trust the remediator runs with: a change that trusts one more account lists every
	// current one, so that applying it drops none.
	TrustedAccounts     []string
	TrustedOrganization string
}

// Attribute is one SNS message attribute.
type Attribute struct {
	DataType string // "String" | "String.Array"
	Value    string // for String.Array, a JSON array
}

// Message is one SNS message: Subject (≤ MaxSubjectBytes printable ASCII), Body (plain text,
// UTF-8) and the attributes subscribers filter on.
type Message struct {
	Subject    string
	Body       string
	Attributes map[string]Attribute
}

// Limits.
const (
	// MaxSubjectBytes: SNS wants "less than 100 characters".
	MaxSubjectBytes = 99
	// MaxMessageBytes is SNS's default size limit; SNS counts the body and the attributes
	// together, and so do we (with the subject, to be safe).
	MaxMessageBytes = 262144
)

// Severities, most urgent first.
const (
	SeverityCritical = "critical" // an instance launch or image copy already failed and is not fixed
	SeverityHigh     = "high"     // a human must act: a finding nothing fixes (or will fix), a refused or failed action, a record that failed
	SeverityMedium   = "medium"   // alert mode: every problem has a planned fix that MODE=fix would apply
	SeverityInfo     = "info"     // everything found was fixed
)

// Attribute names.
const (
	AttrSeverity     = "severity"
	AttrAccount      = "account"
	AttrFindingCodes = "finding_codes"
)

// Compose builds the alert for res. It returns false when there is nothing to tell: no finding in
// any record, no record that failed, and no action other than "unchanged". Which failed records
// reach it (a transient failure that will be retried, or only the last delivery's) is the
// caller's choice.
func Compose(res report.Result, in Context) (Message, bool) {
	if !worthTelling(res) {
		return Message{}, false
	}
	a := analyze(res, in)
	m := Message{
		Subject:    a.subject(),
		Attributes: a.attributes(),
	}
	m.Body = a.fit(MaxMessageBytes - len(m.Subject) - attributesBytes(m.Attributes))
	return m, true
}

func worthTelling(res report.Result) bool {
	for _, r := range res.Records {
		if len(r.Findings) > 0 || r.Error != "" {
			return true
		}
	}
	for _, act := range res.Actions {
		if act.Status != report.StatusUnchanged {
			return true
		}
	}
	return false
}

// state says where a finding stands.
type state int

const (
	stateHuman   state = iota // nothing fixed it and nothing will without a person
	statePlanned              // alert mode: MODE=fix would fix it
	stateFixed                // an applied action covers it
)

func (s state) label() string {
	switch s {
	case stateFixed:
		return "fixed"
	case statePlanned:
		return "planned"
	default:
		return "needs a human"
	}
}

// item is one finding in its record, with what its code means, where it stands and the action
// that covers it.
type item struct {
	rec   *report.Record
	f     report.Finding
	m     Meaning
	known bool // the code is in codeTable
	st    state
	act   *report.Action // nil when no action is about this finding
}

// principal is the IAM principal a finding is about: its own, or its record's.
func (it item) principal() string {
	if it.f.PrincipalARN != "" {
		return it.f.PrincipalARN
	}
	return it.rec.PrincipalARN
}

type analysis struct {
	res   report.Result
	ctx   Context
	items []item
	sev   string

	seen      map[report.Code]*mentions // by code, built on first use
	parts     map[string]string         // rendered body parts, by name and detail
	todoCache map[detail][]todo         // what needs a person, by detail level
	fileNames map[string]int            // file names taken, while todos renders
}

func analyze(res report.Result, in Context) *analysis {
	if in.Mode == "" {
		in.Mode = "alert"
	}
	if in.PolicyName == "" {
		in.PolicyName = usagepolicy.DefaultName
	}
	a := &analysis{res: res, ctx: in}
	for i := range a.res.Records {
		rec := &a.res.Records[i]
		for _, f := range rec.Findings {
			it := item{rec: rec, f: f}
			it.m, it.known = meaningOf(f.Code)
			it.act = a.coveringAction(it)
			it.st = stateOf(it.act)
			a.items = append(a.items, it)
		}
	}
	a.sev = a.computeSeverity()
	return a
}

// mentions indexes the findings of one code (whatever their state) by key, by account and by
// both, for remedies that depend on what another code says about the same key or account.
type mentions struct {
	keys, accounts map[string]bool
	pairs          map[pair]bool
}

func (a *analysis) mentions(code report.Code) *mentions {
	if m := a.seen[code]; m != nil {
		return m
	}
	m := &mentions{keys: map[string]bool{}, accounts: map[string]bool{}, pairs: map[pair]bool{}}
	for _, it := range a.items {
		if it.f.Code == code {
			m.keys[it.f.KeyARN] = true
			m.accounts[it.f.Account] = true
			m.pairs[pair{it.f.KeyARN, it.f.Account}] = true
		}
	}
	if a.seen == nil {
		a.seen = map[report.Code]*mentions{}
	}
	a.seen[code] = m
	return m
}

// coveringAction finds the action about it, of the type its code's row says fixes it: a
// key-policy action on its key that names its account, or an iam-policy action for its
// principal. When several match, the most successful wins.
func (a *analysis) coveringAction(it item) *report.Action {
	var best *report.Action
	for i := range a.res.Actions {
		act := &a.res.Actions[i]
		if it.m.FixedBy != act.Type || !Covers(*act, it.f, it.principal()) {
			continue
		}
		if best == nil || statusRank(act.Status) > statusRank(best.Status) {
			best = act
		}
	}
	return best
}

// Covers reports whether act is about f as an action that fixes f would be: of the type f's
// code's row says fixes it, on its key and naming its account (key-policy), or for its principal
// (iam-policy; principal is f's, else its record's).
func Covers(act report.Action, f report.Finding, principal string) bool {
	if m, _ := CodeInfo(f.Code); m.FixedBy == "" || act.Type != m.FixedBy {
		return false
	}
	switch act.Type {
	case report.ActionKeyPolicy:
		return act.Target == f.KeyARN && namesAccount(act.Accounts, f.Account)
	case report.ActionKMSGrant:
		return act.Target == f.KeyARN && (act.Principal == principal || awsid.SamePrincipal(act.Principal, principal))
	}
	return false
}

// Fixed reports whether an action of actions fixed f: applied, or found another writer had.
func Fixed(f report.Finding, principal string, actions []report.Action) bool {
	for _, a := range actions {
		if (a.Status == report.StatusApplied || a.Status == report.StatusUnchanged) && f.Fixable && Covers(a, f, principal) {
			return true
		}
	}
	return false
}

// namesAccount: an action with no accounts listed is about its whole target.
func namesAccount(accounts []string, account string) bool {
	if len(accounts) == 0 {
		return true
	}
	for _, acc := range accounts {
		if acc == account {
			return true
		}
	}
	return false
}

func statusRank(status string) int {
	switch status {
	case report.StatusApplied:
		return 4
	case report.StatusPlanned:
		return 3
	case report.StatusRefused:
		return 2
	case report.StatusFailed:
		return 1
	default:
		return 0
	}
}

// stateOf: "unchanged" does not count as fixed, since the finding says something is still
// missing that the planner did not add.
func stateOf(act *report.Action) state {
	if act == nil {
		return stateHuman
	}
	switch act.Status {
	case report.StatusApplied:
		return stateFixed
	case report.StatusPlanned:
		return statePlanned
	default:
		return stateHuman
	}
}

// alreadyFailed: triggers where something the user did has already failed.
func alreadyFailed(kind string) bool {
	d, ok := trigger.Lookup(trigger.Kind(kind))
	return ok && d.LaunchFailed
}

func (a *analysis) severity() string { return a.sev }

// computeSeverity is the most urgent of: critical for an open finding where a launch or copy
// already failed, its code's severity for an open finding that needs a person, high for a
// refused or failed action or a record that failed, medium for anything planned.
func (a *analysis) computeSeverity() string {
	sev := SeverityInfo
	raise := func(s string) {
		if severityRank(s) > severityRank(sev) {
			sev = s
		}
	}
	for _, it := range a.items {
		switch {
		case it.st != stateFixed && alreadyFailed(it.rec.Trigger):
			raise(SeverityCritical)
		case it.st == stateHuman:
			raise(it.m.Severity)
		case it.st == statePlanned:
			raise(SeverityMedium)
		}
	}
	for _, act := range a.res.Actions {
		switch act.Status {
		case report.StatusRefused, report.StatusFailed:
			raise(SeverityHigh)
		case report.StatusPlanned:
			raise(SeverityMedium)
		}
	}
	for _, r := range a.res.Records {
		if r.Error != "" {
			raise(SeverityHigh)
		}
	}
	return sev
}

// severityRank orders severities, most urgent highest; 0 for anything else.
func severityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 4
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}
