package remediate

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The integration tests run the remediator's real AWS calls against moto behind the gap filler
// (internal/localaws): two accounts for real, Owner (keys, images, the remediator) and Target.
// The unit tests (the *_unit_test.go files) run the same decisions against the in-memory fakes
// of internal/fake; with -short only they run, and the local AWS is not started.
var (
	env   *localaws.Env
	world *scenario.World
)

func TestMain(m *testing.M) {
	if os.Getenv(childEventEnv) != "" {
		os.Exit(runChild()) // a separate writer process of TestSeparateProcessesOnOneKey
	}
	flag.Parse()
	os.Exit(runTests(m))
}

// needsLocalAWS skips a test that talks to the local AWS when it is not running (-short).
func needsLocalAWS(t *testing.T) {
	t.Helper()
	if world == nil {
		t.Skip("needs the local AWS (moto): not started with -short")
	}
}

func runTests(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	ctx := context.Background()
	e, err := localaws.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local AWS:", err)
		return 1
	}
	defer e.Close()
	e.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	env, world = e, scenario.New(e.URL)
	for _, a := range []string{scenario.Target, scenario.Untrusted} {
		if err := world.MemberRole(ctx, a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

type setup struct {
	mode    config.Mode
	trusted []string
	alerts  bool
}

var sinkSeq atomic.Int64

// newRemediator builds a remediator as the Lambda does, with the central credentials, talking
// to the local AWS directly.
func newRemediator(t *testing.T, s setup) (*Remediator, *scenario.AlertSink) {
	t.Helper()
	needsLocalAWS(t)
	return newRemediatorOn(t, s, world.Endpoint, 2)
}

// invokeEvent runs a sample event from events/ with the scenario's IDs through the Lambda
// handler's JSON path.
func invokeEvent(t *testing.T, rm *Remediator, file string, replace map[string]string) report.Result {
	t.Helper()
	raw, err := scenario.Event("../../events/"+file, replace)
	if err != nil {
		t.Fatal(err)
	}
	return invokeRaw(t, rm, raw)
}

func invokeRaw(t *testing.T, rm *Remediator, raw []byte) report.Result {
	t.Helper()
	out, err := rm.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	// Go through JSON like the Lambda runtime does, so the tests see the wire format.
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var res report.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// keyFixture is an encrypted image in Owner shared with accounts.
type keyFixture struct{ key, image string }

var fixtureSeq atomic.Int64

func newFixture(t *testing.T, policy string, shareWith ...string) keyFixture {
	t.Helper()
	needsLocalAWS(t)
	ctx := context.Background()
	if policy == "" {
		policy = scenario.DefaultKeyPolicy(scenario.Owner)
	}
	key, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, policy)
	if err != nil {
		t.Fatal(err)
	}
	return fixtureOn(t, key, shareWith...)
}

// untaggedFixture is newFixture's key with the console's default policy, but not opted in to the
// write scope.
func untaggedFixture(t *testing.T, shareWith ...string) keyFixture {
	t.Helper()
	needsLocalAWS(t)
	key, err := world.CreateUntaggedKey(context.Background(), scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	return fixtureOn(t, key, shareWith...)
}

// fixtureOn is a new image of Owner encrypted with key, shared with shareWith.
func fixtureOn(t *testing.T, key string, shareWith ...string) keyFixture {
	t.Helper()
	ctx := context.Background()
	img, err := world.EncryptedImage(ctx, scenario.Owner, scenario.Region, fmt.Sprintf("golden-%d", fixtureSeq.Add(1)), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(shareWith) > 0 {
		if err := world.Share(ctx, scenario.Owner, scenario.Region, img, shareWith...); err != nil {
			t.Fatal(err)
		}
	}
	return keyFixture{key: key, image: img}
}

func (f keyFixture) replace() map[string]string {
	return map[string]string{scenario.PlaceholderImage: f.image, scenario.PlaceholderKey: f.key}
}

func keyPolicy(t *testing.T, keyARN string) string {
	t.Helper()
	p, err := world.KeyPolicy(context.Background(), keyARN)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func codes(r report.Record) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, string(f.Code))
	}
	sort.Strings(out)
	return out
}

func hasCode(r report.Record, code report.Code) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func joined(s []string) string { return strings.Join(s, ",") }
