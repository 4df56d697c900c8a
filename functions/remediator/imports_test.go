package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The Lambda is the product only: the local AWS, scenarios, benchmark and emulator harnesses in
// internal/ (and test-only packages) must never be linked into bootstrap.
func TestBootstrapImportsNoWorkshop(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/ami-kms-remediator/ami-kms-remediator/"
	var ours int
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, module) {
			continue
		}
		ours++
		rel := strings.TrimPrefix(p, module)
		if strings.HasPrefix(rel, "internal/") || strings.HasPrefix(rel, "cmd/") {
			t.Errorf("bootstrap links %s: the Lambda must import only pkg/", rel)
		}
	}
	if ours < 3 {
		t.Fatalf("go list found only %d packages of this module: the check would prove nothing\n%s", ours, out)
	}
}
