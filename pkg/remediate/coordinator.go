package remediate

import (
	"sync"
	"time"
)

// Coordinator is what the remediators of one process share about their writes: a lock per key
// policy, so that concurrent invocations write each one in turn, and what this process last
// wrote, so that a write never starts from a copy that another invocation made stale in between;
// and a lock per grant with the grants it created a moment ago, so that concurrent deliveries of
// one event create a grant once and only that delivery tells about it. The Lambda main makes one per execution environment; a Remediator built
// without one gets its own. Across environments nothing is shared: the fresh read before every
// key-policy write and the two read-backs after it catch the other writers (crosswrite.go).
type Coordinator struct {
	keyLocks lockSet // key ARN

	grantLocks lockSet // key ARN + grantee + grant name

	mu          sync.Mutex
	keyPolicies map[string][]byte    // key ARN -> the policy last written or read back after a write
	grants      map[string]madeGrant // key ARN + grantee + grant name -> the grant this process created
}

// madeGrant is a grant this process created, and when.
type madeGrant struct {
	id string
	at time.Time
}

// grantMemory is how long a created grant is taken as another delivery's: long enough for the
// deliveries of one event that run at once, short enough that a grant revoked by hand is created
// again by the next failed launch.
const grantMemory = time.Minute

// NewCoordinator returns an empty Coordinator.
func NewCoordinator() *Coordinator {
	return &Coordinator{keyPolicies: map[string][]byte{}, grants: map[string]madeGrant{}}
}

// lockGrant takes the lock of one grant; the caller runs the returned unlock.
func (c *Coordinator) lockGrant(id string) (unlock func()) { return c.grantLocks.lock(id) }

// grant is the ID of the grant this process created under id within grantMemory of now.
func (c *Coordinator) grant(id string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.grants[id]
	if !ok || now.Sub(g.at) > grantMemory {
		return "", false
	}
	return g.id, true
}

func (c *Coordinator) setGrant(id, grantID string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, g := range c.grants { // forget the old ones: the map stays as small as the recent grants
		if now.Sub(g.at) > grantMemory {
			delete(c.grants, k)
		}
	}
	c.grants[id] = madeGrant{id: grantID, at: now}
}

// lockKey takes the write lock of one key policy; the caller runs the returned unlock.
func (c *Coordinator) lockKey(keyARN string) (unlock func()) { return c.keyLocks.lock(keyARN) }

// keyPolicy is the policy of keyARN this process last wrote or read back after a write.
func (c *Coordinator) keyPolicy(keyARN string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.keyPolicies[keyARN]
	return p, ok
}

func (c *Coordinator) setKeyPolicy(keyARN string, doc []byte) {
	c.mu.Lock()
	c.keyPolicies[keyARN] = doc
	c.mu.Unlock()
}

// lockSet is a mutex per name, made on first use.
type lockSet struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (l *lockSet) lock(name string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m, ok := l.locks[name]
	if !ok {
		m = &sync.Mutex{}
		l.locks[name] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}
