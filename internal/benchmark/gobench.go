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

// ParseGoBench reads `go test -bench -benchmem` output (several packages in a row). A benchmark
// that ran several times (-count) gets the median of each figure.
func ParseGoBench(out []byte) map[string]GoBench {
	samples := map[string][]GoBench{}
	var order []string
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
		k := pkg + "." + b.Name
		if samples[k] == nil {
			order = append(order, k)
		}
		samples[k] = append(samples[k], b)
	}
	res := make(map[string]GoBench, len(order))
	for _, k := range order {
		res[k] = medianOf(samples[k])
	}
	return res
}

// runGoBench runs the benchmarks matching pattern in pkgs (module-relative, "./pkg/policy") once
// per round, as separate `go test` runs, so that within a round an operation and its floor are
// measured seconds apart: their ratio survives the load swings of a shared machine better than
// medians taken separately.
func runGoBench(ctx context.Context, goBin, moduleDir, pattern, benchtime string, rounds int, pkgs ...string) ([]map[string]GoBench, error) {
	var out []map[string]GoBench
	for i := 0; i < rounds; i++ {
		r, err := runGoBenchOnce(ctx, goBin, moduleDir, pattern, benchtime, pkgs...)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// medianRatio is the median over rounds of a's ns/op over b's (0 when never both measured).
func medianRatio(rounds []map[string]GoBench, a, b string) float64 {
	var rs []float64
	for _, r := range rounds {
		x, ok1 := r[a]
		y, ok2 := r[b]
		if ok1 && ok2 && y.NsPerOp > 0 {
			rs = append(rs, x.NsPerOp/y.NsPerOp)
		}
	}
	return Median(rs)
}

// medians folds rounds into one result per benchmark: the median of each figure.
func medians(rounds []map[string]GoBench) map[string]GoBench {
	samples := map[string][]GoBench{}
	for _, r := range rounds {
		for k, b := range r {
			samples[k] = append(samples[k], b)
		}
	}
	out := map[string]GoBench{}
	for k, ss := range samples {
		out[k] = medianOf(ss)
	}
	return out
}

func medianOf(ss []GoBench) GoBench {
	pick := func(f func(GoBench) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return Median(xs)
	}
	return GoBench{Package: ss[0].Package, Name: ss[0].Name,
		NsPerOp:     pick(func(b GoBench) float64 { return b.NsPerOp }),
		BytesPerOp:  pick(func(b GoBench) float64 { return b.BytesPerOp }),
		AllocsPerOp: pick(func(b GoBench) float64 { return b.AllocsPerOp })}
}

func runGoBenchOnce(ctx context.Context, goBin, moduleDir, pattern, benchtime string, pkgs ...string) (map[string]GoBench, error) {
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
