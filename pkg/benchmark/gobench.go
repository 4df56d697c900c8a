package benchmark

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// GoBench is one result line of `go test -bench -benchmem`.
type GoBench struct {
	Package     string // last path element: policy, keypolicy, ...
	Name        string // without the Benchmark prefix and the -GOMAXPROCS suffix: Parse/aws-default
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(.*)$`)

// ParseGoBench reads `go test -bench -benchmem` output (several packages in a row).
func ParseGoBench(out []byte) map[string]GoBench {
	res := map[string]GoBench{}
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		b := GoBench{Package: pkg, Name: m[1]}
		b.NsPerOp, _ = strconv.ParseFloat(m[2], 64)
		f := strings.Fields(m[3])
		for i := 1; i < len(f); i++ {
			switch f[i] {
			case "B/op":
				b.BytesPerOp, _ = strconv.ParseFloat(f[i-1], 64)
			case "allocs/op":
				b.AllocsPerOp, _ = strconv.ParseFloat(f[i-1], 64)
			}
		}
		res[pkg+"."+b.Name] = b
	}
	return res
}

// runGoBench runs the benchmarks matching pattern in pkgs (module-relative, "./pkg/policy").
func runGoBench(ctx context.Context, goBin, moduleDir, pattern, benchtime string, pkgs ...string) (map[string]GoBench, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-count", "1", "-benchtime", benchtime}, pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = moduleDir
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return ParseGoBench(out), nil
}
