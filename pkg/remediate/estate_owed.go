package remediate

import (
	"context"
	"encoding/json"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

// With the estate store an alert that could not be published is not lost: it is kept (owed) and
// the next invocation publishes it, whatever that invocation is about (a redelivery of its
// records may find the fix applied and have nothing new to tell). Between the claim and the
// publish a lost answer can send it twice; never none.

// oweAlert keeps msg, whose publishing failed, and reports whether it is kept.
func (r *run) oweAlert(ctx context.Context, fp string, msg alert.Message) bool {
	if r.store == nil {
		return false
	}
	payload, err := json.Marshal(msg)
	if err == nil {
		var records []string
		for _, it := range r.items {
			if it.parent == nil && (len(it.rec.Findings) > 0 || it.rec.Error != "") {
				records = append(records, it.rec.EventID)
			}
		}
		err = r.store.Owe(context.WithoutCancel(ctx), store.OwedAlert{ID: fp, Records: records, Payload: payload})
	}
	if err != nil {
		r.log.Error().Err(err).Msg("estate store: the unpublished alert could not be kept either")
		return false
	}
	r.log.Warn().Str("fingerprint", fp).Msg("alert not published: kept, the next invocation publishes it")
	return true
}

// payOwedAlerts publishes the alerts earlier invocations owe.
func (r *run) payOwedAlerts(ctx context.Context) {
	if r.store == nil || r.cfg.AlertTopicARN == "" {
		return
	}
	owed, err := r.store.Owed(ctx)
	if err != nil {
		r.log.Warn().Err(err).Msg("estate store: the owed alerts could not be read (the next invocation tries again)")
		return
	}
	a, _ := awsid.ParseARN(r.cfg.AlertTopicARN)
	for _, o := range owed {
		var msg alert.Message
		if err := json.Unmarshal(o.Payload, &msg); err != nil {
			r.log.Error().Err(err).Str("fingerprint", o.ID).Msg("an owed alert is not a message: dropped")
			_, _ = r.store.Claim(ctx, o)
			continue
		}
		mine, err := r.store.Claim(ctx, o)
		if err != nil || !mine {
			continue // another invocation publishes it
		}
		cl, err := r.clients.SNS(ctx, a.Region)
		if err == nil {
			_, err = alert.Publish(ctx, cl, r.cfg.AlertTopicARN, msg)
		}
		if err != nil {
			r.log.Error().Err(err).Str("fingerprint", o.ID).Msg("owed alert still not published: kept")
			if err := r.store.Owe(context.WithoutCancel(ctx), o); err != nil {
				r.log.Error().Err(err).Str("fingerprint", o.ID).Msg("estate store: the owed alert is lost")
			}
			continue
		}
		r.log.Info().Str("fingerprint", o.ID).Strs("records", o.Records).Str("subject", msg.Subject).Msg("owed alert published")
	}
}
