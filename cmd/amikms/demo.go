package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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

// runDemo starts the embedded local AWS (moto behind the gap filler), builds the seed scenario
// and runs the remediator on the sample events, showing what an operator would see.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventsDir := fs.String("events", "events", "folder of the sample events")
	invokeEvent := fs.String("invoke", "", "instead of the demo: run this event through bootstrap under the Lambda runtime emulator")
	rie := fs.String("rie", "aws-lambda-rie", "path of aws-lambda-rie (with --invoke)")
	bootstrap := fs.String("bootstrap", "bin/bootstrap", "path of the bootstrap binary (with --invoke)")
	mode := fs.String("mode", "fix", "MODE for --invoke (alert or fix)")
	verbose := fs.Bool("v", false, "show the remediator's JSON logs on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
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
		return invokeUnderRIE(ctx, env, seed, sink, *invokeEvent, *rie, *bootstrap, *mode, stdout, stderr)
	}

	say("== ami-kms-remediator demo: local AWS (moto + gap filler) at %s", env.URL)
	say("")
	say("The situation: account %s copied its AMI %s (us-west-2) to %s in us-east-1, encrypted with", scenario.Owner, seed.SourceImage, seed.Image)
	say("its customer managed key %s,", seed.KeyARN)
	say("and shared it with account %s. A launch there: instance %s -> %s", scenario.Target, seed.InstanceID, seed.StateReason)
	say("")

	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	newRM := func(mode config.Mode) *remediate.Remediator {
		cfg := config.Config{Mode: mode, TrustedAccountIDs: []string{scenario.Target}, AlertTopicARN: sink.TopicARN,
			MemberRoleName: scenario.MemberRoleName, IAMPolicyName: config.DefaultIAMPolicyName, LogLevel: "info"}
		return remediate.New(cfg, awsapi.NewClients(world.Central, cfg.MemberRoleName, ""), logging.New(logw, "info"))
	}
	run := func(rm *remediate.Remediator, file string) (report.Result, bool) {
		raw, err := scenario.Event(strings.TrimRight(*eventsDir, "/")+"/"+file, seed.Replace())
		if err != nil {
			fmt.Fprintln(stderr, "amikms demo:", err)
			return report.Result{}, false
		}
		out, err := rm.Invoke(ctx, raw)
		if err != nil {
			fmt.Fprintln(stderr, "amikms demo:", err)
			return report.Result{}, false
		}
		return out.(report.Result), true
	}

	say("-- 1. MODE=alert, event %s/share-image.json (the share, before anyone launches)", *eventsDir)
	res, ok := run(newRM(config.ModeAlert), "share-image.json")
	if !ok {
		return 1
	}
	printFindings(say, res)
	say("")

	say("-- 2. MODE=fix, event %s/instance-terminated.json (the failed launch in %s)", *eventsDir, scenario.Target)
	res, ok = run(newRM(config.ModeFix), "instance-terminated.json")
	if !ok {
		return 1
	}
	printFindings(say, res)
	after, err := world.KeyPolicy(ctx, seed.KeyARN)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	say("")
	say("Key policy before -> after (read back from KMS; '+' lines were added, nothing else moved):")
	say("%s", indent(remediate.PolicyDiff([]byte(seed.PolicyBefore), []byte(after)), "    "))

	say("-- 3. MODE=fix, event %s/launch-failed.json (role %s in %s: the IAM side)", *eventsDir, scenario.AppRoleName, scenario.Target)
	res, ok = run(newRM(config.ModeFix), "launch-failed.json")
	if !ok {
		return 1
	}
	printFindings(say, res)
	say("")

	id, state, err := world.Launch(ctx, scenario.Target, scenario.Region, seed.Image)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	say("-- 4. %s launches the image again: instance %s -> %s", scenario.Target, id, state)
	res, ok = run(newRM(config.ModeFix), "instance-terminated.json")
	if !ok {
		return 1
	}
	say("   re-running the event changes nothing: %d findings, %d actions, PutKeyPolicy calls: %d", countFindings(res), len(res.Actions), res.Stats["KMS:PutKeyPolicy"])
	say("")

	alerts, err := sink.Drain(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "amikms demo:", err)
		return 1
	}
	say("-- Alerts delivered through SNS (read back from an SQS subscription): %d", len(alerts))
	for _, a := range alerts {
		say("")
		say("Subject: %s", a.Subject)
		attrs, _ := json.Marshal(a.MessageAttributes)
		say("Attributes: %s", attrs)
		say("%s", indent(a.Message, "  | "))
	}
	return 0
}

func printFindings(say func(string, ...any), res report.Result) {
	for _, r := range res.Records {
		switch {
		case r.Error != "":
			say("   %s %s: error: %s", r.Trigger, r.ImageID, r.Error)
		case r.IgnoredReason != "":
			say("   %s: ignored: %s", r.Trigger, r.IgnoredReason)
		case len(r.Findings) == 0:
			say("   %s %s in %s: nothing missing", r.Trigger, r.ImageID, r.Account)
		}
		for _, f := range r.Findings {
			fixable := ""
			if f.Fixable {
				fixable = " [fixable]"
			}
			say("   finding %-26s account %s%s\n      %s", f.Code, f.Account, fixable, f.Message)
		}
	}
	for _, a := range res.Actions {
		say("   action  %-10s %-9s %s for %s\n      %s", a.Type, a.Status, a.Target, strings.Join(a.Accounts, ","), a.Reason)
	}
	if res.Alert.Published {
		say("   alert published: %s", res.Alert.MessageID)
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
