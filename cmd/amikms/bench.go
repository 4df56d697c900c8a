package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/benchmark"
)

const benchHelp = `usage: amikms bench [-rie PATH] [-n STARTS] [-benchtime D] [-count N] [-estate IMAGES] [-module DIR]

Measures cold start (under the Lambda runtime emulator), AWS calls per event against their
minimum, batch coalescing, peak memory, the policy engine and the estate at scale (a sweep of
2,000 images and more), and prints one Markdown table
(make bench). Progress goes to standard error. It needs Go, moto_server and aws-lambda-rie.

Credentials: none: everything runs against an embedded local AWS on 127.0.0.1 (fake keys);
it never calls AWS. Writes: only binaries in a temporary folder, removed at exit.
`

// runBench measures cold start, AWS calls per event, batch coalescing, memory and the policy
// engine and prints one Markdown table: make bench. Progress goes to stderr.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", benchHelp, args, stdout, stderr)
	rie := fs.String("rie", envOr("AMIKMS_RIE", "bin/aws-lambda-rie"), "path of aws-lambda-rie")
	module := fs.String("module", ".", "repository root (where go.mod is)")
	starts := fs.Int("n", 20, "fresh starts per binary for the cold-start medians (at least 10 for the table)")
	benchtime := fs.String("benchtime", "300ms", "-benchtime of the Go benchmarks")
	count := fs.Int("count", 5, "rounds of the Go benchmarks (the table shows medians)")
	estate := fs.Int("estate", 0, "images of section 6's estate at 1x (0: 2,040; -1 skips it)")
	if done, code := parseFlags(fs, args); done {
		return code
	}
	if *starts < 1 {
		fmt.Fprintln(stderr, "amikms bench: -n must be at least 1")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t, err := benchmark.Run(ctx, benchmark.Options{ModuleDir: *module, RIE: *rie, ColdStarts: *starts, BenchTime: *benchtime, BenchCount: *count, EstateImages: *estate, Progress: stderr})
	if err != nil {
		fmt.Fprintln(stderr, "amikms bench:", err)
		return 1
	}
	if err := t.Render(stdout); err != nil {
		fmt.Fprintln(stderr, "amikms bench:", err)
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
