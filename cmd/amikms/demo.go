package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

const demoHelp = `usage: amikms demo [--events DIR] [--alerts DIR] [-v]
       amikms demo --invoke FILE [--mode alert|fix] [--rie PATH] [--bootstrap PATH] [-v]

Starts an embedded local AWS (moto_server on 127.0.0.1 behind a gap filler), seeds the scenario
(an encrypted AMI shared with an account its key does not let in, and a launch there that
failed) and runs the remediator on the sample events: first in alert mode, then in fix mode.
It prints a summary and the key policy's diff, and the subject of every alert; the full alerts
go to files in --alerts, named in the output.

With --invoke it runs one sample event through bootstrap under the Lambda runtime emulator
instead, in --mode (alert by default, as sam local invoke with samconfig.toml's local settings),
and prints the response (make invoke EVENT=... MODE=...).

Credentials: none: fake keys against the local AWS only; it never calls AWS.
Writes: only to the local AWS (gone when it stops) and the alert files.
`

// runDemo starts the embedded local AWS (moto behind the gap filler), builds the seed scenario
// and runs the remediator on the sample events, showing what an operator would see.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", demoHelp, args, stdout, stderr)
	eventsDir := fs.String("events", "events", "`DIR` of the sample events")
	alertsDir := fs.String("alerts", filepath.Join("build", "demo"), "`DIR` to write the alerts to, one file each")
	invokeEvent := fs.String("invoke", "", "instead of the demo: run this event `FILE` through bootstrap under the Lambda runtime emulator")
	rie := fs.String("rie", "aws-lambda-rie", "`PATH` of aws-lambda-rie (with --invoke)")
	bootstrap := fs.String("bootstrap", "bin/bootstrap", "`PATH` of the bootstrap binary (with --invoke)")
	mode := fs.String("mode", "alert", "`MODE` for --invoke: alert or fix")
	verbose := fs.Bool("v", false, "show the remediator's JSON logs (and with --invoke, the emulator's own lines)")
	if done, code := parseFlags(fs, args); done {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	env, err := localaws.Start(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo: start local AWS:", err)
		return 1
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	seed, err := world.Seed(ctx, env.Filler)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo: seed:", err)
		return 1
	}
	sink, err := world.NewAlertSink(ctx, "ami-kms-remediator-alerts")
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	if *invokeEvent != "" {
		return invokeUnderRIE(ctx, env, seed, sink, *invokeEvent, *rie, *bootstrap, *mode, *verbose, stdout, stderr)
	}

	say("== ami-kms-remediator demo: local AWS (moto + gap filler) at %s", env.URL)
	say("Account %s copied AMI %s (us-west-2) to %s in us-east-1, encrypted with its key", scenario.Owner, seed.SourceImage, seed.Image)
	say("%s, and shared it with %s.", seed.KeyARN, scenario.Target)
	say("A launch there: instance %s -> %s", seed.InstanceID, seed.StateReason)

	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	newRM := func(mode config.Mode) (*remediate.Remediator, error) {
		cfg, err := config.FromEnv(func(name string) string {
			return map[string]string{"MODE": string(mode), "TRUSTED_ACCOUNT_IDS": scenario.Target, "ALERT_TOPIC_ARN": sink.TopicARN,
				"MEMBER_ROLE_NAME": scenario.MemberRoleName}[name]
		})
		if err != nil {
			return nil, err
		}
		return remediate.New(cfg, awsapi.NewClients(world.Central, cfg.MemberRoleName, ""), logging.New(logw, cfg.LogLevel)), nil
	}
	// run invokes the remediator on a sample event. A CloudTrail API call event (the failed
	// RunInstances) is first recorded in the account's CloudTrail, as AWS records every call: the
	// remediator confirms a launcher there before it grants it anything.
	run := func(mode config.Mode, file string) (report.Result, bool) {
		rm, err := newRM(mode)
		if err != nil {
			fmt.Fprintln(stderr, "amikms demo:", err)
			return report.Result{}, false
		}
		raw, err := scenario.Event(filepath.Join(*eventsDir, file), seed.Replace())
		if err != nil {
			fmt.Fprintln(stderr, "amikms demo:", err)
			return report.Result{}, false
		}
		if bytes.Contains(raw, []byte(`"AWS API Call via CloudTrail"`)) {
			if err := env.Filler.RecordTrail(raw); err != nil {
				fmt.Fprintln(stderr, "amikms demo: record the call in CloudTrail:", err)
				return report.Result{}, false
			}
		}
		out, err := rm.Invoke(ctx, raw)
		if err != nil {
			fmt.Fprintln(stderr, "amikms demo:", err)
			return report.Result{}, false
		}
		return out.(report.Result), true
	}

	say("")
	say("-- 1. MODE=alert, %s (the share, before anyone launches)", filepath.Join(*eventsDir, "share-image.json"))
	res, ok := run(config.ModeAlert, "share-image.json")
	if !ok {
		return 1
	}
	printSummary(say, res)

	say("-- 2. MODE=fix, %s (the failed launch in %s)", filepath.Join(*eventsDir, "instance-terminated.json"), scenario.Target)
	if res, ok = run(config.ModeFix, "instance-terminated.json"); !ok {
		return 1
	}
	printSummary(say, res)
	after, err := world.KeyPolicy(ctx, seed.KeyARN)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	say("   Key policy before -> after (read back from KMS; '+' lines were added, nothing else moved):")
	say("%s", indent(remediate.PolicyDiff([]byte(seed.PolicyBefore), []byte(after)), "     "))

	say("-- 3. MODE=fix, %s (role %s in %s: the IAM side)", filepath.Join(*eventsDir, "launch-failed.json"), scenario.AppRoleName, scenario.Target)
	if res, ok = run(config.ModeFix, "launch-failed.json"); !ok {
		return 1
	}
	printSummary(say, res)

	id, state, err := world.Launch(ctx, scenario.Target, scenario.Region, seed.Image)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	say("-- 4. %s launches the image again: instance %s -> %s", scenario.Target, id, state)
	if res, ok = run(config.ModeFix, "instance-terminated.json"); !ok {
		return 1
	}
	say("   re-running the event changes nothing: %d findings, %d actions, PutKeyPolicy calls: %d", countFindings(res), len(res.Actions), res.Stats["KMS:PutKeyPolicy"])

	alerts, err := sink.Drain(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	paths, err := writeAlerts(*alertsDir, alerts)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	say("")
	say("-- Alerts delivered through SNS (read back from an SQS subscription): %d, each in a file", len(alerts))
	for i, a := range alerts {
		say("   %s  %s", paths[i], a.Subject)
	}
	return 0
}

// writeAlerts writes each alert (subject, attributes, body) to its own file in dir and returns
// their paths.
func writeAlerts(dir string, alerts []scenario.Alert) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("alerts folder: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "alert-*.txt"))
	for _, p := range old {
		_ = os.Remove(p) // a previous run's alerts would be mistaken for this one's
	}
	paths := make([]string, len(alerts))
	for i, a := range alerts {
		attrs, _ := json.Marshal(a.MessageAttributes) // plain maps of strings always marshal
		paths[i] = filepath.Join(dir, fmt.Sprintf("alert-%d.txt", i+1))
		text := "Subject: " + a.Subject + "\nAttributes: " + string(attrs) + "\n\n" + a.Message
		if err := os.WriteFile(paths[i], []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("write alert: %w", err)
		}
	}
	return paths, nil
}

// printSummary says in a few lines what a run found and did: the codes per account, the actions
// (without their long reasons: the alert files have them).
func printSummary(say func(string, ...any), res report.Result) {
	for _, r := range res.Records {
		switch {
		case r.Error != "":
			say("   %s %s: error: %s", r.Trigger, r.ImageID, r.Error)
		case r.IgnoredReason != "":
			say("   %s: ignored: %s", r.Trigger, r.IgnoredReason)
		case len(r.Findings) == 0:
			say("   %s %s in %s: nothing missing", r.Trigger, r.ImageID, r.Account)
		}
		byAccount := map[string][]string{}
		for _, f := range r.Findings {
			byAccount[f.Account] = append(byAccount[f.Account], string(f.Code))
		}
		accounts := make([]string, 0, len(byAccount))
		for acc := range byAccount {
			accounts = append(accounts, acc)
		}
		sort.Strings(accounts)
		for _, acc := range accounts {
			say("   found   %s for %s", strings.Join(byAccount[acc], ", "), acc)
		}
	}
	for _, a := range res.Actions {
		say("   action  %s %s for %s", a.Type, a.Status, strings.Join(a.Accounts, ","))
	}
	if res.Alert.Published {
		say("   alert   published (%s)", res.Alert.MessageID)
	}
}

func countFindings(res report.Result) int {
	n := 0
	for _, r := range res.Records {
		n += len(r.Findings)
	}
	return n
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
