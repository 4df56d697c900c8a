package localaws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	motoReadyTimeout = 90 * time.Second // generous: a loaded 2-core CI machine starts Python slowly
	motoStartTries   = 3
	motoStopGrace    = 3 * time.Second
)

// motoProc is the running process behind a Moto.
type motoProc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	output *tailBuffer
	once   sync.Once
	err    error
}

// StartMoto starts moto_server on 127.0.0.1 on a free port with MOTO_EC2_LOAD_DEFAULT_AMIS=false
// (and without MOTO_ACCOUNT_ID, so moto's multi-account mapping works) and waits until it answers.
// A port lost to another process between choosing and binding is retried on a new port.
func StartMoto(ctx context.Context) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New("moto_server not found: pip install 'moto[server]'")
	}
	var lastErr error
	for range motoStartTries {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("choose a port for moto_server: %w", err)
		}
		m, err := launchMoto(ctx, bin, port)
		if err == nil {
			return m, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launchMoto(ctx context.Context, bin string, port int) (*Moto, error) {
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = motoEnviron(os.Environ())
	out := &tailBuffer{max: 8 << 10}
	cmd.Stdout = out
	cmd.Stderr = out
	// Own process group: Close kills moto and anything it forked (werkzeug reloader and the like).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	orphanGuard(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	p := &motoProc{cmd: cmd, done: make(chan struct{}), output: out}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	m := &Moto{URL: "http://127.0.0.1:" + strconv.Itoa(port), pid: cmd.Process.Pid, proc: p}
	if err := m.waitReady(ctx); err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("moto_server on port %d: %w (output: %s)", port, err, strings.TrimSpace(out.String()))
	}
	return m, nil
}

// motoEnviron drops MOTO_ACCOUNT_ID (it would pin every request to one account) and skips
// loading moto's AMI catalogue (slow, and ~150 MB we never use).
func motoEnviron(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "MOTO_ACCOUNT_ID=") || strings.HasPrefix(kv, "MOTO_EC2_LOAD_DEFAULT_AMIS=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "MOTO_EC2_LOAD_DEFAULT_AMIS=false")
}

func (m *Moto) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, motoReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/", nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.proc.done:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", motoReadyTimeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// Reset clears all of moto's state (POST /moto-api/reset).
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Close stops moto's whole process group: SIGTERM, then SIGKILL after a grace period.
func (m *Moto) Close() error {
	if m == nil || m.proc == nil {
		return nil
	}
	p := m.proc
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		if err := syscall.Kill(-m.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			p.err = fmt.Errorf("stop moto_server (pid %d): %w", m.pid, err)
		}
		select {
		case <-p.done:
		case <-time.After(motoStopGrace):
			_ = syscall.Kill(-m.pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p.err
}

// tailBuffer keeps the last max bytes written to it (moto's output, for error messages).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
