// Package imports checks what a Lambda's binary links: the product (pkg/) only, never the
// workshop (internal/: the local AWS, scenarios, benchmark, emulator harnesses) or cmd/.
package imports

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is this repository's module path.
const Module = "github.com/ami-kms-remediator/ami-kms-remediator/"

// CheckProductOnly fails t when the package in the current directory, built as a Lambda is
// (-tags lambda.norpc), depends on a package of internal/ or cmd/.
func CheckProductOnly(t testing.TB) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var ours int
	for _, p := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(p, Module)
		if !ok {
			continue
		}
		ours++
		if strings.HasPrefix(rel, "internal/") || strings.HasPrefix(rel, "cmd/") {
			t.Errorf("the binary links %s: a Lambda must import only pkg/", rel)
		}
	}
	if ours < 3 {
		t.Fatalf("go list found only %d packages of this module: the check would prove nothing\n%s", ours, out)
	}
}
