package store

import (
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

var (
	t0    = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	scope = Scope{Account: "111122223333", Region: "us-east-1"}
	key   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func keyFinding(account, image, severity string) Finding {
	return Finding{Code: report.KeyPolicyMissingUse, KeyARN: key, Account: account, PrincipalARN: "arn:aws:iam::" + account + ":root",
		ImageID: image, Scope: scope, Severity: severity, Remedy: "key-policy", Fixable: true}
}

func TestObserve(t *testing.T) {
	f := keyFinding("444455556666", "ami-1", "high")
	// open is a stored open finding written version times, whose last change to tell was write
	// changeSeq and whose last told change was told.
	open := func(version, changeSeq, told int64, launchAlerted time.Time) *stored {
		return &stored{Finding: Finding{Code: f.Code, KeyARN: f.KeyARN, Account: f.Account, PrincipalARN: f.PrincipalARN, ImageID: f.ImageID,
			Scope: scope, Severity: "high", Remedy: "key-policy", Open: true, FirstSeen: t0, LastSeen: t0, Fixable: true},
			version: version, changeSeq: changeSeq, told: told, launchAlertedAt: launchAlerted}
	}
	resolved := open(4, 4, 4, time.Time{})
	resolved.Open, resolved.ResolvedAt = false, t0.Add(time.Hour)
	critical := f
	critical.Severity = "critical"
	otherRemedy := f
	otherRemedy.Remedy = "human"
	reworded := f
	reworded.Message = "another wording"

	for name, tc := range map[string]struct {
		prev         *stored
		f            Finding
		launchFailed bool
		at           time.Time
		kind         Kind
		alert        bool
		version      int64
		write        bool
	}{
		"never seen":                           {nil, f, false, t0, Appeared, true, 1, true},
		"seen again, told":                     {open(3, 3, 3, time.Time{}), f, false, t0.Add(time.Hour), SeenAgain, false, 4, true},
		"seen again after untold sightings":    {open(5, 3, 3, time.Time{}), f, false, t0.Add(time.Hour), SeenAgain, false, 6, true},
		"seen again, reworded only":            {open(3, 3, 3, time.Time{}), reworded, false, t0.Add(time.Hour), SeenAgain, false, 4, true},
		"seen again, never told":               {open(3, 3, 2, time.Time{}), f, false, t0.Add(time.Hour), SeenAgain, true, 4, true},
		"seen again as late by another record": {open(3, 3, 3, time.Time{}), f, false, t0, SeenAgain, false, 4, false},
		"severity changed":                     {open(3, 3, 3, time.Time{}), critical, false, t0.Add(time.Hour), Changed, true, 4, true},
		"remedy changed":                       {open(3, 3, 3, time.Time{}), otherRemedy, false, t0.Add(time.Hour), Changed, true, 4, true},
		"reopened":                             {resolved, f, false, t0.Add(2 * time.Hour), Appeared, true, 5, true},
		"launch failed, last alert 59m":        {open(3, 3, 3, t0), f, true, t0.Add(59 * time.Minute), SeenAgain, false, 4, true},
		"launch failed, last alert 1h":         {open(3, 3, 3, t0), f, true, t0.Add(time.Hour), SeenAgain, true, 4, true},
		"launch failed, never alerted":         {open(3, 3, 3, time.Time{}), f, true, t0.Add(time.Minute), SeenAgain, true, 4, true},
		"sweep, no launch":                     {open(3, 3, 3, time.Time{}), f, false, t0.Add(time.Minute), SeenAgain, false, 4, true},
	} {
		t.Run(name, func(t *testing.T) {
			next, ch, write := observe(tc.prev, tc.f, tc.launchFailed, tc.at)
			if ch.Kind != tc.kind || ch.Alert != tc.alert || write != tc.write {
				t.Errorf("kind %s alert %v (%s) write %v, want %s alert %v write %v", ch.Kind, ch.Alert, ch.Why, write, tc.kind, tc.alert, tc.write)
			}
			if next.version != tc.version {
				t.Errorf("version %d, want %d", next.version, tc.version)
			}
			// What an alert tells is a change of its own: Told marks exactly it.
			if ch.Alert != (ch.changeSeq != 0) || (ch.Alert && ch.Kind != SeenAgain && ch.changeSeq != next.version) {
				t.Errorf("alert %v tells change %d (next version %d)", ch.Alert, ch.changeSeq, next.version)
			}
			if !ch.Alert && next.changeSeq != tc.prev.changeSeq {
				t.Errorf("an unalerted sighting moved the change to tell from %d to %d", tc.prev.changeSeq, next.changeSeq)
			}
			if !next.Open || !next.LastSeen.Equal(tc.at) {
				t.Errorf("next open %v last seen %v, want open at %v", next.Open, next.LastSeen, tc.at)
			}
			if tc.prev != nil && tc.prev.Open && !next.FirstSeen.Equal(tc.prev.FirstSeen) {
				t.Errorf("first seen moved from %v to %v", tc.prev.FirstSeen, next.FirstSeen)
			}
			if next.Message != tc.f.Message {
				t.Errorf("message %q, want the latest %q", next.Message, tc.f.Message)
			}
			// A launch alert, and only one, restarts the hour.
			if tc.launchFailed && ch.Alert && !next.launchAlertedAt.Equal(tc.at) {
				t.Errorf("launch alerted at %v, want %v", next.launchAlertedAt, tc.at)
			}
			if tc.launchFailed && !ch.Alert && tc.prev != nil && !next.launchAlertedAt.Equal(tc.prev.launchAlertedAt) {
				t.Errorf("an unalerted launch moved the last launch alert to %v", next.launchAlertedAt)
			}
			if tc.prev != nil && (ch.Kind == Changed) != (ch.Before != nil) {
				t.Errorf("Before = %v for a %s change", ch.Before, ch.Kind)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	started := t0.Add(time.Hour)
	now := started.Add(time.Minute)
	seenAt := func(at time.Time, open bool, version, told int64) *stored {
		return &stored{Finding: Finding{Code: report.KeyPolicyMissingUse, Scope: scope, Open: open, LastSeen: at}, version: version, changeSeq: version, told: told}
	}
	for name, tc := range map[string]struct {
		prev  *stored
		write bool
		kind  Kind
		alert bool
	}{
		"none stored":                    {nil, false, "", false},
		"open, last seen before started": {seenAt(t0, true, 2, 2), true, Resolved, true},
		"open, seen since started":       {seenAt(started, true, 2, 2), false, "", false},
		"open, seen after started":       {seenAt(now, true, 2, 2), false, "", false},
		"resolved and told":              {seenAt(t0, false, 3, 3), false, "", false},
		"resolved, never told":           {seenAt(t0, false, 3, 2), false, Resolved, true},
	} {
		t.Run(name, func(t *testing.T) {
			next, ch, write := resolve(tc.prev, started, now)
			if write != tc.write || ch.Kind != tc.kind || ch.Alert != tc.alert {
				t.Fatalf("write %v kind %q alert %v, want %v %q %v", write, ch.Kind, ch.Alert, tc.write, tc.kind, tc.alert)
			}
			if write && (next.Open || !next.ResolvedAt.Equal(now) || next.version != tc.prev.version+1 || next.changeSeq != next.version) {
				t.Errorf("next = open %v resolved %v version %d", next.Open, next.ResolvedAt, next.version)
			}
		})
	}
}

func TestCoverage(t *testing.T) {
	keySide := keyFinding("444455556666", "ami-1", "high")
	launcher := keySide
	launcher.PrincipalARN = "arn:aws:iam::444455556666:role/app"
	identity := Finding{Code: report.IAMMissingUse, KeyARN: key, Account: "444455556666", PrincipalARN: "arn:aws:iam::444455556666:role/app", ImageID: "ami-1", Scope: scope}
	public := Finding{Code: report.PublicImage, Account: "all", ImageID: "ami-1", Scope: scope}
	scopeWide := Finding{Code: report.Code("member-stack-missing"), Account: scope.Account, Scope: scope}
	sweep := Coverage{Scope: scope, AllAccounts: true}
	share := Coverage{Scope: scope, ImageID: "ami-1", AllAccounts: true}
	launch := Coverage{Scope: scope, ImageID: "ami-1", Accounts: []string{"444455556666"}, Principal: "arn:aws:iam::444455556666:role/app"}
	otherRegion := Coverage{Scope: Scope{Account: scope.Account, Region: "eu-west-1"}, AllAccounts: true}

	for name, tc := range map[string]struct {
		c    Coverage
		f    Finding
		want bool
	}{
		"sweep covers a key-side finding":                 {sweep, keySide, true},
		"sweep covers a key-side finding of the launcher": {sweep, launcher, true},
		"sweep covers the scope itself":                   {sweep, scopeWide, true},
		"sweep covers a public image":                     {sweep, public, true},
		"sweep never covers identity policies":            {sweep, identity, false},
		"another region's sweep covers nothing here":      {otherRegion, keySide, false},
		"a share re-check covers its image":               {share, keySide, true},
		"a share re-check covers not another image":       {share, keyFinding("444455556666", "ami-2", "high"), false},
		"an image re-check covers not the scope":          {share, scopeWide, false},
		"a launch covers its account":                     {launch, keySide, true},
		"a launch covers not another account":             {launch, keyFinding("777788889999", "ami-1", "high"), false},
		"a launch covers its principal's IAM":             {launch, identity, true},
		"a launch covers not another principal's IAM":     {Coverage{Scope: scope, ImageID: "ami-1", Accounts: []string{"444455556666"}, Principal: "arn:aws:iam::444455556666:role/other"}, identity, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.c.covers(tc.f); got != tc.want {
				t.Errorf("covers = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFindingIdentity(t *testing.T) {
	a := keyFinding("444455556666", "ami-1", "high")
	b := a
	b.Severity, b.Remedy, b.Message, b.Fixable = "critical", "human", "other words", false
	if a.ID() != b.ID() {
		t.Error("severity, remedy, message or fixable changed the identity")
	}
	for name, mutate := range map[string]func(*Finding){
		"code":      func(f *Finding) { f.Code = report.KeyPolicyMissingGrant },
		"key":       func(f *Finding) { f.KeyARN += "x" },
		"account":   func(f *Finding) { f.Account = "777788889999" },
		"principal": func(f *Finding) { f.PrincipalARN = "arn:aws:iam::444455556666:role/app" },
		"image":     func(f *Finding) { f.ImageID = "ami-2" },
	} {
		c := a
		mutate(&c)
		if c.ID() == a.ID() {
			t.Errorf("a finding with another %s has the same identity", name)
		}
	}
	// Field boundaries are kept: moving text from one field to the next is another finding.
	c, d := a, a
	c.Account, c.PrincipalARN = "4444", "55556666"
	d.Account, d.PrincipalARN = "44445555", "6666"
	if c.ID() == d.ID() {
		t.Error("identity does not separate its fields")
	}
}
