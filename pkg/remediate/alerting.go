package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// publishAlert sends one SNS message per invocation when there is anything to tell. A message
// whose content (findings and actions, without event IDs) was already sent by this environment
// within the memory window is not sent again, so redelivered events do not multiply alerts.
//
// A panic while composing or publishing is logged and the alert dropped: the records it was
// about are already handled, and a crashed batch would redo them.
func (r *run) publishAlert(ctx context.Context, res *report.Result) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg("alert panicked: not sent")
		}
	}()
	if r.cfg.AlertTopicARN == "" {
		return
	}
	r.payOwedAlerts(ctx)
	told := r.toldByEstate(withoutResolvedElsewhere(*res))
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
	if err != nil {
		r.log.Error().Err(err).Msg("alert client")
		return
	}
	id, err := alert.Publish(ctx, cl, r.cfg.AlertTopicARN, msg)
	if err != nil {
		r.log.Error().Err(err).Str("topic", r.cfg.AlertTopicARN).Msg("publish alert")
		r.alerts.forget(fp)
		if r.oweAlert(ctx, fp, msg) {
			r.toldAlerts(ctx, true, false) // the owed message tells them
		}
		// The alert is what an operator acts on (in alert mode, all there is): when publishing
		// failed transiently, hand back the records it was about, so a redelivery finds and tells
		// it again. (A fix already applied is not repeated, and then not told either.)
		if awsapi.Transient(err) {
			for _, it := range r.items {
				if len(it.rec.Findings) > 0 {
					it.retry = true
				}
			}
		}
		return
	}
	res.Alert = report.Alert{Published: true, MessageID: id}
	r.log.Info().Str("message_id", id).Str("subject", msg.Subject).Msg("alert published")
	r.toldAlerts(ctx, true, false)
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
	var actions []report.Action
	for _, a := range res.Actions {
		switch {
		case a.Type == report.ActionKeyPolicy && a.Status == report.StatusUnchanged && a.Cause == report.CauseOtherWriter:
			for _, acct := range a.Accounts {
				covered[a.Target+" "+acct] = true
			}
		default:
			actions = append(actions, a)
		}
	}
	if len(covered) == 0 {
		return res
	}
	out := res
	out.Actions = actions
	out.Records = make([]report.Record, len(res.Records))
	for i, rec := range res.Records {
		var kept []report.Finding
		for _, f := range rec.Findings {
			switch {
			case f.Fixable && alert.FixedBy(f.Code) == report.ActionKeyPolicy && covered[f.KeyARN+" "+f.Account]:
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
