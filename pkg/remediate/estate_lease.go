package remediate

import (
	"context"
	"fmt"
	"time"
)

// With the estate store, a write to a key policy holds the store's lease on the key: PutKeyPolicy
// has no concurrency token, and several Lambda environments run at once (the event source's
// MaximumConcurrency is at least 2, and the sweep tasks run in a function of their own). The
// lease makes one environment at a time read, plan and write a key; its last write tells the
// next holder when the copy it read before may be stale. Without a store the read-back after
// each write, and the re-plan it starts, are what keeps writers from losing each other's change.
const (
	keyLeaseTTL  = 2 * time.Minute  // well above one write and its read-back, with the SDK's retries
	keyLeaseWait = 30 * time.Second // then the records are handed back for later
)

// leaseKey takes the lease on keyARN (no store: nothing to take) and says whether another
// holder wrote the key since this invocation began; release gives it back, saying whether this
// holder wrote.
func (r *run) leaseKey(ctx context.Context, keyARN string) (release func(wrote bool), stale bool, err error) {
	if r.store == nil {
		return func(bool) {}, false, nil
	}
	wait := keyLeaseWait
	if dl, ok := ctx.Deadline(); ok {
		wait = max(0, min(wait, time.Until(dl)-r.writeMargin))
	}
	l, err := r.store.Acquire(ctx, "key/"+keyARN, keyLeaseTTL, wait)
	if err != nil {
		return nil, false, fmt.Errorf("key policy %s: %w", keyARN, err)
	}
	return func(wrote bool) {
		if err := l.Release(context.WithoutCancel(ctx), wrote); err != nil {
			r.log.Warn().Str("key", keyARN).Err(err).Msg("key lease not released: it expires")
		}
	}, l.LastWrite.After(r.started), nil
}
