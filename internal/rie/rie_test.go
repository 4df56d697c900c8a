package rie

import (
	"os"
	"reflect"
	"testing"
)

func TestParseLogs(t *testing.T) {
	captured, err := os.ReadFile("testdata/emulator-two-invokes.log")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		logs string
		want Timings
	}{
		// Output of the pinned emulator: the REPORT line's "Init Duration" (0.04) must not be
		// taken for the first invoke's Duration (27.71), nor for the init (26.654).
		"pinned emulator, two invokes": {string(captured), Timings{Init: 26.654, Handler: []float64{0.729, 2.818}, Report: []float64{27.71, 2.95}}},
		"managed-instances format": {
			"INIT REPORT(initType: on-demand, durationMs: 5.25, status: success, phase: init, errorType: )\n" +
				"INVOKE RTDONE(status: success, producedBytes: 2, durationMs: 1.50, spans: 0, errorType: )\n",
			Timings{Init: 5.25, Handler: []float64{1.5}},
		},
		"nothing yet": {"exec './bootstrap'\n", Timings{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ParseLogs(tc.logs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseLogs = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestChildPIDsOfThisProcessParent(t *testing.T) {
	pids, err := childPIDs(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range pids {
		found = found || p == os.Getpid()
	}
	if !found {
		t.Errorf("this process %d not among the children %v of its parent %d", os.Getpid(), pids, os.Getppid())
	}
}
