// Package rie runs a Lambda bootstrap under the AWS Lambda Runtime Interface Emulator, bound to
// 127.0.0.1, and invokes it over HTTP: what `sam local invoke` does inside its container.
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Emulator is a running aws-lambda-rie with one bootstrap.
type Emulator struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// Start runs rieBin with bootstrap; env is the function's environment (the emulator passes it on).
func Start(ctx context.Context, rieBin, bootstrap string, env []string) (*Emulator, error) {
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	runtimePort, err := freePort()
	if err != nil {
		return nil, err
	}
	logs := &syncBuffer{}
	cmd := exec.Command(rieBin,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtimePort),
		bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", rieBin, err)
	}
	e := &Emulator{url: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", apiPort), cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	// Wait until the emulator listens (it starts the bootstrap lazily, on the first invoke).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(apiPort), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("aws-lambda-rie exited: %s", logs.String())
		case <-ctx.Done():
			e.Close()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			e.Close()
			return nil, fmt.Errorf("aws-lambda-rie did not listen within 10s: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invoke posts payload and returns the response body (handler errors come back as HTTP 200 with
// errorMessage/errorType in the body, as the emulator does).
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, e.failure(resp.StatusCode, body)
	}
	return body, nil
}

// FunctionError is an invocation that failed in the function, as the emulator reports it: with
// the error the function gave the runtime API (its init error, when it could not start), or, when
// it gave none, the last lines it printed.
type FunctionError struct {
	Status        int    // the emulator's HTTP status (502 when the function exited)
	Init          bool   // the function failed before it could take the event
	Type, Message string // what the function reported; Message is its output when it reported nothing
}

func (e *FunctionError) Error() string {
	what := "the function failed"
	if e.Init {
		what = "the function could not start"
	}
	if e.Type != "" {
		return fmt.Sprintf("%s (%s): %s", what, e.Type, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", what, e.Status, e.Message)
}

// failure builds the FunctionError of a failed invocation from the response body and the logs.
func (e *Emulator) failure(status int, body []byte) error {
	logs := e.Logs()
	fe := &FunctionError{Status: status, Init: strings.Contains(logs, "Init failed") || strings.Contains(logs, "INIT RTDONE(status: error)")}
	var reported struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &reported) == nil && reported.Message != "" {
		fe.Type, fe.Message = reported.Type, reported.Message
		return fe
	}
	out := FunctionOutput(logs)
	if len(out) > 5 {
		out = out[len(out)-5:]
	}
	fe.Message = strings.Join(out, "; ")
	if fe.Message == "" {
		fe.Message = strings.TrimSpace(string(body))
	}
	if fe.Message == "" {
		fe.Message = "no output; see the emulator's log"
	}
	return fe
}

// FunctionOutput is what the function itself printed: the log without the emulator's own lines
// ("[INFO] (rapid) ...") and its START, END and REPORT lines.
func FunctionOutput(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		switch {
		case strings.TrimSpace(l) == "", strings.Contains(l, "] (rapid) "),
			strings.HasPrefix(l, "START RequestId:"), strings.HasPrefix(l, "END RequestId:"), strings.HasPrefix(l, "REPORT RequestId:"):
		default:
			out = append(out, l)
		}
	}
	return out
}

// Logs returns what the emulator and the function printed so far.
func (e *Emulator) Logs() string { return e.logs.String() }

// What the pinned emulator (aws-lambda-rie v0.0.0-20261030222936-bef5c4ba774d) prints, checked
// against its source (internal/lambda/interop/events_api.go, internal/lambda/rie/handlers.go) and
// its output (testdata/emulator-two-invokes.log):
//
//	[INFO] (rapid) INIT REPORT(durationMs: 2.962000)
//	[INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 0.528000ms)
//	REPORT RequestId: <id>\tInit Duration: 0.02 ms\tDuration: 3.64 ms\tBilled Duration: ...
//
// INIT REPORT is the real init: from starting the bootstrap to its first /next. The REPORT line's
// "Init Duration" is not: the emulator starts init asynchronously and measures only the call that
// starts it (~0.02 ms), and for the same reason the first REPORT "Duration" includes the init.
// INVOKE RTDONE is the handler's own time (what Lambda's REPORT Duration means). The managed-
// instances mode (AWS_LAMBDA_MAX_CONCURRENCY set) prints "durationMs: X" in both lines instead.
var (
	initRe   = regexp.MustCompile(`INIT REPORT\([^)\n]*?durationMs: ([0-9.]+)`)
	rtdoneRe = regexp.MustCompile(`INVOKE RTDONE\([^)\n]*?duration(?:Ms)?: ([0-9.]+)`)
	reportRe = regexp.MustCompile(`REPORT RequestId: [^\t\n]*\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms`)
)

// Timings is what the emulator's log says about one function environment, in milliseconds.
type Timings struct {
	Init    float64   // INIT REPORT: bootstrap start to its first /next (0 if not printed yet)
	Handler []float64 // INVOKE RTDONE, per invoke: the handler's time
	Report  []float64 // REPORT Duration, per invoke (the first includes Init, see above)
}

// ParseLogs reads the emulator's INIT REPORT, INVOKE RTDONE and REPORT lines.
func ParseLogs(logs string) Timings {
	var t Timings
	if m := initRe.FindStringSubmatch(logs); m != nil {
		t.Init, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range rtdoneRe.FindAllStringSubmatch(logs, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		t.Handler = append(t.Handler, d)
	}
	for _, m := range reportRe.FindAllStringSubmatch(logs, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		t.Report = append(t.Report, d)
	}
	return t
}

// Durations returns the init duration (INIT REPORT) and each invoke's handler duration (INVOKE
// RTDONE), in ms.
func Durations(logs string) (initMs float64, invokeMs []float64) {
	t := ParseLogs(logs)
	return t.Init, t.Handler
}

// BootstrapPID is the process ID of the function the emulator started (its child), once the first
// invoke has started it.
func (e *Emulator) BootstrapPID() (int, error) {
	if e.cmd.Process == nil {
		return 0, errors.New("emulator not started")
	}
	pids, err := childPIDs(e.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	if len(pids) == 0 {
		return 0, errors.New("the emulator has no child process (no invoke yet?)")
	}
	return pids[0], nil
}

// childPIDs lists the processes whose parent is ppid, from /proc/<pid>/stat.
func childPIDs(ppid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may contain spaces and parentheses, so cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 2 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Close stops the emulator and the function.
func (e *Emulator) Close() error {
	if e.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not TCP")
	}
	return addr.Port, nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
