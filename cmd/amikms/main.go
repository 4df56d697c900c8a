// Command amikms is the operator CLI: explain a KMS decision, run the remediator on one event,
// check an image for an account, or run the demo on the embedded local AWS.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand: what it does, which credentials it uses and whether it can write
// (its --help says all three), and how it runs.
type command struct {
	name, summary string
	help          string
	run           func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = []command{
	{name: "explain", summary: "why is this KMS request allowed or denied? (key policy + identity policies)", help: explainHelp,
		run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
			return runExplain(args, stdout, stderr)
		}},
	{name: "invoke", summary: "run the remediator on one event: amikms invoke [FILE|-]", help: invokeHelp, run: runInvoke},
	{name: "check", summary: "diagnose (and in MODE=fix, fix) an image for an account:\n            amikms check --image AMI --region REGION --account ACCOUNT [--principal ARN]",
		help: checkHelp, run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return runCheck(args, stdout, stderr) }},
	{name: "audit", summary: "which shared encrypted images cannot be launched today? every account x region, now:\n            amikms audit --accounts A,B | --organization [--regions ...] [--mode alert|fix]",
		help: auditHelp, run: runAudit},
	{name: "status", summary: "the open findings across the estate, from the estate store: amikms status [--account A]",
		help: statusHelp, run: runStatus},
	{name: "demo", summary: "run the seed scenario on the embedded local AWS (moto) and show what happens", help: demoHelp,
		run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return runDemo(args, stdout, stderr) }},
	{name: "bench", summary: "measure cold start, AWS calls per event, batching, memory, policy engine (make bench)", help: benchHelp,
		run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return runBench(args, stdout, stderr) }},
}

// explainHelp is said before explain's own usage (which its flags print).
const explainHelp = `amikms explain: answers from the policy files given, offline.
Credentials: none (it calls no AWS API). Writes: nothing.

`

func usage() string {
	var b strings.Builder
	b.WriteString("usage: amikms <command> [flags]   (amikms <command> --help for one command)\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nexit codes: 0 handled, 1 processing failed, 2 unusable input or usage (audit and status: 3 findings)\n")
	return b.String()
}

func main() { os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage())
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		if c.name == "explain" && helpRequested(args[1:]) {
			fmt.Fprint(stdout, explainHelp)
		}
		return c.run(args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "amikms: unknown command %q\n\n%s", args[0], usage())
	return 2
}

// helpRequested: a -h or --help among the flags (before any "--").
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// newFlags returns a flag set whose usage is help and the flags' defaults: on standard output
// when help was asked for, with the error on standard error otherwise.
func newFlags(name, help string, args []string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("amikms "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if helpRequested(args) {
		fs.SetOutput(stdout)
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; done says the command must return code (0 after --help).
func parseFlags(fs *flag.FlagSet, args []string) (done bool, code int) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return true, 0
		}
		return true, 2
	}
	return false, 0
}
