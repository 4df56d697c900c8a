package remediate

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// keyWrites turns the PutKeyPolicy calls the fake recorded into the harness's keyWrite, so the
// same checks (checkWrites) hold for the fakes as for the local AWS.
func (u *unit) keyWrites() []keyWrite {
	var out []keyWrite
	for _, c := range u.cloud.Calls("KMS:PutKeyPolicy") {
		in := c.Input.(*kms.PutKeyPolicyInput)
		w := keyWrite{KeyID: aws.ToString(in.KeyId), Policy: aws.ToString(in.Policy), Bypass: []byte(strconv.FormatBool(in.BypassPolicyLockoutSafetyCheck)), Status: 400}
		if c.Succeeded {
			w.Status = 200
		}
		out = append(out, w)
	}
	return out
}

// In fix mode the plan is written once, read back and verified; the same event again writes
// nothing.
func TestKeyPolicyWriteIsReadBackAndIdempotent(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	k := u.key("")
	before := u.cloud.KeyPolicy(k)
	img := u.image([]string{k}, scenario.Target)

	resp := u.deliver(shareEvent(t, img, scenario.Target))
	if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied || resp.Actions[0].Cause != report.CauseNone {
		t.Fatalf("actions: %+v", resp.Actions)
	}
	calls := u.cloud.Calls("")
	put := -1
	for i, c := range calls {
		if c.Op == "KMS:PutKeyPolicy" {
			put = i
		}
	}
	if put < 0 || put+1 >= len(calls) || calls[put+1].Op != "KMS:GetKeyPolicy" {
		t.Errorf("the write is not followed by a read-back: %v", ops(calls))
	}
	checkWrites(t, u.keyWrites(), map[string]string{k: before}, map[string][]string{k: {scenario.Target}})
	if n := len(u.puts(k)); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
	if !grantsAccount(t, k, u.cloud.KeyPolicy(k), scenario.Target) {
		t.Errorf("target not granted:\n%s", u.cloud.KeyPolicy(k))
	}

	again := u.deliver(shareEvent(t, img, scenario.Target))
	if len(again.Actions) != 0 || findingCodes(again.Records) != "" || len(u.puts(k)) != 1 {
		t.Errorf("re-run: actions %+v, findings %s, %d writes", again.Actions, findingCodes(again.Records), len(u.puts(k)))
	}
}

func ops(calls []fake.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Op)
	}
	return out
}

// A writer outside this process replaces the policy right after our write (from the policy it
// read before): the read-back notices and the remediator re-plans from the fresh policy, keeping
// the other writer's change. One that keeps doing it gets the record handed back, cause
// concurrent-writer, and the retry completes once it stops.
func TestKeyPolicyConcurrentWriterReplans(t *testing.T) {
	const theirs = "777700001111"
	for name, tc := range map[string]struct {
		replaceTimes int // how many of our writes the other writer undoes (-1: all)
		status       string
		cause        report.Cause
		writes       int
	}{
		"once":                {replaceTimes: 1, status: report.StatusApplied, writes: 2},
		"keeps replacing it":  {replaceTimes: -1, status: report.StatusFailed, cause: report.CauseConcurrentWriter, writes: maxWriteAttempts},
		"never (no conflict)": {replaceTimes: 0, status: report.StatusApplied, writes: 1},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target, theirs}})
			k := u.key("")
			base := u.cloud.KeyPolicy(k)
			img := u.image([]string{k}, scenario.Target)
			var mu sync.Mutex
			left := tc.replaceTimes
			u.cloud.After("KMS:PutKeyPolicy", func(fake.Call) {
				mu.Lock()
				defer mu.Unlock()
				if left == 0 {
					return
				}
				left--
				edit, err := keypolicy.EnsureAccounts([]byte(base), []string{theirs})
				if err != nil {
					t.Error(err)
					return
				}
				base = string(edit.Document)
				u.cloud.Key(k, func(key *fake.Key) { key.Policy = base })
			})
			resp := u.deliver(shareEvent(t, img, scenario.Target))
			if len(resp.Actions) != 1 || resp.Actions[0].Status != tc.status || resp.Actions[0].Cause != tc.cause {
				t.Fatalf("actions: %+v", resp.Actions)
			}
			if got := len(u.puts(k)); got != tc.writes {
				t.Errorf("%d writes, want %d", got, tc.writes)
			}
			if retry := len(failed(resp)) == 1; retry != tc.cause.Retry() {
				t.Errorf("handed back %v, want retry %v", failed(resp), tc.cause.Retry())
			}
			if tc.status != report.StatusApplied {
				mu.Lock()
				left = 0
				mu.Unlock()
				resp = u.deliver(shareEvent(t, img, scenario.Target))
				if len(failed(resp)) != 0 || len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied {
					t.Fatalf("retry: %v %+v", failed(resp), resp.Actions)
				}
			}
			after := u.cloud.KeyPolicy(k)
			if !grantsAccount(t, k, after, scenario.Target) || (tc.replaceTimes != 0 && !grantsAccount(t, k, after, theirs)) {
				t.Errorf("want both writers' accounts:\n%s", after)
			}
		})
	}
}

// Within the write margin of the deadline no write is started: failed, cause deadline, handed
// back; past the deadline nothing at all is called; with time left the retry writes once.
func TestKeyPolicyDeadlineStartsNoWrite(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, opts: []Option{WithWriteMargin(time.Minute)}})
	k := u.key("")
	img := u.image([]string{k}, scenario.Target)
	event := shareEvent(t, img, scenario.Target)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp := u.deliverWith(ctx, u.rm, event)
	if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusFailed || resp.Actions[0].Cause != report.CauseDeadline {
		t.Fatalf("actions: %+v", resp.Actions)
	}
	if joined(failed(resp)) != "m-0" || len(u.puts(k)) != 0 {
		t.Errorf("handed back %v, %d writes: want m-0 and none", failed(resp), len(u.puts(k)))
	}

	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp = u.deliverWith(ctx, u.rm, event)
	if len(failed(resp)) != 0 || len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied || len(u.puts(k)) != 1 {
		t.Fatalf("retry: %v %+v, %d writes", failed(resp), resp.Actions, len(u.puts(k)))
	}
}

// Two remediators of one process share a Coordinator. When one writes the key between the
// other's read and its write, the other starts from the stored policy, finds the change made
// (unchanged, cause other-writer, no second write) and leaves it out of its alert: the writer
// tells about it.
func TestKeyPolicyAnotherWriterInTheProcess(t *testing.T) {
	cloud := fake.New(scenario.Owner, scenario.Region)
	coord := NewCoordinator()
	s := unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true, opts: []Option{WithCoordinator(coord)}}
	first, second := unitRemediator(t, cloud, s), unitRemediator(t, cloud, s)
	u := &unit{t: t, cloud: cloud, rm: second}
	k := u.key("")
	img := u.image([]string{k}, scenario.Target)
	event := shareEvent(t, img, scenario.Target)

	var once atomic.Bool
	var firstResp SQSResponse
	cloud.After("KMS:GetKeyPolicy", func(fake.Call) {
		if once.CompareAndSwap(false, true) {
			firstResp = u.deliverWith(context.Background(), first, event) // between second's read and its write
		}
	})
	resp := u.deliver(event)
	if len(firstResp.Actions) != 1 || firstResp.Actions[0].Status != report.StatusApplied {
		t.Fatalf("first: %+v", firstResp.Actions)
	}
	if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusUnchanged || resp.Actions[0].Cause != report.CauseOtherWriter {
		t.Fatalf("second: %+v", resp.Actions)
	}
	if n := len(u.puts(k)); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
	if !firstResp.Alert.Published || resp.Alert.Published || len(cloud.Published()) != 1 {
		t.Errorf("want one alert, from the writer: first %+v, second %+v, %d published", firstResp.Alert, resp.Alert, len(cloud.Published()))
	}
	if len(failed(resp)) != 0 {
		t.Errorf("handed back %v", failed(resp))
	}
}

// A change that would take the policy over KMS's 32 KB is refused: acknowledged, never written.
func TestKeyPolicyOverSizeRefused(t *testing.T) {
	u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target}})
	pol := paddedPolicy(t, 32720)
	k := u.key(pol)
	resp := u.deliver(shareEvent(t, u.image([]string{k}, scenario.Target), scenario.Target))
	if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusRefused || !strings.Contains(resp.Actions[0].Reason, "too-large") {
		t.Fatalf("actions: %+v", resp.Actions)
	}
	if len(failed(resp)) != 0 || len(u.puts(k)) != 0 || u.cloud.KeyPolicy(k) != pol {
		t.Errorf("handed back %v, %d writes", failed(resp), len(u.puts(k)))
	}
}
