package trigger

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Descriptor is everything the remediator knows about one trigger kind: which events decode to
// it, how, how it is diagnosed, and what it means for the IAM check and the alert. Each kind
// registers its descriptor from its own file (share_image.go, launch_failed.go, ...); nothing
// else in the project lists kinds.
type Descriptor struct {
	Kind Kind
	// Doc is the kind's line in the README's trigger table: what the remediator does with it.
	Doc string
	// Sample is the kind's sample event, relative to the repository root
	// ("events/share-image.json"); empty only for a synthetic kind.
	Sample string
	// Rule is the logical ID of the EventBridge rule that routes the kind's events, in
	// template.yaml and (forwarding them from member accounts) member-account.yaml.
	Rule string
	// Queue is, for a kind whose messages the stack sends itself (no rule routes them, and no
	// event on a bus can reach them), the logical ID of the queue they are sent to, in
	// template.yaml. A kind decoded from events has a Rule or a Queue, not both.
	Queue string
	// Synthetic kinds are built by the CLI, never decoded from an event.
	Synthetic bool

	// The events the kind decodes from. A (source, detail-type) or an API call belongs to one
	// kind only; two kinds may share an event shape by telling it apart on one detail field
	// (EventBridge) or on whether the call failed (CloudTrail).
	EventBridge []EventBridgeMatch
	APICalls    []APICall
	// Decode reads the kind's fields from a matched event into tr, which already carries the
	// envelope's fields and Kind. It returns tr ignored (see ignore) for a matched event that is
	// still no trigger (a dry run, a remove-only launch permission change), and an error for a
	// malformed one.
	Decode func(ev Event, tr Trigger) (Trigger, error)

	// LaunchFailed: something the user did has already failed (the alert is critical).
	LaunchFailed bool
	// NamesPrincipal: the event names who launches (or the CLI does), so the identity policies
	// of that principal are checked. Whoever shares or copies an image is not who will launch it.
	NamesPrincipal bool
	// Diagnose finds the image and keys the trigger is about and records findings through d.
	// A returned error is the record's error (transient ones are retried).
	Diagnose func(ctx context.Context, d Diagnosis, t Trigger) error
	// MinCalls are the AWS calls ("Service:Operation") the kind's sample needs at least in the
	// benchmark's seeded scenario, in alert mode, in a Lambda environment that has already
	// learned its own account. The benchmark reads them from here.
	MinCalls map[string]int
}

// EventBridgeMatch names EventBridge events by source and detail-type and, when Field is set,
// by the detail's string member Field being Value.
type EventBridgeMatch struct {
	Source, DetailType string
	Field, Value       string
}

// APICall names a CloudTrail record of one API call, whether it reaches the function as the
// detail of an "AWS API Call via CloudTrail" event, bare, or in a log file. Failed: the record
// carries an errorCode (a dry run is a failed call too).
type APICall struct {
	EventSource, EventName string
	Failed                 bool
}

// Event is what a kind's decoder reads: the detail of an EventBridge event, or a CloudTrail
// record with the members every record has already read.
type Event struct {
	obj  object // the detail, or the CloudTrail record
	call record // CloudTrail records only
}

// registry holds the kinds and the routes from events to them.
type registry struct {
	kinds    map[Kind]*Descriptor
	ebRoutes map[ebKey]*ebRoute
	apiCalls map[APICall]*Descriptor
}

type ebKey struct{ source, detailType string }

// ebRoute is how one (source, detail-type) picks its kind: the only kind, or by a detail field.
type ebRoute struct {
	field   string
	only    *Descriptor
	byValue map[string]*Descriptor
}

func newRegistry() *registry {
	return &registry{kinds: map[Kind]*Descriptor{}, ebRoutes: map[ebKey]*ebRoute{}, apiCalls: map[APICall]*Descriptor{}}
}

// kinds is the registry: written by register from the kinds' init functions, read-only after.
var kinds = newRegistry()

// register adds a kind to the registry. It panics on a programming error in the descriptors (a
// kind registered twice, an event claimed by two kinds), which any test run shows.
func register(d *Descriptor) {
	if err := kinds.add(d); err != nil {
		panic(err)
	}
}

// add adds d, or says why it cannot: nothing is added then.
func (g *registry) add(d *Descriptor) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("trigger kind %q: %s", d.Kind, fmt.Sprintf(format, args...))
	}
	switch {
	case d.Kind == "" || d.Kind == Ignored:
		return fail("not a kind name")
	case g.kinds[d.Kind] != nil:
		return fail("registered twice")
	case d.Synthetic && (len(d.EventBridge) > 0 || len(d.APICalls) > 0 || d.Decode != nil):
		return fail("a synthetic kind decodes no event")
	case !d.Synthetic && (len(d.EventBridge) == 0 && len(d.APICalls) == 0 || d.Decode == nil):
		return fail("decodes from no event")
	case d.Rule != "" && d.Queue != "":
		return fail("routed by rule %s and sent to queue %s: one or the other", d.Rule, d.Queue)
	}
	// Check every match before changing anything; matches within d must not collide either.
	routes := map[ebKey]*ebRoute{}
	route := func(k ebKey) *ebRoute {
		if r := routes[k]; r != nil {
			return r
		}
		r := &ebRoute{byValue: map[string]*Descriptor{}}
		if old := g.ebRoutes[k]; old != nil {
			r.field, r.only = old.field, old.only
			for v, x := range old.byValue {
				r.byValue[v] = x
			}
		}
		routes[k] = r
		return r
	}
	for _, m := range d.EventBridge {
		if isCloudTrailDetailType(m.DetailType) {
			return fail("CloudTrail records are matched by APICalls, not by detail-type %q", m.DetailType)
		}
		if m.Source == "" || m.DetailType == "" || (m.Field == "") != (m.Value == "") {
			return fail("EventBridge match %+v: want a source, a detail-type, and a field with its value or neither", m)
		}
		r := route(ebKey{m.Source, m.DetailType})
		taken := r.only != nil || len(r.byValue) > 0
		switch {
		case taken && r.field != m.Field:
			return fail("%s %q is told apart by detail field %q elsewhere, not by %q", m.Source, m.DetailType, r.field, m.Field)
		case m.Field == "" && r.only != nil:
			return fail("%s %q is already %s", m.Source, m.DetailType, r.only.Kind)
		case m.Field != "" && r.byValue[m.Value] != nil:
			return fail("%s %q with %s %q is already %s", m.Source, m.DetailType, m.Field, m.Value, r.byValue[m.Value].Kind)
		}
		r.field = m.Field
		if m.Field == "" {
			r.only = d
		} else {
			r.byValue[m.Value] = d
		}
	}
	calls := map[APICall]bool{}
	for _, c := range d.APICalls {
		if c.EventSource == "" || c.EventName == "" {
			return fail("API call %+v: want an event source and name", c)
		}
		if prev := g.apiCalls[c]; prev != nil || calls[c] {
			return fail("%s/%s (failed: %v) is already taken", c.EventSource, c.EventName, c.Failed)
		}
		calls[c] = true
	}
	for k, r := range routes {
		g.ebRoutes[k] = r
	}
	for c := range calls {
		g.apiCalls[c] = d
	}
	g.kinds[d.Kind] = d
	return nil
}

// Kinds returns every registered kind, sorted by name.
func Kinds() []*Descriptor {
	out := make([]*Descriptor, 0, len(kinds.kinds))
	for _, d := range kinds.kinds {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// Lookup returns the descriptor of k; false for Ignored and for names no kind registered.
func Lookup(k Kind) (*Descriptor, bool) {
	d, ok := kinds.kinds[k]
	return d, ok
}

// pick finds the kind of an EventBridge event whose detail is o. A nil descriptor comes with
// the reason the event is ignored.
func (r *ebRoute) pick(env envelope, o object) (*Descriptor, string, error) {
	if r.field == "" {
		return r.only, "", nil
	}
	v, err := o.str(r.field)
	if err != nil {
		return nil, "", err
	}
	if d := r.byValue[v]; d != nil {
		return d, "", nil
	}
	values := make([]string, 0, len(r.byValue))
	for w := range r.byValue {
		values = append(values, fmt.Sprintf("%q", w))
	}
	sort.Strings(values)
	return nil, fmt.Sprintf("%s %q with %s %q is not a trigger (only %s %s)",
		env.Source, env.DetailType, r.field, v, r.field, strings.Join(values, ", ")), nil
}

// apiCallKind finds the kind of a CloudTrail record. A nil descriptor comes with the reason
// the record is ignored.
func (g *registry) apiCallKind(r record) (*Descriptor, string) {
	failed := r.errorCode != ""
	if d := g.apiCalls[APICall{r.eventSource, r.eventName, failed}]; d != nil {
		return d, ""
	}
	call := r.eventSource + "/" + r.eventName
	other := g.apiCalls[APICall{r.eventSource, r.eventName, !failed}]
	switch {
	case selfCaused[call]:
		return nil, fmt.Sprintf("%s: a call the remediator itself makes, never a trigger", call)
	case other != nil && failed:
		return nil, fmt.Sprintf("CloudTrail %s failed (%s): only its success is a trigger (%s)", call, r.errorCode, other.Kind)
	case other != nil:
		return nil, fmt.Sprintf("CloudTrail %s succeeded: only its failure is a trigger (%s)", call, other.Kind)
	}
	return nil, fmt.Sprintf("CloudTrail %s is not a trigger", call)
}
