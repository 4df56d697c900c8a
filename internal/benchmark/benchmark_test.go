package benchmark

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

func TestTableRender(t *testing.T) {
	tab := &Table{}
	tab.Add(Row{Section: "1 cold start", Measure: "init", Ours: "10.0 ms", Baseline: "4.0 ms", Ratio: Ratio(10, 4), Goal: "≤ 1.3×", Verdict: AtMost(10.0/4, 1.3)})
	tab.Add(Row{Section: "2 AWS calls", Measure: "a|b", Ours: "3", Goal: "= minimum", Verdict: Pass, Notes: "line one\nline two"})
	tab.Add(Row{Section: "5 policy engine", Measure: "x", Verdict: Info})
	var b strings.Builder
	if err := tab.Render(&b); err != nil {
		t.Fatal(err)
	}
	want := "| section | measure | ours | baseline | ratio | goal | result | notes |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- |\n" +
		"| 1 cold start | init | 10.0 ms | 4.0 ms | 2.50× | ≤ 1.3× | OVER |  |\n" +
		"| 2 AWS calls | a\\|b | 3 |  |  | = minimum | PASS | line one<br>line two |\n" +
		"| 5 policy engine | x |  |  |  |  | info |  |\n" +
		"\n1 PASS, 1 OVER, 1 info\n"
	if b.String() != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMedianAndRatio(t *testing.T) {
	tests := map[string]struct {
		xs   []float64
		want float64
	}{
		"none": {nil, 0},
		"odd":  {[]float64{9, 1, 5}, 5},
		"even": {[]float64{4, 1, 3, 2}, 2.5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Median(tc.xs); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
	if Ratio(1, 0) != "n/a" || Ratio(3, 2) != "1.50×" {
		t.Errorf("Ratio: %q %q", Ratio(1, 0), Ratio(3, 2))
	}
}

func TestStatusField(t *testing.T) {
	const status = "Name:\tbootstrap\nVmPeak:\t 1250000 kB\nVmHWM:\t   30924 kB\nVmRSS:\t   29000 kB\n"
	tests := map[string]struct {
		text, field string
		want        int
		wantErr     bool
	}{
		"VmHWM":       {status, "VmHWM", 30924, false},
		"missing":     {status, "VmSwap", 0, true},
		"not a count": {"VmHWM:\t lots kB\n", "VmHWM", 0, true},
		"no unit":     {"VmHWM:\t 12\n", "VmHWM", 0, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := statusField(bufio.NewScanner(strings.NewReader(tc.text)), tc.field)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("statusField = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	kb, err := PeakRSSKB(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if kb < 1024 || kb > 4<<20 {
		t.Errorf("peak RSS of the test binary = %d kB: not plausible", kb)
	}
	if _, err := PeakRSSKB(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// Results of -count runs are folded into their medians.
func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy
cpu: AMD EPYC
BenchmarkParse/aws-default-2    	   10000	     20082 ns/op	  97.55 MB/s	   18384 B/op	     127 allocs/op
BenchmarkStdlibUnmarshalAny/large-30k-2           	    1045	    346930 ns/op	  85.89 MB/s	  126416 B/op	    2611 allocs/op
PASS
pkg: github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate
BenchmarkKMS-2                               	   43046	      6290 ns/op	    2432 B/op	      53 allocs/op
BenchmarkKMS-2                               	   43046	      9100 ns/op	    2432 B/op	      53 allocs/op
BenchmarkKMS-2                               	   43046	      6000 ns/op	    2432 B/op	      53 allocs/op
BenchmarkPlain 	 100	 12.5 ns/op
ok  	github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate	0.767s
`
	want := map[string]GoBench{
		"policy.Parse/aws-default":            {Package: "policy", Name: "Parse/aws-default", NsPerOp: 20082, BytesPerOp: 18384, AllocsPerOp: 127},
		"policy.StdlibUnmarshalAny/large-30k": {Package: "policy", Name: "StdlibUnmarshalAny/large-30k", NsPerOp: 346930, BytesPerOp: 126416, AllocsPerOp: 2611},
		"evaluate.KMS":                        {Package: "evaluate", Name: "KMS", NsPerOp: 6290, BytesPerOp: 2432, AllocsPerOp: 53},
		"evaluate.Plain":                      {Package: "evaluate", Name: "Plain", NsPerOp: 12.5},
	}
	if got := ParseGoBench([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseGoBench =\n%+v\nwant\n%+v", got, want)
	}
}

// Ratios are taken within a round (or an interleaved pair), then their median: a round measured
// under load does not skew the result.
func TestRatiosOfRounds(t *testing.T) {
	round := func(op, floor float64) map[string]GoBench {
		return map[string]GoBench{"p.Op": {NsPerOp: op}, "p.Floor": {NsPerOp: floor}}
	}
	rounds := []map[string]GoBench{round(10, 5), round(300, 100), round(8, 8)}
	if got := medianRatio(rounds, "p.Op", "p.Floor"); got != 2 {
		t.Errorf("medianRatio = %v, want 2", got)
	}
	if got := medians(rounds)["p.Op"].NsPerOp; got != 10 {
		t.Errorf("median ns/op = %v, want 10", got)
	}
	if got := pairedRatio([]float64{10, 30, 8}, []float64{5, 10, 8, 99}); got != 2 {
		t.Errorf("pairedRatio = %v, want 2", got)
	}
}

func TestCompare(t *testing.T) {
	tests := map[string]struct {
		got, min    map[string]int
		over, under []string
	}{
		"equal":        {map[string]int{"KMS:DescribeKey": 1}, map[string]int{"KMS:DescribeKey": 1}, nil, nil},
		"duplicate":    {map[string]int{"EC2:DescribeSnapshots": 2}, map[string]int{"EC2:DescribeSnapshots": 1}, []string{"EC2:DescribeSnapshots 2 (min 1)"}, nil},
		"unexpected":   {map[string]int{"STS:GetCallerIdentity": 1}, map[string]int{}, []string{"STS:GetCallerIdentity 1 (min 0)"}, nil},
		"missing read": {map[string]int{}, map[string]int{"KMS:GetKeyPolicy": 1}, nil, []string{"KMS:GetKeyPolicy 0 (min 1)"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			over, under := Compare(tc.got, tc.min)
			if !reflect.DeepEqual(over, tc.over) || !reflect.DeepEqual(under, tc.under) {
				t.Errorf("Compare = %v, %v; want %v, %v", over, under, tc.over, tc.under)
			}
		})
	}
}

// Every sample in events/ has a documented minimum, and every operation in a minimum says why it
// is needed: a new sample or call cannot enter the table unexplained.
func TestMinimumsAreDocumented(t *testing.T) {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	for _, f := range files {
		if _, ok := Minimums["events/"+filepath.Base(f)+" (alert)"]; !ok {
			t.Errorf("no minimum for %s", f)
		}
	}
	for name, m := range Minimums {
		for op, n := range m {
			if callReasons[op] == "" || n <= 0 {
				t.Errorf("%s: %s %d has no reason or is not positive", name, op, n)
			}
		}
	}
}

// Every trigger kind's sample has its row, holding what its descriptor says it needs (and the
// account lookup of a fresh Lambda environment).
func TestEveryKindHasARow(t *testing.T) {
	for _, d := range trigger.Kinds() {
		if d.Synthetic {
			continue
		}
		row, ok := Minimums[SampleRow(d.Sample)]
		if !ok {
			t.Errorf("%s: no row for its sample %s", d.Kind, d.Sample)
			continue
		}
		want := merge(d.MinCalls)
		if len(want) > 0 {
			want["STS:GetCallerIdentity"] = 1
		}
		if !reflect.DeepEqual(row, want) {
			t.Errorf("%s: row %v, want %v", d.Kind, row, want)
		}
	}
}

// One SQS batch of 100 share records over 10 keys and 20 accounts makes one write per key and
// one alert, and no call beyond the documented minimum (counts, not time).
func TestBatchCoalescing(t *testing.T) {
	ctx := context.Background()
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	world := scenario.New(env.URL)
	sink, err := world.NewAlertSink(ctx, "bench-test")
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewBatchFixture(ctx, world, "../../events", 10, 20, 100)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Batch(0, f.Bodies...)
	if err != nil {
		t.Fatal(err)
	}
	c := callRun(ctx, BatchScenario, newRemediator(world, config.ModeFix, f.Accounts, sink.TopicARN), raw)
	if c.Err != "" || len(c.Res.Records) != 100 {
		t.Fatalf("batch: %d records, error %q", len(c.Res.Records), c.Err)
	}
	if c.Stats["KMS:PutKeyPolicy"] != 10 || c.Stats["SNS:Publish"] != 1 {
		t.Errorf("want 10 PutKeyPolicy and 1 Publish: %s", statsLine(c.Stats))
	}
	if over, under := Compare(c.Stats, Minimums[BatchScenario]); len(over)+len(under) > 0 {
		t.Errorf("against the minimum: over %v, under %v", over, under)
	}
	for k, key := range f.Keys {
		pol, err := world.KeyPolicy(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{f.Accounts[k], f.Accounts[k+10]} {
			if !strings.Contains(pol, a) {
				t.Errorf("key %d policy does not name account %s", k, a)
			}
		}
	}
	alerts, err := sink.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Errorf("%d alerts delivered, want 1", len(alerts))
	}
	// Restore gives the next run the same work: a second batch writes every key again.
	if err := f.Restore(ctx, world); err != nil {
		t.Fatal(err)
	}
	again := callRun(ctx, BatchScenario, newRemediator(world, config.ModeFix, f.Accounts, sink.TopicARN), raw)
	if again.Stats["KMS:PutKeyPolicy"] != 10 {
		t.Errorf("after Restore: %s", statsLine(again.Stats))
	}
}

// The SDK-floor baseline must link the same AWS SDK services as bootstrap, or its row compares
// bootstrap with the wrong floor.
func TestSDKFloorLinksWhatBootstrapLinks(t *testing.T) {
	services := func(pkg string) map[string]bool {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		set := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			rest, ok := strings.CutPrefix(p, "github.com/aws/aws-sdk-go-v2/")
			if !ok {
				continue
			}
			if svc, ok := strings.CutPrefix(rest, "service/"); ok && !strings.Contains(svc, "/") {
				set[p] = true
			}
			if rest == "config" || rest == "credentials/stscreds" {
				set[p] = true
			}
		}
		return set
	}
	boot, floor := services("../../functions/remediator"), services("../rie/testdata/sdkfloor")
	if len(boot) == 0 || !reflect.DeepEqual(boot, floor) {
		t.Errorf("bootstrap links %v\nthe SDK floor links %v", sortedSet(boot), sortedSet(floor))
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The contributors' guide lists why each AWS call is needed in the words of callReasons, in
// order: a call added, dropped or reworded here fails until docs/PERFORMANCE.md says the same.
func TestPerformanceGuideListsEveryCallReason(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "PERFORMANCE.md"))
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "- `") && strings.Contains(l, "` — ") {
			have = append(have, l)
		}
	}
	want := CallReasonLines()
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Errorf("docs/PERFORMANCE.md's list of minimum calls differs from callReasons; want these lines:\n%s", strings.Join(want, "\n"))
	}
}
