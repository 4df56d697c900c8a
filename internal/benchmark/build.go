package benchmark

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// lambdaBuildFlags are the Makefile's LAMBDA_FLAGS: how bootstrap is built for Lambda.
var lambdaBuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// BuildLambda builds pkg (module-relative, "./functions/remediator") the way the Makefile builds
// bootstrap: CGO_ENABLED=0, -tags lambda.norpc -trimpath -ldflags='-s -w'. goos/goarch "" mean
// this machine.
func BuildLambda(ctx context.Context, goBin, moduleDir, pkg, out, goos, goarch string) error {
	args := append(append([]string{"build"}, lambdaBuildFlags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goos != "" {
		cmd.Env = append(cmd.Env, "GOOS="+goos)
	}
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for %s/%s: %w\n%s", pkg, goos, goarch, err, b)
	}
	return nil
}

// fileSize is the size of path in bytes.
func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
