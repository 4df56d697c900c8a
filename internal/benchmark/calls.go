package benchmark

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// CallRun is one scenario's AWS calls, as the result's stats count them.
type CallRun struct {
	Name  string
	Stats map[string]int
	Err   string // the invocation's error, or its records' errors
	Res   report.Result
}

// Total is the number of calls.
func (c CallRun) Total() int {
	n := 0
	for _, v := range c.Stats {
		n += v
	}
	return n
}

// sampleCalls runs every events/ sample (placeholders replaced with the seeded IDs) in alert mode,
// each in a fresh environment, against the seeded world: the events `sam local invoke -e` takes.
func sampleCalls(ctx context.Context, world *scenario.World, seed *scenario.Seeded, topicARN, eventsDir string) ([]CallRun, error) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no sample events in %s (%v)", eventsDir, err)
	}
	sort.Strings(files)
	var out []CallRun
	for _, f := range files {
		raw, err := scenario.Event(f, seed.Replace())
		if err != nil {
			return nil, err
		}
		rm := newRemediator(world, config.ModeAlert, []string{scenario.Target}, topicARN)
		out = append(out, callRun(ctx, SampleRow("events/"+filepath.Base(f)), rm, raw))
	}
	return out, nil
}

// callRun invokes raw once and keeps its stats and any errors.
func callRun(ctx context.Context, name string, rm *remediate.Remediator, raw []byte) CallRun {
	res, err := invoke(ctx, rm, raw)
	c := CallRun{Name: name, Stats: res.Stats, Res: res}
	if err != nil {
		c.Err = err.Error()
	} else if errs := recordErrors(res); len(errs) > 0 {
		c.Err = strings.Join(errs, "; ")
	}
	if c.Stats == nil {
		c.Stats = map[string]int{}
	}
	return c
}

// fixture is a new customer managed key with the console's default policy and an image encrypted
// with it, shared with accounts.
func fixture(ctx context.Context, world *scenario.World, name string, shareWith ...string) (key, image string, err error) {
	key, err = world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		return "", "", err
	}
	image, err = world.EncryptedImage(ctx, scenario.Owner, scenario.Region, name, key)
	if err != nil {
		return "", "", err
	}
	if len(shareWith) > 0 {
		if err := world.Share(ctx, scenario.Owner, scenario.Region, image, shareWith...); err != nil {
			return "", "", err
		}
	}
	return key, image, nil
}

// scenarioCalls runs the integration scenarios, each on its own new key and image. trail puts a
// hand-made CloudTrail event's record into CloudTrail, as AWS has it minutes after the call
// (localaws.Filler.RecordTrail).
func scenarioCalls(ctx context.Context, world *scenario.World, topicARN, eventsDir string, trail func([]byte) error) ([]CallRun, error) {
	ev := func(name string, replace map[string]string) ([]byte, error) {
		return scenario.Event(filepath.Join(eventsDir, name), replace)
	}
	trusted := []string{scenario.Target}
	var out []CallRun

	// share-fix, then the same event again in a new environment: already-fine.
	key, img, err := fixture(ctx, world, "bench-share-fix", scenario.Target)
	if err != nil {
		return nil, err
	}
	raw, err := ev("share-image.json", map[string]string{scenario.PlaceholderImage: img, scenario.PlaceholderKey: key})
	if err != nil {
		return nil, err
	}
	out = append(out, callRun(ctx, "share-fix (fix)", newRemediator(world, config.ModeFix, trusted, topicARN), raw))
	out = append(out, callRun(ctx, "already-fine (fix)", newRemediator(world, config.ModeFix, trusted, topicARN), raw))

	key, img, err = fixture(ctx, world, "bench-share-alert", scenario.Target)
	if err != nil {
		return nil, err
	}
	if raw, err = ev("share-image.json", map[string]string{scenario.PlaceholderImage: img, scenario.PlaceholderKey: key}); err != nil {
		return nil, err
	}
	out = append(out, callRun(ctx, "share-alert (alert)", newRemediator(world, config.ModeAlert, trusted, topicARN), raw))

	// A failed RunInstances by the role app-deployer in the target account, which the account's
	// CloudTrail shows: the key policy, and a grant for the role (its identity side).
	if err := world.Role(ctx, scenario.Target, scenario.AppRoleName); err != nil {
		return nil, err
	}
	key, img, err = fixture(ctx, world, "bench-launch-failed", scenario.Target)
	if err != nil {
		return nil, err
	}
	if raw, err = ev("launch-failed.json", map[string]string{scenario.PlaceholderImage: img, scenario.PlaceholderKey: key}); err != nil {
		return nil, err
	}
	if err := trail(raw); err != nil {
		return nil, err
	}
	out = append(out, callRun(ctx, "launch-failed + grant (fix)", newRemediator(world, config.ModeFix, trusted, topicARN), raw))

	// An instance of the image terminated in the target account with Client.InternalError.
	key, img, err = fixture(ctx, world, "bench-terminated", scenario.Target)
	if err != nil {
		return nil, err
	}
	inst, _, err := world.Launch(ctx, scenario.Target, scenario.Region, img)
	if err != nil {
		return nil, err
	}
	if raw, err = ev("instance-terminated.json", map[string]string{scenario.PlaceholderImage: img, scenario.PlaceholderKey: key, scenario.PlaceholderInstance: inst}); err != nil {
		return nil, err
	}
	out = append(out, callRun(ctx, "instance-terminated (fix)", newRemediator(world, config.ModeFix, trusted, topicARN), raw))
	return out, nil
}

// statsLine formats counts as "EC2:DescribeImages 1, ..." in a stable order.
func statsLine(stats map[string]int) string {
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, stats[k]))
	}
	return strings.Join(parts, ", ")
}
