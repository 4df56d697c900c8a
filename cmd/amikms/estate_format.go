package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// The tables of audit and status: one row per image, account and key.

var auditColumns = []string{"image", "region", "owner", "shared with", "key", "status", "what to do"}

// auditRows are the rows of an audit: for every image checked, each account it must be launchable
// by (its owner included) and each key of its encrypted snapshots, its status; then what is not
// about an image and key (a public image, a missing member stack, a check that failed).
func auditRows(res report.Result) [][]string {
	var rows [][]string
	for _, r := range res.Records {
		if r.Trigger == string(trigger.Ignored) || r.IgnoredReason != "" {
			continue
		}
		byPair := map[string][]report.Finding{}
		var other []report.Finding
		for _, f := range r.Findings {
			if r.Checked != nil && f.KeyARN != "" {
				byPair[f.KeyARN+" "+f.Account] = append(byPair[f.KeyARN+" "+f.Account], f)
			} else {
				other = append(other, f)
			}
		}
		if r.Checked != nil {
			for _, key := range r.Checked.Keys {
				for _, acc := range r.Checked.Accounts {
					fs := byPair[key+" "+acc]
					delete(byPair, key+" "+acc)
					status, do := pairStatus(fs, r, res.Actions)
					rows = append(rows, []string{r.ImageID, r.Region, r.Account, sharedWith(acc, r.Account), key, status, do})
				}
			}
			for _, fs := range byPair { // a finding for an account or key the check did not list
				other = append(other, fs...)
			}
		}
		for _, f := range other {
			status, do := pairStatus([]report.Finding{f}, r, res.Actions)
			rows = append(rows, []string{orDash(r.ImageID), r.Region, r.Account, sharedWith(f.Account, r.Account), orDash(f.KeyARN), status, do})
		}
		if r.Error != "" {
			rows = append(rows, []string{orDash(r.ImageID), r.Region, r.Account, "-", "-", "error: " + r.Error, "fix the cause (the logs have it) and run again"})
		}
	}
	for _, row := range rows {
		for i := range row {
			row[i] = cell(row[i])
		}
	}
	return rows
}

// pairStatus is the status of an image for one account and key, and what to do about it.
func pairStatus(fs []report.Finding, r report.Record, actions []report.Action) (status, do string) {
	if len(fs) == 0 {
		return "ok", ""
	}
	var codes []string
	fixed := true
	for _, f := range fs {
		codes = append(codes, string(f.Code))
		if !alert.Fixed(f, principal(f, r), actions) {
			fixed = false
		}
	}
	sort.Strings(codes)
	if fixed {
		return "fixed: " + strings.Join(codes, ", "), "nothing: the key policy now lets the account in"
	}
	// What to do is about the finding that blocks most (the code first in the alert's subject): a
	// fix when there is one, else what the code means.
	first, _ := alert.CodeInfo(fs[0].Code)
	fixable := fs[0].Fixable
	for _, f := range fs[1:] {
		if m, _ := alert.CodeInfo(f.Code); m.Priority < first.Priority {
			first, fixable = m, f.Fixable
		}
	}
	do = first.Summary
	if fixable && first.FixedBy != "" {
		do = "amikms audit --mode fix (or the function in MODE=fix) applies the " + first.FixedBy + " fix"
	}
	return "broken: " + strings.Join(codes, ", "), do
}

func sharedWith(account, owner string) string {
	if account == owner {
		return account + " (owner)"
	}
	return orDash(account)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell makes an untrusted value safe for one table cell: no control or format characters, no
// column separators of the formats, bounded.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '|' {
			return '?'
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// writeTable writes rows in format (table, csv or markdown), after a header.
func writeTable(w io.Writer, format string, header []string, rows [][]string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	case "markdown":
		var b strings.Builder
		b.WriteString("| " + strings.Join(header, " | ") + " |\n|" + strings.Repeat(" --- |", len(header)) + "\n")
		for _, r := range rows {
			b.WriteString("| " + strings.Join(r, " | ") + " |\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	default:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
}

// writeAudit writes an audit's result in format.
func writeAudit(w io.Writer, format string, out auditResult) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err := writeTable(w, format, auditColumns, auditRows(out.Result)); err != nil {
		return err
	}
	if format == "csv" {
		return nil
	}
	images, findings, open := 0, 0, 0
	for _, r := range out.Records {
		if r.Checked != nil {
			images++
		}
		for _, f := range r.Findings {
			findings++
			if !alert.Fixed(f, principal(f, r), out.Actions) {
				open++
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%d images checked, %d findings, %d not fixed; %d accounts x regions skipped.\n", images, findings, open, len(out.Skipped))
	for _, s := range out.Skipped {
		fmt.Fprintf(w, "skipped %s/%s: %s\n", s.Account, s.Region, s.Reason)
	}
	for _, n := range out.Notes {
		fmt.Fprintf(w, "note: %s\n", cell(n))
	}
	return err
}

var statusColumns = []string{"image", "region", "owner", "account", "key", "finding", "severity", "first seen", "last seen"}

// writeStatus writes the estate store's open findings in format.
func writeStatus(w io.Writer, format string, open []store.Finding) error {
	if format == "json" {
		type finding struct {
			Code         report.Code `json:"code"`
			ImageID      string      `json:"image_id"`
			Owner        string      `json:"owner"`
			Region       string      `json:"region"`
			Account      string      `json:"account"`
			KeyARN       string      `json:"key_arn"`
			PrincipalARN string      `json:"principal_arn"`
			Severity     string      `json:"severity"`
			Remedy       string      `json:"remedy"`
			Message      string      `json:"message"`
			Fixable      bool        `json:"fixable"`
			FirstSeen    time.Time   `json:"first_seen"`
			LastSeen     time.Time   `json:"last_seen"`
		}
		out := struct {
			Open []finding `json:"open"`
		}{Open: []finding{}}
		for _, f := range open {
			out.Open = append(out.Open, finding{f.Code, f.ImageID, f.Scope.Account, f.Scope.Region, f.Account, f.KeyARN, f.PrincipalARN,
				f.Severity, f.Remedy, f.Message, f.Fixable, f.FirstSeen, f.LastSeen})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	var rows [][]string
	for _, f := range open {
		row := []string{orDash(f.ImageID), f.Scope.Region, f.Scope.Account, orDash(f.Account), orDash(f.KeyARN), string(f.Code), f.Severity,
			f.FirstSeen.Format(time.RFC3339), f.LastSeen.Format(time.RFC3339)}
		for i := range row {
			row[i] = cell(row[i])
		}
		rows = append(rows, row)
	}
	if err := writeTable(w, format, statusColumns, rows); err != nil {
		return err
	}
	if format != "csv" {
		_, err := fmt.Fprintf(w, "\n%d open findings.\n", len(open))
		return err
	}
	return nil
}

// progress tells a person at a terminal how far an audit is: accounts x regions done, images
// checked, findings so far, and the time left at the pace so far. A nil progress says nothing.
type progress struct {
	w     io.Writer
	total int
	start time.Time

	mu                    sync.Mutex
	scopes, images, finds int
	stopped               bool
	tick                  *time.Ticker
	quit                  chan struct{}
	accounts              map[string]bool
}

func newProgress(w io.Writer, total int, every time.Duration) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, total: total, start: time.Now(), quit: make(chan struct{}), accounts: map[string]bool{}}
	p.tick = time.NewTicker(every)
	go func() {
		for {
			select {
			case <-p.tick.C:
				p.print(false)
			case <-p.quit:
				return
			}
		}
	}()
	return p
}

func (p *progress) done(res report.Result) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scopes++
	for _, r := range res.Records {
		if r.Checked != nil {
			p.images++
		}
		p.finds += len(r.Findings)
		p.accounts[r.Account] = true
	}
}

func (p *progress) print(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	left := "?"
	if p.scopes > 0 {
		elapsed := time.Since(p.start)
		left = (elapsed / time.Duration(p.scopes) * time.Duration(p.total-p.scopes)).Round(time.Second).String()
	}
	end := "\r"
	if final {
		end, p.stopped = "\n", true
	}
	fmt.Fprintf(p.w, "\ramikms audit: %d/%d accounts x regions (%d accounts), %d images checked, %d findings, about %s left   %s",
		p.scopes, p.total, len(p.accounts), p.images, p.finds, left, end)
}

// stop prints the last line; again, nothing.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.tick.Stop()
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	p.print(true)
}
