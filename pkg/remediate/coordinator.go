package remediate

import "sync"

// Coordinator is what the remediators of one process share about their writes: a lock per key
// policy, so that concurrent invocations write each one in turn, and what
// this process last wrote, so that a write never starts from a copy that another invocation made
// stale in between. The Lambda main makes one per execution environment; a Remediator built
// without one gets its own. Across environments nothing is shared: the fresh read before every
// key-policy write and the two read-backs after it catch the other writers (crosswrite.go).
type Coordinator struct {
	keyLocks lockSet // key ARN

	mu          sync.Mutex
	keyPolicies map[string][]byte // key ARN -> the policy last written or read back after a write
}

// NewCoordinator returns an empty Coordinator.
func NewCoordinator() *Coordinator {
	return &Coordinator{keyPolicies: map[string][]byte{}}
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
