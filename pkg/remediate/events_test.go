package remediate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// Every sample in events/ runs through the real handler (the Lambda's JSON path) against the
// seeded scenario, in alert mode so the samples do not change each other's outcome.
func TestEverySampleEventThroughTheHandler(t *testing.T) {
	needsLocalAWS(t)
	seed, err := world.Seed(context.Background(), env.Filler)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		triggers []string // per record
		findings bool     // the seeded key policy lacks the target: findings expected
		anyFinds bool     // a kind's sample not in the table: its findings are not asserted
		spawns   string   // records after the last may all be of this kind (one per image)
	}
	tests := map[string]want{
		"share-image.json":                  {triggers: []string{"share-image"}, findings: true},
		"copy-image.json":                   {triggers: []string{"copy-image"}},
		"copy-image-failed.json":            {triggers: []string{"copy-image-failed"}, findings: true},
		"launch-failed.json":                {triggers: []string{"launch-failed"}, findings: true},
		"instance-terminated.json":          {triggers: []string{"instance-terminated"}, findings: true},
		"ami-available.json":                {triggers: []string{"ami-available"}, findings: true},
		"asg-launch-failed.json":            {triggers: []string{"asg-launch-failed"}, findings: true},
		"ami-failed.json":                   {triggers: []string{"ami-failed"}, findings: true},
		"launch-template-failed.json":       {triggers: []string{"launch-failed"}, findings: true},
		"launch-failed-kms-key.json":        {triggers: []string{"launch-failed"}, findings: true},
		"sqs-batch.json":                    {triggers: []string{"share-image", "launch-failed", "ignored"}, findings: true},
		"ignored-unshare.json":              {triggers: []string{"ignored"}},
		"ignored-runinstances-success.json": {triggers: []string{"ignored"}},
		"ignored-dryrun.json":               {triggers: []string{"ignored"}},
		// Every encrypted image the seeded owner has in the region is a record of its own.
		"sweep-task.json": {triggers: []string{"sweep-task"}, findings: true, spawns: "estate-image"},
	}
	// Every kind's sample decodes to its kind here too, through the real handler.
	for _, d := range trigger.Kinds() {
		if d.Synthetic {
			continue
		}
		name := filepath.Base(d.Sample)
		tc, ok := tests[name]
		if !ok {
			tests[name] = want{triggers: []string{string(d.Kind)}, anyFinds: true}
		} else if len(tc.triggers) != 1 || tc.triggers[0] != string(d.Kind) {
			t.Errorf("%s is the sample of %s, the table says %v", name, d.Kind, tc.triggers)
		}
	}
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("events/ has %d samples, the table and the kinds %d: keep them in step", len(files), len(tests))
	}
	rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat("../../events/" + name); err != nil {
				t.Fatal(err)
			}
			res := invokeEvent(t, rm, name, seed.Replace())
			if len(res.Records) != len(tc.triggers) && (tc.spawns == "" || len(res.Records) < len(tc.triggers)) {
				t.Fatalf("records: %+v", res.Records)
			}
			found := false
			for i, r := range res.Records {
				want := tc.spawns
				if i < len(tc.triggers) {
					want = tc.triggers[i]
				}
				if r.Trigger != want || r.Error != "" {
					t.Errorf("record %d: trigger %q error %q, want %q", i, r.Trigger, r.Error, want)
				}
				if r.Trigger == "ignored" && r.IgnoredReason == "" {
					t.Errorf("ignored without a reason: %+v", r)
				}
				for _, f := range r.Findings {
					if f.Code == report.KeyPolicyMissingUse && f.KeyARN == seed.KeyARN && f.Account == scenario.Target {
						found = true
					}
				}
			}
			if found != tc.findings && !tc.anyFinds {
				t.Errorf("key-policy finding for the target: %v, want %v: %+v", found, tc.findings, res.Records)
			}
			for _, a := range res.Actions {
				if a.Status == report.StatusApplied || a.Status == report.StatusFailed || strings.Contains(a.Reason, "transient") {
					t.Errorf("alert mode action: %+v", a)
				}
			}
		})
	}
	if after, err := world.KeyPolicy(context.Background(), seed.KeyARN); err != nil || after != seed.PolicyBefore {
		t.Errorf("alert mode changed the seeded key policy (%v)", err)
	}
}
