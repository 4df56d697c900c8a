package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Report is what one record (an event, a re-check, or a sweep task) found.
type Report struct {
	// Findings are the findings seen, each with its scope.
	Findings []Finding
	// Covered is what was checked without an error; an open finding covered here and not in
	// Findings is resolved. A record that failed covers nothing.
	Covered []Coverage
	// LaunchFailed: a launch really failed (the record's trigger says so).
	LaunchFailed bool
	// Started is when the checks began; zero means now.
	Started time.Time
}

// Record stores what rep saw and returns what changed, each finding once, in a stable order.
// Writes are conditional on the version read, so concurrent records (two sweep tasks, a sweep
// and an event) never lose each other's changes: the loser re-reads and decides again.
func (s *Store) Record(ctx context.Context, rep Report) ([]Change, error) {
	now := s.now()
	started := rep.Started
	if started.IsZero() || started.After(now) {
		started = now
	}
	prev, err := s.load(ctx, rep)
	if err != nil {
		return nil, err
	}
	var changes []Change
	seen := map[string]bool{} // scope pk + sk
	for _, f := range rep.Findings {
		k := f.Scope.pk() + " " + f.sk()
		if seen[k] {
			continue
		}
		seen[k] = true
		f := f
		ch, err := s.write(ctx, f.Scope.pk(), f.sk(), prev[k], func(p *stored) (stored, Change, bool) {
			return observe(p, f, rep.LaunchFailed, now)
		})
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	keys := make([]string, 0, len(prev))
	for k := range prev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := prev[k]
		if seen[k] || !covered(rep.Covered, p.Finding) {
			continue
		}
		ch, err := s.write(ctx, p.Scope.pk(), p.sk(), p, func(p *stored) (stored, Change, bool) {
			if p != nil && !covered(rep.Covered, p.Finding) {
				return stored{}, Change{}, false
			}
			return resolve(p, started, now)
		})
		if err != nil {
			return changes, err
		}
		if ch.Kind != "" {
			changes = append(changes, ch)
		}
	}
	return changes, nil
}

func covered(cs []Coverage, f Finding) bool {
	for _, c := range cs {
		if c.covers(f) {
			return true
		}
	}
	return false
}

// load reads the stored findings rep may touch: a whole scope for a sweep's coverage, else the
// findings of each image it saw or covered (one Query each).
func (s *Store) load(ctx context.Context, rep Report) (map[string]*stored, error) {
	wholeScopes := map[Scope]bool{}
	for _, c := range rep.Covered {
		if c.ImageID == "" {
			wholeScopes[c.Scope] = true
		}
	}
	type part struct {
		scope  Scope
		prefix string
	}
	parts := map[part]bool{}
	for sc := range wholeScopes {
		parts[part{sc, "f#"}] = true
	}
	add := func(sc Scope, image string) {
		if !wholeScopes[sc] {
			parts[part{sc, imagePrefix(image)}] = true
		}
	}
	for _, f := range rep.Findings {
		add(f.Scope, f.ImageID)
	}
	for _, c := range rep.Covered {
		if c.ImageID != "" {
			add(c.Scope, c.ImageID)
		}
	}
	out := map[string]*stored{}
	for p := range parts {
		err := s.query(ctx, s.prefixQuery(p.scope.pk(), p.prefix, false), func(it item) error {
			st := decodeFinding(it)
			out[it.str(PartitionKey)+" "+it.str(SortKey)] = st
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the findings of %s: %w", p.scope, err)
		}
	}
	return out, nil
}

// write applies decide to the stored finding prev and writes the result if decide says so, on
// the condition that nobody wrote it since it was read; on a lost race it re-reads (consistently)
// and decides again.
func (s *Store) write(ctx context.Context, pk, sk string, prev *stored, decide func(*stored) (stored, Change, bool)) (Change, error) {
	now := s.now()
	for attempt := 1; ; attempt++ {
		next, ch, ok := decide(prev)
		if !ok {
			return ch, nil
		}
		in := &dynamodb.PutItemInput{TableName: &s.table, Item: next.item(now)}
		if prev == nil {
			// Nothing was read: nothing may be there now, or only an item past its time to live.
			in.ConditionExpression = strPtr("attribute_not_exists(#pk) OR #ttl <= :nowsec")
			in.ExpressionAttributeNames = map[string]string{"#pk": PartitionKey, "#ttl": TTLAttribute}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":nowsec": num(now.Unix())}
		} else {
			in.ConditionExpression = strPtr("#v = :v")
			in.ExpressionAttributeNames = map[string]string{"#v": "version"}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(prev.version)}
		}
		_, err := s.db.PutItem(ctx, in)
		if err == nil {
			return ch, nil
		}
		if !isConditionFailed(err) || attempt == maxWriteAttempts {
			return Change{}, fmt.Errorf("write finding %s %s: %w", pk, sk, err)
		}
		if err := s.sleep(ctx, time.Duration(attempt)*time.Duration(5+rand.N(20))*time.Millisecond); err != nil {
			return Change{}, err
		}
		if prev, err = s.get(ctx, pk, sk); err != nil {
			return Change{}, err
		}
	}
}

// get reads one finding consistently; nil when there is none (or it expired).
func (s *Store) get(ctx context.Context, pk, sk string) (*stored, error) {
	consistent := true
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: keyOf(pk, sk), ConsistentRead: &consistent})
	if err != nil {
		return nil, fmt.Errorf("read finding %s %s: %w", pk, sk, err)
	}
	if len(out.Item) == 0 || item(out.Item).expired(s.now()) {
		return nil, nil
	}
	return decodeFinding(out.Item), nil
}

// Told records that the alerted changes were published, so they are not owed any more. A finding
// that changed again since keeps what it owes.
func (s *Store) Told(ctx context.Context, changes []Change) error {
	for _, ch := range changes {
		if !ch.Alert || ch.changeSeq == 0 {
			continue
		}
		f := ch.Finding
		// Only if no later change is waiting to be told; a write that merely saw it again since
		// leaves change_seq as it was.
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       keyOf(f.Scope.pk(), f.sk()),
			UpdateExpression:          strPtr("SET #told = :seq"),
			ConditionExpression:       strPtr("#seq = :seq"),
			ExpressionAttributeNames:  map[string]string{"#told": "told_seq", "#seq": "change_seq"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(ch.changeSeq)},
		})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("mark finding %s %s told: %w", f.Scope, f.ID(), err)
		}
	}
	return nil
}
