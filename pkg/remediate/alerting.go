package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// publishAlert sends one SNS message per invocation when there is anything to tell: what the
// invocation concluded (owedView). A message whose content (findings and actions, without event
// IDs) was already sent by this environment within the memory window is not sent again, so
// redelivered events do not multiply alerts. An alert that could not be published is owed: the
// result says so (Alert.Owed), and a transient failure hands the records it was about back.
//
// A panic while composing or publishing is logged and the alert is owed: the records it was
// about are already handled, and a crashed batch would redo them.
func (r *run) publishAlert(ctx context.Context, res *report.Result) {
	owe := func(err error) {
		res.Alert.Owed, res.Alert.Error = true, clip(err.Error(), 1000)
	}
	defer func() {
		if p := recover(); p != nil {
			owe(fmt.Errorf("%w while composing or publishing the alert: %v", errInternal, p))
			r.log.Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg("alert panicked: not sent")
		}
	}()
	if r.cfg.AlertTopicARN == "" {
		return
	}
	r.payOwedAlerts(ctx)
	// What this invocation concluded (owedView drops the records a redelivery tells), less what
	// another writer or the estate store's alert-on-change leaves out. owedView comes last: the
	// others read the records in the order of r.items.
	told := r.owedView(r.toldByEstate(withoutResolvedElsewhere(*res)))
	requestID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	actx := alert.Context{Mode: string(r.cfg.Mode), Region: r.clients.Region(), RequestID: requestID, PolicyName: r.cfg.IAMPolicyName,
		TrustedAccounts: r.cfg.TrustedAccountIDs, TrustedOrganization: r.cfg.TrustedOrganizationID}
	defer r.publishResolved(ctx, actx)
	msg, ok := alert.Compose(told, actx)
	if !ok {
		r.log.Debug().Msg("nothing to tell (or all of it was fixed by another writer, who tells)")
		return
	}
	fp := fingerprint(&told)
	// With the estate store's answer, what is told is new; without it, this environment's memory
	// keeps redeliveries from alerting again.
	if r.estate == nil && r.alerts.seen(fp, r.now()) {
		r.log.Info().Str("fingerprint", fp).Msg("alert already sent for the same findings: not repeated")
		return
	}
	a, _ := awsid.ParseARN(r.cfg.AlertTopicARN)
	cl, err := r.clients.SNS(ctx, a.Region)
	if err == nil {
		var id string
		if id, err = alert.Publish(ctx, cl, r.cfg.AlertTopicARN, msg); err == nil {
			res.Alert = report.Alert{Published: true, MessageID: id}
			r.log.Info().Str("message_id", id).Str("subject", msg.Subject).Msg("alert published")
			r.toldAlerts(ctx, true, false)
			return
		}
	}
	r.log.Error().Err(err).Str("topic", r.cfg.AlertTopicARN).Str("subject", msg.Subject).Msg("alert not published: owed")
	r.alerts.forget(fp)
	owe(err)
	if r.oweAlert(ctx, fp, msg) {
		r.toldAlerts(ctx, true, false) // the owed message tells them
	}
	// The alert is what an operator acts on (in alert mode, all there is): when publishing
	// failed transiently, hand back the records it was about, so a redelivery finds and tells
	// it again. (A fix already applied is not repeated, and then not told either: with the
	// estate store the next invocation publishes the owed message.)
	if awsapi.Transient(err) {
		for _, it := range r.items {
			if it.told && (len(it.rec.Findings) > 0 || it.rec.Error != "") {
				it.retry = true
			}
		}
	}
}

// owedView is the part of res this invocation's alert tells: every record but those handed
// back for another attempt before their last delivery (that attempt tells; settle decides), and
// every action but a failed one that is retried when no record handed back is on its last
// delivery (the retry tells how it ends). A record's error is told by its failure's finding:
// when the estate store left that finding out (already told), the error is not told either.
func (r *run) owedView(res report.Result) report.Result {
	out := res
	out.Records = make([]report.Record, 0, len(res.Records))
	lastChance := false
	for i, it := range r.items {
		if it.told && i < len(res.Records) {
			rec := res.Records[i]
			if rec.Error != "" && it.err != nil && !alert.HasFailure(rec) {
				rec.Error = ""
			}
			out.Records = append(out.Records, rec)
		}
		lastChance = lastChance || (it.retry && it.last)
	}
	out.Actions = make([]report.Action, 0, len(res.Actions))
	for _, a := range res.Actions {
		if !a.Retry() || lastChance {
			out.Actions = append(out.Actions, a)
		}
	}
	return out
}

// publishResolved tells the findings the estate store resolved, in a message of their own.
func (r *run) publishResolved(ctx context.Context, actx alert.Context) {
	msg, ok := alert.ComposeResolved(r.estate.resolvedToTell(), actx)
	if !ok {
		return
	}
	a, _ := awsid.ParseARN(r.cfg.AlertTopicARN)
	cl, err := r.clients.SNS(ctx, a.Region)
	if err == nil {
		_, err = alert.Publish(ctx, cl, r.cfg.AlertTopicARN, msg)
	}
	if err != nil {
		r.log.Error().Err(err).Msg("publish resolved findings (they are told again with the next check)")
		return
	}
	r.log.Info().Str("subject", msg.Subject).Msg("resolved findings published")
	r.toldAlerts(ctx, false, true)
}

// withoutResolvedElsewhere is what this invocation's alert tells: the result less the gaps that
// another writer closed between this invocation's read and its write (typically a concurrent
// delivery of the same event), and less the "unchanged" actions that say so. The invocation that
// made a change alerts about it; without this, every concurrent delivery would alert again about
// the same change, and wrongly as still needing a human.
func withoutResolvedElsewhere(res report.Result) report.Result {
	covered := map[string]bool{} // key ARN + " " + account
	var granted []report.Action  // grants another delivery created
	var actions []report.Action
	for _, a := range res.Actions {
		switch {
		case a.Status != report.StatusUnchanged || a.Cause != report.CauseOtherWriter:
			actions = append(actions, a)
		case a.Type == report.ActionKeyPolicy:
			for _, acct := range a.Accounts {
				covered[a.Target+" "+acct] = true
			}
		case a.Type == report.ActionKMSGrant:
			granted = append(granted, a)
		default:
			actions = append(actions, a)
		}
	}
	if len(covered) == 0 && len(granted) == 0 {
		return res
	}
	grantedTo := func(f report.Finding) bool {
		for _, a := range granted {
			if a.Target == f.KeyARN && awsid.SamePrincipal(a.Principal, f.PrincipalARN) {
				return true
			}
		}
		return false
	}
	out := res
	out.Actions = actions
	out.Records = make([]report.Record, len(res.Records))
	for i, rec := range res.Records {
		var kept []report.Finding
		for _, f := range rec.Findings {
			switch {
			case f.Fixable && alert.FixedBy(f.Code) == report.ActionKeyPolicy && covered[f.KeyARN+" "+f.Account]:
			case f.Fixable && alert.FixedBy(f.Code) == report.ActionKMSGrant && grantedTo(f):
			default:
				kept = append(kept, f)
			}
		}
		rec.Findings = kept
		out.Records[i] = rec
	}
	return out
}

// fingerprint identifies what an alert says, independent of which delivery of an event said it.
func fingerprint(res *report.Result) string {
	type rec struct {
		Trigger, Image, Account string
		Findings                []report.Finding
	}
	var v struct {
		Records []rec
		Actions []report.Action
	}
	for _, r := range res.Records {
		if len(r.Findings) > 0 || r.Error != "" {
			v.Records = append(v.Records, rec{r.Trigger, r.ImageID, r.Account, r.Findings})
		}
	}
	v.Actions = res.Actions
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// alertMemory remembers recently sent alert fingerprints.
type alertMemory struct {
	mu   sync.Mutex
	ttl  time.Duration
	sent map[string]time.Time
}

func newAlertMemory(ttl time.Duration) *alertMemory {
	return &alertMemory{ttl: ttl, sent: map[string]time.Time{}}
}

func (m *alertMemory) seen(fp string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.sent {
		if now.Sub(t) > m.ttl {
			delete(m.sent, k)
		}
	}
	if _, ok := m.sent[fp]; ok {
		return true
	}
	m.sent[fp] = now
	return false
}

func (m *alertMemory) forget(fp string) {
	m.mu.Lock()
	delete(m.sent, fp)
	m.mu.Unlock()
}
