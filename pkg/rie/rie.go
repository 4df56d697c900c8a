// Package rie runs a Lambda bootstrap under the AWS Lambda Runtime Interface Emulator, bound to
// 127.0.0.1, and invokes it over HTTP: what `sam local invoke` does inside its container.
package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
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
		return body, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// Logs returns what the emulator and the function printed so far.
func (e *Emulator) Logs() string { return e.logs.String() }

var (
	initRe   = regexp.MustCompile(`INIT REPORT[^\n]*?Init Duration: ([0-9.]+) ms|INIT REPORT\(durationMs: ([0-9.]+)`)
	reportRe = regexp.MustCompile(`REPORT RequestId: [^\n]*?Duration: ([0-9.]+) ms`)
	reportJS = regexp.MustCompile(`"durationMs":\s*([0-9.]+)`)
)

// Durations parses the emulator's INIT REPORT and REPORT lines: init and invoke durations in ms.
func Durations(logs string) (initMs float64, invokeMs []float64) {
	if m := initRe.FindStringSubmatch(logs); m != nil {
		v := m[1]
		if v == "" {
			v = m[2]
		}
		initMs, _ = strconv.ParseFloat(v, 64)
	}
	for _, m := range reportRe.FindAllStringSubmatch(logs, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		invokeMs = append(invokeMs, d)
	}
	_ = reportJS
	return initMs, invokeMs
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
