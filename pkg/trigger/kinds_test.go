package trigger

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository root, where Descriptor.Sample paths start.
const repoRoot = "../.."

// TestEveryKindIsComplete: a kind lacking any part fails here, before anything runs it.
func TestEveryKindIsComplete(t *testing.T) {
	if len(Kinds()) == 0 {
		t.Fatal("no kinds registered")
	}
	for _, d := range Kinds() {
		t.Run(string(d.Kind), func(t *testing.T) {
			if d.Doc == "" || strings.ContainsAny(d.Doc, "\n|") {
				t.Errorf("Doc %q: want one line for the README table, without '|'", d.Doc)
			}
			if d.Diagnose == nil {
				t.Error("no Diagnose")
			}
			if got, ok := Lookup(d.Kind); !ok || got != d {
				t.Errorf("Lookup(%q) = %v, %v", d.Kind, got, ok)
			}
			if d.Synthetic {
				if d.Sample != "" || d.Rule != "" || d.Queue != "" || d.Decode != nil || len(d.EventBridge)+len(d.APICalls) != 0 {
					t.Errorf("a synthetic kind has no sample, rule, decoder or events: %+v", d)
				}
				return
			}
			if d.Decode == nil || len(d.EventBridge)+len(d.APICalls) == 0 {
				t.Error("decodes from no event")
			}
			if d.MinCalls == nil {
				t.Error("no MinCalls: the benchmark cannot tell whether its sample makes needless AWS calls")
			}
			for op, n := range d.MinCalls {
				if n <= 0 || !strings.Contains(op, ":") {
					t.Errorf("MinCalls %q: %d: want Service:Operation and a positive count", op, n)
				}
			}
			if (d.Rule == "") == (d.Queue == "") {
				t.Errorf("Rule %q, Queue %q: want one, the rule that routes its events or the queue its messages are sent to", d.Rule, d.Queue)
			}
			if !strings.HasPrefix(d.Sample, "events/") || filepath.Ext(d.Sample) != ".json" {
				t.Fatalf("Sample %q: want events/<name>.json", d.Sample)
			}
			// Decode is what the Lambda's handler runs on its input.
			inv, err := Decode(readFile(t, filepath.Join(repoRoot, d.Sample)))
			if err != nil {
				t.Fatalf("Decode %s: %v", d.Sample, err)
			}
			if len(inv.Records) != 1 || inv.Records[0].Err != nil || inv.Records[0].Trigger.Kind != d.Kind {
				t.Fatalf("%s decodes to %+v, want exactly one %s", d.Sample, inv.Records, d.Kind)
			}
		})
	}
}

// sampleKind returns the kind whose sample is events/name, if any.
func sampleKind(name string) (*Descriptor, bool) {
	for _, d := range Kinds() {
		if d.Sample == "events/"+name {
			return d, true
		}
	}
	return nil, false
}

// TestREADMETriggerTable: the README's trigger table has a row for every kind that events
// produce, saying what its descriptor's Doc says, and no row for a kind that does not exist.
func TestREADMETriggerTable(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[Kind]string{} // kind -> its "what the remediator does" column
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "| trigger | event |"):
			in = true
			continue
		case in && !strings.HasPrefix(line, "|"):
			in = false
		}
		cols := strings.Split(strings.Trim(line, "|"), " | ")
		if !in || len(cols) < 3 || strings.HasPrefix(cols[0], "---") {
			continue
		}
		kind := Kind(strings.Trim(strings.TrimSpace(cols[0]), "`"))
		if _, dup := rows[kind]; dup {
			t.Errorf("README: two rows for %s", kind)
		}
		if strings.TrimSpace(cols[1]) == "" {
			t.Errorf("README: the row of %s names no event", kind)
		}
		rows[kind] = strings.TrimSpace(strings.Join(cols[2:], " | "))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal(`README.md has no table headed "| trigger | event | ..."`)
	}
	for _, d := range Kinds() {
		doc, ok := rows[d.Kind]
		switch {
		case d.Synthetic:
			if ok {
				t.Errorf("README lists %s, which no event produces", d.Kind)
			}
		case !ok:
			t.Errorf("README's trigger table has no row for %s", d.Kind)
		case doc != d.Doc:
			t.Errorf("README row of %s says\n %q\nits descriptor's Doc\n %q", d.Kind, doc, d.Doc)
		}
	}
	for k := range rows {
		if _, ok := Lookup(k); !ok && k != Ignored {
			t.Errorf("README lists %s, which is not a kind", k)
		}
	}
}

// TestRegistryRefuses: a descriptor that would make an event ambiguous, or that is not a kind,
// is refused as a whole; kinds that tell one event shape apart are accepted.
func TestRegistryRefuses(t *testing.T) {
	decode := func(_ Event, tr Trigger) (Trigger, error) { return tr, nil }
	call := func(name string, failed bool) []APICall {
		return []APICall{{EventSource: eventSourceEC2, EventName: name, Failed: failed}}
	}
	state := func(field, value string) []EventBridgeMatch {
		return []EventBridgeMatch{{Source: SourceEC2, DetailType: DetailTypeAMIStateChange, Field: field, Value: value}}
	}
	tests := map[string]struct {
		kinds   []*Descriptor
		wantErr string // for the last; "" = all accepted
	}{
		"success and failure of one call": {kinds: []*Descriptor{
			{Kind: "a", APICalls: call("CopyImage", false), Decode: decode}, {Kind: "b", APICalls: call("CopyImage", true), Decode: decode}}},
		"two values of one field": {kinds: []*Descriptor{
			{Kind: "a", EventBridge: state("State", "available"), Decode: decode}, {Kind: "b", EventBridge: state("State", "failed"), Decode: decode}}},
		"the same call twice": {kinds: []*Descriptor{
			{Kind: "a", APICalls: call("RunInstances", true), Decode: decode}, {Kind: "b", APICalls: call("RunInstances", true), Decode: decode}},
			wantErr: "already taken"},
		"the same call twice in one kind": {kinds: []*Descriptor{
			{Kind: "a", APICalls: append(call("RunInstances", true), call("RunInstances", true)...), Decode: decode}}, wantErr: "already taken"},
		"the same event without a field": {kinds: []*Descriptor{
			{Kind: "a", EventBridge: state("", ""), Decode: decode}, {Kind: "b", EventBridge: state("", ""), Decode: decode}}, wantErr: "already a"},
		"an event taken whole, then by field": {kinds: []*Descriptor{
			{Kind: "a", EventBridge: state("", ""), Decode: decode}, {Kind: "b", EventBridge: state("State", "failed"), Decode: decode}}, wantErr: "told apart"},
		"two fields for one event": {kinds: []*Descriptor{
			{Kind: "a", EventBridge: state("State", "available"), Decode: decode}, {Kind: "b", EventBridge: state("ImageId", "ami-1"), Decode: decode}}, wantErr: "told apart"},
		"one value twice": {kinds: []*Descriptor{
			{Kind: "a", EventBridge: state("State", "available"), Decode: decode}, {Kind: "b", EventBridge: state("State", "available"), Decode: decode}}, wantErr: "already a"},
		"a field without its value": {kinds: []*Descriptor{{Kind: "a", EventBridge: state("State", ""), Decode: decode}}, wantErr: "field with its value"},
		"CloudTrail by detail-type": {kinds: []*Descriptor{
			{Kind: "a", EventBridge: []EventBridgeMatch{{Source: SourceEC2, DetailType: DetailTypeCloudTrailAPICall}}, Decode: decode}}, wantErr: "matched by APICalls"},
		"a kind twice":           {kinds: []*Descriptor{{Kind: "a", APICalls: call("X", false), Decode: decode}, {Kind: "a", APICalls: call("Y", false), Decode: decode}}, wantErr: "registered twice"},
		"named ignored":          {kinds: []*Descriptor{{Kind: Ignored, APICalls: call("X", false), Decode: decode}}, wantErr: "not a kind name"},
		"no events":              {kinds: []*Descriptor{{Kind: "a", Decode: decode}}, wantErr: "decodes from no event"},
		"no decoder":             {kinds: []*Descriptor{{Kind: "a", APICalls: call("X", false)}}, wantErr: "decodes from no event"},
		"synthetic with a match": {kinds: []*Descriptor{{Kind: "a", Synthetic: true, APICalls: call("X", false)}}, wantErr: "synthetic"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := newRegistry()
			for i, d := range tc.kinds {
				err := g.add(d)
				last := i == len(tc.kinds)-1
				switch {
				case !last || tc.wantErr == "":
					if err != nil {
						t.Fatalf("add %s: %v", d.Kind, err)
					}
				case err == nil || !strings.Contains(err.Error(), tc.wantErr):
					t.Fatalf("add %s: %v, want an error containing %q", d.Kind, err, tc.wantErr)
				case g.kinds[d.Kind] == d:
					t.Fatalf("refused %s but registered it", d.Kind)
				}
			}
			if len(tc.kinds) == 2 && tc.wantErr != "" {
				// The refused kind took nothing: the first still has all its events.
				first := tc.kinds[0]
				for _, c := range first.APICalls {
					if g.apiCalls[c] != first {
						t.Errorf("%+v no longer routes to %s", c, first.Kind)
					}
				}
			}
		})
	}
}

// TestUnmatchedEventsSayWhatWasSeen: the generic reasons of events no kind takes name what was
// seen, and what would have been taken.
func TestUnmatchedEventsSayWhatWasSeen(t *testing.T) {
	tests := map[string]struct{ in, reason string }{ // reason: its start
		"a call only whose failure is a trigger": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}`),
			"CloudTrail ec2.amazonaws.com/RunInstances succeeded: only its failure is a trigger (launch-failed)"},
		"a call only whose success is a trigger": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","errorCode":"Client.AuthFailure"}`),
			"CloudTrail ec2.amazonaws.com/ModifyImageAttribute failed (Client.AuthFailure): only its success is a trigger (share-image)"},
		"a call no kind takes": {ebCloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"DeregisterImage"}`),
			"CloudTrail ec2.amazonaws.com/DeregisterImage is not a trigger"},
		"a field value no kind takes": {`{"id":"x","detail-type":"EC2 AMI State Change","source":"aws.ec2","detail":{"State":"pending"}}`,
			`aws.ec2 "EC2 AMI State Change" with State "pending" is not a trigger (only State "available"`},
		"an event no kind takes": {`{"id":"x","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":"x"}`,
			`unhandled event: source "aws.ec2", detail-type "EC2 Spot Instance Interruption Warning"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr := decodeOne(t, []byte(tc.in))
			if tr.Kind != Ignored || !strings.HasPrefix(tr.IgnoredReason, tc.reason) {
				t.Errorf("Kind %q, reason %q; want ignored, %q...", tr.Kind, tr.IgnoredReason, tc.reason)
			}
		})
	}
}
