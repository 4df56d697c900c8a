package stack

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCFNLint runs cfn-lint (default rule set: errors and warnings) on files in dir.
func runCFNLint(t *testing.T, dir string, files ...string) (exitCode int, output string) {
	t.Helper()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not on PATH (CI installs it: pip install cfn-lint): %v", err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--"}, files...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	default:
		t.Fatalf("run cfn-lint: %v", err)
		return -1, ""
	}
}

// TestCFNLint: both templates pass cfn-lint (which also runs the SAM transform) with no errors
// and no warnings.
func TestCFNLint(t *testing.T) {
	t.Parallel()
	code, out := runCFNLint(t, repoRoot(t), "template.yaml", "member-account.yaml")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("cfn-lint template.yaml member-account.yaml: exit %d (2 = errors, 4 = warnings)\n%s", code, out)
	}
}

// TestCFNLintCatchesBreakage proves the lint test can fail: the same template with one broken
// property must not pass.
func TestCFNLintCatchesBreakage(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("read template.yaml: %v", err)
	}
	broken := strings.Replace(string(src), "Runtime: provided.al2023", "Runtime: provided.al2099", 1)
	if broken == string(src) {
		t.Fatal("template.yaml has no 'Runtime: provided.al2023' line to break")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(broken), 0o600); err != nil {
		t.Fatalf("write broken template: %v", err)
	}
	if code, out := runCFNLint(t, dir, "template.yaml"); code == 0 {
		t.Fatalf("cfn-lint accepted Runtime provided.al2099 (exit 0)\n%s", out)
	}
}
