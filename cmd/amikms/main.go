// Command amikms is the operator CLI: explain a KMS decision, run the remediator on one event,
// check an image for an account, or run the demo on the embedded local AWS.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: amikms <command> [flags]

commands:
  explain   why is this KMS request allowed or denied? (key policy + identity policies)
  invoke    run the remediator on one event: amikms invoke [FILE|-]
  check     diagnose (and in MODE=fix, fix) an image for an account:
            amikms check --image AMI --region REGION --account ACCOUNT [--principal ARN]
  demo      run the seed scenario on the embedded local AWS (moto) and show what happens
  bench     measure cold start, AWS calls per event, batching, memory, policy engine (make bench)

exit codes: 0 handled, 1 processing failed, 2 unusable input
`

func main() { os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "explain":
		return runExplain(args[1:], stdout, stderr)
	case "invoke":
		return runInvoke(args[1:], stdin, stdout, stderr)
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "amikms: unknown command %q\n\n%s", args[0], usage)
	return 2
}
