package rie

import (
	"errors"
	"os"
	"reflect"
	"strings"
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

// A function that cannot start is reported with its own words: the init error it gave the
// runtime API, or else what it printed; never a bare "HTTP 502".
func TestFailureSurfacesTheInitError(t *testing.T) {
	captured, err := os.ReadFile("testdata/emulator-init-error.log")
	if err != nil {
		t.Fatal(err)
	}
	e := &Emulator{logs: &syncBuffer{}}
	_, _ = e.logs.Write(captured)
	tests := map[string]struct {
		body string
		want FunctionError
	}{
		"reported to the runtime API": {
			body: `{"errorMessage":"MODE: must be \"alert\" or \"fix\", got \"bad\"","errorType":"Runtime.ConfigInvalid"}`,
			want: FunctionError{Status: 502, Init: true, Type: "Runtime.ConfigInvalid", Message: `MODE: must be "alert" or "fix", got "bad"`},
		},
		"only printed": {
			body: "",
			want: FunctionError{Status: 502, Init: true, Message: `ami-kms-remediator: MODE: must be "alert" or "fix", got "bad"; ` +
				`{"error":"MODE: must be \"alert\" or \"fix\", got \"bad\"","level":"error","message":"cannot start: invalid configuration"}`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := e.failure(502, []byte(tc.body))
			var fe *FunctionError
			if !errors.As(err, &fe) || !reflect.DeepEqual(*fe, tc.want) {
				t.Fatalf("failure = %#v, want %#v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "the function could not start") || !strings.Contains(err.Error(), `MODE: must be`) {
				t.Errorf("message %q", err)
			}
		})
	}
}
