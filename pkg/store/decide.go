package store

import (
	"fmt"
	"slices"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// LaunchAlertEvery is how often a launch that keeps failing on the same finding alerts again.
const LaunchAlertEvery = time.Hour

// Coverage is what a check looked at without an error: the open findings it covers that it did
// not see again are resolved.
type Coverage struct {
	Scope Scope
	// ImageID "" covers every image of the scope and the scope itself: a complete sweep.
	ImageID string
	// Accounts are the accounts the image was checked for; AllAccounts: every account it is
	// shared with (the owner read its launch permissions), and "all" for a public image.
	Accounts    []string
	AllAccounts bool
	// Principal is the user or role whose identity policies were checked too, if any. Findings
	// about identity policies are covered only by a check of their own principal.
	Principal string
}

// covers reports whether c looked at everything f is about.
func (c Coverage) covers(f Finding) bool {
	switch {
	case f.Scope != c.Scope:
		return false
	case c.ImageID != "" && f.ImageID != c.ImageID:
		return false
	case !c.AllAccounts && !slices.Contains(c.Accounts, f.Account):
		return false
	}
	if f.Code == report.IAMMissingUse || f.Code == report.IAMMissingGrant {
		return c.Principal != "" && f.PrincipalARN == c.Principal
	}
	return true
}

// observe decides what seeing f at now does to the stored finding prev (nil: never stored, or
// expired). launchFailed: the observation comes from a launch that really failed. write is false
// when nothing needs storing: the finding is unchanged, owes nothing and was already seen as late
// (a concurrent record got there first).
func observe(prev *stored, f Finding, launchFailed bool, now time.Time) (next stored, ch Change, write bool) {
	next = stored{Finding: f}
	next.Open, next.LastSeen, next.FirstSeen, next.ResolvedAt = true, now, now, time.Time{}
	if prev == nil || !prev.Open {
		next.version = 1
		why := "new"
		if prev != nil {
			next.version, next.told = prev.version+1, prev.told
			why = "reopened: seen again after it was resolved " + prev.ResolvedAt.Format(time.RFC3339)
		}
		next.changeSeq = next.version
		if launchFailed {
			next.launchAlertedAt = now
		}
		return next, Change{Kind: Appeared, Finding: next.Finding, Alert: true, Why: why, changeSeq: next.changeSeq}, true
	}
	next.FirstSeen, next.told, next.version = prev.FirstSeen, prev.told, prev.version+1
	next.changeSeq, next.launchAlertedAt = prev.changeSeq, prev.launchAlertedAt
	before := prev.Finding
	if prev.Severity != f.Severity || prev.Remedy != f.Remedy {
		next.changeSeq = next.version
		if launchFailed {
			next.launchAlertedAt = now
		}
		why := fmt.Sprintf("severity %s -> %s", prev.Severity, f.Severity)
		if prev.Severity == f.Severity {
			why = "what to do changed"
		}
		return next, Change{Kind: Changed, Finding: next.Finding, Before: &before, Alert: true, Why: why, changeSeq: next.changeSeq}, true
	}
	ch = Change{Kind: SeenAgain, Finding: next.Finding, Why: "seen again, unchanged"}
	switch {
	case prev.told < prev.changeSeq:
		// An earlier change was never told (its alert could not be published): tell it now.
		ch.Alert, ch.Why, ch.changeSeq = true, "owed: its last change was never told", prev.changeSeq
	case launchFailed && now.Sub(prev.launchAlertedAt) >= LaunchAlertEvery:
		// The launch alert is a change of its own, to be told once.
		next.launchAlertedAt, next.changeSeq = now, next.version
		ch.Alert, ch.Why, ch.changeSeq = true, "a launch failed again", next.changeSeq
	case launchFailed:
		ch.Why = "a launch failed again within the hour of the last launch alert"
	}
	if !ch.Alert && !prev.LastSeen.Before(now) && prev.Message == f.Message && prev.Fixable == f.Fixable {
		return next, ch, false
	}
	return next, ch, true
}

// resolve decides what a check that began at started and covers prev, without seeing it, does to
// it. A finding seen by anyone since the check began is not resolved by it. write is false when
// nothing is to be stored.
func resolve(prev *stored, started, now time.Time) (next stored, ch Change, write bool) {
	if prev == nil {
		return stored{}, Change{}, false
	}
	if !prev.Open {
		if prev.told < prev.changeSeq {
			// Resolved before, but that was never told.
			return stored{}, Change{Kind: Resolved, Finding: prev.Finding, Before: &prev.Finding, Alert: true,
				Why: "owed: its resolution was never told", changeSeq: prev.changeSeq}, false
		}
		return stored{}, Change{}, false
	}
	if !prev.LastSeen.Before(started) {
		return stored{}, Change{}, false
	}
	next = *prev
	next.Open, next.ResolvedAt, next.version = false, now, prev.version+1
	next.changeSeq = next.version
	before := prev.Finding
	return next, Change{Kind: Resolved, Finding: next.Finding, Before: &before, Alert: true, Why: "no longer found", changeSeq: next.changeSeq}, true
}
