package remediate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
)

// Writes to one key from several Lambda environments. The event source runs up to
// MaximumConcurrency invocations at once (at least 2), each environment with its own
// Coordinator, and KMS has no concurrency token: PutKeyPolicy replaces the policy, last writer
// wins (https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html). Another
// environment's write can drop ours in two ways: it lands between our write and our read-back
// (the read-back sees it and we re-plan), or it was planned from a copy read before our write and
// lands after our read-back. Three rules keep both from losing an account:
//
//   - every write starts from the policy read just before it (freshKeyPolicy), so another
//     writer's window between its read and its write is one round trip, not a whole diagnosis;
//   - after the read-back verified our change, a second read after DefaultKeySettle (longer than
//     that window) verifies it again, and a change lost meanwhile is re-planned from the policy
//     read then, keeping the other writer's change;
//   - before a re-plan, a random pause, so that writers that collided do not collide again.
//
// The bound of attempts stays: a key that keeps changing under us hands the records back, and
// their redelivery starts over from what is there then. Within one environment the per-key lock
// of the Coordinator serialises writes anyway.

// DefaultKeySettle is the pause before the second read-back of a key policy write.
const DefaultKeySettle = time.Second

// WithKeySettle sets the pause before the second read-back of a key policy write; 0 turns the
// second read-back off (for tests that count calls: the Lambda always makes it).
func WithKeySettle(d time.Duration) Option { return func(r *Remediator) { r.keySettle = d } }

// freshKeyPolicy reads the key's policy as it is now, to plan a write from.
func (r *run) freshKeyPolicy(ctx context.Context, cl awsapi.KMS, k *key) ([]byte, error) {
	p, err := getKeyPolicy(ctx, cl, k.ARN)
	if err != nil {
		return nil, fmt.Errorf("read key policy %s before writing it: %w", k.ARN, err)
	}
	return p, nil
}

// readBack reads the policy after our write and verifies it; when it verifies, it waits
// keySettle (never past the write margin of the deadline) and reads and verifies it again. It
// returns the policy last read and why it does not verify (nil when it does); err is a failed
// read.
func (r *run) readBack(ctx context.Context, cl awsapi.KMS, k *key, target keypolicy.Key, w keypolicy.Want) (policy []byte, unverified, err error) {
	policy, err = getKeyPolicy(ctx, cl, k.ARN)
	if err != nil {
		return nil, nil, fmt.Errorf("verify key policy %s: %w", k.ARN, err)
	}
	if unverified = verifyKeyPolicy(policy, k, target, w); unverified != nil || r.keySettle <= 0 || r.store != nil {
		return policy, unverified, nil
	}
	pause := r.keySettle
	if dl, ok := ctx.Deadline(); ok {
		pause = min(pause, time.Until(dl)-r.writeMargin)
	}
	if pause > 0 {
		if err := sleep(ctx, pause); err != nil {
			return nil, nil, fmt.Errorf("verify key policy %s: %w", k.ARN, err)
		}
	}
	policy, err = getKeyPolicy(ctx, cl, k.ARN)
	if err != nil {
		return nil, nil, fmt.Errorf("verify key policy %s again: %w", k.ARN, err)
	}
	if unverified = verifyKeyPolicy(policy, k, target, w); unverified != nil {
		unverified = fmt.Errorf("after %s: %w", pause.Round(time.Millisecond), unverified)
	}
	return policy, unverified, nil
}

// replanPause waits a random time before the attempt-th write of one key, up to attempt-1
// halves of keySettle.
func (r *run) replanPause(ctx context.Context, attempt int) error {
	if attempt <= 1 || r.keySettle <= 0 {
		return nil
	}
	return sleep(ctx, time.Duration(rand.Int64N(int64(r.keySettle/2)*int64(attempt-1))+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
