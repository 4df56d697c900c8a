package remediate

import (
	"context"
	"sort"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// estateOutcome is what the store made of this invocation's findings; nil when there is no
// store or it could not be read or written (then every finding is told, as without a store).
type estateOutcome struct {
	changes []store.Change
	byKey   map[string]store.Change // findingKey -> its change
}

func findingKey(f store.Finding) string { return f.Scope.String() + " " + f.ID() }

// recordEstate tells the store what this invocation found and what it checked without an error,
// and which images use which keys. A finding this invocation fixed (an applied action, or
// another writer's) is not seen: if it was open, the check that covers it resolves it.
func (r *run) recordEstate(ctx context.Context, actions []report.Action) {
	if r.store == nil {
		return
	}
	failedChild := map[*item]bool{}
	for _, it := range r.items {
		if it.parent != nil && (it.rec.Error != "" || it.retry) {
			failedChild[it.parent] = true
		}
	}
	var launch, other store.Report
	launch.Started, other.Started = r.started, r.started
	uses := map[string][]store.ImageRef{}
	for _, it := range r.items {
		if it.rec.Trigger == "invalid" || it.isUnusable || it.trig.Kind == trigger.Ignored || it.rec.IgnoredReason != "" {
			continue
		}
		rep := &other
		if d, ok := trigger.Lookup(it.trig.Kind); ok && d.LaunchFailed {
			rep = &launch
		}
		for _, f := range it.rec.Findings {
			if !alert.Fixed(f, principalOf(f, it), actions) {
				rep.Findings = append(rep.Findings, r.storeFinding(it, f))
			}
		}
		if it.rec.Error != "" || it.retry {
			continue
		}
		rep.Covered = append(rep.Covered, it.estate.covered...)
		if it.estate.sweeps != nil && !failedChild[it] {
			rep.Covered = append(rep.Covered, store.Coverage{Scope: *it.estate.sweeps, AllAccounts: true})
		}
		for k, imgs := range it.estate.uses {
			uses[k] = append(uses[k], imgs...)
		}
	}
	out := &estateOutcome{byKey: map[string]store.Change{}}
	for _, rep := range []store.Report{launch, other} {
		if len(rep.Findings) == 0 && len(rep.Covered) == 0 {
			continue
		}
		chs, err := r.store.Record(ctx, rep)
		if err != nil {
			r.log.Error().Err(err).Msg("estate store: findings not recorded; every finding is told")
			return
		}
		for _, ch := range chs {
			out.changes = append(out.changes, ch)
			out.byKey[findingKey(ch.Finding)] = ch
		}
	}
	keys := make([]string, 0, len(uses))
	for k := range uses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := r.store.RecordUsage(ctx, k, uses[k]); err != nil {
			r.log.Warn().Err(err).Str("key", k).Msg("estate store: the images using the key not recorded")
		}
	}
	r.estate = out
	r.log.Info().Int("changes", len(out.changes)).Int("keys", len(keys)).Msg("estate store updated")
}

// storeFinding is f, found by it, as the store keeps it. Its severity is its code's (a fix
// planned in alert mode makes it medium, as in the alert), its remedy the action that fixes it or
// a person.
func (r *run) storeFinding(it *item, f report.Finding) store.Finding {
	m, _ := alert.CodeInfo(f.Code)
	severity, remedy := m.Severity, "a person"
	if severity == "" {
		severity = alert.SeverityHigh
	}
	if f.Fixable && m.FixedBy != "" {
		remedy = m.FixedBy
		if r.cfg.Mode != config.ModeFix {
			severity = alert.SeverityMedium
		}
	}
	scope := it.estate.scope
	if scope.Account == "" {
		scope = store.Scope{Account: it.trig.Account, Region: it.trig.Region}
	}
	return store.Finding{Code: f.Code, KeyARN: f.KeyARN, Account: f.Account, PrincipalARN: f.PrincipalARN, ImageID: it.rec.ImageID,
		Scope: scope, Severity: severity, Remedy: remedy, Message: f.Message, Fixable: f.Fixable}
}

// toldByEstate is what the alert tells when the store answered: the findings new, changed, owed
// or alerted again for a failed launch, not those merely seen again, and no planned action left
// without a finding to tell. Without the store's answer it is res.
func (r *run) toldByEstate(res report.Result) report.Result {
	if r.estate == nil {
		return res
	}
	quiet := func(it *item, f report.Finding) bool {
		ch, ok := r.estate.byKey[findingKey(r.storeFinding(it, f))]
		return ok && !ch.Alert
	}
	byRecord := map[int]*item{}
	for i, it := range r.items {
		byRecord[i] = it
	}
	out := res
	out.Records = make([]report.Record, len(res.Records))
	var kept []report.Finding
	for i, rec := range res.Records {
		it := byRecord[i]
		var fs []report.Finding
		for _, f := range rec.Findings {
			if it == nil || !quiet(it, f) {
				fs = append(fs, f)
			}
		}
		rec.Findings = fs
		if rec.Findings == nil {
			rec.Findings = []report.Finding{}
		}
		kept = append(kept, fs...)
		out.Records[i] = rec
	}
	out.Actions = nil
	for _, a := range res.Actions {
		if a.Status != report.StatusPlanned || plansFor(a, kept) {
			out.Actions = append(out.Actions, a)
		}
	}
	if out.Actions == nil {
		out.Actions = []report.Action{}
	}
	return out
}

// plansFor reports whether planned action a would fix any of fs.
func plansFor(a report.Action, fs []report.Finding) bool {
	for _, f := range fs {
		if f.Fixable && alert.Covers(a, f, f.PrincipalARN) {
			return true
		}
	}
	return false
}

// principalOf is the principal a finding is about: its own, or its record's.
func principalOf(f report.Finding, it *item) string {
	if f.PrincipalARN != "" {
		return f.PrincipalARN
	}
	return it.rec.PrincipalARN
}

// resolvedToTell lists the resolutions the store says to tell.
func (e *estateOutcome) resolvedToTell() []alert.Resolved {
	if e == nil {
		return nil
	}
	var out []alert.Resolved
	for _, ch := range e.changes {
		if ch.Kind == store.Resolved && ch.Alert {
			f := ch.Finding
			out = append(out, alert.Resolved{Finding: report.Finding{Code: f.Code, Account: f.Account, KeyARN: f.KeyARN,
				PrincipalARN: f.PrincipalARN, Message: f.Message, Fixable: f.Fixable}, ImageID: f.ImageID, Owner: f.Scope.Account, Region: f.Scope.Region})
		}
	}
	return out
}

// toldAlerts marks what this invocation's published alerts told.
func (r *run) toldAlerts(ctx context.Context, findings, resolutions bool) {
	if r.estate == nil {
		return
	}
	var told []store.Change
	for _, ch := range r.estate.changes {
		if ch.Alert && (ch.Kind == store.Resolved && resolutions || ch.Kind != store.Resolved && findings) {
			told = append(told, ch)
		}
	}
	if err := r.store.Told(ctx, told); err != nil {
		r.log.Warn().Err(err).Msg("estate store: alerts published but not marked told (they will be told again)")
	}
}
