package trigger

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// eventsWant is what each sample in events/ that is no kind's own sample must decode to, one
// Kind per record. Its name says it. A kind's sample (Descriptor.Sample) decodes to its kind.
var eventsWant = map[string][]Kind{
	"sqs-batch.json":                    {ShareImage, LaunchFailed, Ignored},
	"ignored-unshare.json":              {Ignored},
	"ignored-runinstances-success.json": {Ignored},
	"ignored-dryrun.json":               {Ignored},
	"launch-template-failed.json":       {LaunchFailed},
	"launch-failed-kms-key.json":        {LaunchFailed},
}

// sampleWant is what events/name must decode to.
func sampleWant(name string) ([]Kind, bool) {
	if d, ok := sampleKind(name); ok {
		return []Kind{d.Kind}, true
	}
	kinds, ok := eventsWant[name]
	return kinds, ok
}

// goldenRecord is the stable, comparable form of a Record.
type goldenRecord struct {
	MessageID string  `json:",omitempty"`
	Err       string  `json:",omitempty"`
	Trigger   Trigger `json:",omitempty"`
}

type goldenInvocation struct {
	FromSQS bool
	Records []goldenRecord
}

func golden(t *testing.T, inv Invocation) []byte {
	t.Helper()
	g := goldenInvocation{FromSQS: inv.FromSQS}
	for _, r := range inv.Records {
		gr := goldenRecord{MessageID: r.MessageID, Trigger: r.Trigger}
		if r.Err != nil {
			gr.Err = r.Err.Error()
		}
		g.Records = append(g.Records, gr)
	}
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestEventSamples decodes every events/*.json: each must be named in eventsWant, decode to the
// kinds its name says, and match its golden decode in testdata/events/ (go test -update).
func TestEventSamples(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range jsonFiles(t, eventsDir) {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			kinds, ok := sampleWant(name)
			if !ok {
				t.Fatalf("events/%s is no kind's sample and has no expectation in eventsWant", name)
			}
			inv, err := Decode(readFile(t, f))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if inv.FromSQS != (name == "sqs-batch.json") {
				t.Errorf("FromSQS = %v", inv.FromSQS)
			}
			if len(inv.Records) != len(kinds) {
				t.Fatalf("got %d records, want %d", len(inv.Records), len(kinds))
			}
			for i, k := range kinds {
				r := inv.Records[i]
				if r.Err != nil || r.Trigger.Kind != k {
					t.Errorf("record %d: kind %q err %v, want %q", i, r.Trigger.Kind, r.Err, k)
				}
				if k != Ignored && k != ASGLaunchFailed && len(r.Trigger.Notes) != 0 {
					t.Errorf("record %d: a clean sample has notes: %q", i, r.Trigger.Notes)
				}
			}
			got := golden(t, inv)
			path := filepath.Join("testdata", "events", strings.TrimSuffix(name, ".json")+".golden.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("golden file: %v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decode of events/%s differs from %s:\n%s", name, path, got)
			}
		})
	}
	for name := range eventsWant {
		if !seen[name] {
			t.Errorf("events/%s is missing", name)
		}
	}
	for _, d := range Kinds() {
		if d.Sample != "" && !seen[filepath.Base(d.Sample)] {
			t.Errorf("%s: its sample %s is missing", d.Kind, d.Sample)
		}
	}
}

// TestEventSampleFacts pins the facts the other tests (handler, routing, demo) rely on.
func TestEventSampleFacts(t *testing.T) {
	const (
		owner  = "111122223333"
		target = "444455556666"
		image  = "ami-0a1b2c3d4e5f60718"
		key    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	)
	one := func(name string) Trigger {
		return decodeOne(t, readFile(t, filepath.Join(eventsDir, name)))
	}
	if tr := one("share-image.json"); tr.Account != owner || tr.ImageID != image || len(tr.ShareUserIDs) != 1 || tr.ShareUserIDs[0] != target || tr.Region != "us-east-1" {
		t.Errorf("share-image: %+v", tr)
	}
	if tr := one("copy-image.json"); tr.Account != owner || tr.ImageID != image || tr.SourceRegion != "us-west-2" || tr.Region != "us-east-1" ||
		tr.KMSKeyID != key || tr.SourceImageID == "" || tr.Principal == nil || tr.Principal.Account != owner {
		t.Errorf("copy-image: %+v", tr)
	}
	if tr := one("copy-image-failed.json"); tr.Account != target || tr.SourceImageID != image || tr.ErrorCode == "" || tr.Principal == nil ||
		tr.Principal.ARN != "arn:aws:iam::444455556666:role/app-deployer" {
		t.Errorf("copy-image-failed: %+v", tr)
	}
	if tr := one("launch-failed.json"); tr.Account != target || tr.ImageID != image || tr.ErrorCode != "Client.UnauthorizedOperation" ||
		tr.Principal == nil || tr.Principal.ARN != "arn:aws:iam::444455556666:role/app-deployer" || tr.Principal.Type != PrincipalRole ||
		tr.Principal.SessionARN == "" {
		t.Errorf("launch-failed: %+v", tr)
	}
	if tr := one("instance-terminated.json"); tr.Account != target || tr.InstanceID != "i-0abcd1234ef567890" {
		t.Errorf("instance-terminated: %+v", tr)
	}
	if tr := one("ami-available.json"); tr.Account != owner || tr.ImageID != image {
		t.Errorf("ami-available: %+v", tr)
	}
	if tr := one("asg-launch-failed.json"); tr.Account != target || tr.ASGName != "app-asg" || tr.InstanceID == "" || tr.Principal == nil ||
		tr.Principal.Type != PrincipalServiceLinkedRole {
		t.Errorf("asg-launch-failed: %+v", tr)
	}
}
