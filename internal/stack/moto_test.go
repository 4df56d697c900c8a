package stack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// motoWithEventRulerArrays starts moto_server with one documented correction to its EventBridge
// pattern matcher. moto flattens an event only through objects and keeps an array of objects as
// one opaque value, so a pattern field below an array (requestParameters.launchPermission.add.
// items.userId) never matches there. EventBridge (aws/event-ruler, "JSON Array Matching") crushes
// arrays out: a field inside array elements matches if any element matches. The replacement
// flattener does that and nothing else; every other part of moto's matcher (exists, anything-but,
// $or, prefix, ...) and PutEvents -> SQS delivery is moto's own.
const motoWithEventRulerArrays = `
import sys
from moto.events import models

def flatten(node, prefix="", result=None):
    if result is None:
        result = {}

    def put(key, value, in_array):
        if not in_array:
            result[key] = value
            return
        current = result.setdefault(key, [])
        if not isinstance(current, list):
            current = result[key] = [current]
        current.append(value)

    def walk(value, key, in_array):
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, key + "." + k if key else k, in_array)
        elif isinstance(value, list):
            if not in_array and not any(isinstance(e, (dict, list)) for e in value):
                result[key] = value  # an array of scalars: moto already matches any element
            else:
                for e in value:
                    walk(e, key, True)
        else:
            put(key, value, in_array)

    walk(node, prefix, False)
    return result

models.EventPattern._flatten_dict = staticmethod(flatten)

from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
`

// startMoto runs the patched moto_server on a free loopback port until the test ends and returns
// its URL.
func startMoto(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 (with moto 5.x) is needed for the local EventBridge: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("release port %d: %v", port, err)
	}
	var logs syncBuffer
	cmd := exec.Command(py, "-c", motoWithEventRulerArrays, strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MOTO_EC2_LOAD_DEFAULT_AMIS=false")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/moto-api/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-exited:
			t.Fatalf("moto_server exited before it was ready: %v\n%s", waitErr, logs.String())
		case <-ctx.Done():
			t.Fatalf("moto_server on %s not ready: %v\n%s", url, ctx.Err(), logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// syncBuffer collects a child process's output while the test may read it.
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
