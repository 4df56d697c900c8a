package remediate

// Writes to one key from separate processes: several Lambda environments run at once (the event
// source's MaximumConcurrency is at least 2) and share nothing, not even a Coordinator. Each
// process here is this test binary re-run as the Lambda would run the handler (configuration from
// the environment, the real SDK, one event), all released at the same instant.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The environment of a child process: the event file to handle, and the folder of the start
// barrier (each child writes ready-<pid> there and waits for "go").
const (
	childEventEnv   = "AMIKMS_TEST_CHILD_EVENT"
	childBarrierEnv = "AMIKMS_TEST_CHILD_BARRIER"
)

// runChild is a child process's whole life (TestMain runs it instead of the tests): build the
// remediator from the environment as the Lambda main does, wait at the barrier, handle the event
// through the handler, print the result JSON.
func runChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 3 }
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	awsCfg, err := awsapi.LoadConfig(ctx)
	if err != nil {
		return fail(err)
	}
	raw, err := os.ReadFile(os.Getenv(childEventEnv))
	if err != nil {
		return fail(err)
	}
	rm := New(cfg, awsapi.NewClients(awsCfg, cfg.MemberRoleName, ""), logging.New(os.Stderr, cfg.LogLevel))
	barrier := os.Getenv(childBarrierEnv)
	if err := os.WriteFile(filepath.Join(barrier, fmt.Sprintf("ready-%d", os.Getpid())), nil, 0o600); err != nil {
		return fail(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(barrier, "go")); err == nil {
			break
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
	out, err := rm.Invoke(ctx, raw)
	if err != nil {
		return fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return fail(err)
	}
	return 0
}

// processes is how many separate processes write to the one key at once.
const processes = 8

// childProcesses starts one process per event, all waiting at one barrier, releases them at
// once and returns their answers.
func childProcesses(t *testing.T, self string, env []string, events [][]byte) []SQSResponse {
	t.Helper()
	dir := t.TempDir()
	cmds := make([]*exec.Cmd, len(events))
	outs := make([]*strings.Builder, len(events))
	errs := make([]*strings.Builder, len(events))
	for i, ev := range events {
		file := filepath.Join(dir, fmt.Sprintf("event-%d.json", i))
		if err := os.WriteFile(file, ev, 0o600); err != nil {
			t.Fatal(err)
		}
		cmds[i] = exec.Command(self)
		cmds[i].Env = append(append([]string{}, env...), childEventEnv+"="+file, childBarrierEnv+"="+dir, "HOME="+dir)
		outs[i], errs[i] = &strings.Builder{}, &strings.Builder{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], errs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready, _ := filepath.Glob(filepath.Join(dir, "ready-*"))
		if len(ready) == len(events) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d processes ready", len(ready), len(events))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := make([]SQSResponse, len(events))
	pids := map[int]bool{}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, errs[i])
		}
		pids[c.Process.Pid] = true
		if err := json.Unmarshal([]byte(outs[i].String()), &out[i]); err != nil {
			t.Fatalf("process %d answered %q: %v", i, outs[i], err)
		}
	}
	if len(pids) != len(events) || pids[os.Getpid()] {
		t.Fatalf("the writers were not %d separate processes: %v", len(events), pids)
	}
	return out
}

// Separate processes, released at once, each needing a different trusted account on the same
// key: every account is in the policy at the end, and every statement of the original policy is
// intact. Nothing serialises them (each process has its own Coordinator): what keeps every
// account is the fresh read before each write, the read-back after it, the second read-back
// after DefaultKeySettle that catches a write planned from a copy read before ours, and the
// re-plan from the fresh policy. A record whose key kept changing under it is handed back, and
// its redelivery (as SQS does it, in a new process) completes it; no process reports a change
// applied that is missing at the end.
func TestSeparateProcessesOnOneKey(t *testing.T) {
	needsLocalAWS(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	accounts := concurrentAccounts("100003", processes)
	// The console's default policy and a statement of the key owner's own: both must survive.
	before := withStatement(t, `{"Sid":"OwnersAuditRole","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+scenario.Owner+
		`:role/audit"},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}`)
	f := newFixture(t, before)
	before = keyPolicy(t, f.key)
	images := imagesOnKey(t, f.key, accounts)
	rec := newRecorder(t, env.URL)
	childEnv := append(scenario.LambdaEnv(rec.URL, "", string(config.ModeFix), accounts), "AWS_MAX_ATTEMPTS=3", "LOG_LEVEL=warn")

	pending := make([]int, processes)
	for i := range pending {
		pending[i] = i
	}
	applied := map[string]bool{}
	statuses := map[string]int{}
	rounds := 0
	for receives := 1; len(pending) > 0 && receives <= config.DefaultMaxReceiveCount; receives++ {
		rounds++
		events := make([][]byte, len(pending))
		for j, i := range pending {
			events[j] = sqsDelivery(t, receives, shareEvent(t, images[i], accounts[i]))
		}
		var next []int
		for j, resp := range childProcesses(t, self, childEnv, events) {
			i := pending[j]
			if len(resp.Records) != 1 {
				t.Fatalf("process for %s: %+v", accounts[i], resp.Records)
			}
			for _, a := range resp.Actions {
				statuses[a.Status]++
				switch {
				case a.Status == report.StatusApplied:
					applied[accounts[i]] = true
				case a.Status == report.StatusFailed && len(resp.BatchItemFailures) == 1: // the key kept changing: retried
				case a.Status != report.StatusUnchanged:
					t.Errorf("process for %s: action %+v", accounts[i], a)
				}
			}
			if len(resp.BatchItemFailures) > 0 {
				next = append(next, i)
			} else if resp.Records[0].Error != "" {
				t.Errorf("process for %s: %s", accounts[i], resp.Records[0].Error)
			}
		}
		pending = next
	}
	if len(pending) > 0 {
		t.Errorf("%d records still handed back after %d deliveries", len(pending), rounds)
	}

	after := keyPolicy(t, f.key)
	for _, a := range accounts {
		if !allowsAccount(t, f.key, after, a) {
			t.Errorf("account %s is not in the policy at the end (a process reported it applied: %v)", a, applied[a])
		}
	}
	if err := statementsKept(before, after); err != nil {
		t.Errorf("original statements: %v\nbefore:\n%s\nafter:\n%s", err, before, after)
	}
	// Whatever order the writes landed in, each one kept the original policy, parsed, left KMS's
	// lockout check on and added only the roots of these accounts.
	ws := rec.Writes()
	for i, w := range ws {
		if len(w.Bypass) > 0 && string(w.Bypass) != "false" {
			t.Errorf("write %d sets BypassPolicyLockoutSafetyCheck=%s", i, w.Bypass)
		}
		if _, err := policy.Parse([]byte(w.Policy)); err != nil {
			t.Errorf("write %d does not parse: %v", i, err)
		}
		if err := statementsKept(before, w.Policy); err != nil {
			t.Errorf("write %d: %v", i, err)
		}
		for _, p := range addedPrincipals(before, w.Policy) {
			if !allowedPrincipal(p, f.key, accounts) {
				t.Errorf("write %d adds %q", i, p)
			}
		}
	}
	t.Logf("%d processes: %d deliveries, actions %v, %d PutKeyPolicy writes", processes, rounds, statuses, len(ws))
}
