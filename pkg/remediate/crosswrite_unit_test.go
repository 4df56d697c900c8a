package remediate

import (
	"sync"
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

// Another environment read the policy before our write and writes its copy after our
// read-back verified ours: only the second read-back, after the settle pause, can see it. It
// does, and the remediator re-plans from the policy as it is then, keeping both accounts. With
// the pause off, the same writer silently drops ours: the second read-back is what catches it.
func TestKeyPolicyStaleWriterAfterTheReadBack(t *testing.T) {
	const theirs = "777700001111"
	for name, tc := range map[string]struct {
		settle   time.Duration
		kept     bool // our account is in the policy at the end
		writes   int
		getsMore int // GetKeyPolicy calls beyond diagnosis
	}{
		"settle on":  {settle: time.Millisecond, kept: true, writes: 2, getsMore: 1 + 2 + 1 + 2},
		"settle off": {settle: 0, kept: false, writes: 1, getsMore: 1 + 1},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeFix, trusted: []string{scenario.Target, theirs}, opts: []Option{WithKeySettle(tc.settle)}})
			k := u.key("")
			stale := u.cloud.KeyPolicy(k) // what the other environment read, before our write
			img := u.image([]string{k}, scenario.Target)
			var mu sync.Mutex
			puts, done := 0, false
			u.cloud.After("KMS:PutKeyPolicy", func(fake.Call) { mu.Lock(); puts++; mu.Unlock() })
			u.cloud.After("KMS:GetKeyPolicy", func(c fake.Call) {
				mu.Lock()
				defer mu.Unlock()
				if puts != 1 || done || aws.ToString(c.Input.(*kms.GetKeyPolicyInput).KeyId) != k {
					return
				}
				done = true // our first read-back has verified: now the stale copy lands
				edit, err := keypolicy.EnsureAccounts([]byte(stale), []string{theirs})
				if err != nil {
					t.Error(err)
					return
				}
				u.cloud.Key(k, func(key *fake.Key) { key.Policy = string(edit.Document) })
			})
			resp := u.deliver(shareEvent(t, img, scenario.Target))
			if len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied {
				t.Fatalf("actions %+v", resp.Actions)
			}
			after := u.cloud.KeyPolicy(k)
			if got := grantsAccount(t, k, after, scenario.Target); got != tc.kept {
				t.Errorf("our account kept: %v, want %v\n%s", got, tc.kept, after)
			}
			if !grantsAccount(t, k, after, theirs) {
				t.Errorf("the other writer's account was dropped:\n%s", after)
			}
			if n := len(u.puts(k)); n != tc.writes {
				t.Errorf("%d writes, want %d", n, tc.writes)
			}
			if n := u.cloud.Count("KMS:GetKeyPolicy") - 1; n != tc.getsMore {
				t.Errorf("%d GetKeyPolicy calls after diagnosis, want %d", n, tc.getsMore)
			}
		})
	}
}
