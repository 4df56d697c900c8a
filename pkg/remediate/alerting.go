package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// publishAlert sends one SNS message per invocation when there is anything to tell. A message
// whose content (findings and actions, without event IDs) was already sent by this environment
// within the memory window is not sent again, so redelivered events do not multiply alerts.
func (r *run) publishAlert(ctx context.Context, res *report.Result) {
	msg, ok := alert.Compose(*res, alert.Context{Mode: string(r.cfg.Mode), Region: r.clients.Region(), PolicyName: r.cfg.IAMPolicyName})
	if !ok || r.cfg.AlertTopicARN == "" {
		return
	}
	fp := fingerprint(res)
	if r.alerts.seen(fp, r.now()) {
		r.log.Info().Str("fingerprint", fp).Msg("alert already sent for the same findings: not repeated")
		return
	}
	a, _ := parseARN(r.cfg.AlertTopicARN)
	cl, err := r.clients.SNS(ctx, a.Region)
	if err != nil {
		r.log.Error().Err(err).Msg("alert client")
		return
	}
	id, err := alert.Publish(ctx, cl, r.cfg.AlertTopicARN, msg)
	if err != nil {
		r.log.Error().Err(err).Str("topic", r.cfg.AlertTopicARN).Msg("publish alert")
		r.alerts.forget(fp)
		return
	}
	res.Alert = report.Alert{Published: true, MessageID: id}
	r.log.Info().Str("message_id", id).Str("subject", msg.Subject).Msg("alert published")
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
