package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Scope is where a sweep task looks: one account in one region. A finding belongs to the scope
// of the image it is about (the image's owner and region), or, for a finding about the scope
// itself, to that scope.
type Scope struct {
	Account, Region string
}

func (sc Scope) String() string { return sc.Account + "/" + sc.Region }

func (sc Scope) pk() string { return "scope#" + sc.Account + "#" + sc.Region }

// Finding is one finding as the store keeps it.
type Finding struct {
	// The identity: a finding with the same code, key, account, principal and image is the same
	// finding, whoever saw it and however it was worded.
	Code         report.Code
	KeyARN       string
	Account      string
	PrincipalARN string
	ImageID      string

	Scope Scope
	// Severity and Remedy are what a person reads first: when either changes, the finding changed.
	Severity string
	Remedy   string
	// Message and Fixable are kept as last seen; a new wording is no change.
	Message string
	Fixable bool

	FirstSeen, LastSeen, ResolvedAt time.Time
	Open                            bool
}

// ID identifies the finding within its scope.
func (f Finding) ID() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s", f.Code, f.KeyARN, f.Account, f.PrincipalARN, f.ImageID)))
	return hex.EncodeToString(sum[:16])
}

func (f Finding) sk() string { return imagePrefix(f.ImageID) + f.ID() }

// imagePrefix is the sort-key prefix of the findings of one image ("" for findings about a scope).
func imagePrefix(imageID string) string { return "f#" + imageID + "#" }

// Kind is what happened to a finding.
type Kind string

const (
	Appeared  Kind = "new"      // first seen, or seen again after it was resolved
	Changed   Kind = "changed"  // its severity or remedy changed
	SeenAgain Kind = "seen"     // seen again, the same
	Resolved  Kind = "resolved" // a complete sweep or a re-check found it gone
)

// Change is what recording one finding did.
type Change struct {
	Kind    Kind
	Finding Finding
	// Before is the finding as it was stored, for Changed and Resolved.
	Before *Finding
	// Alert: operators are to be told. New, changed and resolved findings are told once; a
	// finding seen again is told only when an earlier change was never told (an alert that could
	// not be published) or when a launch failed again and the last launch alert is an hour old.
	Alert bool
	// Why says in a few words why Alert is set, or why not.
	Why string

	changeSeq int64 // the stored change this alert tells, for Told
}

// stored is the decoded state of a finding item. version counts writes (the condition of the
// next one); changeSeq is the version of the last change operators must be told about, and told
// the last one they were told: an alert is owed while told < changeSeq.
type stored struct {
	Finding
	version, changeSeq, told int64
	launchAlertedAt          time.Time
}

func (st *stored) item(now time.Time) item {
	it := item{
		PartitionKey:    str(st.Scope.pk()),
		SortKey:         str(st.sk()),
		"kind":          str("finding"),
		"code":          str(string(st.Code)),
		"key_arn":       str(st.KeyARN),
		"account":       str(st.Account),
		"principal_arn": str(st.PrincipalARN),
		"image_id":      str(st.ImageID),
		"scope_account": str(st.Scope.Account),
		"scope_region":  str(st.Scope.Region),
		"severity":      str(st.Severity),
		"remedy":        str(st.Remedy),
		"message":       str(st.Message),
		"fixable":       boolean(st.Fixable),
		"first_seen":    num(millis(st.FirstSeen)),
		"last_seen":     num(millis(st.LastSeen)),
		"version":       num(st.version),
		"change_seq":    num(st.changeSeq),
		"told_seq":      num(st.told),
	}
	if st.Open {
		it["state"] = str("open")
		it[TTLAttribute] = num(st.LastSeen.Add(OpenRetention).Unix())
	} else {
		it["state"] = str("resolved")
		it["resolved_at"] = num(millis(st.ResolvedAt))
		it[TTLAttribute] = num(st.ResolvedAt.Add(ResolvedRetention).Unix())
	}
	if !st.launchAlertedAt.IsZero() {
		it["launch_alerted_at"] = num(millis(st.launchAlertedAt))
	}
	// DynamoDB refuses empty strings in key attributes only; the others may stay empty.
	return it
}

func decodeFinding(it item) *stored {
	return &stored{
		Finding: Finding{
			Code: report.Code(it.str("code")), KeyARN: it.str("key_arn"), Account: it.str("account"),
			PrincipalARN: it.str("principal_arn"), ImageID: it.str("image_id"),
			Scope:    Scope{Account: it.str("scope_account"), Region: it.str("scope_region")},
			Severity: it.str("severity"), Remedy: it.str("remedy"), Message: it.str("message"), Fixable: it.boolean("fixable"),
			FirstSeen: fromMillis(it.num("first_seen")), LastSeen: fromMillis(it.num("last_seen")),
			ResolvedAt: fromMillis(it.num("resolved_at")), Open: it.str("state") == "open",
		},
		version:         it.num("version"),
		changeSeq:       it.num("change_seq"),
		told:            it.num("told_seq"),
		launchAlertedAt: fromMillis(it.num("launch_alerted_at")),
	}
}
